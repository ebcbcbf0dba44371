//! What installing the crash handlers adds to `configure`: the loaded modules and their
//! build-ids are read, the record's head written, six handlers installed. Each of 15
//! fresh processes (the handlers are installed once per process) times `configure`
//! without them, then with them; the differences are summarized. Run with
//! `cargo bench -p bugsnag-core --bench crash_install`; figures in BENCHMARKS.md.

use std::time::Instant;

use bugsnag_core::testing::Collector;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list of benchmarks; there are none to list.
    }
    if std::env::var_os("ONE_RUN").is_some() {
        return one_run();
    }
    let mut added: Vec<f64> = (0..15)
        .map(|_| {
            let out =
                std::process::Command::new(std::env::current_exe().unwrap()).env("ONE_RUN", "1").output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            let mut numbers = text.split_whitespace().filter_map(|w| w.parse::<f64>().ok());
            let (without, with) = (numbers.next().unwrap(), numbers.next().unwrap());
            with - without
        })
        .collect();
    added.sort_by(f64::total_cmp);
    println!(
        "crash handlers: configure takes {:.0} µs more with them (median of 15 processes; min {:.0}, max {:.0})",
        added[7], added[0], added[14]
    );
}

/// One process's pair of timings, in µs.
fn one_run() {
    let collector = Collector::start();
    let dir = std::env::temp_dir().join(format!("bugsnag-crash-install-{}", std::process::id()));
    let config = || collector.configuration().outbox_dir(&dir).auto_capture_sessions(false);
    let started = Instant::now();
    let without = bugsnag_core::configure(config().native_crashes(false));
    let without_took = started.elapsed();
    drop(without);
    let started = Instant::now();
    let with = bugsnag_core::configure(config());
    let with_took = started.elapsed();
    drop(with);
    println!("{} {}", without_took.as_secs_f64() * 1e6, with_took.as_secs_f64() * 1e6);
    let _ = std::fs::remove_dir_all(&dir);
}
