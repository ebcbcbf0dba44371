//! The panic hook, in its own test binary because the hook is process-wide.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bugsnag_core::adapter::Settings;
use bugsnag_core::testing::Collector;
use bugsnag_core::Client;
use serde_json::json;

static PREVIOUS_HOOK_RAN: AtomicUsize = AtomicUsize::new(0);

#[inline(never)]
fn explode(order: u32) {
    panic!("order {order} exploded");
}

#[test]
fn panics_are_reported_once_before_the_thread_ends_and_adapters_get_one_report() {
    std::panic::set_hook(Box::new(|_| {
        PREVIOUS_HOOK_RAN.fetch_add(1, Ordering::SeqCst);
    }));
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    client.install_panic_hook();

    // A panic in a spawned thread outside any adapter: reported by the hook, delivered
    // before the thread finishes (no flush here), previous hook still called.
    let result = std::thread::Builder::new().name("worker-7".into()).spawn(|| explode(7)).unwrap().join();
    assert!(result.is_err());
    let events = collector.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event["unhandled"], true);
    assert_eq!(event["severity"], "error");
    assert_eq!(event["severityReason"], json!({"type": "unhandledPanic"}));
    assert_eq!(event["exceptions"][0]["errorClass"], "panic");
    assert_eq!(event["exceptions"][0]["message"], "order 7 exploded");
    assert_eq!(event["exceptions"][0]["stacktrace"][0]["method"], "panic::explode");
    assert_eq!(event["metaData"]["panic"]["thread"], "worker-7");
    assert!(event["metaData"]["panic"]["location"].as_str().unwrap().starts_with("bugsnag-core/tests/panic.rs:"));
    assert_eq!(PREVIOUS_HOOK_RAN.load(Ordering::SeqCst), 1);

    // Inside a scope that catches panics, the hook only stashes; the adapter reports one.
    let unit = Settings::new("test-framework", &[]).reporting_to(client.clone()).open(None);
    unit.scope().set_context("GET /explode");
    let caught = unit.call(|| explode(8)).unwrap_err();
    assert!(unit.report_panic(&*caught).is_queued());
    assert!(client.flush(Duration::from_secs(10)));
    let events = collector.events();
    assert_eq!(events.len(), 2, "exactly one more report: {events:#?}");
    let event = &events[1];
    assert_eq!(
        event["severityReason"],
        json!({"type": "unhandledExceptionMiddleware", "attributes": {"framework": "test-framework"}})
    );
    assert_eq!(event["context"], "GET /explode");
    assert_eq!(event["exceptions"][0]["stacktrace"][0]["method"], "panic::explode");

    // A panic inside the notifier (a callback) is neither reported nor fatal.
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    client.before_notify(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
        panic!("callback bug")
    });
    client.notify_message_with("after", Default::default());
    assert!(client.flush(Duration::from_secs(10)));
    assert_eq!(collector.events().len(), 3);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
