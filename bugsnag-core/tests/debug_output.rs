//! `{:?}` of what a report holds, as a log line would print it, with secrets planted in
//! every field Bugsnag filters: none may appear (the API key, the user, metadata values,
//! request headers and URLs), while what helps debugging (classes, context, tab names)
//! still does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bugsnag_core::testing::Collector;
use bugsnag_core::{Client, Decision, Options, Request, Scope, User};
use serde_json::json;

/// A well-formed API key, planted: it must never be printed.
const PLANTED_KEY: &str = "feedfacefeedfacefeedfacefeedface";

fn planted_user() -> User {
    User::id("planted-user-id").with_name("planted-name").with_email("planted@example.com")
}

fn planted_request() -> Request {
    Request::new("POST", "https://example.com/pay?token=planted-query")
        .with_client_ip("planted-ip")
        .with_header("authorization", "Bearer planted-header")
        .with_referer("https://example.com/?session=planted-referer")
}

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains("planted") && !text.contains(PLANTED_KEY), "{what} leaks a secret: {text}");
}

#[test]
fn options_print_their_shape_not_their_secrets() {
    let options = Options::new()
        .context("checkout")
        .api_key(PLANTED_KEY)
        .user(planted_user())
        .add_metadata_tab("payment", json!({"card": "planted-card"}));
    let text = format!("{options:?} {options:#?}");
    assert_clean("Options", &text);
    assert!(text.contains("checkout") && text.contains("payment"), "{text}");
}

#[test]
fn a_scope_prints_its_shape_not_its_secrets() {
    let scope = Scope::new();
    scope.set_context("GET /pay");
    scope.set_user(planted_user());
    scope.add_metadata_tab("account", json!({"token": "planted-token"}));
    scope.set_request(planted_request());
    let text = format!("{scope:?} {scope:#?}");
    assert_clean("Scope", &text);
    assert!(text.contains("GET /pay") && text.contains("account") && text.contains("authorization"), "{text}");
}

#[test]
fn an_event_prints_its_shape_not_its_secrets() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let printed = Arc::new(Mutex::new(String::new()));
    let into = printed.clone();
    client.before_notify(move |event| {
        *into.lock().unwrap() = format!("{event:?} {event:#?}");
        Decision::Send
    });
    let scope = Scope::new();
    scope.set_request(planted_request());
    let options = Options::new()
        .api_key(PLANTED_KEY)
        .user(planted_user())
        .scope(scope)
        .add_metadata_tab("payment", json!({"card": "planted-card"}));
    client.notify_with(&std::io::Error::other("card declined"), options);
    assert!(client.flush(Duration::from_secs(20)));
    // It was reported, with everything the printout left out.
    let events = collector.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["metaData"]["payment"]["card"], "planted-card");
    let text = printed.lock().unwrap().clone();
    assert_clean("Event", &text);
    assert!(text.contains("card declined") && text.contains("payment") && text.contains("POST"), "{text}");
}
