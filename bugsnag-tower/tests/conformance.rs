//! Conformance with the seed: the five situations of `spec/reference/python-notifier-payloads.json`
//! (payloads the Python notifier 4.9.2 sent) run through this notifier, and the payloads
//! compared field by field. A field is either the same, or differs on purpose, for the
//! reason written next to it; a field listed as the same that differs fails the test.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use bugsnag_core::logging::BugsnagTracingLayer;
use bugsnag_core::testing::{Collector, Received};
use bugsnag_core::{BreadcrumbType, Client, Options, Scope, User};
use bugsnag_tower::BugsnagLayer;
use serde_json::{json, Value};
use tracing_subscriber::prelude::*;

const WAIT: Duration = Duration::from_secs(20);

fn seed(situation: &str) -> Value {
    let all: Value = serde_json::from_str(include_str!("../../spec/reference/python-notifier-payloads.json")).unwrap();
    all[situation].clone()
}

enum Rule {
    Same,
    Differs(&'static str),
}
use Rule::{Differs, Same};

/// Compares `pointer` in both payloads; returns a line of the report.
fn check(situation: &str, seed: &Value, ours: &Value, pointer: &str, rule: Rule) -> String {
    let (theirs, mine) = (seed.pointer(pointer).unwrap_or(&Value::Null), ours.pointer(pointer).unwrap_or(&Value::Null));
    match rule {
        Same => {
            assert_eq!(mine, theirs, "{situation} {pointer}: ours differs from the seed's");
            format!("same     {situation} {pointer} = {mine}")
        }
        Differs(reason) => format!("differs  {situation} {pointer}: seed {theirs}, ours {mine} ({reason})"),
    }
}

fn event(request: &Received) -> Value {
    request.body["events"][0].clone()
}

fn logged() -> Vec<Received> {
    let collector = Collector::start();
    let client = Client::new(collector.configuration().hostname("web-1"));
    // The seed's handler had `extra_fields={"some_tab": ["context_attribute"]}` and INFO level.
    let layer = BugsnagTracingLayer::with_client(client.clone())
        .extra_fields("some_tab", ["context_attribute"])
        .report_level(tracing::Level::INFO);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!(context_attribute = "abc", "cache warmed");
        tracing::error!(context_attribute = "xyz", "payment failed for order {}", 42);
    });
    assert!(client.flush(WAIT));
    collector.events(); // schema-checked
    collector.requests().into_iter().filter(|r| r.path == "/notify").collect()
}

#[derive(Debug)]
struct ValueError(Inner);
impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("outer")
    }
}
impl std::error::Error for ValueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
#[derive(Debug)]
struct Inner;
impl std::fmt::Display for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("inner boom")
    }
}
impl std::error::Error for Inner {}

async fn boom(Path(n): Path<u32>) -> &'static str {
    bugsnag_core::configure_request(|scope| scope.add_metadata_tab("order", json!({ "n": n })));
    panic!("boom {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_match_the_seeds_field_by_field() {
    let mut report = Vec::new();

    // 1 and 2: the logging handler, an INFO record then an ERROR record.
    let logs = tokio::task::spawn_blocking(logged).await.unwrap();
    // Sent in parallel: find each by its class, not by arrival.
    let by_class = |class: &str| logs.iter().find(|r| event(r)["exceptions"][0]["errorClass"] == class).unwrap();
    let (info, error) = (by_class("LogINFO"), by_class("LogERROR"));
    for (situation, ours) in [("python-log-handler-info", info), ("python-log-handler-error", error)] {
        let theirs = seed(situation);
        let (s, o) = (&theirs["body"]["events"][0], &event(ours));
        for pointer in
            ["/severity", "/severityReason", "/unhandled", "/exceptions/0/errorClass", "/exceptions/0/message"]
        {
            report.push(check(situation, s, o, pointer, Same));
        }
        report.push(check(situation, s, o, "/metaData/some_tab", Same));
        report.push(check(situation, s, o, "/device/hostname", Same));
        report.push(check(situation, s, o, "/breadcrumbs/0/name", Same));
        report.push(check(situation, s, o, "/breadcrumbs/0/type", Same));
        report.push(check(situation, s, o, "/breadcrumbs/0/metaData", Same));
        report.push(check(
            situation,
            s,
            o,
            "/metaData/extra data",
            Differs("Python's LogRecord attributes; ours are the record's fields and target"),
        ));
        report.push(check(situation, s, o, "/releaseStage", Differs("releaseStage goes in app, as the schema says")));
        report.push(check(situation, s, o, "/app/releaseStage", Differs("the seed sends it at event level")));
        report.push(check(situation, s, o, "/context", Same));
        report.push(check(
            situation,
            s,
            o,
            "/exceptions/0/type",
            Differs("the API's language enum has no Rust: omitted"),
        ));
        report.push(check(situation, s, o, "/metaData/request", Differs("empty tabs are not sent")));
    }
    let info_crumbs = event(error)["breadcrumbs"].as_array().unwrap().len();
    assert_eq!(info_crumbs, 1, "the ERROR report carries the INFO report as an error breadcrumb, as the seed's does");

    // 3: a handled chained exception with context, user, metadata, breadcrumb and flag.
    let collector = Collector::start();
    let client = Client::new(collector.configuration().hostname("web-1").app_version("1.2.3"));
    let scope = Scope::new();
    client
        .leave_breadcrumb_in(&scope, bugsnag_core::Breadcrumb::new("clicked", BreadcrumbType::Manual, json!({"x": 1})));
    scope.add_feature_flag("checkout", Some("v2"));
    let options = Options::new()
        .scope(scope)
        .context("checkout")
        .user(User::id("u1"))
        .add_metadata_tab("account", json!({"password": "hunter2", "plan": "pro"}));
    client.notify_with(&ValueError(Inner), options);
    let flushed = client.clone();
    assert!(tokio::task::spawn_blocking(move || flushed.flush(WAIT)).await.unwrap());
    let ours = event(&collector.requests()[0]);
    collector.events();
    let situation = "python-handled-chained";
    let theirs = seed(situation);
    let s = &theirs["body"]["events"][0];
    for pointer in [
        "/severity",
        "/unhandled",
        "/context",
        "/user",
        "/app/version",
        "/metaData/account",
        "/exceptions/0/message",
        "/exceptions/1/message",
        "/exceptions/1/errorClass",
        "/breadcrumbs/0/name",
        "/breadcrumbs/0/type",
        "/breadcrumbs/0/metaData",
        "/featureFlags",
    ] {
        report.push(check(situation, s, &ours, pointer, Same));
    }
    report.push(check(
        situation,
        s,
        &ours,
        "/severityReason/type",
        Differs("handledError: a Rust error value, not an exception"),
    ));
    report.push(check(
        situation,
        s,
        &ours,
        "/exceptions/0/errorClass",
        Differs("the Rust type path where the type is known"),
    ));
    report.push(check(
        situation,
        s,
        &ours,
        "/exceptions/1/stacktrace/0",
        Differs("a cause carries no stack of its own in Rust"),
    ));

    // 4: an unhandled error in a web request.
    let collector = Collector::start();
    let client = Client::new(collector.configuration().hostname("web-1"));
    let app = Router::new().route("/boom/{n}", get(boom)).layer(BugsnagLayer::with_client(client.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await });
    let status = reqwest::Client::new()
        .get(format!("{url}/boom/3?password=secret&q=1"))
        .header("Authorization", "Bearer x")
        .header("Cookie", "a=b")
        .header("X-Forwarded-For", "1.2.3.4")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 500);
    let flushed = client.clone();
    assert!(tokio::task::spawn_blocking(move || flushed.flush(WAIT)).await.unwrap());
    let requests = collector.requests();
    let ours = event(requests.iter().find(|r| r.path == "/notify").unwrap());
    let situation = "python-flask-unhandled";
    let theirs = seed(situation);
    let s = &theirs["body"]["events"][0];
    for pointer in [
        "/severity",
        "/unhandled",
        "/severityReason/type",
        "/exceptions/0/message",
        "/metaData/order",
        "/user",
        "/session/events",
        "/breadcrumbs/0/name",
        "/breadcrumbs/0/type",
        "/breadcrumbs/0/metaData/to",
    ] {
        report.push(check(situation, s, &ours, pointer, Same));
    }
    report.push(check(
        situation,
        s,
        &ours,
        "/severityReason/attributes/framework",
        Differs("the framework that caught it"),
    ));
    report.push(check(
        situation,
        s,
        &ours,
        "/context",
        Differs("the route template groups requests to every id together"),
    ));
    report.push(check(situation, s, &ours, "/exceptions/0/errorClass", Differs("a Rust panic is class `panic`")));
    report.push(check(
        situation,
        s,
        &ours,
        "/metaData/request/url",
        Differs("request data goes in the first-class `request` object"),
    ));
    let request_url = ours["request"]["url"].as_str().unwrap();
    assert!(request_url.ends_with("/boom/3?password=[FILTERED]&q=1"), "{request_url}");
    assert_eq!(ours["request"]["headers"]["authorization"], "[FILTERED]");
    assert_eq!(ours["request"]["headers"]["cookie"], "[FILTERED]");

    // 5: the session counts of that request.
    let sessions = requests.iter().find(|r| r.path == "/sessions").unwrap();
    let situation = "python-sessions";
    let theirs = seed(situation);
    let (s, o) = (&theirs["body"], &sessions.body);
    for pointer in ["/sessionCounts/0/sessionsStarted", "/app/releaseStage", "/device/hostname"] {
        report.push(check(situation, s, o, pointer, Same));
    }
    let version = json!({ "Bugsnag-Payload-Version": sessions.headers["bugsnag-payload-version"] });
    let why = Differs("1.0 is the Session API's version; the seed sends 4.0");
    report.push(check(situation, &theirs["headers"], &version, "/Bugsnag-Payload-Version", why));
    collector.events();

    println!("{}", report.join("\n"));
}
