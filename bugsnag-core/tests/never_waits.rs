//! "`notify` never waits on another thread", tried where waiting would be most likely:
//! an endpoint that hangs, a queue that is full, a flush running all the while on
//! another thread, and a client being shut down. A call that waits on another thread
//! (a lock it holds, a condition variable, a channel with no room) gives up the CPU:
//! the kernel counts that as a voluntary context switch of the calling thread, which is
//! what is measured here, so a busy machine does not change the result the way it
//! changes a time. The control proves the measure sees a wait when there is one.
//!
//! The binary uses mimalloc. With glibc's allocator, about one call in 30,000 gave up the
//! CPU (in 5 of 40 runs, one or two of the 6,000 calls measured; with mimalloc, 0 of 45
//! runs): glibc locks an arena while a thread frees memory another thread allocated from
//! it, and the delivery thread frees what the caller made. That lock is the allocator's,
//! which the notifier does not choose; every lock of the notifier's own is what this
//! test looks for.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bugsnag_core::testing::{Collector, Reply};
use bugsnag_core::{Client, Configuration, Options, Outcome};

mod support;
use support::voluntary_switches;

/// Major page faults of the calling thread so far (Linux): a page read from disk, which
/// also gives up the CPU but waits on no other thread (the test binary's own code, paged
/// in once after the machine evicted it). Calls that read from disk are told apart.
fn disk_reads() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Field 12 is majflt; the command name (field 2) may hold spaces: count from its end.
    let after_name = &stat[stat.rfind(')').expect("stat has the command name") + 2..];
    after_name.split(' ').nth(9).and_then(|v| v.parse().ok()).expect("stat has majflt")
}

/// Calls `notify` `calls` times from this thread; returns how many of the calls gave up
/// the CPU without reading from disk, and the outcomes.
fn calls_that_waited(client: &Client, calls: usize) -> (usize, Vec<Outcome>) {
    let mut waited = 0;
    let mut outcomes = Vec::with_capacity(calls);
    for n in 0..calls {
        let message = format!("call {n}");
        // Read in this order, so that only the notify call lies between the two counts of
        // switches.
        let faults = disk_reads();
        let before = voluntary_switches();
        let outcome = client.notify_message_with(message, Options::new().context("storm"));
        if voluntary_switches() != before && disk_reads() == faults {
            waited += 1;
        }
        outcomes.push(outcome);
    }
    (waited, outcomes)
}

/// The first calls of a thread may fault in code and data, and the client's threads
/// start meanwhile (its HTTP client, the debug information loaded for stacks): their
/// page faults and memory mappings take the process's memory lock, which a call may wait
/// for without waiting on the notifier. Warm-up ends once a first request has reached
/// the endpoint, so all of that is done; those calls are not what is measured.
fn warm_up(collector: &Collector, client: &Client) {
    client.notify_message("warm-up");
    assert!(!collector.wait_for_requests(1, Duration::from_secs(30)).is_empty(), "the warm-up report was sent");
    let _ = calls_that_waited(client, 50);
}

/// A client against an endpoint that never answers, its queue soon full, with another
/// thread flushing it in a loop.
fn stuck(configure: impl FnOnce(Configuration) -> Configuration) -> (Collector, Client, Arc<AtomicBool>) {
    let collector = Collector::start();
    collector.script(std::iter::repeat_n(Reply::hang(), 64));
    let client = Client::new(configure(collector.configuration().queue_capacity(16).max_in_flight(2)));
    let stop = Arc::new(AtomicBool::new(false));
    let (flushing, stopping) = (client.clone(), stop.clone());
    std::thread::spawn(move || {
        while !stopping.load(Ordering::Relaxed) {
            flushing.flush(Duration::from_millis(20));
        }
    });
    (collector, client, stop)
}

/// One test, so that no other test's thread captures stacks meanwhile (the unwinder's
/// lock is shared by every thread of the process).
#[test]
fn notify_never_gives_up_the_cpu_while_delivery_hangs_the_queue_is_full_and_a_flush_runs() {
    // Every call does the whole work: no per-error budget to hold copies back.
    let (collector, client, stop) = stuck(Configuration::without_error_budget);
    warm_up(&collector, &client);
    let (waited, outcomes) = calls_that_waited(&client, 2_000);
    stop.store(true, Ordering::Relaxed);
    assert!(outcomes.contains(&Outcome::Queued), "some calls were queued");
    assert!(outcomes.iter().any(|o| !o.is_queued()), "the queue filled: the rest were dropped and counted");
    assert_eq!(waited, 0, "{waited} of 2,000 calls waited on another thread");

    // And while the client shuts down (its shutdown waits for the hanging endpoint).
    let shutting = client.clone();
    let shutdown = std::thread::spawn(move || shutting.shutdown(Duration::from_millis(300)));
    let (waited, _) = calls_that_waited(&client, 2_000);
    assert!(!shutdown.join().unwrap(), "nothing could be sent");
    assert_eq!(waited, 0, "{waited} of 2,000 calls waited during a shutdown");

    // With the per-error budget: copies held back, samples kept, summaries at each flush.
    let (collector, client, stop) = stuck(|c| c.error_budget(100, 500.0));
    warm_up(&collector, &client);
    let (waited, outcomes) = calls_that_waited(&client, 2_000);
    stop.store(true, Ordering::Relaxed);
    assert!(outcomes.contains(&Outcome::Dropped(bugsnag_core::DropReason::HeldBack)));
    assert_eq!(waited, 0, "{waited} of 2,000 calls waited with the budget on");

    // The control: synchronous delivery makes every notify wait for the delivery thread.
    let (_collector, client, stop) = stuck(|c| c.asynchronous(false).delivery_timeout(Duration::from_millis(100)));
    let (waited, _) = calls_that_waited(&client, 20);
    stop.store(true, Ordering::Relaxed);
    assert!(waited >= 10, "the measure sees waiting calls: only {waited} of 20 were seen to wait");
}
