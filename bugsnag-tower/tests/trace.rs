//! An axum service traced with `tower-http`'s `TraceLayer` and `tracing-opentelemetry`,
//! as the README sets it up (feature `opentelemetry`): every kind of report carries the
//! ids of the request's exported span. One test: the tracing subscriber is process-wide.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bugsnag_core::testing::{self, Collector};
use bugsnag_core::Client;
use bugsnag_tower::{BugsnagLayer, ErrorReport};
use opentelemetry::trace::TracerProvider;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use serde_json::{json, Value};
use tower_http::trace::TraceLayer;
use tracing_subscriber::prelude::*;

#[derive(Debug)]
struct StorageError;
impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk full")
    }
}
impl std::error::Error for StorageError {}

impl IntoResponse for StorageError {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::INTERNAL_SERVER_ERROR, "sorry").into_response();
        response.extensions_mut().insert(ErrorReport::new(self));
        response
    }
}

async fn save() -> Result<&'static str, StorageError> {
    Err(StorageError)
}

async fn explode(Path(n): Path<u32>) -> &'static str {
    tokio::task::yield_now().await;
    panic!("order {n} exploded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_report_of_a_traced_request_carries_its_span_over_the_callers_traceparent() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("shop"))).init();

    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let handled = client.clone();
    let app = Router::new()
        .route("/save/{n}", get(save))
        .route("/explode/{n}", get(explode))
        .route(
            "/handled/{n}",
            get(move || async move {
                handled.notify_message("handled in the handler");
                "ok"
            }),
        )
        .layer(BugsnagLayer::with_client(client.clone()))
        .layer(TraceLayer::new_for_http());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });

    let http = reqwest::Client::new();
    for path in ["/save/1", "/explode/2", "/handled/3"] {
        let response = http.get(format!("{url}{path}")).header("traceparent", testing::TRACEPARENT).send().await;
        assert!(response.is_ok(), "{path}");
    }
    assert!(tokio::task::spawn_blocking(move || client.flush(Duration::from_secs(20))).await.unwrap());
    provider.force_flush().unwrap();

    let events = collector.wait_for(Duration::from_secs(20), |events| events.len() >= 3);
    assert_eq!(events.len(), 3, "{events:#?}");
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 3, "one span per request: {spans:#?}");
    for event in &events {
        // The request's span is the one TraceLayer made for this URL.
        let url = event["request"]["url"].as_str().unwrap();
        let span = spans
            .iter()
            .find(|s| {
                s.attributes.iter().any(|kv| kv.key.as_str() == "uri" && url.ends_with(kv.value.as_str().as_ref()))
            })
            .unwrap_or_else(|| panic!("the span of {url}: {spans:#?}"));
        let link = json!({
            "traceId": format!("{:032x}", span.span_context.trace_id()),
            "spanId": format!("{:016x}", span.span_context.span_id()),
        });
        assert_eq!(event["correlation"], link, "{}", event_summary(event));
        assert_ne!(event["correlation"]["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736", "the active span wins");
    }
}

fn event_summary(event: &Value) -> String {
    format!("{} {}", event["exceptions"][0]["errorClass"], event["request"]["url"])
}
