//! The crash check of `cargo xtask ci`: `xtask/crash` built the way many services ship
//! (`--profile release-abort`: release, `panic = "abort"`, line tables only) and crashed
//! for real. With the endpoint up, the crash and the handled event before it arrive
//! before the process aborts, the crash's stack naming the panicking function and line.
//! With the endpoint down, both are in the outbox when the process dies, and the next
//! start sends them, once. With an endpoint that never answers, the crash (kept before
//! its first attempt) is sent on the next start. Every run is started in `/`, as a
//! service is. Last, the program is built again with its paths remapped
//! (`--remap-path-prefix`, as reproducible and container builds do), and with its debug
//! information split out (`split-debuginfo = "packed"`), copied out of the workspace, and
//! crashed: its frame is still in-project, at its workspace path.

use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::Duration;

use bugsnag_core::testing::{closed_endpoint, Collector, Reply, API_KEY};

const WAIT: Duration = Duration::from_secs(20);
const PANIC: &str = "index out of bounds: the len is 0 but the index is 0";

/// Builds and crashes the program; see the module's documentation.
pub(crate) fn check(root: &Path, target: &Path) -> Result<(), String> {
    crate::cargo(&["build", "--profile", "release-abort", "--package", "crash-check"])?;
    let program = target.join("release-abort/crash-check");
    let dir = target.join("crash-check");
    let _ = std::fs::remove_dir_all(&dir);
    let source = root.join("xtask/crash/src/main.rs");
    let text = std::fs::read_to_string(&source).map_err(|e| format!("{}: {e}", source.display()))?;
    let panic_line = text.lines().position(|l| l.contains("let first =")).ok_or("no panicking line")? + 1;

    // The endpoint up: everything arrives before the abort.
    let collector = Collector::start();
    let status = run(&program, "crash", &format!("{}/notify", collector.url()), &dir.join("up"))?;
    expect_abort(status)?;
    collector.wait_for_requests(2, WAIT);
    expect_messages(&collector, "with the endpoint up")?;
    let crash = expect_crash_at(&collector, panic_line)?;
    if crash["severityReason"]["type"] != "unhandledPanic" {
        return Err(format!("the crash should be an unhandledPanic: {crash:#}"));
    }

    // The endpoint down: the outbox keeps both, the next start sends them once.
    let outbox = dir.join("down");
    expect_abort(run(&program, "crash", &closed_endpoint(), &outbox)?)?;
    let collector = Collector::start();
    let url = format!("{}/notify", collector.url());
    for _ in 0..2 {
        let status = run(&program, "replay", &url, &outbox)?;
        if !status.success() {
            return Err(format!("the replay exited with {status}"));
        }
    }
    expect_messages(&collector, "after an outage and two restarts")?;

    // An endpoint that never answers: the abort comes while both requests are in flight.
    // The handled event may be lost (the README says when); the crash must not be.
    let hanging = Collector::start();
    hanging.script([Reply::hang(), Reply::hang()]);
    let outbox = dir.join("hanging");
    expect_abort(run(&program, "crash", &format!("{}/notify", hanging.url()), &outbox)?)?;
    let collector = Collector::start();
    run(&program, "replay", &format!("{}/notify", collector.url()), &outbox)?;
    let messages = collector.messages();
    if messages.iter().filter(|m| *m == PANIC).count() != 1 {
        return Err(format!("the crash sent while the endpoint hung should be sent on restart, once: {messages:?}"));
    }

    // A stack overflow of the main thread: no panic, std's message, an abort; the signal
    // handler's record is sent on the next start, once.
    let outbox = dir.join("overflow");
    let output = Command::new(&program)
        .arg("overflow")
        .current_dir("/")
        .env("BUGSNAG_API_KEY", API_KEY)
        .env("BUGSNAG_ENDPOINT", closed_endpoint())
        .env("CRASH_CHECK_OUTBOX", &outbox)
        .output()
        .map_err(|e| format!("could not run {}: {e}", program.display()))?;
    expect_abort(output.status)?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stderr.contains("has overflowed its stack") {
        return Err(format!("std's stack overflow message should still print: {stderr}"));
    }
    let collector = Collector::start();
    for _ in 0..2 {
        run(&program, "replay", &format!("{}/notify", collector.url()), &outbox)?;
    }
    let events = collector.events();
    let [overflow] = events.as_slice() else {
        return Err(format!("the stack overflow should be sent once: {events:#?}"));
    };
    let message = overflow["exceptions"][0]["message"].as_str().unwrap_or_default();
    let in_project = overflow["exceptions"][0]["stacktrace"].as_array().is_some_and(|frames| {
        frames.iter().any(|f| f["inProject"] == true && f["method"].as_str().is_some_and(|m| m.ends_with("descend")))
    });
    if overflow["exceptions"][0]["errorClass"] != "SIGSEGV"
        || message != "stack overflow in thread 'main'"
        || !in_project
    {
        return Err(format!("the stack overflow should be a SIGSEGV in thread 'main' through descend: {overflow:#}"));
    }

    // Built with its paths remapped (the final crate's: its dependencies are built once
    // for the whole check), copied out of the workspace.
    let remap = format!("--remap-path-prefix={}=/build/app", root.display());
    crate::cargo(&["rustc", "--profile", "release-abort", "--package", "crash-check", "--", &remap])?;
    let remapped = dir.join("service");
    std::fs::copy(&program, &remapped).map_err(|e| format!("could not copy {}: {e}", program.display()))?;
    let collector = Collector::start();
    expect_abort(run(&remapped, "crash", &format!("{}/notify", collector.url()), &dir.join("remapped"))?)?;
    collector.wait_for_requests(2, WAIT);
    expect_crash_at(&collector, panic_line).map_err(|e| format!("built with --remap-path-prefix: {e}"))?;

    // Built with its debug information split out (`split-debuginfo = "packed"`: a
    // `.dwp` beside the binary, which ships with it).
    crate::cargo(&[
        "rustc",
        "--profile",
        "release-abort",
        "--package",
        "crash-check",
        "--",
        "-Csplit-debuginfo=packed",
    ])?;
    let split = dir.join("split");
    std::fs::create_dir_all(&split).map_err(|e| format!("could not create {}: {e}", split.display()))?;
    for (from, to) in [(program.clone(), "service"), (program.with_extension("dwp"), "service.dwp")] {
        std::fs::copy(&from, split.join(to)).map_err(|e| format!("could not copy {}: {e}", from.display()))?;
    }
    let collector = Collector::start();
    expect_abort(run(&split.join("service"), "crash", &format!("{}/notify", collector.url()), &split.join("outbox"))?)?;
    collector.wait_for_requests(2, WAIT);
    expect_crash_at(&collector, panic_line).map_err(|e| format!("built with split debug information: {e}"))?;
    eprintln!(
        "crash check passed: a panic = \"abort\" release build reported its crash (checkout, main.rs:{panic_line}) \
         and the handled event before it, not a second time as SIGABRT; after an outage, both were sent on \
         restart, once; after a hanging endpoint, the crash was; a stack overflow of the main thread was \
         recorded and sent on the next start, once; built with --remap-path-prefix, and with split debug \
         information, and copied out of the workspace, its frame is still in-project at xtask/crash/src/main.rs"
    );
    Ok(())
}

/// The crash the collector received, once its first in-project frame is checked:
/// `checkout`, at the panicking line of `xtask/crash/src/main.rs` (relative to the
/// workspace it was built in, wherever it ran).
fn expect_crash_at(collector: &Collector, panic_line: usize) -> Result<serde_json::Value, String> {
    let crash = collector.events().into_iter().find(|e| e["unhandled"] == true).ok_or("no crash report")?;
    let frame = crash["exceptions"][0]["stacktrace"]
        .as_array()
        .and_then(|frames| frames.iter().find(|f| f["inProject"] == true).cloned())
        .ok_or_else(|| format!("the crash has no in-project frame: {crash:#}"))?;
    let method = frame["method"].as_str().unwrap_or_default();
    if !method.ends_with("checkout") || frame["file"] != "xtask/crash/src/main.rs" || frame["lineNumber"] != panic_line
    {
        return Err(format!(
            "the crash's first in-project frame should be checkout at main.rs:{panic_line}: {frame:#}"
        ));
    }
    Ok(crash)
}

fn run(program: &Path, mode: &str, endpoint: &str, outbox: &Path) -> Result<ExitStatus, String> {
    Command::new(program)
        .arg(mode)
        .current_dir("/")
        .env("BUGSNAG_API_KEY", API_KEY)
        .env("BUGSNAG_ENDPOINT", endpoint)
        .env("CRASH_CHECK_OUTBOX", outbox)
        .output()
        .map(|output| output.status)
        .map_err(|e| format!("could not run {}: {e}", program.display()))
}

fn expect_abort(status: ExitStatus) -> Result<(), String> {
    use std::os::unix::process::ExitStatusExt;
    // SIGABRT: what `panic = "abort"` does after the panic hook.
    match status.signal() {
        Some(6) => Ok(()),
        _ => Err(format!("the crash should have aborted the process, it exited with {status}")),
    }
}

fn expect_messages(collector: &Collector, when: &str) -> Result<(), String> {
    let messages = collector.messages();
    if messages != ["handled before the crash", PANIC] {
        return Err(format!("{when}, expected the handled event and the crash once each, received {messages:?}"));
    }
    Ok(())
}
