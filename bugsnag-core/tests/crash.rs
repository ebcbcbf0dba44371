//! Crashes and restarts, with real child processes: the outbox keeps what a `kill -9` or
//! an abort after a panic would otherwise lose, sends it on the next start exactly once,
//! and two processes sharing it never send a file twice, however old the file.
//!
//! Each child is this test binary run again with `BUGSNAG_CRASH_CHILD` naming its part
//! (the `child` test below plays it). A `panic = "abort"` build runs the panic hook and
//! then aborts; the `abort` child does the same by chaining an aborting hook below ours.
//! A real `panic = "abort"` release build is crashed by `cargo xtask crash`, part of
//! `cargo xtask ci` (`xtask/src/crash.rs`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime};

use bugsnag_core::testing::{self, closed_endpoint, Collector, Reply, API_KEY};
use bugsnag_core::{Client, Configuration};

const WAIT: Duration = Duration::from_secs(20);
const CHILD: &str = "BUGSNAG_CRASH_CHILD";
const DIR: &str = "BUGSNAG_CRASH_DIR";
const URL: &str = "BUGSNAG_CRASH_URL";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bugsnag-crash-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn config(endpoint: &str, dir: &Path) -> Configuration {
    Configuration::default()
        .api_key(API_KEY)
        .endpoint(endpoint)
        .session_endpoint("http://127.0.0.1:9/sessions")
        .auto_capture_sessions(false)
        .retry_initial_backoff(Duration::from_secs(30)) // still waiting when killed
        .outbox_dir(dir)
}

fn spawn_child(part: &str, dir: &Path, url: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, part)
        .env(DIR, dir)
        .env(URL, url)
        .spawn()
        .unwrap()
}

/// Payload files in the outbox, claimed or not.
/// The parts children play; a no-op when this binary runs as the test suite.
#[test]
fn child() {
    let Ok(part) = std::env::var(CHILD) else { return };
    let dir = PathBuf::from(std::env::var(DIR).unwrap());
    let url = std::env::var(URL).unwrap();
    match part.as_str() {
        "outage" => {
            let client = Client::new(config(&url, &dir));
            for n in 0..50 {
                client.notify_message(format!("event {n:02}"));
            }
            std::thread::sleep(Duration::from_secs(60)); // killed long before this ends
        }
        "abort" => {
            // What `panic = "abort"` does after the hook: abort, no unwinding, no destructors.
            std::panic::set_hook(Box::new(|_| std::process::abort()));
            let guard = bugsnag_core::configure(config(&url, &dir));
            bugsnag_core::notify_message("handled before the crash");
            std::mem::forget(guard);
            panic!("the crash itself");
        }
        "replay" => {
            let client = Client::new(config(&url, &dir).max_in_flight(1));
            assert!(client.flush(WAIT));
        }
        other => panic!("unknown child part {other}"),
    }
}

#[test]
fn events_waiting_out_an_outage_survive_kill_9_and_arrive_once() {
    let dir = temp_dir("kill");
    let mut child = spawn_child("outage", &dir, &closed_endpoint());
    // Each event failed its first attempt and waits 30 s for a retry: on disk by then.
    let started = Instant::now();
    while testing::events_in_outbox(&dir) < 50 && started.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(testing::events_in_outbox(&dir), 50, "every event is on disk before it waits");
    child.kill().unwrap(); // SIGKILL: nothing runs after this
    child.wait().unwrap();

    let collector = Collector::start();
    let restarted = Client::new(collector.configuration().outbox_dir(&dir));
    assert!(restarted.flush(WAIT));
    assert_eq!(collector.messages(), (0..50).map(|n| format!("event {n:02}")).collect::<Vec<_>>());
    let again = Client::new(collector.configuration().outbox_dir(&dir));
    assert!(again.flush(WAIT));
    assert_eq!(collector.events().len(), 50, "sent once");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_abort_after_a_panic_loses_neither_the_crash_nor_the_events_before_it() {
    let dir = temp_dir("abort");
    let status = spawn_child("abort", &dir, &closed_endpoint()).wait().unwrap();
    assert!(!status.success(), "the child aborted");

    let collector = Collector::start();
    let restarted = Client::new(collector.configuration().outbox_dir(&dir));
    assert!(restarted.flush(WAIT));
    assert_eq!(collector.messages(), ["handled before the crash", "the crash itself"]);
    let crash = collector.events().into_iter().find(|e| e["unhandled"] == true).unwrap();
    assert_eq!(crash["exceptions"][0]["errorClass"], "panic");
    assert_eq!(crash["severityReason"]["type"], "unhandledPanic");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_processes_sharing_an_outbox_send_each_old_file_once() {
    let dir = temp_dir("shared");
    let down = Client::new(config(&closed_endpoint(), &dir).max_retries(0));
    for n in 0..50 {
        down.notify_message(format!("old {n:02}"));
    }
    assert!(down.shutdown(WAIT));
    drop(down);
    assert_eq!(testing::events_in_outbox(&dir), 50);
    // Written an hour ago: a payload's age must not make its claim look abandoned.
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::File::options().write(true).open(entry.unwrap().path()).unwrap().set_modified(hour_ago).unwrap();
    }
    let collector = Collector::start();
    collector.script((0..50).map(|_| Reply::status(200).delay(Duration::from_millis(20))));
    let url = format!("{}/notify", collector.url());
    let mut other = spawn_child("replay", &dir, &url);
    let here = Client::new(config(&url, &dir).max_in_flight(1));
    assert!(here.flush(WAIT));
    assert!(other.wait().unwrap().success());
    assert_eq!(collector.messages(), (0..50).map(|n| format!("old {n:02}")).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(&dir);
}
