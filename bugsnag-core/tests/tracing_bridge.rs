//! The tracing bridge: events become reports or breadcrumbs, as they reach the collector.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use bugsnag_core::logging::BugsnagTracingLayer;
use bugsnag_core::testing::Collector;
use bugsnag_core::{Client, Scope};
use serde_json::{json, Value};
use tracing_subscriber::prelude::*;

const WAIT: Duration = Duration::from_secs(20);

/// Runs `f` with the layer as this thread's subscriber; returns the events received,
/// exactly `expected` of them.
fn with_layer(
    expected: usize,
    layer: impl FnOnce(Client) -> BugsnagTracingLayer,
    f: impl FnOnce(&Client),
) -> Vec<Value> {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let subscriber = tracing_subscriber::registry().with(layer(client.clone()));
    tracing::subscriber::with_default(subscriber, || f(&client));
    assert!(client.flush(WAIT));
    let events = collector.events();
    assert_eq!(events.len(), expected, "{events:#?}");
    events
}

#[inline(never)]
fn charge_card() {
    tracing::info!(attempt = 1, "cache warmed");
    tracing::debug!("too detailed to keep");
    tracing::error!(order_id = 42, password = "hunter2", "payment failed");
}

#[test]
fn an_error_event_is_reported_with_its_fields_and_earlier_events_as_breadcrumbs() {
    let events = with_layer(2, BugsnagTracingLayer::with_client, |client| {
        charge_card();
        client.notify_message_with("afterwards", Default::default());
    });
    assert_eq!(events.len(), 2, "only the ERROR event and the notify: {events:#?}");
    let event = events.iter().find(|e| e["exceptions"][0]["errorClass"] == "LogERROR").unwrap();
    assert_eq!(event["exceptions"][0]["message"], "payment failed");
    assert_eq!(event["severity"], "error");
    assert_eq!(event["severityReason"], json!({"type": "log", "attributes": {"level": "ERROR"}}));
    assert_eq!(event["metaData"]["extra data"]["order_id"], 42);
    assert_eq!(event["metaData"]["extra data"]["password"], "[FILTERED]");
    // The first frame is the logging call (inside the closure `tracing::error!` expands to).
    let top = &event["exceptions"][0]["stacktrace"][0];
    assert!(top["method"].as_str().unwrap().starts_with("tracing_bridge::charge_card"), "{top:#}");
    let line = top["lineNumber"].to_string();
    assert!(top["code"][&line].as_str().unwrap_or_default().contains("tracing::error!(order_id = 42"), "{top:#}");
    assert_eq!(event["breadcrumbs"][0]["name"], "cache warmed");
    assert_eq!(event["breadcrumbs"][0]["type"], "log");
    assert_eq!(event["breadcrumbs"][0]["metaData"]["attempt"], 1);
    assert_eq!(event["breadcrumbs"][0]["metaData"]["level"], "INFO");

    let after = events.iter().find(|e| e["exceptions"][0]["message"] == "afterwards").unwrap();
    let names: Vec<&str> =
        after["breadcrumbs"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["cache warmed", "LogERROR"], "the INFO event logged before it, then the reported one");
}

#[derive(Debug)]
struct PaymentError(std::io::Error);

impl fmt::Display for PaymentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("payment provider failed")
    }
}

impl Error for PaymentError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn an_error_field_becomes_the_exception_chain() {
    let events = with_layer(1, BugsnagTracingLayer::with_client, |_| {
        let err = PaymentError(std::io::Error::other("card declined"));
        tracing::error!(error = &err as &dyn Error, "failed");
    });
    let exceptions = events[0]["exceptions"].as_array().unwrap();
    let chain: Vec<(&str, &str)> =
        exceptions.iter().map(|e| (e["errorClass"].as_str().unwrap(), e["message"].as_str().unwrap())).collect();
    assert_eq!(chain, [("PaymentError", "payment provider failed"), ("std::io::Error", "card declined")]);
    assert_eq!(events[0]["metaData"]["extra data"]["message"], "failed");
}

#[test]
fn levels_extra_fields_and_span_context_are_configurable() {
    let events = with_layer(
        1,
        |client| {
            BugsnagTracingLayer::with_client(client)
                .report_level(tracing::Level::WARN)
                .extra_fields("order", ["order_id", "missing"])
        },
        |_| {
            let span = tracing::info_span!("checkout");
            let _entered = span.enter();
            let inner = tracing::info_span!("charge");
            let _inner = inner.enter();
            tracing::warn!(order_id = 7, region = "eu", "slow provider");
        },
    );
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(event["severity"], "warning");
    assert_eq!(event["severityReason"]["attributes"]["level"], "WARN");
    assert_eq!(event["metaData"]["order"], json!({"order_id": 7}));
    assert_eq!(event["metaData"]["extra data"]["region"], "eu");
    assert_eq!(event["context"], "checkout > charge");
}

#[test]
fn a_scope_context_wins_over_the_span_path() {
    let events = with_layer(1, BugsnagTracingLayer::with_client, |_| {
        let scope = Scope::new();
        scope.set_context("GET /orders/{id}");
        scope.run_sync(|| {
            let span = tracing::info_span!("load");
            let _entered = span.enter();
            tracing::error!("not found");
        });
    });
    assert_eq!(events[0]["context"], "GET /orders/{id}");
}

#[test]
fn the_notifiers_own_events_are_never_reported() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    // Beside the bridge, a plain log of everything, to show the notifier's warning was
    // emitted through this very subscriber.
    let shown = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let sink = shown.clone();
    let log = tracing_subscriber::fmt::layer()
        .with_ansi(false)
        .with_writer(move || Sink(sink.clone()))
        .with_filter(tracing_subscriber::filter::LevelFilter::WARN);
    // WARN is reported here, so the notifier's own warning could be, if it were not its own.
    let bridge = BugsnagTracingLayer::with_client(client.clone()).report_level(tracing::Level::WARN);
    let subscriber = tracing_subscriber::registry().with(bridge).with(log);
    tracing::subscriber::with_default(subscriber, || {
        tracing::error!(target: "bugsnag_core", "delivery failed");
        // A client with a malformed key logs a warning of its own, at its own target.
        let _ = Client::new(bugsnag_core::Configuration::default().api_key("bad"));
        tracing::warn!("the application's own warning");
    });
    assert!(client.flush(WAIT));
    let shown = String::from_utf8_lossy(&shown.lock().unwrap()).into_owned();
    let own: Vec<&str> = shown.lines().filter(|l| l.contains("bugsnag_core") && l.contains("API key")).collect();
    assert_eq!(own.len(), 1, "the notifier warned about the key, through this subscriber: {shown}");
    let events = collector.events();
    assert_eq!(events.len(), 1, "only the application's warning: {events:#?}");
    assert_eq!(events[0]["exceptions"][0]["message"], "the application's own warning");
}

/// A writer into shared memory.
struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const CHILD: &str = "BUGSNAG_TRACING_CHILD";

/// A program whose subscriber shows INFO and up, as services run (run as a child: it
/// sets the global subscriber).
#[test]
fn child_showing_info() {
    let Ok(url) = std::env::var(CHILD) else { return };
    tracing_subscriber::fmt().with_writer(std::io::stderr).with_max_level(tracing::Level::INFO).init();
    let config = bugsnag_core::Configuration::default()
        .api_key(bugsnag_core::testing::API_KEY)
        .endpoint(format!("{url}/notify"))
        .session_endpoint(format!("{url}/sessions"));
    let client = Client::new(config);
    for n in 0..3 {
        client.notify_message_with(format!("report {n}"), Default::default());
    }
    assert!(client.flush(WAIT));
}

#[test]
fn reports_delivered_print_nothing_at_info_and_a_refused_one_is_told() {
    let collector = Collector::start();
    // The first report is refused: the notifier's own warning about it must still show.
    collector.script([bugsnag_core::testing::Reply::status(400)]);
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_showing_info", "--nocapture", "--test-threads=1"])
        .env(CHILD, collector.url())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(collector.messages().len(), 3, "every report arrived");
    assert_eq!(collector.accepted().iter().filter(|r| r.path == "/notify").count(), 2, "one was refused");
    let foreign: Vec<&str> = stderr
        .lines()
        .filter(|l| ["hyper", "reqwest", "h2::", "rustls", "tokio"].iter().any(|c| l.contains(c)))
        .collect();
    assert!(foreign.is_empty(), "the HTTP client's lines: {foreign:#?}");
    assert!(stderr.contains("Bugsnag refused a Event payload with 400"), "the notifier's own warning shows: {stderr}");
}
