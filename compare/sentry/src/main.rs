//! This notifier and sentry 0.49 side by side: the whole cost of a report, each in a
//! process of its own, against one endpoint in a third (which answers 200 at once and
//! counts what arrived).
//!
//! Each notifier reports the same error from the same call 20 frames deep: once (the
//! first report: debug information loaded), then `COMPARE_REPORTS` times (2,000 by
//! default) in bursts of 100, each burst followed by a flush. Printed for each: the
//! caller's time per call (wall time around the reporting call, on the caller's
//! thread), the process CPU of all threads per event that arrived, the peak RSS and
//! the anonymous memory added, and how many events arrived; then the ratios.
//!
//! Sentry is configured as its documentation suggests for stack traces on errors:
//! `attach_stacktrace: true`, its default integrations (backtrace, contexts, debug
//! images, panic) and its reqwest transport; `capture_error` reports the error.
//!
//! Run with `cargo xtask compare`; figures in BENCHMARKS.md.

use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use bugsnag_core::testing::Collector;

#[path = "../../../bugsnag-core/benches/support/process.rs"]
mod process;
#[path = "../../../bugsnag-core/benches/support/mod.rs"]
#[allow(dead_code)] // Not all of it is used here.
mod support;
use process::{cpu, memory};
use support::deep;

/// A notifier's report, or its flush.
type Action = Box<dyn Fn()>;

/// What one notifier's process measured.
#[derive(Debug, Default)]
struct Figures {
    caller_ns: f64,
    first_ms: f64,
    cpu_ms: f64,
    peak_mib: f64,
    anon_mib: f64,
    reported: u64,
    arrived: u64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("endpoint") => endpoint(),
        Some(notifier @ ("bugsnag" | "sentry")) => report(notifier, &args[1]),
        _ => compare(),
    }
}

/// The endpoint: answers 200 to everything, and on each line of its input prints how
/// many events have arrived, of each notifier.
fn endpoint() {
    let collector = Collector::start_unvalidated();
    println!("{}", collector.url());
    for _ in std::io::stdin().lines() {
        let (mut bugsnag, mut sentry) = (0, 0);
        for request in collector.requests() {
            if request.path.ends_with("/notify") {
                bugsnag += request.body["events"].as_array().map_or(0, Vec::len);
            } else if request.path.contains("/envelope") {
                // Sentry sends each event in an envelope of its own (and, without its
                // release-health feature, nothing else).
                sentry += 1;
            }
        }
        println!("{bugsnag} {sentry}");
    }
}

/// One notifier's process: reports, then prints its figures on one line.
fn report(notifier: &str, url: &str) {
    let reports: u64 = std::env::var("COMPARE_REPORTS").ok().and_then(|n| n.parse().ok()).unwrap_or(2_000);
    let (rss0, _, anon0) = memory();
    let error = "x".parse::<u8>().unwrap_err();
    let (report, flush): (Action, Action) = match notifier {
        "bugsnag" => {
            let config = bugsnag_core::Configuration::default()
                .api_key(bugsnag_core::testing::API_KEY)
                .endpoint(format!("{url}/notify"))
                .session_endpoint(format!("{url}/sessions"))
                .auto_capture_sessions(false)
                .without_error_budget();
            let client = std::sync::Arc::new(bugsnag_core::Client::new(config));
            let flushed = client.clone();
            (
                Box::new(move || {
                    black_box(client.notify(&error));
                }),
                Box::new(move || {
                    flushed.flush(Duration::from_secs(120));
                }),
            )
        }
        _ => {
            let dsn = url.replacen("http://", "http://public@", 1) + "/1";
            let guard = sentry::init((dsn, sentry::ClientOptions::new().attach_stacktrace(true)));
            (
                Box::new(move || {
                    black_box(sentry::capture_error(&error));
                }),
                Box::new(move || {
                    guard.flush(Some(Duration::from_secs(120)));
                }),
            )
        }
    };
    let started = cpu();
    deep(20, &mut || report());
    flush();
    let first = cpu() - started;
    let started = cpu();
    let mut caller = Duration::ZERO;
    for burst in 0..reports.div_ceil(100) {
        for _ in 0..100.min(reports - burst * 100) {
            deep(20, &mut || {
                let call = Instant::now();
                report();
                caller += call.elapsed();
            });
        }
        flush();
    }
    let spent = cpu() - started;
    let (_, peak, anon) = memory();
    println!(
        "{} {} {} {} {} {}",
        caller.as_nanos() as f64 / reports as f64,
        first.as_secs_f64() * 1e3,
        spent.as_secs_f64() * 1e3,
        peak - rss0,
        anon - anon0,
        reports,
    );
}

/// Runs the endpoint, then each notifier in turn, and prints the table.
fn compare() {
    let me = std::env::current_exe().expect("this program's path");
    let mut endpoint = Command::new(&me)
        .arg("endpoint")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the endpoint");
    let mut input = endpoint.stdin.take().expect("the endpoint's input");
    let mut output = BufReader::new(endpoint.stdout.take().expect("the endpoint's output"));
    let mut line = String::new();
    output.read_line(&mut line).expect("the endpoint's address");
    let url = line.trim().to_owned();
    let mut arrived = |input: &mut ChildStdin| -> (u64, u64) {
        writeln!(input).expect("ask the endpoint");
        let mut line = String::new();
        output.read_line(&mut line).expect("the endpoint's counts");
        let mut counts = line.split_whitespace().map(|n| n.parse().unwrap_or(0));
        (counts.next().unwrap_or(0), counts.next().unwrap_or(0))
    };
    let mut figures = Vec::new();
    for notifier in ["bugsnag", "sentry"] {
        let before = arrived(&mut input);
        let out = Command::new(&me).args([notifier, &url]).output().expect("run the notifier");
        assert!(out.status.success(), "{notifier}: {}", String::from_utf8_lossy(&out.stderr));
        let after = arrived(&mut input);
        let values: Vec<f64> =
            String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|v| v.parse().ok()).collect();
        let [caller_ns, first_ms, cpu_ms, peak_mib, anon_mib, reported] = values[..] else {
            panic!("{notifier} printed {:?}", String::from_utf8_lossy(&out.stdout));
        };
        let arrived = match notifier {
            "bugsnag" => after.0 - before.0,
            _ => after.1 - before.1,
        };
        // The first report's event is counted apart.
        let arrived = arrived.saturating_sub(1);
        figures.push(Figures { caller_ns, first_ms, cpu_ms, peak_mib, anon_mib, reported: reported as u64, arrived });
    }
    drop(input);
    let _ = endpoint.wait();
    print_table(&figures[0], &figures[1]);
}

fn print_table(bugsnag: &Figures, sentry: &Figures) {
    let per_event = |f: &Figures| f.cpu_ms * 1e3 / f.arrived.max(1) as f64;
    println!("| | this notifier | sentry 0.49 | sentry / this |");
    println!("|---|---|---|---|");
    let row = |name: &str, ours: f64, theirs: f64, unit: &str| {
        println!("| {name} | {ours:.1} {unit} | {theirs:.1} {unit} | {:.1}× |", theirs / ours);
    };
    row("caller's time per report", bugsnag.caller_ns / 1e3, sentry.caller_ns / 1e3, "µs");
    row("process CPU of the first report", bugsnag.first_ms, sentry.first_ms, "ms");
    row("process CPU per event that arrived", per_event(bugsnag), per_event(sentry), "µs");
    row("peak RSS added", bugsnag.peak_mib, sentry.peak_mib, "MiB");
    row("anonymous memory added", bugsnag.anon_mib, sentry.anon_mib, "MiB");
    println!(
        "| events that arrived | {} of {} | {} of {} | |",
        bugsnag.arrived, bugsnag.reported, sentry.arrived, sentry.reported
    );
}
