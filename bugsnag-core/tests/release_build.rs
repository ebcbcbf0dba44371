//! Builds as they ship, run as they are deployed: this test binary is copied under
//! another name (`service`) out of the workspace and started in `/`, after
//! - its debug information was stripped as cargo's `strip = "debuginfo"` does
//!   (`objcopy --strip-debug`): frames have no file and no line, yet the program's own
//!   frames are in-project (the crate of `main`, from the symbol table);
//! - its debug information was moved to a file of its own, as distributions ship it
//!   (`objcopy --only-keep-debug`, then a `.gnu_debuglink`): frames keep their files and
//!   lines, relative to the workspace, and are in-project.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bugsnag_core::testing::Collector;
use bugsnag_core::{Client, Configuration};
use serde_json::Value;

const CHILD: &str = "BUGSNAG_RELEASE_CHILD";

#[inline(never)]
fn report_from_here(client: &Client) {
    client.notify_message("from a build without debug information");
}

/// The part the stripped copy plays; a no-op in the test suite itself.
#[test]
fn child() {
    let Ok(url) = std::env::var(CHILD) else { return };
    let config = Configuration::default()
        .api_key(bugsnag_core::testing::API_KEY)
        .endpoint(format!("{url}/notify"))
        .session_endpoint(format!("{url}/sessions"));
    let client = Client::new(config);
    report_from_here(&client);
    assert!(client.flush(Duration::from_secs(20)));
}

/// Runs `program` as deployed (from `/`), reporting to a fresh collector; its one event.
fn run_deployed(program: &Path) -> Value {
    let collector = Collector::start();
    let status = Command::new(program)
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .current_dir("/")
        .env(CHILD, collector.url())
        .status()
        .unwrap();
    assert!(status.success());
    let mut events = collector.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    events.remove(0)
}

fn objcopy(args: &[&std::ffi::OsStr]) {
    let status = Command::new("objcopy").args(args).status();
    assert!(status.is_ok_and(|s| s.success()), "objcopy (binutils) {args:?}");
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bugsnag-release-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn frames_without_files_are_in_project_by_the_programs_crate() {
    let exe = std::env::current_exe().unwrap();
    let dir = scratch("stripped");
    // Another name: the crate of `main` is read from the symbol table, not the file name.
    let stripped: PathBuf = dir.join("service");
    objcopy(&["--strip-debug".as_ref(), exe.as_os_str(), stripped.as_os_str()]);
    let event = run_deployed(&stripped);
    let frames = event["exceptions"][0]["stacktrace"].as_array().unwrap();
    let top = &frames[0];
    assert_eq!(top["method"], "release_build::report_from_here", "{frames:#?}");
    assert_eq!(top["file"], "<unknown>", "no debug information: no file");
    assert_eq!(top["inProject"], true, "the program's own crate is in-project");
    assert!(frames
        .iter()
        .filter(|f| f["inProject"] == false)
        .all(|f| !f["method"].as_str().unwrap().starts_with("release_build::")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn debug_information_in_a_file_of_its_own_keeps_files_lines_and_in_project_frames() {
    let exe = std::env::current_exe().unwrap();
    let dir = scratch("debuglink");
    let (program, debug) = (dir.join("service"), dir.join("service.debug"));
    objcopy(&["--only-keep-debug".as_ref(), exe.as_os_str(), debug.as_os_str()]);
    let link = format!("--add-gnu-debuglink={}", debug.display());
    objcopy(&["--strip-debug".as_ref(), link.as_ref(), exe.as_os_str(), program.as_os_str()]);
    let event = run_deployed(&program);
    let frames = event["exceptions"][0]["stacktrace"].as_array().unwrap();
    let top = &frames[0];
    assert_eq!(top["method"], "release_build::report_from_here", "{frames:#?}");
    assert_eq!(top["file"], file!(), "relative to the workspace it was built in: {top:#}");
    assert_eq!(top["inProject"], true, "{top:#}");
    assert!(top["lineNumber"].as_u64().is_some_and(|l| l > 0), "{top:#}");
    let _ = std::fs::remove_dir_all(&dir);
}
