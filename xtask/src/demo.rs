//! `cargo xtask demo`: a local collector, the example programs pointed at it, and a
//! readable summary of every event it received.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bugsnag_core::testing::{assert_valid, Collector, Received, API_KEY};
use serde_json::Value;

pub(crate) fn run(root: &Path) -> Result<(), String> {
    crate::cargo(&["build", "--package", "bugsnag-examples", "--bins"])?;
    let collector = Collector::start();
    println!("collector listening on {}", collector.url());

    let plain = root.join("target/debug/plain");
    println!("\n== examples/plain.rs: a handled chained error, a report with metadata and user, a panic in a thread");
    let status = Command::new(&plain)
        .current_dir(root)
        .env("BUGSNAG_API_KEY", API_KEY)
        .env("BUGSNAG_ENDPOINT", format!("{}/notify", collector.url()))
        .env("BUGSNAG_SESSION_ENDPOINT", format!("{}/sessions", collector.url()))
        .status()
        .map_err(|e| format!("could not run {}: {e}", plain.display()))?;
    println!("(example exited with {status}; the panic above was printed by the default hook, after the report)");

    let received = collector.wait_for_requests(3, Duration::from_secs(10));
    summarize(&received);
    write_jsonl(root, &received)?;
    assert_valid(&received);
    if received.len() < 3 {
        return Err(format!("expected 3 events, the collector received {}", received.len()));
    }
    println!("\nall {} payloads validate against spec/*.schema.json", received.len());
    Ok(())
}

fn summarize(received: &[Received]) {
    println!("\n== the collector received {} requests", received.len());
    for request in received {
        for event in request.body["events"].as_array().into_iter().flatten() {
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
            if let Some(tabs) = event["metaData"].as_object() {
                println!("    metaData    {}", Value::Object(tabs.clone()));
            }
        }
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
