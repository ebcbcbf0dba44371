//! `connect_failure_handler` on a real apalis worker (in-memory storage): each failed task
//! is reported once with its job tab, a panicking task is reported with the stack at the
//! panic point, and the worker keeps working after it.
#![cfg(feature = "apalis")]

use std::time::Duration;

use apalis::prelude::*;
use bugsnag_core::testing::{self, Collector};
use bugsnag_core::Client;
use bugsnag_worker::FailureLayer;
use serde::{Deserialize, Serialize};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

/// What the layer logs (on apalis's tasks, so through a global subscriber).
fn logged() -> String {
    static LOGS: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> = std::sync::OnceLock::new();
    let logs = LOGS.get_or_init(|| {
        let logs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = logs.clone();
        let writer = move || Sink(sink.clone());
        tracing::subscriber::set_global_default(
            tracing_subscriber::fmt().with_ansi(false).with_writer(writer).finish(),
        )
        .unwrap();
        logs
    });
    String::from_utf8_lossy(&logs.lock().unwrap()).into_owned()
}

struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SendInvoice {
    invoice: u32,
    api_token: String,
}

#[inline(never)]
async fn send_invoice(task: SendInvoice) -> Result<(), BoxDynError> {
    match task.invoice {
        13 => panic!("invoice 13 is cursed"),
        n if n % 2 == 1 => Err(std::io::Error::other(format!("smtp refused invoice {n}")).into()),
        _ => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_arguments_of_another_type_sends_none_and_says_so() {
    logged();
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let mut storage = MemoryStorage::new();
    storage.push(SendInvoice { invoice: 7, api_token: "planted-token".into() }).await.unwrap();
    let worker = WorkerBuilder::new("billing")
        .backend(storage)
        .layer(FailureLayer::with_client(client.clone()).send_arguments::<String>())
        .build(send_invoice);
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
    assert!(events[0]["metaData"]["job"].get("arguments").is_none(), "{:#}", events[0]["metaData"]["job"]);
    let told = logged();
    assert!(told.contains("send_arguments::<alloc::string::String>() does not match"), "{told}");
    assert!(told.contains("apalis::SendInvoice"), "names the tasks' type: {told}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_panicking_tasks_are_reported_and_the_worker_keeps_running() {
    let collector = Collector::start();
    // No code snippets: this file's own lines hold the planted mark.
    let client = Client::new(collector.configuration().send_code(false));
    let mut storage = MemoryStorage::new();
    for invoice in [7, 13, 8, 9] {
        storage.push(SendInvoice { invoice, api_token: "planted-token".into() }).await.unwrap();
    }
    let worker = WorkerBuilder::new("billing")
        .backend(storage)
        .layer(FailureLayer::with_client(client.clone()).send_arguments::<SendInvoice>())
        .build(send_invoice);
    let running = tokio::spawn(worker.run());
    // Three of the four tasks fail; the one after the panic (9) shows the worker goes on.
    let (events, collector) = tokio::task::spawn_blocking(move || {
        collector.wait_for(WAIT, |events| events.len() >= 3);
        assert!(client.flush(WAIT));
        (collector.events(), collector)
    })
    .await
    .unwrap();
    running.abort();
    assert_eq!(events.len(), 3, "{events:#?}");
    let by_message = |m: &str| events.iter().find(|e| e["exceptions"][0]["message"] == m).unwrap().clone();

    let failed = by_message("smtp refused invoice 7");
    assert_eq!(failed["context"], std::any::type_name::<SendInvoice>());
    assert_eq!(failed["exceptions"][0]["errorClass"], "std::io::Error", "named by what is in the box");
    assert_eq!(failed["unhandled"], true);
    assert_eq!(
        failed["severityReason"],
        json!({"type": "unhandledErrorMiddleware", "attributes": {"framework": "apalis"}})
    );
    assert_eq!(failed["metaData"]["job"]["arguments"], json!({"invoice": 7, "api_token": "[FILTERED]"}));
    assert!(failed["metaData"]["job"]["id"].is_string(), "{:#}", failed["metaData"]["job"]);
    assert_eq!(failed["metaData"]["job"]["worker"], "billing");
    assert_eq!(failed["device"]["runtimeVersions"]["apalis"], testing::dependency_version("bugsnag-worker", "apalis"));

    let panicked = by_message("invoice 13 is cursed");
    assert_eq!(
        panicked["severityReason"],
        json!({"type": "unhandledExceptionMiddleware", "attributes": {"framework": "apalis"}})
    );
    let top = &panicked["exceptions"][0]["stacktrace"][0];
    assert!(top["method"].as_str().unwrap().starts_with("apalis::send_invoice"), "the panic point: {top:#}");

    by_message("smtp refused invoice 9"); // after the panic: the worker kept running
    collector.assert_no_planted_secret();
}

async fn always_fails(_task: SendInvoice) -> Result<(), BoxDynError> {
    Err(std::io::Error::other("mail server down").into())
}

/// Runs one always-failing task through a worker with two retries; the layer goes before
/// or after `.retry(..)`. Returns the events once the report of the third attempt is in.
async fn retried(
    layer_first: bool,
    layer: FailureLayer,
    collector: Collector,
    client: Client,
) -> Vec<serde_json::Value> {
    let mut storage = MemoryStorage::new();
    storage.push(SendInvoice { invoice: 1, api_token: String::new() }).await.unwrap();
    let builder = WorkerBuilder::new("billing").backend(storage);
    let running = if layer_first {
        tokio::spawn(builder.layer(layer).retry(RetryPolicy::retries(2)).build(always_fails).run())
    } else {
        tokio::spawn(builder.retry(RetryPolicy::retries(2)).layer(layer).build(always_fails).run())
    };
    let events = tokio::task::spawn_blocking(move || {
        // The last attempt's report comes last: once it is in, every earlier one is too.
        collector.wait_for(WAIT, |events| events.iter().any(|e| e["metaData"]["job"]["attempt"] == 3));
        assert!(client.flush(WAIT));
        collector.events()
    })
    .await
    .unwrap();
    running.abort();
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_retried_by_apalis_is_reported_once_for_its_final_failure_with_the_attempts_made() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let events = retried(true, FailureLayer::with_client(client.clone()), collector, client).await;
    assert_eq!(events.len(), 1, "one report for the task's final failure: {events:#?}");
    assert_eq!(events[0]["exceptions"][0]["message"], "mail server down");
    assert_eq!(events[0]["metaData"]["job"]["attempt"], 3, "the first attempt and two retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_after_retry_reports_each_attempt_with_its_number() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let layer = FailureLayer::with_client(client.clone()).every_attempt(true);
    let events = retried(false, layer, collector, client).await;
    let mut attempts: Vec<u64> = events.iter().map(|e| e["metaData"]["job"]["attempt"].as_u64().unwrap()).collect();
    attempts.sort();
    assert_eq!(attempts, [1, 2, 3], "{events:#?}");
}
