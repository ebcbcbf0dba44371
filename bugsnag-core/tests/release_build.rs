//! A release build without debug information (cargo's default for `--release`): frames
//! have no file and no line, yet the program's own frames must still be in-project. This
//! test binary is copied, its debug information stripped as cargo's
//! `strip = "debuginfo"` does (`objcopy --strip-debug`), and the copy reports an error.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use bugsnag_core::testing::Collector;
use bugsnag_core::{Client, Configuration};

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

#[test]
fn frames_without_files_are_in_project_by_the_programs_crate() {
    let exe = std::env::current_exe().unwrap();
    let dir = std::env::temp_dir().join(format!("bugsnag-release-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Same file name: the crate of `main` is read from it.
    let stripped: PathBuf = dir.join(exe.file_name().unwrap());
    let status = Command::new("objcopy").arg("--strip-debug").arg(&exe).arg(&stripped).status();
    assert!(status.is_ok_and(|s| s.success()), "objcopy (binutils) strips the copy");

    let collector = Collector::start();
    let status = Command::new(&stripped)
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, collector.url())
        .status()
        .unwrap();
    assert!(status.success());
    let events = collector.events();
    assert_eq!(events.len(), 1);
    let frames = events[0]["exceptions"][0]["stacktrace"].as_array().unwrap();
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
