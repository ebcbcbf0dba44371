//! The delivery promises under faults the first tests did not try: a 413, a failing
//! sessions endpoint, `Retry-After` as an HTTP date, payloads large in every field, a
//! FIFO in the outbox, and extreme configuration values.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use bugsnag_core::testing::{Collector, Reply};
use bugsnag_core::{Client, Configuration, FeatureFlag, Options};
use serde_json::{json, Map, Value};

const WAIT: Duration = Duration::from_secs(20);

fn fast(config: Configuration) -> Configuration {
    config.retry_initial_backoff(Duration::from_millis(10)).retry_max_backoff(Duration::from_millis(50))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bugsnag-faults-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_413_gets_one_harder_trim_and_one_retry() {
    let collector = Collector::start();
    collector.script([Reply::status(413)]);
    let client = Client::new(collector.configuration());
    let note = "n".repeat(700_000); // fits our limit, but this endpoint says no
    let _ = client
        .notify_message_with("too big for them", Options::new().add_metadata_tab("upload", json!({ "note": note })));
    assert!(client.flush(WAIT));
    let requests = collector.requests();
    assert_eq!(requests.len(), 2, "one retry after the 413");
    assert!(requests[1].size <= 500_000, "{} bytes", requests[1].size);
    let event = &collector.events()[1];
    assert_eq!(event["exceptions"][0]["message"], "too big for them");
    assert!(event["metaData"]["notifier"]["trimmed"].as_array().is_some_and(|t| !t.is_empty()));

    // A second 413 drops it, counted, with no third attempt.
    let collector = Collector::start();
    collector.script([Reply::status(413), Reply::status(413)]);
    let client = Client::new(collector.configuration());
    client.notify_message("still too big");
    assert!(client.flush(WAIT));
    assert_eq!(collector.requests().len(), 2);
    assert_eq!(client.stats().dropped_rejected, 1);
}

#[test]
fn every_body_sent_fits_in_a_megabyte_whatever_is_large() {
    let collector = Collector::start();
    // The collector checks each near-megabyte body against the schema: give it time, so
    // that no request is retried.
    let client = Client::new(collector.configuration().delivery_timeout(Duration::from_secs(60)));
    let many_values: Map<String, Value> = (0..60_000).map(|i| (format!("key{i}"), json!("short value"))).collect();
    client.notify_message_with("many values", Options::new().add_metadata_tab("tab", Value::Object(many_values)));
    client.notify_message_with("long key", Options::new().add_metadata_tab("k".repeat(1_200_000), json!({"a": 1})));
    client.notify_message_with("long context", Options::new().context("c".repeat(1_200_000)));
    client.add_feature_flags((0..30_000).map(|i| FeatureFlag::new(format!("flag-number-{i}"), Some("variant"))));
    client.notify_message("many flags");
    assert!(client.flush(WAIT));
    let requests = collector.requests();
    assert_eq!(requests.len(), 4);
    for request in &requests {
        assert!(request.size <= 1_000_000, "{} bytes", request.size);
        let trimmed = &request.body["events"][0]["metaData"]["notifier"]["trimmed"];
        assert!(trimmed.as_array().is_some_and(|t| !t.is_empty()), "says what went: {trimmed}");
    }
    assert_eq!(collector.messages(), ["long context", "long key", "many flags", "many values"]);
}

#[test]
fn a_failing_sessions_endpoint_does_not_hold_up_events() {
    let collector = Collector::start();
    collector.script_path("/sessions", (0..5).map(|_| Reply::status(503).retry_after("5")));
    let client = Client::new(fast(collector.configuration()).max_in_flight(1));
    client.start_session();
    // The flush publishes the session count, answered 503 with a 5 s Retry-After: the
    // flush cannot finish while the count waits to be retried.
    assert!(!client.flush(Duration::from_millis(300)));
    let first = collector.wait_for_requests(1, WAIT);
    assert_eq!((first[0].path.as_str(), first[0].status), ("/sessions", 503));
    for n in 0..4 {
        client.notify_message(format!("event {n}"));
    }
    let events = collector.wait_for(WAIT, |events| events.len() >= 4);
    assert_eq!(events.len(), 4, "every event arrived");
    // Had events waited behind the sessions endpoint, they would have come after its
    // retry, which its Retry-After holds back 5 s.
    let requests = collector.requests();
    let last_event = requests.iter().rposition(|r| r.path == "/notify").unwrap();
    let sessions_before: usize = requests[..last_event].iter().filter(|r| r.path == "/sessions").count();
    assert_eq!(sessions_before, 1, "every event arrived before the sessions endpoint was called again");
}

#[test]
fn retry_after_as_an_http_date_is_honoured_for_its_endpoint() {
    let collector = Collector::start();
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
    // The date has whole seconds: the time it names, as an Instant.
    let named = httpdate::parse_http_date(&date).unwrap().duration_since(SystemTime::now()).unwrap();
    let due = std::time::Instant::now() + named;
    collector.script([Reply::status(503).retry_after(date)]);
    let client = Client::new(fast(collector.configuration()));
    client.notify_message("first");
    // Once the 503 has been read, a new event to that endpoint waits for the date too.
    let deadline = std::time::Instant::now() + WAIT;
    while client.stats().retried == 0 {
        assert!(std::time::Instant::now() < deadline, "the 503 was never read");
        std::thread::sleep(Duration::from_millis(5));
    }
    client.notify_message("second");
    assert!(client.flush(WAIT));
    let requests: Vec<_> = collector.requests().into_iter().filter(|r| r.path == "/notify").collect();
    assert_eq!(requests.len(), 3);
    // Both the retry and the later event waited for the date (50 ms of slack for the
    // clocks' conversion).
    for later in &requests[1..] {
        assert!(later.received_at + Duration::from_millis(50) >= due, "sent {:?} early", due - later.received_at);
    }
    let mut accepted: Vec<String> =
        collector.accepted().iter().map(|r| r.body["events"][0]["exceptions"][0]["message"].to_string()).collect();
    accepted.sort(); // both waited for the same date
    assert_eq!(accepted, ["\"first\"", "\"second\""]);
}

#[test]
fn extreme_configuration_values_neither_panic_nor_stop_delivery() {
    let collector = Collector::start();
    let config = collector
        .configuration()
        .delivery_timeout(Duration::MAX)
        .shutdown_timeout(Duration::MAX)
        .panic_timeout(Duration::MAX)
        .retry_max_backoff(Duration::MAX)
        .retry_initial_backoff(Duration::ZERO)
        .session_publish_interval(Duration::ZERO)
        .max_in_flight(usize::MAX)
        .queue_capacity(usize::MAX)
        .max_retries(u32::MAX);
    let client = Client::new(config);
    client.notify_message("still delivered");
    assert!(client.flush(Duration::MAX));
    assert!(client.shutdown(Duration::MAX));
    assert_eq!(collector.messages(), ["still delivered"]);

    let zero =
        Client::new(collector.configuration().queue_capacity(0).max_in_flight(0).delivery_timeout(Duration::ZERO));
    assert!(zero.notify_message("zero values are raised to the minimum").is_queued());
    assert!(zero.flush(WAIT));
    assert_eq!(collector.messages(), ["still delivered", "zero values are raised to the minimum"]);
}

#[cfg(unix)]
#[test]
fn a_fifo_in_the_outbox_does_not_hang_the_start() {
    let dir = temp_dir("fifo");
    std::fs::create_dir_all(&dir).unwrap();
    let made = std::process::Command::new("mkfifo").arg(dir.join("000-trap.json")).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo is available");
    let collector = Collector::start();
    let client = Client::new(collector.configuration().outbox_dir(&dir));
    client.notify_message("after the fifo");
    assert!(client.flush(WAIT));
    assert_eq!(collector.messages(), ["after the fifo"]);
    let _ = std::fs::remove_dir_all(&dir);
}
