//! Failed jobs, as they reach a loopback Collector.

use std::time::Duration;

use bugsnag_core::testing::Collector;
use bugsnag_core::Client;
use bugsnag_worker::{FailureHandler, Job, JobError};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

fn setup() -> (Collector, Client, FailureHandler) {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let handler = FailureHandler::with_client(client.clone()).framework("test-queue");
    (collector, client, handler)
}

#[inline(never)]
async fn send_invoice(invoice: u32) -> Result<(), std::io::Error> {
    tokio::task::yield_now().await;
    if invoice == 13 {
        panic!("invoice {invoice} is cursed");
    }
    Err(std::io::Error::other(format!("smtp refused invoice {invoice}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_is_reported_with_its_context_and_filtered_arguments() {
    let (collector, client, handler) = setup();
    let job = Job::new("send_invoice")
        .id("job-81")
        .attempt(2)
        .queue("billing")
        .arguments(json!({"invoice": 7, "api_token": "secret"}));
    let result = handler.run(job, send_invoice(7)).await;
    assert!(matches!(result, Err(JobError::Failed(_))));
    assert!(tokio::task::spawn_blocking(move || client.flush(WAIT)).await.unwrap());

    let events = collector.events();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["context"], "send_invoice");
    assert_eq!(event["unhandled"], true);
    assert_eq!(
        event["severityReason"],
        json!({"type": "unhandledErrorMiddleware", "attributes": {"framework": "test-queue"}})
    );
    assert_eq!(event["exceptions"][0]["message"], "smtp refused invoice 7");
    assert_eq!(
        event["metaData"]["job"],
        json!({"name": "send_invoice", "id": "job-81", "attempt": 2, "queue": "billing",
               "arguments": {"invoice": 7, "api_token": "[FILTERED]"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_job_is_reported_once_and_becomes_an_error() {
    let (collector, client, handler) = setup();
    let result = handler.spawn(Job::new("send_invoice"), send_invoice(13)).await.unwrap();
    match result {
        Err(JobError::Panicked(message)) => assert_eq!(message, "invoice 13 is cursed"),
        other => panic!("expected a panic, got {other:?}"),
    }
    assert!(tokio::task::spawn_blocking(move || client.flush(WAIT)).await.unwrap());
    let events = collector.events();
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["severityReason"]["type"], "unhandledExceptionMiddleware");
    assert_eq!(event["exceptions"][0]["errorClass"], "panic");
    let top = &event["exceptions"][0]["stacktrace"][0];
    assert!(top["method"].as_str().unwrap().starts_with("jobs::send_invoice"), "{top:#}");
}

#[test]
fn jobs_are_sessions_only_when_asked() {
    for (sessions, started) in [(false, 0), (true, 2)] {
        let (collector, client, handler) = setup();
        let handler = if sessions { handler.sessions(true) } else { handler };
        for id in ["j-1", "j-2"] {
            let _ = handler.run_blocking(Job::new("rebuild_index").id(id), || Ok::<_, std::io::Error>(()));
        }
        assert!(client.flush(WAIT));
        assert_eq!(collector.sessions_started(), started, "sessions({sessions})");
    }
}

#[test]
fn blocking_jobs_and_notify_inside_them_carry_the_job() {
    let (collector, client, handler) = setup();
    let ok = handler.run_blocking(Job::new("rebuild_index").id("j-1"), || {
        client.notify_message("slow shard");
        Ok::<_, std::io::Error>(42)
    });
    assert_eq!(ok.unwrap(), 42);
    assert!(client.flush(WAIT));
    let events = collector.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event["context"], "rebuild_index");
    assert_eq!(event["unhandled"], false);
    assert_eq!(event["metaData"]["job"]["id"], "j-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_nested_100_000_deep_are_capped_and_filtered() {
    let (collector, client, handler) = setup();
    let mut deep = json!({"password": "hunter2"});
    for _ in 0..100_000 {
        deep = serde_json::Value::Object(serde_json::Map::from_iter([("k".to_owned(), deep)]));
    }
    // Not `json!`: it would serialize (recursively) the value it wraps.
    let mut arguments = json!({"api_token": "secret", "invoice": 8});
    arguments.as_object_mut().unwrap().insert("k".to_owned(), deep);
    let job = Job::new("deep").arguments(arguments);
    let result = handler.run(job, send_invoice(8)).await;
    assert!(matches!(result, Err(JobError::Failed(_))));
    assert!(tokio::task::spawn_blocking(move || client.flush(WAIT)).await.unwrap());
    let events = collector.events();
    assert_eq!(events.len(), 1);
    let arguments = &events[0]["metaData"]["job"]["arguments"];
    assert_eq!(arguments["api_token"], "[FILTERED]");
    assert_eq!(arguments["invoice"], 8);
    // metaData > job > arguments: the tab is the first of the 32 levels kept.
    let mut level = &arguments["k"];
    let mut depth = 2;
    while level.is_object() {
        level = &level["k"];
        depth += 1;
    }
    assert_eq!(level, "[nested too deep]", "cut at the depth limit");
    assert_eq!(depth, 32, "objects kept below the job tab");
}

#[cfg(feature = "anyhow")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anyhow_job_error_is_reported_with_its_own_backtrace() {
    #[inline(never)]
    fn load_invoice() -> anyhow::Result<()> {
        Err(anyhow::anyhow!("invoice store unreachable"))
    }
    // anyhow captures a backtrace only when asked to.
    std::env::set_var("RUST_LIB_BACKTRACE", "1");
    let (collector, client, handler) = setup();
    let result = handler.run_anyhow(Job::new("load_invoice"), async { load_invoice() }).await;
    assert!(matches!(result, Err(JobError::Failed(_))));
    assert!(tokio::task::spawn_blocking(move || client.flush(WAIT)).await.unwrap());
    let events = collector.events();
    assert_eq!(events.len(), 1);
    let top = &events[0]["exceptions"][0]["stacktrace"][0];
    assert!(top["method"].as_str().unwrap().contains("load_invoice"), "the frame that made the error: {top:#}");
    assert_eq!(events[0]["context"], "load_invoice");
}
