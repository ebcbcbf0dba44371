//! Bad configuration gives a clear log line and a disabled notifier, never a panic or a
//! request.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bugsnag_core::testing::Collector;
use bugsnag_core::{Client, DropReason, Outcome};

/// Captures what the notifier logs on this thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn logged(f: impl FnOnce()) -> String {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    tracing::subscriber::with_default(subscriber, f);
    let text = logs.0.lock().unwrap().clone();
    String::from_utf8(text).unwrap()
}

fn err() -> std::num::ParseIntError {
    "x".parse::<u8>().unwrap_err()
}

#[test]
fn a_missing_api_key_sends_nothing_and_warns_once() {
    let collector = Collector::start();
    let mut client = None;
    let logs = logged(|| {
        let c = Client::new(collector.configuration().api_key(""));
        assert_eq!(c.notify(&err()), Outcome::Dropped(DropReason::Disabled));
        assert_eq!(c.notify(&err()), Outcome::Dropped(DropReason::Disabled));
        client = Some(c);
    });
    assert!(client.unwrap().flush(Duration::from_secs(10)));
    assert_eq!(logs.matches("WARN").count(), 1, "{logs}");
    assert!(logs.contains("API key"), "{logs}");
    assert!(collector.requests().is_empty());
}

#[test]
fn a_malformed_api_key_is_reported_without_being_logged() {
    let collector = Collector::start();
    let logs = logged(|| {
        let client = Client::new(collector.configuration().api_key("0123456789abcdef-not-hex-0123456"));
        assert_eq!(client.notify(&err()), Outcome::Dropped(DropReason::Disabled));
    });
    assert!(logs.contains("malformed"), "{logs}");
    assert!(!logs.contains("not-hex"), "the key must never be logged: {logs}");
}

#[test]
fn a_bad_endpoint_url_disables_delivery_with_an_error_line() {
    let logs = logged(|| {
        let client = Client::new(
            bugsnag_core::Configuration::default()
                .api_key("0123456789abcdef0123456789abcdef")
                .endpoint("ftp://[not a url"),
        );
        assert_eq!(client.notify(&err()), Outcome::Dropped(DropReason::Disabled));
        assert!(client.flush(Duration::from_millis(10)));
    });
    assert!(logs.contains("Bugsnag is disabled") && logs.contains("not an http(s) URL"), "{logs}");
}

#[test]
fn a_configuration_read_from_a_file_takes_the_environment_with_with_env() {
    let collector = Collector::start();
    let from_file: bugsnag_core::Configuration = serde_json::from_value(serde_json::json!({
        "app_version": "2.5.1",
        "release_stage": "staging",
        "session_endpoint": format!("{}/sessions", collector.url()),
    }))
    .unwrap();
    let env = |name: &str| match name {
        "BUGSNAG_API_KEY" => Some(bugsnag_core::testing::API_KEY.to_owned()),
        "BUGSNAG_ENDPOINT" => Some(format!("{}/notify", collector.url())),
        "BUGSNAG_RELEASE_STAGE" => Some("production".to_owned()),
        _ => None,
    };
    let client = Client::new(from_file.with_env_from(env));
    assert_eq!(client.notify(&err()), Outcome::Queued);
    assert!(client.flush(Duration::from_secs(10)));
    let event = &collector.events()[0];
    assert_eq!(event["app"]["version"], "2.5.1", "from the file");
    assert_eq!(event["app"]["releaseStage"], "production", "the environment wins");
}
