//! `cargo xtask demo`: a local inbox, the example programs pointed at it, a readable
//! summary of every event it received in the order they happened, and the inbox page
//! saved as `target/demo/inbox.html`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bugsnag_lambda::testing::{Invocation, RuntimeApi};

use bugsnag_core::testing::{assert_valid, Collector, Received, API_KEY};
use serde_json::Value;

use bugsnag_inbox::{self as inbox, Store};

const WAIT: Duration = Duration::from_secs(15);

pub(crate) fn run(root: &Path, target: &Path) -> Result<(), String> {
    println!("building the examples: cargo lists each crate as it compiles (a first build takes a few minutes)");
    crate::cargo(&["build", "--package", "bugsnag-examples", "--bins"])?;
    let dir = target.join("demo");
    let store_path = dir.join("received.jsonl");
    let _ = std::fs::remove_file(&store_path);
    let (collector, inbox) = inbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), Store::open(&store_path)?, false)?;
    // Shared with the Lambda emulator, which reads it while the function is frozen.
    let collector = Arc::new(collector);
    println!("inbox listening on {}", collector.url());
    let bin = target.join("debug");

    println!("\n== examples/plain.rs: a handled chained error, a report with metadata and user, a panic in a thread");
    let status = example(&bin, root, "plain", &collector)
        .status()
        .map_err(|e| format!("could not run the plain example: {e}"))?;
    println!("(exited with {status}; the panic message above was printed by the default hook, after the report)");
    let plain = collector.wait_for_requests(3, WAIT);
    summarize(&plain);

    let mut seen = plain.len();
    for (name, file, what) in [
        ("axum-app", "axum_app.rs", "an axum service behind BugsnagLayer"),
        ("actix-app", "actix_app.rs", "an actix-web service wrapped in Bugsnag"),
        ("rocket-app", "rocket_app.rs", "a Rocket service with BugsnagFairing and catch_panics"),
    ] {
        println!("\n== examples/{file}: {what}");
        run_server(&bin, root, name, &collector)?;
        let served = collector.requests();
        summarize(&served[seen..]);
        seen = served.len();
    }

    for (name, file, what, expected) in [
        ("grpc", "grpc.rs", "a tonic gRPC service behind BugsnagLayer, and its client", 4),
        ("worker", "worker.rs", "an apalis worker with connect_failure_handler", 3),
        ("logging", "logging.rs", "tracing events through BugsnagTracingLayer", 1),
    ] {
        println!("\n== examples/{file}: {what}");
        let status =
            example(&bin, root, name, &collector).status().map_err(|e| format!("could not run {name}: {e}"))?;
        println!("(exited with {status})");
        let received = collector.wait_for_requests(seen + expected, WAIT);
        summarize(&received[seen..]);
        seen = received.len();
    }
    println!("\n== examples/lambda.rs: a function on AWS Lambda behind BugsnagLambdaLayer, against a loopback Runtime API that freezes it between invocations, as Lambda does");
    lambda(&bin, root, &collector)?;
    let received = collector.requests();
    summarize(&received[seen..]);

    let all = collector.requests();
    assert_valid(&all);
    let page = dir.join("inbox.html");
    std::fs::write(&page, inbox.snapshot()).map_err(|e| format!("could not write {}: {e}", page.display()))?;
    println!("\nevery payload, one JSON object per line: {}", store_path.display());
    println!("the inbox page, as a file: {}", page.display());
    println!("to browse them live: cargo xtask inbox --store {}", store_path.display());
    let events = collector.events();
    // 3 plain, 4 axum, 3 actix-web, 3 Rocket, 4 gRPC, 3 worker, 1 logged, 4 Lambda.
    if events.len() < 25 {
        return Err(format!("expected 25 events, the collector received {}", events.len()));
    }
    // The demo's own requests send a traceparent; the gRPC client sends none.
    let web = events.iter().filter(|e| e["request"]["headers"]["traceparent"].is_string()).count();
    let linked = bugsnag_core::testing::assert_linked_to_traceparent(&events);
    if linked != web || web == 0 {
        return Err(format!("{linked} of the {web} web events link to the demo's traceparent"));
    }
    println!("{linked} events of the web examples link to the trace their request came from");
    // Every error is named by its type, never by a variant of std's Debug output.
    let classes = events.iter().flat_map(|e| e["exceptions"].as_array().into_iter().flatten());
    let classes: Vec<&str> = classes.map(|e| text(&e["errorClass"])).collect();
    if let Some(internal) = classes.iter().find(|c| ["Os", "Custom", "Kind", "SimpleMessage", "Error"].contains(c)) {
        return Err(format!("an event is classed {internal}, a name of std's internals: {classes:?}"));
    }
    // The axum example's returned error is reported, and grouped, from where it was made.
    let returned = events.iter().find(|e| e["exceptions"][0]["errorClass"] == "axum_app::OrderErrorKind::Storage");
    let origin = returned.map(bugsnag_core::testing::first_in_project_frame).map(|f| text(&f["method"]).to_owned());
    if origin.as_deref() != Some("axum_app::load_order") {
        return Err(format!("the axum example's returned error starts at {origin:?}, not at load_order"));
    }
    let grouping = returned.map(bugsnag_core::testing::Grouping::of);
    if !grouping.as_ref().is_some_and(|g| g.has_frame() && g.to_string().contains("examples/axum_app.rs")) {
        return Err(format!("the axum example's returned error is grouped by {grouping:?}, not by its origin"));
    }
    println!("the axum example's returned error starts where it was made: axum_app::load_order");
    println!("  and the dashboard groups it there: {}", grouping.map(|g| g.to_string()).unwrap_or_default());
    let events = events.len();
    println!("\nall {} payloads ({events} events, and session counts) validate against spec/*.schema.json", all.len());
    Ok(())
}

/// Runs the Lambda example through five invocations (`ok`, `handled`, `error`, `panic`,
/// and `timeout`, killed at its deadline), and says what had arrived each time the
/// function was frozen.
fn lambda(bin: &Path, root: &Path, collector: &Arc<Collector>) -> Result<(), String> {
    let before = collector.requests().len();
    let frozen: Arc<Mutex<Vec<String>>> = Arc::default();
    let on_freeze = {
        let (collector, frozen) = (collector.clone(), frozen.clone());
        Box::new(move |request_id: &str| {
            let events = collector.events();
            let of_it =
                events.iter().filter(|e| e["metaData"]["AWS Lambda Context"]["aws_request_id"] == request_id).count();
            frozen.lock().unwrap().push(format!("{request_id}: frozen with {of_it} event(s) of it delivered"));
        })
    };
    let invocation = |action: &str, deadline_in: Duration| Invocation {
        request_id: format!("req-{action}"),
        event: serde_json::json!({ "action": action, "card_token": "never sent" }),
        deadline_in,
        trace_id: None,
        kill_at_deadline: action == "timeout",
    };
    let long = Duration::from_secs(30);
    let api = RuntimeApi::start(
        vec![
            invocation("ok", long),
            invocation("handled", long),
            invocation("error", long),
            invocation("panic", long),
            invocation("timeout", Duration::from_millis(2500)),
        ],
        on_freeze,
    );
    let mut function = example(bin, root, "lambda-fn", collector)
        .envs(api.environment())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not start the Lambda example: {e}"))?;
    api.set_function(function.id());
    let started = std::time::Instant::now();
    while function.try_wait().map_err(|e| e.to_string())?.is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = function.kill();
            return Err("the Lambda example was not killed at its last deadline".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for answer in api.wait_for_answers(4, Duration::ZERO) {
        println!("  {} -> {}", answer.request_id, answer.kind);
    }
    for line in frozen.lock().unwrap().iter() {
        println!("  {line}");
    }
    println!("  req-timeout: killed at its deadline, after its LambdaTimeoutApproaching event");
    collector.wait_for_requests(before + 4, WAIT);
    Ok(())
}

fn example(bin: &Path, root: &Path, name: &str, collector: &Collector) -> Command {
    let mut command = Command::new(bin.join(name));
    command
        .current_dir(root)
        .env("BUGSNAG_API_KEY", API_KEY)
        .env("BUGSNAG_ENDPOINT", format!("{}/notify", collector.url()))
        .env("BUGSNAG_SESSION_ENDPOINT", format!("{}/sessions", collector.url()));
    command
}

/// Runs a web example, calls its routes, and stops it by closing its standard input.
fn run_server(bin: &Path, root: &Path, name: &str, collector: &Collector) -> Result<(), String> {
    let before = collector.requests().len();
    let mut server = example(bin, root, name, collector)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start {name}: {e}"))?;
    let mut line = String::new();
    let mut stdout = BufReader::new(server.stdout.take().ok_or("no stdout")?);
    stdout.read_line(&mut line).map_err(|e| e.to_string())?;
    // Keep reading what the server prints, so that it never writes into a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let address = line.trim().strip_prefix("listening on http://").ok_or(format!("unexpected output: {line}"))?;
    let mut routes = vec![
        ("/handled", "a handler reports a handled error"),
        ("/orders/7", "a handler returns an error"),
        ("/panic", "a handler panics"),
    ];
    if name == "axum-app" {
        routes.push(("/spawned", "a spawned task reports with the request's context"));
    }
    for (path, what) in &routes {
        let status = get(address, path)?;
        println!("  GET {path:<10} -> {status}   ({what})");
    }
    collector.wait_for_requests(before + routes.len(), WAIT);
    drop(server.stdin.take()); // closing stdin shuts the server down gracefully
    let status = server.wait().map_err(|e| e.to_string())?;
    println!("(server exited with {status} after flushing its session counts)");
    Ok(())
}

/// A plain HTTP/1.1 GET, enough for the demo; returns the status line's code and text.
fn get(address: &str, path: &str) -> Result<String, String> {
    // A server may print its address a moment before it accepts connections.
    let mut attempts = 0;
    let mut stream = loop {
        match TcpStream::connect(address) {
            Ok(stream) => break stream,
            Err(_) if attempts < 100 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(format!("connect {address}: {e}")),
        }
    };
    stream.set_read_timeout(Some(WAIT)).map_err(|e| e.to_string())?;
    // As a traced caller sends it: the web adapters link the request's events to it.
    let traceparent = bugsnag_core::testing::TRACEPARENT;
    let request = format!(
        "GET {path}?session_token=s3cr3t HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer demo\r\nCookie: id=42\r\ntraceparent: {traceparent}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response.lines().next().unwrap_or_default();
    Ok(status.split_once(' ').map_or(status, |(_, rest)| rest).to_owned())
}

/// Prints events in the order they happened (their `device.time`; deliveries may
/// overtake one another), then the session counts.
fn summarize(received: &[Received]) {
    let mut events: Vec<&Value> =
        received.iter().flat_map(|r| r.body["events"].as_array().into_iter().flatten()).collect();
    events.sort_by_key(|event| text(&event["device"]["time"]));
    for event in events {
        print_event(event);
    }
    for request in received.iter().filter(|r| r.path.ends_with("/sessions")) {
        let counts: Vec<String> = request.body["sessionCounts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| format!("{} sessions at {}", c["sessionsStarted"], text(&c["startedAt"])))
            .collect();
        println!("\n  session counts: {}", counts.join(", "));
    }
}

fn print_event(event: &Value) {
    let exception = &event["exceptions"][0];
    let frame = exception["stacktrace"]
        .as_array()
        .and_then(|frames| frames.iter().find(|f| f["inProject"] == true))
        .map(|f| format!("{} ({}:{})", text(&f["method"]), text(&f["file"]), f["lineNumber"]))
        .unwrap_or_else(|| "-".into());
    let causes: Vec<String> = event["exceptions"]
        .as_array()
        .into_iter()
        .flatten()
        .skip(1)
        .map(|e| format!("{}: {}", text(&e["errorClass"]), text(&e["message"])))
        .collect();
    println!("\n  {}: {}", text(&exception["errorClass"]), text(&exception["message"]));
    if !causes.is_empty() {
        println!("    caused by   {}", causes.join(" <- "));
    }
    println!("    frame       {frame}");
    println!(
        "    severity    {} ({}), unhandled: {}",
        text(&event["severity"]),
        text(&event["severityReason"]["type"]),
        event["unhandled"]
    );
    println!("    context     {}", text(&event["context"]));
    println!("    happened    {}", text(&event["device"]["time"]));
    let app = &event["app"];
    println!("    app         {} {} ({})", text(&app["type"]), text(&app["version"]), text(&app["releaseStage"]));
    if let Some(user) = event.get("user") {
        println!("    user        {user}");
    }
    if let Some(session) = event.get("session") {
        println!(
            "    session     {} started {} (events in it: {} handled, {} unhandled)",
            text(&session["id"]),
            text(&session["startedAt"]),
            session["events"]["handled"],
            session["events"]["unhandled"]
        );
    }
    let flags: Vec<String> = event["featureFlags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| match f["variant"].as_str() {
            Some(variant) => format!("{}={variant}", text(&f["featureFlag"])),
            None => text(&f["featureFlag"]).to_owned(),
        })
        .collect();
    if !flags.is_empty() {
        println!("    flags       {}", flags.join(", "));
    }
    let crumbs: Vec<&str> = event["breadcrumbs"].as_array().into_iter().flatten().map(|c| text(&c["name"])).collect();
    if !crumbs.is_empty() {
        println!("    breadcrumbs {}", crumbs.join(" -> "));
    }
    if let Some(request) = event.get("request") {
        println!(
            "    request     {} {}  headers {}",
            text(&request["httpMethod"]),
            text(&request["url"]),
            request["headers"]
        );
    }
    if let Some(link) = event.get("correlation") {
        println!("    trace       {} span {}", text(&link["traceId"]), text(&link["spanId"]));
    }
    if let Some(tabs) = event["metaData"].as_object() {
        println!("    metaData    {}", Value::Object(tabs.clone()));
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}
