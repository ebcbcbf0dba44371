//! Invocations running at once on one function (`lambda_runtime`'s concurrent mode calls
//! clones of one service): an invocation that reported something waits for delivery, but
//! never so long that it misses its own deadline, whatever another invocation queued and
//! however long the endpoint takes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bugsnag_core::testing::{Collector, Reply};
use bugsnag_core::Client;
use bugsnag_lambda::BugsnagLambdaLayer;
use lambda_runtime::{service_fn, Context, LambdaEvent};
use serde_json::{json, Value};
use tower::{Layer, Service};

/// Fails: the layer reports the error, then waits for its delivery.
async fn handler(event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    Err(format!("invocation {} failed", event.context.request_id).into())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// An invocation due by `deadline_ms` (ms since the epoch).
fn event(request_id: &str, deadline_ms: u64) -> LambdaEvent<Value> {
    let mut context = Context::default();
    context.deadline = deadline_ms;
    context.request_id = request_id.into();
    LambdaEvent::new(json!({}), context)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_answers_before_its_deadline_while_the_endpoint_hangs() {
    let collector = Collector::start();
    // Every delivery hangs: nothing reported can be delivered in time.
    collector.answer_by_default(Reply::hang());
    let client = Client::new(collector.configuration().auto_capture_sessions(false));
    let layer = BugsnagLambdaLayer::with_client(client.clone())
        .flush_timeout(Duration::from_secs(4))
        .timeout_warning(Duration::ZERO);
    let mut service = layer.layer(service_fn(handler));
    let long = service.call(event("req-long", now_ms() + 60_000));
    let short_deadline = now_ms() + 1_500;
    let short = service.call(event("req-short", short_deadline));
    let long = tokio::spawn(long);
    let answered = tokio::spawn(async move {
        let answer = short.await;
        (answer, now_ms())
    })
    .await
    .unwrap();
    let (answer, answered_at) = answered;
    assert_eq!(answer.unwrap_err().to_string(), "invocation req-short failed", "the function's own answer");
    assert!(
        answered_at < short_deadline,
        "answered {} ms after its deadline: Lambda would have failed it as a timeout",
        answered_at - short_deadline
    );
    assert!(!long.is_finished(), "the other invocation waits up to its flush timeout, which its deadline allows");
    long.abort();
    // Both were reported and reached the endpoint (which never answers): nothing was
    // dropped to answer in time.
    let events = collector.wait_for(Duration::from_secs(10), |events| events.len() >= 2);
    let mut messages: Vec<&str> = events.iter().filter_map(|e| e["exceptions"][0]["message"].as_str()).collect();
    messages.sort_unstable();
    assert_eq!(messages, ["invocation req-long failed", "invocation req-short failed"]);
}
