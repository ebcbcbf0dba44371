//! What the layer adds to an invocation that reports nothing (the usual one): no round
//! trip to the delivery thread, only the scope, the tabs and the deadline watch. Run with
//! `cargo bench -p bugsnag-lambda --all-features --bench overhead`.
#![allow(missing_docs)] // criterion_group! generates undocumented functions.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bugsnag_core::testing::Collector;
use bugsnag_core::Client;
use bugsnag_lambda::BugsnagLambdaLayer;
use criterion::{criterion_group, criterion_main, Criterion};
use lambda_runtime::{service_fn, Context, LambdaEvent};
use serde_json::{json, Value};
use tower::{Layer, Service};

async fn handler(event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    Ok(event.payload)
}

fn event() -> LambdaEvent<Value> {
    let mut context = Context::default();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    context.deadline = (now + Duration::from_secs(60)).as_millis() as u64;
    context.request_id = "req-1".into();
    LambdaEvent::new(json!({ "action": "ok", "items": [1, 2, 3] }), context)
}

/// Calls `service` (always ready: neither service waits for anything) with an event.
fn call<S: Service<LambdaEvent<Value>>>(service: &mut S) -> S::Future {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    service.call(event())
}

fn overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let mut bare = service_fn(handler);
    let mut layered = BugsnagLambdaLayer::with_client(client.clone()).layer(service_fn(handler));
    c.bench_function("lambda: invocation, bare handler", |b| {
        b.to_async(&runtime).iter(|| {
            let call = call(&mut bare);
            async move { call.await.unwrap() }
        })
    });
    c.bench_function("lambda: invocation through BugsnagLambdaLayer, nothing reported", |b| {
        b.to_async(&runtime).iter(|| {
            let call = call(&mut layered);
            async move { call.await.unwrap() }
        })
    });
    assert_eq!(client.stats().queued, 0, "nothing was reported, so nothing was flushed");
}

criterion_group!(benches, overhead);
criterion_main!(benches);
