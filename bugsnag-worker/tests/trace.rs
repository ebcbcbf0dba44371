//! Failed jobs linked to the trace they ran in (feature `opentelemetry`): the ids that
//! reach the collector are those of the span the OpenTelemetry SDK exported.

use std::time::Duration;

use bugsnag_core::testing::Collector;
use bugsnag_core::Client;
use bugsnag_worker::{FailureHandler, Job};
use opentelemetry::trace::{Tracer, TracerProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

fn refused(job: &str) -> std::io::Error {
    std::io::Error::other(format!("{job} refused"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_carries_the_span_it_ran_in_or_was_spawned_from() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let handler = FailureHandler::with_client(client.clone()).framework("test-queue");
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let tracer = provider.tracer("billing");

    tracer.in_span("run-inline", |_| {
        let _ = handler.run_blocking(Job::new("inline"), || Err::<(), _>(refused("inline")));
    });
    // Spawned inside the span; it runs on a worker thread after the span has ended.
    let spawned =
        tracer.in_span("enqueue", |_| handler.spawn(Job::new("spawned"), async { Err::<(), _>(refused("spawned")) }));
    assert!(spawned.await.unwrap().is_err());
    let _ = handler.run_blocking(Job::new("untraced"), || Err::<(), _>(refused("untraced")));
    assert!(tokio::task::spawn_blocking(move || client.flush(WAIT)).await.unwrap());
    provider.force_flush().unwrap();

    let events = collector.wait_for(WAIT, |events| events.len() >= 3);
    assert_eq!(events.len(), 3, "{events:#?}");
    let spans = exporter.get_finished_spans().unwrap();
    let link = |name: &str| {
        let span = spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("span {name} exported"));
        json!({"traceId": format!("{:032x}", span.span_context.trace_id()), "spanId": format!("{:016x}", span.span_context.span_id())})
    };
    let of = |context: &str| -> &Value { events.iter().find(|e| e["context"] == context).unwrap() };
    assert_eq!(of("inline")["correlation"], link("run-inline"));
    assert_eq!(of("spawned")["correlation"], link("enqueue"));
    assert!(of("untraced").get("correlation").is_none());
}
