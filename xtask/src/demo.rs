//! `cargo xtask demo`: a local collector, the example programs pointed at it, and a
//! readable summary of every event it received.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use bugsnag_core::testing::{assert_valid, Collector, Received, API_KEY};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(15);

pub(crate) fn run(root: &Path) -> Result<(), String> {
    crate::cargo(&["build", "--package", "bugsnag-examples", "--bins"])?;
    let collector = Collector::start();
    println!("collector listening on {}", collector.url());

    println!("\n== examples/plain.rs: a handled chained error, a report with metadata and user, a panic in a thread");
    let status =
        example(root, "plain", &collector).status().map_err(|e| format!("could not run the plain example: {e}"))?;
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
        run_server(root, name, &collector)?;
        let served = collector.requests();
        summarize(&served[seen..]);
        seen = served.len();
    }

    for (name, file, what, expected) in [
        ("worker", "worker.rs", "an apalis worker with connect_failure_handler", 3),
        ("logging", "logging.rs", "tracing events through BugsnagTracingLayer", 1),
    ] {
        println!("\n== examples/{file}: {what}");
        let status = example(root, name, &collector).status().map_err(|e| format!("could not run {name}: {e}"))?;
        println!("(exited with {status})");
        let received = collector.wait_for_requests(seen + expected, WAIT);
        summarize(&received[seen..]);
        seen = received.len();
    }
    let all = collector.requests();
    write_jsonl(root, &all)?;
    assert_valid(&all);
    let events = collector.events().len();
    // 3 plain, 4 axum, 3 actix-web, 3 Rocket, 3 worker, 1 logged.
    if events < 17 {
        return Err(format!("expected 17 events, the collector received {events}"));
    }
    println!("\nall {} payloads ({events} events, and session counts) validate against spec/*.schema.json", all.len());
    Ok(())
}

fn example(root: &Path, name: &str, collector: &Collector) -> Command {
    let mut command = Command::new(root.join("target/debug").join(name));
    command
        .current_dir(root)
        .env("BUGSNAG_API_KEY", API_KEY)
        .env("BUGSNAG_ENDPOINT", format!("{}/notify", collector.url()))
        .env("BUGSNAG_SESSION_ENDPOINT", format!("{}/sessions", collector.url()));
    command
}

/// Runs a web example, calls its routes, and stops it by closing its standard input.
fn run_server(root: &Path, name: &str, collector: &Collector) -> Result<(), String> {
    let before = collector.requests().len();
    let mut server = example(root, name, collector)
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
    let request = format!(
        "GET {path}?session_token=s3cr3t HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer demo\r\nCookie: id=42\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response.lines().next().unwrap_or_default();
    Ok(status.split_once(' ').map_or(status, |(_, rest)| rest).to_owned())
}

fn summarize(received: &[Received]) {
    for request in received {
        if request.path.ends_with("/sessions") {
            let counts: Vec<String> = request.body["sessionCounts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| format!("{} sessions at {}", c["sessionsStarted"], text(&c["startedAt"])))
                .collect();
            println!("\n  session counts: {}", counts.join(", "));
        }
        for event in request.body["events"].as_array().into_iter().flatten() {
            print_event(event);
        }
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
    if let Some(tabs) = event["metaData"].as_object() {
        println!("    metaData    {}", Value::Object(tabs.clone()));
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}

fn write_jsonl(root: &Path, received: &[Received]) -> Result<(), String> {
    let dir = root.join("target/demo");
    std::fs::create_dir_all(&dir).map_err(|e| format!("could not create {}: {e}", dir.display()))?;
    let path = dir.join("received.jsonl");
    let mut file = std::fs::File::create(&path).map_err(|e| format!("could not write {}: {e}", path.display()))?;
    for request in received {
        writeln!(file, "{}", request.body).map_err(|e| e.to_string())?;
    }
    println!("\nevery payload, one JSON per line: {}", path.display());
    Ok(())
}
