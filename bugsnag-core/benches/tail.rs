//! The caller's tail: 10,000 `notify` calls from 1,000 call sites the process has never
//! reported from, while the delivery thread resolves each new site's stack. Capture on
//! the caller and resolution on the delivery thread share no lock, so no call should
//! wait on that thread: the budget is max ≤ 200 µs and p99.9 ≤ 50 µs on 2 cores.
//!
//! Voluntary context switches of the calling thread are counted: a call that blocked on
//! a lock or a condition variable gives one up voluntarily, while scheduling noise
//! (the delivery thread and the collector sharing 2 cores) shows as involuntary ones.
//!
//! Run with `cargo bench -p bugsnag-core --bench tail`; figures in BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bugsnag_core::testing::Collector;
use bugsnag_core::{Client, Options};

const ROUNDS: usize = 10;

/// One call site: a function of its own for each `N`, so each has its own return
/// addresses and its stack is new to the symbol caches.
#[inline(never)]
fn site<const N: usize>(client: Option<&Client>) -> Duration {
    let started = Instant::now();
    match client {
        Some(client) => {
            let _ = black_box(client.notify_message_with("tail", Options::new().context(black_box(N).to_string())));
        }
        // The floor: the stack capture alone, the bulk of a call, with no notifier running.
        None => drop(black_box((backtrace::Backtrace::new_unresolved(), black_box(N).to_string()))),
    }
    started.elapsed()
}

macro_rules! ones {
    ($h:literal, $t:literal) => { ones!(@ $h, $t; 0 1 2 3 4 5 6 7 8 9) };
    (@ $h:literal, $t:literal; $($o:literal)*) => { [$(site::<{ $h * 100 + $t * 10 + $o }> as fn(Option<&Client>) -> Duration),*] };
}
macro_rules! tens {
    ($h:literal) => { tens!(@ $h; 0 1 2 3 4 5 6 7 8 9) };
    (@ $h:literal; $($t:literal)*) => { [$(ones!($h, $t)),*] };
}
macro_rules! sites {
    ($($h:literal)*) => { [$(tens!($h)),*] };
}

/// `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` of this thread (Linux).
fn context_switches() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    let field =
        |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    (field("voluntary_ctxt_switches:"), field("nonvoluntary_ctxt_switches:"))
}

/// Percentiles of sorted latencies, as one line.
fn summary(sorted: &[Duration]) -> String {
    if sorted.is_empty() {
        return "none".to_owned();
    }
    let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
    format!("p50 {:?}  p99 {:?}  p99.9 {:?}  max {:?}", at(0.5), at(0.99), at(0.999), sorted[sorted.len() - 1])
}

/// Calls every site `ROUNDS` times, sorting the latencies into all calls and calls that
/// were not preempted, and counting calls that blocked and calls that were preempted.
fn measure(
    sites: &[fn(Option<&Client>) -> Duration],
    client: Option<&Client>,
) -> (Vec<Duration>, Vec<Duration>, usize, usize) {
    let mut all = Vec::with_capacity(sites.len() * ROUNDS);
    let mut undisturbed = Vec::with_capacity(sites.len() * ROUNDS);
    let (mut blocked, mut preempted) = (0, 0);
    for _ in 0..ROUNDS {
        for site in sites {
            let (voluntary, involuntary) = context_switches();
            let took = site(client);
            let (voluntary_after, involuntary_after) = context_switches();
            all.push(took);
            blocked += usize::from(voluntary_after > voluntary);
            if involuntary_after > involuntary {
                preempted += 1;
            } else {
                undisturbed.push(took);
            }
        }
    }
    all.sort();
    undisturbed.sort();
    (all, undisturbed, blocked, preempted)
}

fn main() {
    let sites: Vec<fn(Option<&Client>) -> Duration> =
        sites!(0 1 2 3 4 5 6 7 8 9).into_iter().flatten().flatten().collect();
    assert_eq!(sites.len(), 1000);
    let (floor, floor_undisturbed, floor_blocked, floor_preempted) = measure(&sites, None);
    let collector = Collector::start();
    // Every site reports from the same line of code: without the budget, which groups by it.
    let client = Client::new(collector.configuration().queue_capacity(20_000).without_error_budget());
    // The first round reaches every site fresh while the delivery thread resolves the
    // sites before it; later rounds mix resolved and queued sites.
    let (all, undisturbed, blocked, preempted) = measure(&sites, Some(&client));
    assert!(client.flush(Duration::from_secs(120)), "everything delivered");
    let delivered = collector.events().len();
    println!("floor: the same calls capturing a stack only, no notifier running");
    println!("  every call:              {}", summary(&floor));
    println!("  calls not preempted:     {}", summary(&floor_undisturbed));
    println!("  calls that blocked: {floor_blocked}; calls preempted: {floor_preempted}");
    println!("tail: {} notify calls from {} fresh call sites, delivered {delivered}", all.len(), sites.len());
    println!("  every call:              {}", summary(&all));
    println!("  calls not preempted:     {}", summary(&undisturbed));
    println!("  calls that blocked (gave up the CPU): {blocked}; calls preempted by another thread: {preempted}");
}
