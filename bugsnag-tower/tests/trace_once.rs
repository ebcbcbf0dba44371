//! With `tower-http`'s `TraceLayer` and the tracing bridge installed beside
//! `BugsnagLayer` (the README's setup), each failure is reported once, by the layer:
//! `TraceLayer`'s "response failed" ERROR record is a breadcrumb, not a second report.
//! One test: the tracing subscriber is process-wide.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bugsnag_core::logging::BugsnagTracingLayer;
use bugsnag_core::testing::Collector;
use bugsnag_core::Client;
use bugsnag_tower::{BugsnagLayer, ErrorReport};
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

async fn explode() -> &'static str {
    tokio::task::yield_now().await;
    panic!("exploded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traced_service_reports_each_failure_once() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    tracing_subscriber::registry().with(BugsnagTracingLayer::with_client(client.clone())).init();
    let app = Router::new()
        .route("/save", get(|| async { Err::<&str, _>(StorageError) }))
        .route("/explode", get(explode))
        .route("/unavailable", get(|| async { StatusCode::SERVICE_UNAVAILABLE }))
        .layer(BugsnagLayer::with_client(client.clone()).report_responses_without_error(true))
        .layer(TraceLayer::new_for_http());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    let http = reqwest::Client::new();
    for (path, status) in [("/save", 500), ("/explode", 500), ("/unavailable", 503)] {
        assert_eq!(http.get(format!("{url}{path}")).send().await.unwrap().status(), status, "{path}");
    }
    assert!(tokio::task::spawn_blocking(move || client.flush(Duration::from_secs(20))).await.unwrap());
    let events = collector.events();
    let summary: Vec<(String, String)> =
        events.iter().map(|e| (e["context"].to_string(), e["exceptions"][0]["errorClass"].to_string())).collect();
    assert_eq!(events.len(), 3, "one report per failure: {summary:?}");
    for event in &events {
        let reason = event["severityReason"]["type"].as_str().unwrap();
        assert!(reason.ends_with("Middleware"), "reported by the layer, not the log bridge: {reason}");
    }
    // TraceLayer's records are still there, as breadcrumbs of later events.
    let crumbs: Vec<&str> = events
        .iter()
        .flat_map(|e| e["breadcrumbs"].as_array().into_iter().flatten())
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(crumbs.iter().any(|name| name.contains("response failed")), "{crumbs:?}");
}
