//! A short program that reports and exits, for real: a child process configures the
//! notifier the way a user does (no `outbox_dir`; its cache directory is a temporary
//! one), reports three errors and returns from `main` at once. Whatever its shutdown
//! could not send in time (a zero timeout, from `BUGSNAG_SHUTDOWN_TIMEOUT`; or a machine
//! saturated by busy loops, so that loading the debug information takes seconds) is kept
//! in the program's directory before its stack is resolved, and the next start resolves
//! and sends it: each event arrives exactly once, with its stack, across both runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bugsnag_core::testing::{events_in_outbox, Collector};
use bugsnag_core::Configuration;
use serde_json::Value;

const CHILD: &str = "BUGSNAG_EXIT_CHILD";
const WAIT: Duration = Duration::from_secs(20);
const MESSAGES: [&str; 3] = ["first failure", "second failure", "third failure"];

#[inline(never)]
fn report_three_errors() {
    for message in MESSAGES {
        bugsnag_core::notify(&std::io::Error::other(message));
    }
}

/// The parts children play; a no-op in the test suite itself.
#[test]
fn child() {
    let Ok(part) = std::env::var(CHILD) else { return };
    let config = Configuration::from_env().auto_capture_sessions(false).project_root(env!("CARGO_MANIFEST_DIR"));
    let guard = bugsnag_core::configure(config);
    match part.as_str() {
        "report-and-exit" => report_three_errors(),
        "start" => assert!(guard.client().flush(WAIT), "what the last run kept was sent"),
        "quiet" => {}
        other => panic!("unknown part {other}"),
    }
}

/// Runs this binary's `child` test as `part`, with its cache under `cache` and events
/// going to `collector`.
fn run_child(part: &str, cache: &Path, collector: &Collector, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, part)
        .env("XDG_CACHE_HOME", cache)
        .env("BUGSNAG_API_KEY", bugsnag_core::testing::API_KEY)
        .env("BUGSNAG_ENDPOINT", format!("{}/notify", collector.url()))
        .env("BUGSNAG_SESSION_ENDPOINT", format!("{}/sessions", collector.url()))
        .env_remove("BUGSNAG_OUTBOX_DIR")
        .env_remove("BUGSNAG_SHUTDOWN_TIMEOUT");
    command.envs(env.iter().copied());
    let output = command.output().unwrap();
    assert!(output.status.success(), "{part}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn temp_cache(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bugsnag-exit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The program's own directory under `cache`: `bugsnag/<test binary's name>`.
fn program_dir(cache: &Path) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    cache.join("bugsnag").join(exe.file_stem().unwrap())
}

/// Reports and exits, then starts again: each event exactly once across both runs, its
/// stack resolved; the first run's events the collector had not received were kept.
fn report_exit_and_restart(cache: &Path, env: &[(&str, &str)]) -> (usize, String) {
    let collector = Collector::start();
    let first = run_child("report-and-exit", cache, &collector, env);
    let stderr = String::from_utf8_lossy(&first.stderr).into_owned();
    let sent_at_once = collector.events().len();
    let kept = events_in_outbox(&program_dir(cache));
    assert_eq!(sent_at_once + kept, 3, "every event was sent or kept: {stderr}");
    assert_eq!(kept_unresolved(&program_dir(cache)), kept, "kept without waiting for their stacks");

    run_child("start", cache, &collector, &[]);
    let events = collector.wait_for(WAIT, |events| events.len() >= 3);
    let mut messages: Vec<&str> = events.iter().map(|e| e["exceptions"][0]["message"].as_str().unwrap()).collect();
    messages.sort();
    assert_eq!(messages, ["first failure", "second failure", "third failure"], "each event exactly once");
    for event in &events {
        assert_eq!(first_in_project_method(event).as_deref(), Some("exit::report_three_errors"), "{event:#}");
    }
    assert_eq!(events_in_outbox(&program_dir(cache)), 0, "nothing left behind");
    (sent_at_once, stderr)
}

/// Outbox files holding an event kept before its stacks were resolved.
fn kept_unresolved(dir: &Path) -> usize {
    let files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    let header = |path: &PathBuf| std::fs::read_to_string(path).ok()?.lines().next().map(str::to_owned);
    files.iter().filter_map(header).filter(|line| line.contains(r#""unresolved":true"#)).count()
}

fn first_in_project_method(event: &Value) -> Option<String> {
    let frames = event["exceptions"][0]["stacktrace"].as_array()?;
    let frame = frames.iter().find(|f| f["inProject"] == true)?;
    Some(frame["method"].as_str()?.to_owned())
}

#[test]
fn what_a_shutdown_out_of_time_could_not_send_is_sent_by_the_next_start() {
    let cache = temp_cache("zero");
    // No time at all: the stacks cannot have been resolved (that takes the debug
    // information, hundreds of milliseconds), so every event is kept unresolved.
    let (sent_at_once, stderr) = report_exit_and_restart(&cache, &[("BUGSNAG_SHUTDOWN_TIMEOUT", "0")]);
    assert!(sent_at_once < 3, "the shutdown had no time: {stderr}");
    assert!(stderr.contains("written to the outbox and will be sent on the next start"), "{stderr}");
    let _ = std::fs::remove_dir_all(cache);
}

#[test]
fn a_program_exiting_on_a_saturated_machine_loses_nothing() {
    let cache = temp_cache("busy");
    // Four busy loops per core, for as long as both runs last.
    let stop = Arc::new(AtomicBool::new(false));
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let loops: Vec<_> = (0..4 * cores)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::hint::spin_loop();
                }
            })
        })
        .collect();
    report_exit_and_restart(&cache, &[]);
    stop.store(true, Ordering::Relaxed);
    loops.into_iter().for_each(|l| l.join().unwrap());
    let _ = std::fs::remove_dir_all(cache);
}

#[test]
fn with_the_outbox_off_nothing_is_written() {
    let cache = temp_cache("off");
    let collector = Collector::start();
    let first =
        run_child("report-and-exit", &cache, &collector, &[("BUGSNAG_SHUTDOWN_TIMEOUT", "0"), ("BUGSNAG_OUTBOX", "0")]);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(stderr.contains("are lost if the process ends now"), "{stderr}");
    assert!(!cache.exists(), "nothing written: {:?}", std::fs::read_dir(&cache).ok());
}

#[test]
fn a_program_that_sent_everything_leaves_no_directory_behind() {
    let cache = temp_cache("quiet");
    let collector = Collector::start();
    run_child("quiet", &cache, &collector, &[]);
    assert!(!cache.exists(), "nothing was written, so nothing was made: {:?}", std::fs::read_dir(&cache).ok());
    run_child("report-and-exit", &cache, &collector, &[("BUGSNAG_SHUTDOWN_TIMEOUT", "20")]);
    assert_eq!(collector.wait_for(WAIT, |events| events.len() >= 3).len(), 3);
    assert!(!cache.exists(), "every event was sent, so nothing was made");
}
