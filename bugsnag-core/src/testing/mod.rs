//! A real Bugsnag endpoint for tests, demos and benchmarks: an HTTP server on
//! `127.0.0.1:0` that records every request (headers and JSON), answers with scripted
//! statuses, delays, `Retry-After` or dropped connections, and validates every body
//! against the API schemas kept in the repository's `spec/`. Tools build on it with an
//! [`Observer`] (the workspace's `cargo xtask inbox` keeps and shows what it receives).
//!
//! ```
//! use bugsnag_core::testing::Collector;
//! use bugsnag_core::Client;
//! use std::time::Duration;
//!
//! let collector = Collector::start();
//! let client = Client::new(collector.configuration());
//! client.notify_message("hello");
//! client.flush(Duration::from_secs(5));
//! let events = collector.events(); // panics if any payload broke the schema
//! assert_eq!(events[0]["exceptions"][0]["message"], "hello");
//! ```

use std::sync::OnceLock;
use std::time::Duration;

use serde_json::Value;

mod collector;
mod deployed;
mod frames;
mod grouping;
mod planted;
mod traceparent;
pub use collector::{Collector, Observer, Page, Received, Reply};
pub use deployed::{assert_deployed_groups, is_deployed, run_deployed};
pub use frames::{assert_origin, first_in_project_frame};
pub use grouping::{assert_grouped_at, assert_groups, Grouping};
pub use planted::{get_with_planted_secrets, PLANTED_HEADERS, PLANTED_QUERY};
pub use traceparent::{assert_linked_to_traceparent, MALFORMED_TRACEPARENTS, TRACEPARENT};

/// The API key [`Collector::configuration`] uses.
pub const API_KEY: &str = "0123456789abcdef0123456789abcdef";

static NOTIFY_SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();
static SESSION_SCHEMA: OnceLock<jsonschema::Validator> = OnceLock::new();

fn validator(cell: &'static OnceLock<jsonschema::Validator>, text: &str) -> &'static jsonschema::Validator {
    cell.get_or_init(|| {
        let schema: Value = serde_json::from_str(text).expect("spec/ holds valid JSON");
        jsonschema::options().should_validate_formats(true).build(&schema).expect("spec/ holds valid schemas")
    })
}

/// Schema errors of a body sent to `path` (`/sessions` bodies use the session schema).
pub fn schema_errors(path: &str, body: &Value) -> Vec<String> {
    let validator = if path.ends_with("/sessions") {
        validator(&SESSION_SCHEMA, include_str!("../../spec/session-payload.schema.json"))
    } else {
        validator(&NOTIFY_SCHEMA, include_str!("../../spec/error-reporting-payload.schema.json"))
    };
    validator.iter_errors(body).map(|e| format!("{} at {}", e, e.instance_path())).collect()
}

/// A notify endpoint on 127.0.0.1 where nothing listens, so every connection is refused:
/// an outage, for tests and benchmarks.
pub fn closed_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{addr}/notify")
}

/// The version cargo resolved `dependency` to for the package `dependent` of the
/// workspace the tests run in (from `cargo metadata`): what `device.runtimeVersions`
/// should say about a framework an adapter serves. For this repository's own tests.
#[doc(hidden)]
pub fn dependency_version(dependent: &str, dependency: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--offline", "--filter-platform", env!("BUGSNAG_TARGET")])
        .output()
        .expect("cargo metadata runs");
    let metadata: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("cargo metadata: {e}: {}", String::from_utf8_lossy(&output.stderr)));
    let packages = metadata["packages"].as_array().expect("packages");
    let id_of = |name: &str| packages.iter().find(|p| p["name"] == name).map(|p| p["id"].clone());
    let dependent_id = id_of(dependent).unwrap_or_else(|| panic!("no package {dependent} in the workspace"));
    let node = metadata["resolve"]["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["id"] == dependent_id))
        .expect("the dependent is resolved");
    node["deps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|dep| packages.iter().find(|p| p["id"] == dep["pkg"]))
        .find(|p| p["name"] == dependency)
        .and_then(|p| p["version"].as_str())
        .unwrap_or_else(|| panic!("{dependent} does not depend on {dependency}"))
        .to_owned()
}

/// Events waiting in an outbox directory (each file holds one payload, which may carry
/// several events, or one event kept unresolved), for tests that check what was kept for the next start.
pub fn events_in_outbox(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains(".json"))
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|bytes| {
            // A header line, then the payload.
            let body = &bytes[bytes.iter().position(|b| *b == b'\n')? + 1..];
            let payload: Value = serde_json::from_slice(body).ok()?;
            // An event kept before its stacks were resolved is alone in its file.
            match payload["events"].as_array() {
                Some(events) => Some(events.len()),
                None => payload.get("event").map(|_| 1),
            }
        })
        .sum()
}

/// Holds each of a number of concurrent requests (or tasks) until all have arrived, so
/// that a test of their isolation proves they overlapped; one that waits 10 seconds in
/// vain panics (the handler's panic fails the request) rather than hanging the test.
///
/// ```
/// # async fn handler() {
/// static BOTH: std::sync::LazyLock<bugsnag_core::testing::Rendezvous> =
///     std::sync::LazyLock::new(|| bugsnag_core::testing::Rendezvous::new(2));
/// // In each of the two request handlers, after setting its user:
/// BOTH.meet().await;
/// # }
/// ```
#[derive(Debug)]
pub struct Rendezvous(tokio::sync::Barrier);

impl Rendezvous {
    /// A rendezvous of `parties`.
    pub fn new(parties: usize) -> Self {
        Self(tokio::sync::Barrier::new(parties))
    }

    /// Waits until every party has arrived.
    pub async fn meet(&self) {
        let met = tokio::time::timeout(Duration::from_secs(10), self.0.wait()).await;
        assert!(met.is_ok(), "the requests were not in flight at once");
    }
}

/// Panics with the schema errors of any request that has some.
pub fn assert_valid(requests: &[Received]) {
    for request in requests {
        assert!(
            request.schema_errors.is_empty(),
            "payload to {} breaks the API schema: {:#?}\n{}",
            request.path,
            request.schema_errors,
            serde_json::to_string_pretty(&request.body).unwrap_or_default()
        );
    }
}
