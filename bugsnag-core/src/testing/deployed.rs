//! Running a test the way a service is deployed: the built binary copied out of the
//! workspace, under another name, started in `/` without a home directory. In-project
//! frames must then come from the build, not from where the program runs.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

use super::{assert_groups, Collector, API_KEY};

/// Set in a deployed copy's environment: the test it runs takes its deployed branch.
const DEPLOYED: &str = "BUGSNAG_TEST_DEPLOYED";

/// Whether this process is a deployed copy that [`run_deployed`] started: the test then
/// runs the program's part, reporting to the `BUGSNAG_*` endpoints of its environment
/// (`Configuration::from_env()`), and its parent checks what arrived.
pub fn is_deployed() -> bool {
    std::env::var_os(DEPLOYED).is_some()
}

/// Runs the test `test` of the current test binary as a deployed program: a copy of the
/// binary, named `service`, in a fresh directory outside the workspace, started with
/// the working directory `/`, without `HOME` unless `home`, and with `BUGSNAG_API_KEY`,
/// `BUGSNAG_ENDPOINT` and `BUGSNAG_SESSION_ENDPOINT` pointing at the collector at
/// `collector_url` ([`Collector::url`]). Panics with its output when it fails. Blocks
/// until it exits.
pub fn run_deployed(test: &str, collector_url: &str, home: bool) {
    static RUN: AtomicU32 = AtomicU32::new(0);
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("bugsnag-deployed-{}-{run}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a fresh directory");
    let exe = std::env::current_exe().expect("the test binary");
    let copy: PathBuf = dir.join("service");
    std::fs::copy(&exe, &copy).unwrap_or_else(|e| panic!("copy {} to {}: {e}", exe.display(), copy.display()));
    let mut command = Command::new(&copy);
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .current_dir("/")
        .env(DEPLOYED, "1")
        .env("BUGSNAG_API_KEY", API_KEY)
        .env("BUGSNAG_ENDPOINT", format!("{collector_url}/notify"))
        .env("BUGSNAG_SESSION_ENDPOINT", format!("{collector_url}/sessions"))
        // Nothing it keeps on disk outlives it.
        .env("BUGSNAG_OUTBOX_DIR", dir.join("outbox"))
        .env_remove("BUGSNAG_PROJECT_ROOT")
        .env_remove("CARGO_MANIFEST_DIR");
    if !home {
        command.env_remove("HOME").env_remove("XDG_CACHE_HOME");
    }
    let output = command.output().unwrap_or_else(|e| panic!("start {}: {e}", copy.display()));
    let _ = std::fs::remove_dir_all(&dir);
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    assert!(
        output.status.success() && text(&output.stdout).contains("1 passed"),
        "the deployed copy of {test} failed ({}):\n{}\n{}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// Runs the test `test` deployed ([`run_deployed`], without `HOME`) against a collector of
/// its own, asserts that `count` events arrived and that they group at `sites`
/// ([`assert_groups`]), and returns them. Blocks until the copy exits.
pub fn assert_deployed_groups(test: &str, count: usize, sites: &[(&str, u32)]) -> Vec<Value> {
    let collector = Collector::start();
    run_deployed(test, collector.url(), false);
    let events = collector.events();
    assert_eq!(events.len(), count, "{events:#?}");
    assert_groups(&events, sites);
    events
}
