//! Per-request overhead of BugsnagLayer on an axum route, against the same route bare and
//! with sentry-tower's two layers (`NewSentryLayer` + `SentryHttpLayer`, a client bound
//! with a no-op transport so that they do their real per-request work), in one run.
//!
//! And the same for a gRPC unary call, as tonic answers one (HTTP 200, one message, then
//! trailers with `grpc-status: 0`), bare and with BugsnagLayer, body read to its end.
//!
//! Run with `cargo bench -p bugsnag-tower --bench overhead`; figures in BENCHMARKS.md.
#![allow(missing_docs)] // criterion_group! generates undocumented functions.

use std::hint::black_box;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use bugsnag_core::testing::Collector;
use bugsnag_core::Client;
use bugsnag_tower::BugsnagLayer;
use criterion::{criterion_group, criterion_main, Criterion};
use tower::ServiceExt;

/// The parts of a typical request. Each iteration clones them, so that header values
/// and the URI are shared, reference-counted bytes, as hyper produces them from its read
/// buffer (values built from `&str` would instead be copied on their first clone, a cost
/// no real server request has). All three variants pay the same for this.
fn template() -> axum::http::request::Parts {
    Request::builder()
        .uri("/users/42?page=2")
        .header("host", "api.example.com")
        .header("user-agent", "bench/1.0")
        .header("accept", "application/json")
        .header("authorization", "Bearer abc")
        .header("x-request-id", "0f9b6c1e")
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn request(parts: &axum::http::request::Parts) -> Request<Body> {
    let mut request = Request::new(Body::empty());
    *request.method_mut() = parts.method.clone();
    *request.uri_mut() = parts.uri.clone();
    *request.headers_mut() = parts.headers.clone();
    request
}

fn routes() -> Router {
    Router::new().route("/users/{id}", get(|| async { "ok" }))
}

struct NoTransport;

impl sentry_core::Transport for NoTransport {
    fn send_envelope(&self, envelope: sentry_core::Envelope) {
        black_box(envelope);
    }
}

fn overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let bare = routes();
    let bugsnag = routes().layer(BugsnagLayer::with_client(client.clone()));

    let options = sentry_core::ClientOptions::new()
        .dsn("https://public@sentry.invalid/1")
        .transport(|_: &sentry_core::ClientOptions| Arc::new(NoTransport) as Arc<dyn sentry_core::Transport>);
    sentry_core::Hub::main().bind_client(Some(Arc::new(sentry_core::Client::from(options))));
    let sentry = routes()
        .layer(sentry_tower::SentryHttpLayer::new())
        .layer(sentry_tower::NewSentryLayer::<Request<Body>>::new_from_top());

    let parts = template();
    let mut group = c.benchmark_group("axum route, one request");
    for (name, app) in [("bare", &bare), ("BugsnagLayer", &bugsnag), ("sentry-tower (2 layers)", &sentry)] {
        group.bench_function(name, |b| {
            b.iter(|| runtime.block_on(async { black_box(app.clone().oneshot(request(&parts)).await.unwrap()) }))
        });
    }
    group.finish();
    // Sessions were counted for every BugsnagLayer request; send them so nothing lingers.
    client.flush(std::time::Duration::from_secs(5));
}

/// A unary gRPC answer: a 5-byte-prefixed message, then the trailers, as tonic sends them.
async fn grpc_answer(_: Request<Body>) -> Result<axum::response::Response, std::convert::Infallible> {
    use http_body_util::StreamBody;
    let mut trailers = axum::http::HeaderMap::new();
    trailers.insert("grpc-status", axum::http::HeaderValue::from_static("0"));
    let frames = [
        Ok::<_, std::convert::Infallible>(http_body::Frame::data(bytes::Bytes::from_static(
            b"\0\0\0\0\x03\x08\xa8\x01",
        ))),
        Ok(http_body::Frame::trailers(trailers)),
    ];
    let body = Body::new(StreamBody::new(tokio_stream::iter(frames)));
    Ok(axum::response::Response::builder().header("content-type", "application/grpc").body(body).unwrap())
}

fn grpc_request() -> axum::http::request::Parts {
    Request::builder()
        .method("POST")
        .uri("/bank.Ledger/Balance")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("user-agent", "grpc-rust/0.14")
        .header("authorization", "Bearer abc")
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn grpc_overhead(c: &mut Criterion) {
    use http_body_util::BodyExt;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let routes = || Router::new().route_service("/bank.Ledger/Balance", tower::service_fn(grpc_answer));
    let bare = routes();
    let bugsnag = routes().layer(BugsnagLayer::with_client(client.clone()).framework("tonic"));
    let parts = grpc_request();
    let mut group = c.benchmark_group("gRPC unary call, one request");
    for (name, app) in [("bare", &bare), ("BugsnagLayer", &bugsnag)] {
        group.bench_function(name, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let response = app.clone().oneshot(request(&parts)).await.unwrap();
                    let body = response.into_body().collect().await.unwrap();
                    assert_eq!(body.trailers().unwrap()["grpc-status"], "0");
                    black_box(body)
                })
            })
        });
    }
    group.finish();
    client.flush(std::time::Duration::from_secs(5));
    assert_eq!(client.stats().queued, 0, "a successful call reports nothing");
}

criterion_group!(benches, overhead, grpc_overhead);
criterion_main!(benches);
