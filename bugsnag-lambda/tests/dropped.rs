//! An invocation whose future is dropped before it ends (an outer timeout layer gave up
//! on it) takes its deadline watch with it: no `LambdaTimeoutApproaching` may fire for it
//! later, during another invocation.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bugsnag_core::testing::Collector;
use bugsnag_core::Client;
use bugsnag_lambda::BugsnagLambdaLayer;
use lambda_runtime::{service_fn, Context, LambdaEvent};
use serde_json::{json, Value};
use tower::{Layer, Service};

async fn slow(_: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    tokio::time::sleep(Duration::from_secs(60)).await;
    Ok(Value::Null)
}

/// An invocation whose deadline is `in_ms` from now.
fn event(request_id: &str, in_ms: u64) -> LambdaEvent<Value> {
    let mut context = Context::default();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    context.deadline = (now + Duration::from_millis(in_ms)).as_millis() as u64;
    context.request_id = request_id.into();
    LambdaEvent::new(json!({}), context)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_invocation_sends_no_timeout_warning() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration().auto_capture_sessions(false));
    let layer = BugsnagLambdaLayer::with_client(client.clone()).timeout_warning(Duration::from_millis(1_000));
    let mut service = layer.layer(service_fn(slow));
    // Dropped at once: its warning would be due in 0.5 s.
    drop(service.call(event("req-dropped", 1_500)));
    // Kept: its warning is due in 1 s, after the dropped one's would have been.
    let kept = tokio::spawn(service.call(event("req-kept", 2_000)));
    let warnings = tokio::task::spawn_blocking(move || {
        collector.wait_for(Duration::from_secs(20), |events| {
            events.iter().any(|e| e["metaData"]["AWS Lambda Context"]["aws_request_id"] == "req-kept")
        })
    })
    .await
    .unwrap();
    kept.abort();
    let ids: Vec<&Value> = warnings.iter().map(|e| &e["metaData"]["AWS Lambda Context"]["aws_request_id"]).collect();
    assert_eq!(ids, ["req-kept"], "only the invocation still running is warned about");
    assert_eq!(warnings[0]["exceptions"][0]["errorClass"], "LambdaTimeoutApproaching");
}
