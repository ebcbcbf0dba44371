//! Whole-pipeline figures that criterion's per-iteration model does not fit:
//!
//! 1. Error storm with the endpoint down: 1,000,000 `notify` calls against a closed port;
//!    caller-side latency percentiles and peak RSS growth (Linux `VmHWM`).
//! 2. Throughput: events per second delivered end to end to a loopback Collector (which
//!    also validates every payload against the schema, on the same 2 cores).
//!
//! Run with `cargo bench -p bugsnag-core --bench delivery`; figures in BENCHMARKS.md.

use std::time::{Duration, Instant};

use bugsnag_core::testing::{closed_endpoint, Collector, API_KEY};
use bugsnag_core::{Client, Configuration, DropReason, Options, Outcome};

const STORM_CALLS: usize = 1_000_000;
const THROUGHPUT_EVENTS: usize = 20_000;

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

#[inline(never)]
fn deep(depth: u32, f: &mut dyn FnMut()) {
    if depth == 0 {
        f()
    } else {
        deep(depth - 1, f);
        std::hint::black_box(depth);
    }
}

fn storm() {
    let client = Client::new(Configuration::default().api_key(API_KEY).endpoint(closed_endpoint()));
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
    println!("storm: {STORM_CALLS} notify calls, endpoint down (connection refused), queue_capacity 1024");
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

fn throughput() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration().queue_capacity(THROUGHPUT_EVENTS));
    let err = std::io::Error::other("payment declined");
    let started = Instant::now();
    for n in 0..THROUGHPUT_EVENTS {
        let queued = client.notify_with(&err, Options::new().context(format!("order {n}")));
        assert!(queued.is_queued());
    }
    let handed_over = started.elapsed();
    assert!(client.flush(Duration::from_secs(300)), "delivery did not finish");
    let elapsed = started.elapsed();
    let requests = collector.requests();
    assert_eq!(requests.len(), THROUGHPUT_EVENTS);
    let bytes: usize = requests.iter().map(|r| r.size).sum();
    let frames = requests[0].body["events"][0]["exceptions"][0]["stacktrace"].as_array().map_or(0, Vec::len);
    println!("throughput: {THROUGHPUT_EVENTS} events, one process, loopback Collector validating every payload");
    println!("  handed over in {handed_over:.2?}; all delivered in {elapsed:.2?}");
    println!("  {} bytes per event on average, {frames} frames", bytes / THROUGHPUT_EVENTS);
    println!("  {:.0} events/s delivered end to end", THROUGHPUT_EVENTS as f64 / elapsed.as_secs_f64());
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list of benchmarks; there are none to list.
    }
    if std::env::var_os("ONLY_THROUGHPUT").is_none() {
        storm();
    }
    throughput();
}
