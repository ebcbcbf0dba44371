//! Per-request context: `configure_request` and `add_metadata_tab` attach to the current
//! scope only, and futures carried into spawned tasks keep it.

use std::time::Duration;

use bugsnag_core::testing::{self, Collector};
use bugsnag_core::{Client, InCurrentScope, Options, Scope, User};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_scopes_stay_isolated_and_follow_spawned_tasks() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());

    let both = std::sync::Arc::new(testing::Rendezvous::new(2));
    let request = |name: &'static str, client: Client| {
        let both = both.clone();
        Scope::new().run(async move {
            bugsnag_core::configure_request(|s| {
                s.set_context(format!("/orders/{name}"));
                s.set_user(User::id(name));
            });
            // Both are in flight, each with its user set, before either goes on.
            both.meet().await;
            bugsnag_core::add_metadata_tab("order", json!({ "name": name }));
            let handle = tokio::spawn(async move { client.notify_message(format!("from {name}")) }.in_current_scope());
            handle.await.unwrap()
        })
    };
    let (a, b) = tokio::join!(request("a", client.clone()), request("b", client.clone()));
    assert!(a.is_queued() && b.is_queued());
    assert!(tokio::task::spawn_blocking(move || client.flush(Duration::from_secs(10))).await.unwrap());

    let mut events = collector.events();
    events.sort_by_key(|e| e["context"].as_str().unwrap_or_default().to_owned());
    assert_eq!(events.len(), 2);
    for (event, name) in events.iter().zip(["a", "b"]) {
        assert_eq!(event["exceptions"][0]["message"], format!("from {name}"));
        assert_eq!(event["context"], format!("/orders/{name}"));
        assert_eq!(event["user"]["id"], name);
        assert_eq!(event["metaData"]["order"], json!({ "name": name }));
    }
}

#[test]
fn add_metadata_tab_merges_and_call_options_win() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let scope = Scope::new();
    scope.run_sync(|| {
        bugsnag_core::add_metadata_tab("account", json!({"name": "ACME Inc.", "premium": false}));
        bugsnag_core::add_metadata_tab("account", json!({"premium": true}));
        bugsnag_core::configure_request(|s| s.set_context("/users"));
        let _ = client.notify_message_with(
            "x",
            Options::new().context("sign_up").add_metadata_tab("account", json!({"seats": 3})),
        );
    });
    assert!(client.flush(Duration::from_secs(10)));
    let events = collector.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event["metaData"]["account"], json!({"name": "ACME Inc.", "premium": true, "seats": 3}));
    assert_eq!(event["context"], "sign_up");
    assert!(Scope::current().context().is_none(), "run_sync restores the thread's scope");
}

/// 1,000 tasks on 2 runtime threads, none in a scope (background work, tasks spawned
/// without `in_current_scope`): every other one sets a user and a tab through the free
/// functions, every one reports. No event may carry another task's user or tab: outside
/// a scope on a runtime's thread, such calls attach to nothing (the thread runs the next
/// tasks too).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_outside_any_scope_never_carry_another_tasks_data() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration().without_error_budget().queue_capacity(4096));
    let tasks: Vec<_> = (0..1000)
        .map(|task| {
            let client = client.clone();
            tokio::spawn(async move {
                if task % 2 == 0 {
                    bugsnag_core::configure_request(|s| s.set_user(User::id(format!("user-{task}"))));
                    bugsnag_core::add_metadata_tab("task", json!({ "number": task }));
                }
                // Other tasks run on this thread meanwhile.
                tokio::task::yield_now().await;
                client.notify_message(format!("task {task}"))
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_queued());
    }
    assert!(tokio::task::spawn_blocking(move || client.flush(Duration::from_secs(30))).await.unwrap());
    let events = collector.events();
    assert_eq!(events.len(), 1000, "every task's event arrived");
    for event in &events {
        let message = event["exceptions"][0]["message"].as_str().unwrap();
        let task = message.trim_start_matches("task ");
        if let Some(user) = event["user"]["id"].as_str() {
            assert_eq!(user, format!("user-{task}"), "{message} carries another task's user");
        }
        if let Some(number) = event["metaData"]["task"]["number"].as_u64() {
            assert_eq!(number.to_string(), task, "{message} carries another task's tab");
        }
    }
}
