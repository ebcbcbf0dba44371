//! A deploy replaces the binary while the old process still runs (the new file renamed
//! over the old path, as deploy tools do), then stops the old process. What the old
//! process keeps for the next start must stay resolvable: its frames must not become
//! `<unknown>` because its program file on disk is now another one. A real child plays
//! the old process (this binary, copied), reports after the replacement and exits at
//! once; the next start (the new file) sends what it kept.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use bugsnag_core::testing::{closed_endpoint, events_in_outbox, Collector, API_KEY};
use bugsnag_core::Configuration;

const CHILD: &str = "BUGSNAG_DEPLOY_CHILD";
const WAIT: Duration = Duration::from_secs(30);

#[inline(never)]
fn report_after_the_deploy() {
    bugsnag_core::notify(&std::io::Error::other("reported by the replaced build"));
}

/// Waits until `path` exists.
fn wait_for(path: &Path) {
    let deadline = Instant::now() + WAIT;
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The parts children play; a no-op in the test suite itself.
#[test]
fn child() {
    let Ok(part) = std::env::var(CHILD) else { return };
    let dir = PathBuf::from(std::env::var("DEPLOY_DIR").unwrap());
    let guard = bugsnag_core::configure(Configuration::from_env().auto_capture_sessions(false));
    match part.as_str() {
        "old" => {
            std::fs::write(dir.join("started"), "").unwrap();
            wait_for(&dir.join("replaced"));
            report_after_the_deploy();
            // Then it is stopped: the guard's shutdown has no time (BUGSNAG_SHUTDOWN_TIMEOUT=0).
        }
        "new" => assert!(guard.client().flush(WAIT)),
        other => panic!("unknown part {other}"),
    }
}

fn run(program: &Path, part: &str, dir: &Path, endpoint: &str) -> std::process::Child {
    Command::new(program)
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .current_dir("/")
        .env(CHILD, part)
        .env("DEPLOY_DIR", dir)
        .env("BUGSNAG_API_KEY", API_KEY)
        .env("BUGSNAG_ENDPOINT", endpoint)
        .env("BUGSNAG_SESSION_ENDPOINT", endpoint)
        .env("BUGSNAG_OUTBOX_DIR", dir.join("outbox"))
        .env("BUGSNAG_SHUTDOWN_TIMEOUT", "0")
        .spawn()
        .unwrap()
}

#[test]
fn what_a_replaced_build_kept_keeps_its_frames() {
    let dir = std::env::temp_dir().join(format!("bugsnag-deploy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exe = std::env::current_exe().unwrap();
    let program = dir.join("service");
    std::fs::copy(&exe, &program).unwrap();

    let mut old = run(&program, "old", &dir, &closed_endpoint());
    wait_for(&dir.join("started"));
    // The deploy: the new file renamed over the old one's path.
    std::fs::copy(&exe, dir.join("service.new")).unwrap();
    std::fs::rename(dir.join("service.new"), &program).unwrap();
    std::fs::write(dir.join("replaced"), "").unwrap();
    assert!(old.wait().unwrap().success());
    assert_eq!(events_in_outbox(&dir.join("outbox")), 1, "the old process kept its event");

    let collector = Collector::start();
    let mut new = run(&program, "new", &dir, &format!("{}/notify", collector.url()));
    assert!(new.wait().unwrap().success());
    let events = collector.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let frames = events[0]["exceptions"][0]["stacktrace"].as_array().unwrap();
    let ours = frames
        .iter()
        .find(|f| f["method"].as_str().is_some_and(|m| m.ends_with("report_after_the_deploy")))
        .unwrap_or_else(|| panic!("the replaced build's frames are resolved: {frames:#?}"));
    assert_eq!(ours["file"], file!());
    assert_eq!(ours["inProject"], true);
    let _ = std::fs::remove_dir_all(dir);
}
