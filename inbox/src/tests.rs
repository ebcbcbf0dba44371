//! The inbox over real HTTP: events from a real `Client`, pages fetched from the running
//! server, a restart from the kept file, and hostile reports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bugsnag_core::testing::Collector;
use bugsnag_core::{BreadcrumbType, Client, Options, Request, Scope, User};
use serde_json::{json, Map, Value};

use super::store::Store;
use super::{start, Inbox};

const WAIT: Duration = Duration::from_secs(10);

fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-inbox-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn get(collector: &Collector, path: &str) -> (u16, String) {
    let http = reqwest::blocking::Client::builder().no_proxy().build().unwrap();
    let response = http.get(format!("{}{path}", collector.url())).send().unwrap();
    (response.status().as_u16(), response.text().unwrap())
}

fn client(collector: &Collector) -> Client {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    Client::new(collector.configuration().project_root(root).app_version("2.0.0"))
}

#[derive(Debug)]
struct OrderError;
impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("order has no lines")
    }
}
impl std::error::Error for OrderError {}

fn report_in(client: &Client, context: &str) {
    client.notify_with(&OrderError, Options::new().context(context));
}

/// The same error, reported from another function: another top in-project frame.
#[inline(never)]
fn report_elsewhere(client: &Client, context: &str) {
    client.notify_with(&OrderError, Options::new().context(context));
}

/// Rows of the groups table: (text of the row, its count cell), from the HTML.
fn group_rows(html: &str) -> Vec<(String, String)> {
    html.split("<tr class=\"group")
        .skip(1)
        .map(|row| {
            let row = &row[..row.find("</tr>").unwrap()];
            let count = row.split("<td class=count>").nth(1).unwrap();
            (row.to_owned(), count[..count.find("</td>").unwrap()].to_owned())
        })
        .collect()
}

#[test]
fn groups_as_bugsnag_does_and_keeps_them_across_a_restart() {
    let dir = scratch("restart");
    let file = dir.join("received.jsonl");
    {
        let (collector, _inbox) = start(local(), Store::open(&file).unwrap(), false).unwrap();
        let client = client(&collector);
        // One error in two contexts is one group: the context does not split it.
        report_in(&client, "GET /orders/{id}");
        report_in(&client, "POST /orders");
        // Another top in-project frame is another group.
        report_elsewhere(&client, "POST /orders");
        // A grouping hash is a group of its own, whatever the frames.
        client.notify_with(&OrderError, Options::new().context("hashed").grouping_hash("orders"));
        client.notify_message_with("other class", Options::new().context("hashed").grouping_hash("orders"));
        assert!(client.flush(WAIT));
        // No frame of the program in project: grouped by class alone. (Sent last.)
        let elsewhere = Client::new(collector.configuration().project_root(&dir));
        elsewhere.notify_with(&OrderError, Options::new().context("no frame"));
        assert!(elsewhere.flush(WAIT));

        let (status, html) = get(&collector, "/");
        assert_eq!(status, 200);
        let mut counts: Vec<String> = group_rows(&html).into_iter().map(|(_, count)| count).collect();
        counts.sort();
        assert_eq!(counts, ["1", "1", "2", "2"], "{html}");
        let rows = group_rows(&html);
        let hashed = rows.iter().find(|(row, _)| row.contains("hashed")).unwrap();
        assert_eq!(hashed.1, "2", "the grouping hash groups two classes");
        assert!(hashed.0.contains("grouping hash: orders"), "{}", hashed.0);
        // Each group says why, as the dashboard does.
        let by_frame =
            format!("top in-project frame of the innermost exception: {}::OrderError at {}:", module_path!(), file!());
        assert_eq!(rows.iter().filter(|(row, _)| row.contains(&by_frame)).count(), 2, "{html}");
        let by_class = rows.iter().find(|(row, _)| row.contains("no frame")).unwrap();
        assert!(by_class.0.contains("error class only:"), "{}", by_class.0);
        assert_eq!(get(&collector, "/count"), (200, "6".to_owned()));
        // The same events as JSON, newest first, each with why it is grouped so.
        let (status, json) = get(&collector, "/events.json");
        assert_eq!(status, 200);
        let events: Vec<Value> = serde_json::from_str(&json).unwrap();
        assert_eq!(events.len(), 6);
        assert_eq!(events[0]["context"], "no frame", "the last one sent comes first");
        assert!(events[0]["grouping"].as_str().unwrap().starts_with("error class only"));
        assert!(events.iter().all(|e| e["receivedAt"].is_i64()));
        assert_eq!(get(&collector, "/nothing-here").0, 404);
    }
    // A new inbox on the same file shows the same groups.
    let (collector, _inbox) = start(local(), Store::open(&file).unwrap(), false).unwrap();
    let (_, html) = get(&collector, "/");
    let mut counts: Vec<String> = group_rows(&html).into_iter().map(|(_, count)| count).collect();
    counts.sort();
    assert_eq!(counts, ["1", "1", "2", "2"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_event_shows_in_project_frames_first_with_their_code() {
    let (collector, _inbox) = start(local(), Store::in_memory(), false).unwrap();
    let client = client(&collector);
    report_in(&client, "checkout");
    assert!(client.flush(WAIT));
    let (_, html) = get(&collector, "/?event=0");
    let first_frame = html.find("<li class=\"frame").expect("a frame");
    let all_frames = html.find("<details><summary>All").expect("the full stack");
    assert!(first_frame < all_frames);
    let frame = &html[first_frame..html[first_frame..].find("</li>").unwrap() + first_frame];
    assert!(frame.contains("frame in-project") && frame.contains("inbox/src/tests.rs"), "{frame}");
    assert!(frame.contains("<mark>") && frame.contains("OrderError"), "the line that reported is marked: {frame}");
}

#[test]
fn an_event_shows_the_trace_and_span_it_belongs_to() {
    let (collector, _inbox) = start(local(), Store::in_memory(), false).unwrap();
    let client = client(&collector);
    let link = bugsnag_core::Correlation::from_traceparent(bugsnag_core::testing::TRACEPARENT).unwrap();
    client.notify_with(&OrderError, Options::new().correlation(link));
    report_in(&client, "untraced");
    assert!(client.flush(WAIT));
    // The two may arrive in either order.
    let (untraced, traced): (Vec<String>, Vec<String>) = ["/?event=0", "/?event=1"]
        .iter()
        .map(|page| get(&collector, page).1)
        .partition(|html| html.contains("<th>Context</th><td>untraced</td>"));
    let (traced, untraced) = (&traced[0], &untraced[0]);
    assert!(traced.contains("<tr><th>Trace</th><td>4bf92f3577b34da6a3ce929d0e0e4736</td></tr>"), "{traced}");
    assert!(traced.contains("<tr><th>Span</th><td>00f067aa0ba902b7</td></tr>"), "{traced}");
    assert!(!untraced.contains("<th>Trace</th>"), "{untraced}");
}

/// `<script>` in every string, and in every key of the maps a notifier fills freely.
const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&";

fn poison(value: &Value, free_keys: bool) -> Value {
    match value {
        Value::String(_) => Value::String(HOSTILE.to_owned()),
        Value::Array(items) => Value::Array(items.iter().map(|v| poison(v, false)).collect()),
        Value::Object(map) => {
            let mut out = Map::new();
            for (i, (key, inner)) in map.iter().enumerate() {
                let free = matches!(key.as_str(), "metaData" | "headers" | "code" | "runtimeVersions");
                let key = if free_keys { format!("{HOSTILE}{i}") } else { key.clone() };
                out.insert(key, poison(inner, free));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

#[test]
fn escapes_everything_a_report_carries() {
    let (collector, inbox) = start(local(), Store::in_memory(), false).unwrap();
    let client = client(&collector);
    client.add_feature_flag("checkout", Some("b"));
    client.leave_breadcrumb("opened cart", BreadcrumbType::Navigation, json!({"items": 2}));
    let scope = Scope::new();
    scope.set_request(Request::new("GET", "http://shop.test/cart").with_header("accept", "text/html"));
    scope.run_sync(|| client.start_session());
    let options = Options::new()
        .scope(scope)
        .context("GET /cart")
        .user(User::id("u1").with_name("Ann"))
        .add_metadata_tab("cart", json!({"items": 2, "nested": {"deep": {"deeper": {"deepest": "x"}}}}))
        .grouping_hash("cart");
    client.notify_with(&OrderError, options);
    assert!(client.flush(WAIT));
    let real = collector.events()[0].clone();
    for section in ["request", "user", "session", "featureFlags", "breadcrumbs", "metaData", "groupingHash"] {
        assert!(real.get(section).is_some(), "the real event has {section}: {real:#}");
    }

    let hostile = json!({"apiKey": HOSTILE, "notifier": {"name": HOSTILE}, "events": [poison(&real, false)]});
    let http = reqwest::blocking::Client::builder().no_proxy().build().unwrap();
    let sent = http.post(format!("{}/notify", collector.url())).json(&hostile).send().unwrap();
    assert_eq!(sent.status(), 200);
    let garbage = http.post(format!("{}/notify", collector.url())).body("<script>not json").send().unwrap();
    assert_eq!(garbage.status(), 200, "kept and shown, like any payload");

    let (_, live) = get(&collector, "/?event=1");
    let snapshot = inbox.snapshot();
    for (name, html) in [("live page", &live), ("snapshot", &snapshot)] {
        let ours = usize::from(name == "live page");
        assert_eq!(html.matches("<script").count(), ours, "{name}: only the inbox's own script");
        assert!(!html.contains("<img") && !html.contains("alert(1)</"), "{name} lets markup through");
        // Every section of the event was rendered, each carrying the escaped text.
        assert!(html.matches("&lt;script&gt;alert(1)&lt;/script&gt;").count() > 30, "{name}");
        for heading in ["Breadcrumbs", "Request", "User", "App", "Device", "Metadata", "Feature flags", "Session"] {
            assert!(html.contains(&format!("<h3>{heading}</h3>")), "{name} has no {heading} section");
        }
        assert!(html.contains("Breaks the API schema"), "{name} says the hostile payload is not valid");
        assert!(html.contains("2 break the API schema"), "{name} counts the payloads that are not valid");
    }
    let _: &Arc<Inbox> = &inbox;
}

#[test]
fn a_damaged_store_file_keeps_what_it_can() {
    let dir = scratch("damaged");
    let file = dir.join("received.jsonl");
    {
        let (collector, _inbox) = start(local(), Store::open(&file).unwrap(), false).unwrap();
        let client = client(&collector);
        report_in(&client, "before the damage");
        assert!(client.flush(WAIT));
    }
    // A line of something else, and a last line cut short by a crash mid-write.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("[1,2,3]\n{\"path\":\"/notify\",\"receivedAt\":17");
    std::fs::write(&file, text).unwrap();

    let (collector, _inbox) = start(local(), Store::open(&file).unwrap(), false).unwrap();
    let client = client(&collector);
    report_in(&client, "after the damage");
    assert!(client.flush(WAIT));
    let (_, html) = get(&collector, "/");
    let rows = group_rows(&html);
    assert_eq!(rows.len(), 1, "one error: {html}");
    assert_eq!(rows[0].1, "2", "the event kept before the damage and the new one: {html}");
    assert_eq!(get(&collector, "/count").1, "2");
    drop(collector);
    // The payload written after the cut line survives the next restart too.
    let (collector, _inbox) = start(local(), Store::open(&file).unwrap(), false).unwrap();
    assert_eq!(get(&collector, "/count").1, "2");
    let _ = std::fs::remove_dir_all(dir);
}
