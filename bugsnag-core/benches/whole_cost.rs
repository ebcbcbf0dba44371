//! The whole cost of a report: what the process spends on every thread (the caller, the
//! delivery thread, the symbols thread) until its events are delivered, and the memory
//! it keeps, not only the caller's microseconds. Measured from inside with
//! `getrusage(RUSAGE_SELF)` (CPU of all threads) and `/proc/self/status` (peak and
//! anonymous RSS), against an endpoint in another process (a child running the
//! unvalidated collector, which answers 200 at once), so the endpoint's CPU is not
//! counted.
//!
//! Phases, in one process: the first report (the symbols of the program are loaded),
//! 2,000 reports of one error 20 frames deep from one call site (in bursts of 100), then 1,000 reports
//! from 1,000 call sites never seen before; each ends with a flush, so its CPU is that of
//! delivered events. Run with `cargo bench -p bugsnag-core --bench whole_cost`
//! (`WHOLE_COST_REPORTS` changes the 2,000); figures in BENCHMARKS.md.

use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use bugsnag_core::testing::Collector;
use bugsnag_core::{Client, Configuration, Options};

const ENDPOINT: &str = "WHOLE_COST_ENDPOINT";

#[path = "support/process.rs"]
mod process;
#[allow(dead_code)] // Not all of it is used here.
mod support;
use process::{cpu, memory};
use support::deep;

/// One call site a function: each has its own return addresses, new to every cache.
#[inline(never)]
fn site<const N: usize>(client: &Client) {
    let _ = black_box(client.notify_message_with("fresh site", Options::new().context(black_box(N).to_string())));
}

macro_rules! ones {
    ($h:literal, $t:literal) => { ones!(@ $h, $t; 0 1 2 3 4 5 6 7 8 9) };
    (@ $h:literal, $t:literal; $($o:literal)*) => { [$(site::<{ $h * 100 + $t * 10 + $o }> as fn(&Client)),*] };
}
macro_rules! tens {
    ($h:literal) => { tens!(@ $h; 0 1 2 3 4 5 6 7 8 9) };
    (@ $h:literal; $($t:literal)*) => { [$(ones!($h, $t)),*] };
}
macro_rules! sites {
    ($($h:literal)*) => { [$(tens!($h)),*] };
}

/// Runs `work`, flushes, and prints its CPU per event and what it added to memory.
fn phase(name: &str, client: &Client, events: u64, work: impl FnOnce()) -> Duration {
    let delivered_before = client.stats().delivered;
    let started = cpu();
    work();
    assert!(client.flush(Duration::from_secs(120)), "{name}: everything delivered");
    let spent = cpu() - started;
    let delivered = client.stats().delivered - delivered_before;
    let (rss, peak, anon) = memory();
    println!(
        "{name}: {delivered} of {events} events delivered, process CPU {:.1} ms, {:.1} µs an event; RSS {rss:.1} MiB (peak {peak:.1}), anonymous {anon:.1} MiB",
        spent.as_secs_f64() * 1e3,
        spent.as_secs_f64() * 1e6 / events as f64,
    );
    assert_eq!(delivered, events, "{name}: every event delivered");
    spent
}

fn main() {
    if std::env::var_os(ENDPOINT).is_some() {
        let collector = Collector::start_unvalidated();
        println!("{}", collector.url());
        // Serves until the parent closes our standard input.
        let _ = std::io::stdin().lines().count();
        return;
    }
    let reports: u64 = std::env::var("WHOLE_COST_REPORTS").ok().and_then(|n| n.parse().ok()).unwrap_or(2_000);
    let mut endpoint = Command::new(std::env::current_exe().unwrap())
        .env(ENDPOINT, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the endpoint");
    let mut url = String::new();
    BufReader::new(endpoint.stdout.take().unwrap()).read_line(&mut url).unwrap();
    let url = url.trim();

    let (rss0, _, anon0) = memory();
    let binary_mib = std::fs::metadata(std::env::current_exe().unwrap()).map_or(0.0, |m| m.len() as f64 / 1048576.0);
    println!("binary {binary_mib:.0} MiB; before the client: RSS {rss0:.1} MiB, anonymous {anon0:.1} MiB");
    let config = Configuration::default()
        .api_key(bugsnag_core::testing::API_KEY)
        .endpoint(format!("{url}/notify"))
        .session_endpoint(format!("{url}/sessions"))
        .auto_capture_sessions(false)
        .without_error_budget();
    let client = Client::new(config);
    let error = "x".parse::<u8>().unwrap_err();
    let report = || {
        let _ = black_box(client.notify_with(&error, Options::new().context("checkout")));
    };

    let first = phase("first report (symbols loaded)", &client, 1, || deep(20, &mut || report()));
    let repeated = phase("one call site, 20 frames deep", &client, reports, || {
        // In bursts of 100 that the queue (1,024 by default) holds: a service's steady
        // stream, not a storm.
        for burst in 0..reports.div_ceil(100) {
            for _ in 0..100.min(reports - burst * 100) {
                deep(20, &mut || report());
            }
            client.flush(Duration::from_secs(120));
        }
    });
    let sites = sites!(0 1 2 3 4 5 6 7 8 9);
    let fresh = phase("1,000 call sites never seen before", &client, 1_000, || {
        for report_from in sites.iter().flatten().flatten() {
            deep(20, &mut || report_from(&client));
        }
    });
    let (_, peak, anon) = memory();
    println!(
        "whole cost: first report {:.1} ms of CPU; {:.1} µs an event from one call site, {:.1} µs from a new one; peak RSS +{:.1} MiB, anonymous +{:.1} MiB",
        first.as_secs_f64() * 1e3,
        repeated.as_secs_f64() * 1e6 / reports as f64,
        fresh.as_secs_f64() * 1e6 / 1_000.0,
        peak - rss0,
        anon - anon0,
    );
    drop(endpoint.stdin.take());
    let _ = endpoint.wait();
}
