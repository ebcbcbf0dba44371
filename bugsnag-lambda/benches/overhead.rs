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

fn event(payload: Value) -> LambdaEvent<Value> {
    let mut context = Context::default();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    context.deadline = (now + Duration::from_secs(60)).as_millis() as u64;
    context.request_id = "req-1".into();
    LambdaEvent::new(payload, context)
}

fn small() -> Value {
    json!({ "action": "ok", "items": [1, 2, 3] })
}

/// An SQS batch of 10 messages of 80 KB: 0.8 MB, as Lambda delivers them.
fn sqs_batch() -> Value {
    let record = |n: usize| {
        json!({
            "messageId": format!("059f36b4-87a3-44ab-83d2-66197585{n:04}"),
            "body": "x".repeat(80_000),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1545082649183"},
            "eventSource": "aws:sqs",
        })
    };
    json!({ "Records": (0..10).map(record).collect::<Vec<_>>() })
}

/// Calls `service` (always ready: neither service waits for anything) with an event.
fn call<S: Service<LambdaEvent<Value>>>(service: &mut S, payload: Value) -> S::Future {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    service.call(event(payload))
}

fn overhead(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let mut bare = service_fn(handler);
    let mut layered = BugsnagLambdaLayer::with_client(client.clone()).layer(service_fn(handler));
    c.bench_function("lambda: invocation, bare handler", |b| {
        b.to_async(&runtime).iter(|| {
            let call = call(&mut bare, small());
            async move { call.await.unwrap() }
        })
    });
    c.bench_function("lambda: invocation through BugsnagLambdaLayer, nothing reported", |b| {
        b.to_async(&runtime).iter(|| {
            let call = call(&mut layered, small());
            async move { call.await.unwrap() }
        })
    });
    // The event is made outside the timed part; what the layer does with it is timed.
    let batch = sqs_batch();
    for (name, service) in
        [("bare handler", &mut bare as &mut dyn LambdaService), ("through BugsnagLambdaLayer", &mut layered)]
    {
        c.bench_function(&format!("lambda: a 0.8 MB SQS batch, {name}, nothing reported"), |b| {
            b.to_async(&runtime).iter_batched(
                || batch.clone(),
                |payload| {
                    let call = service.call_with(payload);
                    async move { call.await.unwrap() }
                },
                criterion::BatchSize::SmallInput,
            )
        });
    }
    assert_eq!(client.stats().queued, 0, "nothing was reported, so nothing was flushed");
}

/// Either service, to time both the same way.
trait LambdaService {
    fn call_with(&mut self, payload: Value) -> BoxedCall;
}

type BoxedCall = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Value, lambda_runtime::Error>> + Send>>;

impl<S> LambdaService for S
where
    S: Service<LambdaEvent<Value>, Response = Value, Error = lambda_runtime::Error>,
    S::Future: Send + 'static,
{
    fn call_with(&mut self, payload: Value) -> BoxedCall {
        Box::pin(call(self, payload))
    }
}

criterion_group!(benches, overhead);
criterion_main!(benches);
