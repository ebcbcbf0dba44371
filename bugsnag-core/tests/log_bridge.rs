//! The log bridge, in its own test binary because `log` has one global logger.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bugsnag_core::logging::BugsnagLogger;
use bugsnag_core::testing::Collector;
use bugsnag_core::Client;
use serde_json::json;

/// The application's own logger, which must keep seeing every record.
#[derive(Clone, Default)]
struct Printed(Arc<Mutex<Vec<String>>>);

impl log::Log for Printed {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        // The delivery thread's HTTP client logs too; the application logger sees all.
        if record.target() == "log_bridge" {
            self.0.lock().unwrap().push(format!("{} {}", record.level(), record.args()));
        }
    }
    fn flush(&self) {}
}

#[test]
fn log_records_are_reported_with_key_values_and_the_wrapped_logger_still_prints() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let printed = Printed::default();
    BugsnagLogger::with_client(client.clone()).wrap(Box::new(printed.clone())).init().unwrap();

    log::info!(step = "warmup"; "cache warmed");
    log::debug!("details");
    log::error!(order_id = 42, token = "abc"; "payment failed for order {}", 42);
    let err = std::io::Error::other("disk full");
    log::error!(error:err = err; "could not save");
    assert!(client.flush(Duration::from_secs(20)));

    let events = collector.events();
    assert_eq!(events.len(), 2, "{events:#?}");
    let payment = events.iter().find(|e| e["exceptions"][0]["errorClass"] == "LogERROR").unwrap();
    assert_eq!(payment["exceptions"][0]["message"], "payment failed for order 42");
    assert_eq!(payment["severityReason"], json!({"type": "log", "attributes": {"level": "ERROR"}}));
    assert_eq!(payment["metaData"]["extra data"]["order_id"], 42);
    assert_eq!(payment["metaData"]["extra data"]["token"], "[FILTERED]");
    assert_eq!(payment["breadcrumbs"][0]["name"], "cache warmed");
    assert_eq!(payment["breadcrumbs"][0]["metaData"]["step"], "warmup");
    let top = &payment["exceptions"][0]["stacktrace"][0];
    assert!(top["method"].as_str().unwrap().starts_with("log_bridge::log_records_are_reported"), "{top:#}");

    let save = events.iter().find(|e| e["exceptions"][0]["message"] == "disk full").unwrap();
    assert_eq!(save["exceptions"][0]["errorClass"], "std::io::Error");

    let printed = printed.0.lock().unwrap().clone();
    assert_eq!(
        printed,
        ["INFO cache warmed", "DEBUG details", "ERROR payment failed for order 42", "ERROR could not save"]
    );
}
