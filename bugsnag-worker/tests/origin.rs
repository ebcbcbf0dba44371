//! A failed job's error starts at the line that failed, not where the job runner saw
//! it: through `FailureHandler` (run, spawn, anyhow) and a real apalis worker.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bugsnag_core::testing::{assert_origin, Collector};
use bugsnag_core::{Client, Traced};
use bugsnag_worker::{FailureHandler, Job};

const WAIT: Duration = Duration::from_secs(20);

static SMTP_LINE: AtomicU32 = AtomicU32::new(0);

#[inline(never)]
fn connect_smtp() -> Result<(), Traced<std::io::Error>> {
    SMTP_LINE.store(line!() + 1, Ordering::Relaxed);
    let _settings = std::fs::read_to_string("/no/such/smtp.conf")?;
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
