//! Hostile input from user code: errors whose formatting fails or panics, endless
//! chains, metadata nested 100,000 deep, callbacks that call `notify` or leave the event
//! invalid. Each ends in a sent, schema-valid event (or one log line), never in a panic
//! or a stack overflow in the host.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use bugsnag_core::testing::Collector;
use bugsnag_core::{Breadcrumb, BreadcrumbType, Client, Decision, DropReason, Options, Outcome, Scope, User};
use serde_json::{json, Map, Value};

const WAIT: Duration = Duration::from_secs(10);

fn one_event(collector: &Collector, client: &Client) -> Value {
    assert!(client.flush(WAIT));
    let events = collector.events(); // schema-checked
    assert_eq!(events.len(), 1, "{events:#?}");
    for request in collector.requests() {
        assert!(request.size <= 1_000_000);
    }
    events.into_iter().next().unwrap()
}

/// An error whose every piece of user code misbehaves.
struct Rogue;
impl fmt::Display for Rogue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("half a message")?;
        Err(fmt::Error)
    }
}
impl fmt::Debug for Rogue {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Debug panicked")
    }
}
impl Error for Rogue {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&PanickingCause)
    }
}

#[derive(Debug)]
struct PanickingCause;
impl fmt::Display for PanickingCause {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Display panicked")
    }
}
impl Error for PanickingCause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        panic!("source panicked")
    }
}

#[test]
fn errors_whose_formatting_fails_or_panics_are_still_reported() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    assert_eq!(client.notify(&Rogue as &dyn Error), Outcome::Queued);
    let event = one_event(&collector, &client);
    let exceptions = event["exceptions"].as_array().unwrap();
    assert_eq!(exceptions.len(), 2, "the chain ends where source() panicked");
    assert_eq!(exceptions[0]["message"], "half a message[its formatting returned an error]");
    assert_eq!(exceptions[0]["errorClass"], "Error", "Debug panicked: no name to read");
    assert_eq!(exceptions[1]["message"], "[its formatting panicked]");
}

/// A chain as long as the caller likes; formatting recurses through it.
#[derive(Debug)]
struct Link(Option<Box<Link>>);
impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("link")
    }
}
impl Error for Link {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.as_deref().map(|l| l as &(dyn Error + 'static))
    }
}

#[test]
fn a_chain_100_000_long_is_cut_without_overflowing_the_stack() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let mut chain = Link(None);
    for _ in 0..100_000 {
        chain = Link(Some(Box::new(chain)));
    }
    // On a thread with a small stack, as a request handler might be.
    let reporter = client.clone();
    let chain = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            assert_eq!(reporter.notify(&chain), Outcome::Queued);
            chain
        })
        .unwrap()
        .join()
        .unwrap();
    std::mem::forget(chain); // its own recursive drop is the caller's business
    let event = one_event(&collector, &client);
    assert_eq!(event["exceptions"].as_array().unwrap().len(), 32);
}

fn nested(depth: usize) -> Value {
    let mut value = json!({"password": "planted-deep"});
    for _ in 0..depth {
        value = Value::Object(Map::from_iter([("k".to_owned(), value)]));
    }
    value
}

#[test]
fn metadata_nested_100_000_deep_is_capped_everywhere_it_enters() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let scope = Scope::new();
    scope.add_metadata_tab("scope", nested(100_000));
    client.leave_breadcrumb_in(&scope, Breadcrumb::new("deep", BreadcrumbType::Manual, nested(100_000)));
    let options = Options::new().scope(scope).add_metadata_tab("call", nested(100_000));
    assert_eq!(client.notify_message_with("deep", options), Outcome::Queued);
    let event = one_event(&collector, &client);
    let mut walk = &event["metaData"]["call"];
    for _ in 0..32 {
        walk = &walk["k"];
    }
    assert_eq!(walk, &json!("[nested too deep]"));
    assert!(event["metaData"]["scope"].is_object());
    assert!(event["breadcrumbs"].as_array().unwrap().iter().any(|b| b["name"] == "deep"));
}

#[test]
fn a_callback_that_calls_notify_is_not_followed() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let inner = client.clone();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let outcomes = seen.clone();
    client.before_notify(move |_| {
        outcomes.lock().unwrap().push(inner.notify_message("from the callback"));
        Decision::Send
    });
    assert_eq!(client.notify_message("outer"), Outcome::Queued);
    let event = one_event(&collector, &client);
    assert_eq!(event["exceptions"][0]["message"], "outer");
    assert_eq!(*seen.lock().unwrap(), [Outcome::Dropped(DropReason::InsideCallback)]);
}

#[test]
fn whatever_a_callback_leaves_the_event_is_sent_valid() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    client.before_notify(|event| {
        event.exceptions.clear();
        event.metadata.insert("not an object".into(), json!("plain string"));
        event.metadata.insert("deep".into(), nested(50_000));
        event.context = Some("c".repeat(10 * 1024 * 1024));
        event.feature_flags.push(bugsnag_core::FeatureFlag::new("", None));
        event.user = Some(User::id(""));
        Decision::Send
    });
    client.notify_message("will be replaced");
    let event = one_event(&collector, &client);
    assert_eq!(event["exceptions"][0]["errorClass"], "Error");
    assert_eq!(event["metaData"]["not an object"], json!({"value": "plain string"}));
    assert!(event["context"].as_str().unwrap().len() < 1_000_000);

    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    client.before_notify(|event| {
        event.exceptions[0].error_class.clear();
        Decision::Send
    });
    client.notify_message("class cleared");
    assert_eq!(one_event(&collector, &client)["exceptions"][0]["errorClass"], "Error");
}

#[test]
fn an_empty_error_class_is_named_rather_than_refused_by_the_api() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let err = std::io::Error::other("named by the call");
    assert!(client.notify_with(&err, Options::new().error_class("")).is_queued());
    assert!(client.notify_message_with("no class", Options::new().error_class("  ")).is_queued());
    assert!(client.flush(std::time::Duration::from_secs(10)));
    let events = collector.events(); // schema-checked: errorClass must not be empty
    assert_eq!(events.len(), 2, "{events:#?}");
    assert!(events.iter().all(|e| e["exceptions"][0]["errorClass"] == "Error"), "{events:#?}");
}

#[test]
fn user_device_and_tabs_are_filtered_by_name_like_the_seed() {
    let collector = Collector::start();
    // No code snippets: this file's own lines hold the planted secret.
    let config = collector.configuration().send_code(false);
    let client = Client::new(config.params_filters(["email", "hostname"]).hostname("db-7.internal"));
    let options = Options::new()
        .user(User::id("u1").with_email("ann@example.com"))
        .add_metadata_tab("cookies", json!({"session": "abc", "theme": "dark"}))
        .add_metadata_tab("links", json!({"next": "https://api.example.com/p?page=2&api_key=planted-link"}));
    client.notify_message_with("filtered", options);
    let event = one_event(&collector, &client);
    assert_eq!(event["user"], json!({"id": "u1", "email": "[FILTERED]"}));
    assert_eq!(event["device"]["hostname"], "[FILTERED]");
    assert_eq!(event["metaData"]["cookies"], json!({"session": "[FILTERED]", "theme": "[FILTERED]"}));
    assert_eq!(event["metaData"]["links"]["next"], "https://api.example.com/p?page=2&api_key=[FILTERED]");
    collector.assert_no_planted_secret();
}
