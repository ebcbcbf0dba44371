//! Per-request overhead of BugsnagLayer on an axum route, against the same route bare and
//! with sentry-tower's two layers (`NewSentryLayer` + `SentryHttpLayer`, a client bound
//! with a no-op transport so that they do their real per-request work), in one run.
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

criterion_group!(benches, overhead);
criterion_main!(benches);
