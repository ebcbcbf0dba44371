//! Whole-pipeline figures that criterion's per-iteration model does not fit:
//!
//! 1. Error storm with the endpoint down: 1,000,000 `notify` calls against a closed port,
//!    with the per-error budget (the default) and without it; caller-side latency
//!    percentiles and peak RSS growth (Linux `VmHWM`).
//! 2. A storm that must not hide the rare error: 200,000 copies of one error and ten
//!    rare ones, against an endpoint answering in 40 ms; caller latency, requests used,
//!    what arrived.
//! 3. Throughput: events per second delivered end to end, in batches, to a loopback
//!    endpoint that does not check the schema, then to the Collector that does (both on
//!    the same 2 cores as the notifier).
//!
//! Run with `cargo bench -p bugsnag-core --bench delivery`; figures in BENCHMARKS.md.

use std::time::{Duration, Instant};

use bugsnag_core::testing::{closed_endpoint, Collector, Reply, API_KEY};
use bugsnag_core::{Client, Configuration, DropReason, Options, Outcome};

#[allow(dead_code)] // Only `deep` is used here.
mod support;
use support::deep;

const STORM_CALLS: usize = 1_000_000;
const THROUGHPUT_EVENTS: usize = 50_000;

/// Peak resident set size so far, in KiB (Linux).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// Resident memory now, in KiB: `(RssAnon, RssFile)` (heap and mapped files; Linux).
fn rss_parts_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    (field("RssAnon:"), field("RssFile:"))
}

/// Latencies in 100 ns buckets up to 10 ms; a fixed array, so recording costs no memory.
struct Histogram {
    buckets: Vec<u32>,
    max: Duration,
}

impl Histogram {
    fn new() -> Self {
        Self { buckets: vec![0; 100_001], max: Duration::ZERO }
    }
    fn record(&mut self, d: Duration) {
        let i = ((d.as_nanos() / 100) as usize).min(self.buckets.len() - 1);
        self.buckets[i] += 1;
        self.max = self.max.max(d);
    }
    fn percentile(&self, p: f64) -> Duration {
        let total: u64 = self.buckets.iter().map(|&n| n as u64).sum();
        let target = (total as f64 * p).ceil() as u64;
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n as u64;
            if seen >= target {
                return Duration::from_nanos((i as u64 + 1) * 100);
            }
        }
        self.max
    }
}

fn storm(budget: bool) {
    let config = Configuration::default().api_key(API_KEY).endpoint(closed_endpoint());
    let client = Client::new(if budget { config } else { config.without_error_budget() });
    let err = std::io::Error::other("database unavailable");
    // The delivery thread loads debug information when it is first idle; the baseline is
    // taken once that is done, so the growth counts the queue filling up and the storm.
    let before_load = peak_rss_kib();
    let (anon_before, file_before) = rss_parts_kib();
    std::thread::sleep(Duration::from_secs(3));
    let baseline = peak_rss_kib();
    let (anon_after, file_after) = rss_parts_kib();
    let mut latencies = Histogram::new();
    let mut full = 0usize;
    let started = Instant::now();
    for _ in 0..STORM_CALLS {
        deep(10, &mut || {
            let t = Instant::now();
            let outcome = client.notify(&err);
            latencies.record(t.elapsed());
            full += (outcome == Outcome::Dropped(DropReason::QueueFull)) as usize;
        });
    }
    let elapsed = started.elapsed();
    let growth = peak_rss_kib().saturating_sub(baseline);
    let budget_note = if budget { "per-error budget on (the default)" } else { "no per-error budget" };
    println!(
        "storm: {STORM_CALLS} notify calls, endpoint down (connection refused), queue_capacity 1024, {budget_note}"
    );
    println!(
        "  total {:.2?} ({:.0} calls/s); dropped on a full queue: {full}",
        elapsed,
        STORM_CALLS as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  caller latency p50 {:?}  p99 {:?}  p99.9 {:?}  max {:?}",
        latencies.percentile(0.50),
        latencies.percentile(0.99),
        latencies.percentile(0.999),
        latencies.max
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!("  peak RSS growth during the storm: {:.1} MiB", mib(growth));
    println!(
        "  loading debug information before it: {:.1} MiB ({:.1} MiB heap, {:.1} MiB pages of mapped files)",
        mib(baseline.saturating_sub(before_load)),
        mib(anon_after.saturating_sub(anon_before)),
        mib(file_after.saturating_sub(file_before)),
    );
    println!("  stats: {:?}", client.stats());
}

#[inline(never)]
fn storming(client: &Client, n: usize) -> Outcome {
    client.notify_message_with(format!("connection pool exhausted ({n})"), Options::new().error_class("PoolExhausted"))
}

fn storm_with_rare_errors() {
    let collector = Collector::start();
    collector.answer_by_default(Reply::status(200).delay(Duration::from_millis(40)));
    let client = Client::new(collector.configuration().auto_capture_sessions(false));
    let mut latencies = Histogram::new();
    let mut rare_queued = 0;
    let started = Instant::now();
    for n in 0..200_000 {
        let t = Instant::now();
        let _ = storming(&client, n);
        latencies.record(t.elapsed());
        if n % 20_000 == 10_000 {
            let class = format!("Rare{}", n / 20_000);
            rare_queued +=
                client.notify_message_with("a rare error", Options::new().error_class(class)).is_queued() as usize;
        }
    }
    let called = started.elapsed();
    assert!(client.flush(Duration::from_secs(60)));
    let events = collector.events();
    let rare = events.iter().filter(|e| e["exceptions"][0]["message"] == "a rare error").count();
    let held: u64 = events.iter().filter_map(|e| e["metaData"]["notifier"]["heldBack"].as_u64()).sum();
    let requests = collector.requests().iter().filter(|r| r.path == "/notify").count();
    println!("storm with rare errors: 200,000 copies of one error and 10 rare ones, endpoint answering in 40 ms");
    println!(
        "  called in {called:.2?}; caller latency p50 {:?}  p99 {:?}  max {:?}",
        latencies.percentile(0.5),
        latencies.percentile(0.99),
        latencies.max
    );
    println!("  rare errors queued {rare_queued}/10, arrived {rare}/10; {} events in {requests} requests; held-back counts that arrived: {held}", events.len());
    println!("  stats: {:?}", client.stats());
}

fn throughput(validated: bool) {
    let collector = if validated { Collector::start() } else { Collector::start_unvalidated() };
    // Every event from one line: without the budget, which would hold them back.
    let config = collector.configuration().queue_capacity(THROUGHPUT_EVENTS).without_error_budget();
    let client = Client::new(config.auto_capture_sessions(false));
    let err = std::io::Error::other("payment declined");
    let started = Instant::now();
    for n in 0..THROUGHPUT_EVENTS {
        let queued = client.notify_with(&err, Options::new().context(format!("order {n}")));
        assert!(queued.is_queued());
    }
    let handed_over = started.elapsed();
    assert!(client.flush(Duration::from_secs(300)), "delivery did not finish");
    let elapsed = started.elapsed();
    let cpu = cpu_by_thread();
    let requests = collector.requests();
    let events = collector.events();
    assert_eq!(events.len(), THROUGHPUT_EVENTS);
    let bytes: usize = requests.iter().map(|r| r.size).sum();
    let frames = events[0]["exceptions"][0]["stacktrace"].as_array().map_or(0, Vec::len);
    let endpoint =
        if validated { "the Collector validating every payload" } else { "an endpoint that does not check the schema" };
    println!("throughput: {THROUGHPUT_EVENTS} events, one process, loopback, {endpoint}");
    println!("  handed over in {handed_over:.2?}; all delivered in {elapsed:.2?}, in {} requests", requests.len());
    println!("  {} bytes per event on average, {frames} frames", bytes / THROUGHPUT_EVENTS);
    println!("  {:.0} events/s delivered end to end", THROUGHPUT_EVENTS as f64 / elapsed.as_secs_f64());
    println!("  CPU time by thread (the whole process so far): {cpu}");
}

/// CPU time (user + system) of each of this process's threads, summed by name.
fn cpu_by_thread() -> String {
    let tick = 100.0; // USER_HZ on Linux
    let mut by_name: std::collections::BTreeMap<String, f64> = Default::default();
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let Some((name, rest)) = stat.split_once(" (").and_then(|(_, r)| r.rsplit_once(") ")) else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
        *by_name.entry(name.to_owned()).or_default() += (ticks(11) + ticks(12)) / tick;
    }
    by_name.iter().map(|(name, secs)| format!("{name} {secs:.2} s")).collect::<Vec<_>>().join(", ")
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list of benchmarks; there are none to list.
    }
    let only = std::env::var("ONLY").unwrap_or_default();
    let run = |part: &str| only.is_empty() || only == part;
    if run("storm") {
        storm(true);
        storm(false);
    }
    if run("rare") {
        storm_with_rare_errors();
    }
    if run("throughput") {
        throughput(false);
        throughput(true);
    }
}
