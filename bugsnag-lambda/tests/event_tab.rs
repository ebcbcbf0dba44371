//! The `AWS Lambda Event` tab: the event, filtered, by default; left out by
//! `without_event`, which also takes an event type that is only `Deserialize`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bugsnag_core::testing::Collector;
use bugsnag_core::Client;
use bugsnag_lambda::BugsnagLambdaLayer;
use lambda_runtime::{service_fn, Context, LambdaEvent};
use serde::Deserialize;
use serde_json::{json, Value};
use tower::{Layer, Service, ServiceExt};

/// An event type as most functions write it: read, never written.
#[derive(Debug, Deserialize)]
struct Order {
    id: String,
}

fn event<T>(payload: T, request_id: &str) -> LambdaEvent<T> {
    let mut context = Context::default();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    context.deadline = (now + Duration::from_secs(30)).as_millis() as u64;
    context.request_id = request_id.into();
    LambdaEvent::new(payload, context)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_is_a_tab_unless_left_out() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration().auto_capture_sessions(false));

    let layer = BugsnagLambdaLayer::with_client(client.clone());
    let mut with_event = layer.layer(service_fn(|event: LambdaEvent<Value>| async move {
        Err::<(), lambda_runtime::Error>(format!("order {} failed", event.payload["id"]).into())
    }));
    let payload = json!({ "id": "o-1", "password": "planted-password" });
    let answer = with_event.ready().await.unwrap().call(event(payload, "req-with")).await;
    assert!(answer.is_err());

    let without = BugsnagLambdaLayer::with_client(client.clone()).without_event();
    let mut without_event = without.layer(service_fn(|event: LambdaEvent<Order>| async move {
        Err::<(), lambda_runtime::Error>(format!("order {} failed", event.payload.id).into())
    }));
    let order: Order = serde_json::from_value(json!({ "id": "o-2" })).unwrap();
    let answer = without_event.ready().await.unwrap().call(event(order, "req-without")).await;
    assert!(answer.is_err());

    let events = tokio::task::spawn_blocking(move || collector.wait_for(Duration::from_secs(10), |e| e.len() >= 2))
        .await
        .unwrap();
    assert_eq!(events.len(), 2, "both invocations reported");
    let of = |id: &str| events.iter().find(|e| e["metaData"]["AWS Lambda Context"]["aws_request_id"] == id).unwrap();
    assert_eq!(of("req-with")["metaData"]["AWS Lambda Event"], json!({ "id": "o-1", "password": "[FILTERED]" }));
    let without = &of("req-without")["metaData"];
    assert_eq!(without["AWS Lambda Context"]["aws_request_id"], "req-without");
    assert!(without.get("AWS Lambda Event").is_none(), "{without:#}");
}
