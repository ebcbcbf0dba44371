//! A failed job's error starts at the line that failed, not where the job runner saw
//! it: through `FailureHandler` (run, spawn, anyhow) and a real apalis worker.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bugsnag_core::testing::{self, assert_origin, Collector};
use bugsnag_core::{Client, Configuration, Traced};
use bugsnag_worker::{FailureHandler, Job};

const WAIT: Duration = Duration::from_secs(20);

static SMTP_LINE: AtomicU32 = AtomicU32::new(0);
static LEDGER_LINE: AtomicU32 = AtomicU32::new(0);

#[inline(never)]
fn connect_smtp() -> Result<(), Traced<std::io::Error>> {
    SMTP_LINE.store(line!() + 1, Ordering::Relaxed);
    let _settings = std::fs::read_to_string("/no/such/smtp.conf")?;
    Ok(())
}

#[inline(never)]
fn open_ledger() -> Result<(), Traced<std::io::Error>> {
    LEDGER_LINE.store(line!() + 1, Ordering::Relaxed);
    let _ledger = std::fs::read_to_string("/no/such/ledger")?;
    Ok(())
}

#[inline(never)]
async fn sync_ledger() -> Result<(), Traced<std::io::Error>> {
    tokio::task::yield_now().await;
    open_ledger()?;
    Ok(())
}

#[inline(never)]
async fn send_invoice() -> Result<(), Traced<std::io::Error>> {
    tokio::task::yield_now().await;
    connect_smtp()?;
    Ok(())
}

#[inline(never)]
async fn send_invoice_anyhow() -> anyhow::Result<()> {
    tokio::task::yield_now().await;
    connect_smtp()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_jobs_error_starts_where_it_was_made() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let handler = FailureHandler::with_client(client.clone());
    assert!(handler.run(Job::new("run"), send_invoice()).await.is_err());
    assert!(handler.spawn(Job::new("spawned"), send_invoice()).await.unwrap().is_err());
    assert!(handler.run_anyhow(Job::new("anyhow"), send_invoice_anyhow()).await.is_err());
    assert!(tokio::task::spawn_blocking(move || client.flush(WAIT)).await.unwrap());
    let events = collector.events();
    assert_eq!(events.len(), 3, "{events:#?}");
    for event in &events {
        assert_eq!(event["unhandled"], true);
        assert_origin(event, "connect_smtp", SMTP_LINE.load(Ordering::Relaxed));
    }
}

#[cfg(feature = "apalis")]
mod apalis_worker {
    use apalis::prelude::*;
    use bugsnag_worker::FailureLayer;
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Debug, Clone, Serialize, Deserialize)]
    struct SendInvoice {
        invoice: u32,
    }

    async fn send(_: SendInvoice) -> Result<(), BoxDynError> {
        connect_smtp()?;
        Ok(())
    }

    /// Which failure a task makes.
    #[derive(Debug, Clone, Serialize, Deserialize)]
    enum Failing {
        Invoice,
        Ledger,
    }

    async fn fail(task: Failing) -> Result<(), BoxDynError> {
        match task {
            Failing::Invoice => connect_smtp()?,
            Failing::Ledger => open_ledger()?,
        }
        Ok(())
    }

    /// Runs `runs` tasks failing at each call site through a real apalis worker, and
    /// waits until the layer has reported them all.
    pub(super) async fn run_both(client: &Client, runs: usize) {
        let before = client.stats().queued;
        let mut storage = MemoryStorage::new();
        for _ in 0..runs {
            storage.push(Failing::Invoice).await.unwrap();
            storage.push(Failing::Ledger).await.unwrap();
        }
        let worker =
            WorkerBuilder::new("books").backend(storage).layer(FailureLayer::with_client(client.clone())).build(fail);
        let running = tokio::spawn(worker.run());
        let deadline = std::time::Instant::now() + WAIT;
        while client.stats().queued < before + 2 * runs as u64 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        running.abort();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_tasks_boxed_error_starts_where_it_was_made() {
        let collector = Collector::start();
        let client = Client::new(collector.configuration());
        let mut storage = MemoryStorage::new();
        storage.push(SendInvoice { invoice: 7 }).await.unwrap();
        let worker =
            WorkerBuilder::new("billing").backend(storage).layer(FailureLayer::with_client(client.clone())).build(send);
        let running = tokio::spawn(worker.run());
        let events = tokio::task::spawn_blocking(move || {
            collector.wait_for(WAIT, |events| !events.is_empty());
            assert!(client.flush(WAIT));
            collector.events()
        })
        .await
        .unwrap();
        running.abort();
        assert_eq!(events.len(), 1, "{events:#?}");
        assert_eq!(events[0]["exceptions"][0]["errorClass"], "std::io::Error");
        assert_origin(&events[0], "connect_smtp", SMTP_LINE.load(Ordering::Relaxed));
    }
}

/// The worker deployed: copied out of the workspace, started in `/` without a home
/// directory. Each failed job's error groups at the `?` that made it, through the job
/// hooks and (with the feature) a real apalis worker: two call sites, two groups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_from_root_failed_jobs_group_at_the_line_that_failed() {
    const RUNS: usize = 2;
    if testing::is_deployed() {
        let client = Client::new(Configuration::from_env());
        let handler = FailureHandler::with_client(client.clone());
        for _ in 0..RUNS {
            assert!(handler.run(Job::new("send_invoice"), send_invoice()).await.is_err());
            assert!(handler.run(Job::new("sync_ledger"), sync_ledger()).await.is_err());
        }
        #[cfg(feature = "apalis")]
        apalis_worker::run_both(&client, RUNS).await;
        assert!(tokio::task::spawn_blocking(move || client.flush(WAIT)).await.unwrap());
        return;
    }
    let _ = (connect_smtp(), open_ledger());
    let expected = if cfg!(feature = "apalis") { 4 * RUNS } else { 2 * RUNS };
    let sites = [(file!(), SMTP_LINE.load(Ordering::Relaxed)), (file!(), LEDGER_LINE.load(Ordering::Relaxed))];
    tokio::task::spawn_blocking(move || {
        testing::assert_deployed_groups(
            "deployed_from_root_failed_jobs_group_at_the_line_that_failed",
            expected,
            &sites,
        )
    })
    .await
    .unwrap();
}
