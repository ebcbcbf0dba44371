//! Sessions, breadcrumbs and feature flags, as they reach the collector.

use std::time::Duration;

use bugsnag_core::testing::Collector;
use bugsnag_core::{BreadcrumbType, Client, FeatureFlag, Options, Scope, SeverityReason};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn sessions_are_counted_per_minute_and_events_carry_their_session() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    for _ in 0..99 {
        Scope::new().run_sync(|| client.start_session());
    }
    let scope = Scope::new();
    scope.run_sync(|| client.start_session());
    scope.run_sync(|| {
        client.notify_message("first");
        client.notify_message("second");
        client.notify_message_with("crash", Options::new().unhandled(SeverityReason::unhandled_panic()));
    });
    assert!(client.flush(WAIT));

    let sessions: Vec<_> = collector.requests().into_iter().filter(|r| r.path == "/sessions").collect();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].headers["bugsnag-payload-version"], "1.0");
    let counts = sessions[0].body["sessionCounts"].as_array().unwrap().clone();
    let total: u64 = counts.iter().map(|c| c["sessionsStarted"].as_u64().unwrap()).sum();
    assert_eq!(total, 100);
    // One entry, unless the test straddled a minute boundary.
    assert!(counts.len() <= 2 && counts[0]["startedAt"].as_str().unwrap().ends_with(":00Z"), "{counts:#?}");

    let events = collector.events();
    assert_eq!(events.len(), 3, "{events:#?}");
    let mut by_message: Vec<_> =
        events.iter().map(|e| (e["exceptions"][0]["message"].as_str().unwrap(), &e["session"])).collect();
    by_message.sort_by_key(|(m, _)| *m);
    let crash = by_message[0].1;
    assert_eq!(crash["events"], json!({"handled": 2, "unhandled": 1}));
    assert_eq!(by_message[1].1["id"], crash["id"]);
    assert_eq!(by_message[1].1["events"], json!({"handled": 1, "unhandled": 0}));
}

#[test]
fn a_custom_endpoint_without_a_session_endpoint_sends_no_sessions() {
    let collector = Collector::start();
    let client = Client::new(
        bugsnag_core::Configuration::default()
            .api_key(bugsnag_core::testing::API_KEY)
            .endpoint(format!("{}/notify", collector.url())),
    );
    Scope::new().run_sync(|| client.start_session());
    let scope = Scope::new();
    scope.run_sync(|| client.start_session());
    scope.run_sync(|| {
        client.notify_message("no session");
    });
    assert!(client.flush(WAIT));
    assert!(collector.requests().iter().all(|r| r.path == "/notify"));
    assert!(collector.events()[0].get("session").is_none());
}

#[test]
fn sessions_follow_notify_release_stages() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration().release_stage("test").notify_release_stages(["production"]));
    Scope::new().run_sync(|| client.start_session());
    assert!(client.flush(WAIT));
    assert!(collector.requests().is_empty());
}

#[test]
fn breadcrumbs_arrive_oldest_first_redacted_and_bounded() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration().max_breadcrumbs(3));
    client.leave_breadcrumb("process started", BreadcrumbType::Process, json!(null));
    let scope = Scope::new();
    scope.run_sync(|| {
        client.leave_breadcrumb("login", BreadcrumbType::User, json!({"user": "ann", "password": "hunter2"}));
        client.notify_message_with("first", Options::new().error_class("FirstError"));
        client.leave_breadcrumb("retry", BreadcrumbType::State, json!({"attempt": 2}));
        client.notify_message("second");
    });
    assert!(client.flush(WAIT));
    let events = collector.events();
    assert_eq!(events.len(), 2, "{events:#?}");
    let second = events.iter().find(|e| e["exceptions"][0]["message"] == "second").unwrap();
    let crumbs = second["breadcrumbs"].as_array().unwrap();
    let names: Vec<&str> = crumbs.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["login", "FirstError", "retry"], "the newest 3, oldest first");
    assert_eq!(crumbs[1]["type"], "error");
    assert_eq!(
        crumbs[1]["metaData"],
        json!({"errorClass": "FirstError", "message": "first", "unhandled": false, "severity": "warning"})
    );
    assert_eq!(crumbs[0]["metaData"], json!({"user": "ann", "password": "[FILTERED]"}));

    // Outside the scope only the client's own breadcrumbs are seen.
    client.notify_message("outside");
    assert!(client.flush(WAIT));
    let events = collector.events();
    assert_eq!(events.len(), 3, "{events:#?}");
    let outside = events.into_iter().find(|e| e["exceptions"][0]["message"] == "outside").unwrap();
    assert_eq!(outside["breadcrumbs"][0]["name"], "process started");
}

#[test]
fn feature_flags_merge_client_and_scope_and_can_be_cleared() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    client.add_feature_flag("checkout", Some("v1"));
    client.add_feature_flags([FeatureFlag::new("dark-mode", None), FeatureFlag::new("search", Some("beta"))]);
    client.clear_feature_flag("search");
    let scope = Scope::new();
    scope.add_feature_flag("checkout", Some("v2"));
    scope.run_sync(|| {
        client.notify_message("flags");
    });
    client.clear_feature_flags();
    client.notify_message("no flags");
    assert!(client.flush(WAIT));
    let events = collector.events();
    assert_eq!(events.len(), 2, "{events:#?}");
    let flagged = events.iter().find(|e| e["exceptions"][0]["message"] == "flags").unwrap();
    assert_eq!(
        flagged["featureFlags"],
        json!([{"featureFlag": "checkout", "variant": "v2"}, {"featureFlag": "dark-mode"}])
    );
    let plain = events.iter().find(|e| e["exceptions"][0]["message"] == "no flags").unwrap();
    assert!(plain.get("featureFlags").is_none());
}
