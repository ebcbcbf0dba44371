//! The crash check of `cargo xtask ci`: `xtask/crash` built the way many services ship
//! (`--profile release-abort`: release, `panic = "abort"`, line tables only) and crashed
//! for real. With the endpoint up, the crash and the handled event before it arrive
//! before the process aborts, the crash's stack naming the panicking function and line.
//! With the endpoint down, both are in the outbox when the process dies, and the next
//! start sends them, once. With an endpoint that never answers, the crash (kept before
//! its first attempt) is sent on the next start.

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
    let status = run(&program, root, "crash", &format!("{}/notify", collector.url()), &dir.join("up"))?;
    expect_abort(status)?;
    collector.wait_for_requests(2, WAIT);
    expect_messages(&collector, "with the endpoint up")?;
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
    if crash["severityReason"]["type"] != "unhandledPanic" {
        return Err(format!("the crash should be an unhandledPanic: {crash:#}"));
    }

    // The endpoint down: the outbox keeps both, the next start sends them once.
    let outbox = dir.join("down");
    expect_abort(run(&program, root, "crash", &closed_endpoint(), &outbox)?)?;
    let collector = Collector::start();
    let url = format!("{}/notify", collector.url());
    for _ in 0..2 {
        let status = run(&program, root, "replay", &url, &outbox)?;
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
    expect_abort(run(&program, root, "crash", &format!("{}/notify", hanging.url()), &outbox)?)?;
    let collector = Collector::start();
    run(&program, root, "replay", &format!("{}/notify", collector.url()), &outbox)?;
    let messages = collector.messages();
    if messages.iter().filter(|m| *m == PANIC).count() != 1 {
        return Err(format!("the crash sent while the endpoint hung should be sent on restart, once: {messages:?}"));
    }

    // A stack overflow of the main thread: no panic, std's message, an abort; the signal
    // handler's record is sent on the next start, once.
    let outbox = dir.join("overflow");
    let output = Command::new(&program)
        .arg("overflow")
        .current_dir(root)
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
        run(&program, root, "replay", &format!("{}/notify", collector.url()), &outbox)?;
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
    eprintln!(
        "crash check passed: a panic = \"abort\" release build reported its crash (checkout, main.rs:{panic_line}) \
         and the handled event before it, not a second time as SIGABRT; after an outage, both were sent on \
         restart, once; after a hanging endpoint, the crash was; a stack overflow of the main thread was \
         recorded and sent on the next start, once"
    );
    Ok(())
}

fn run(program: &Path, root: &Path, mode: &str, endpoint: &str, outbox: &Path) -> Result<ExitStatus, String> {
    Command::new(program)
        .arg(mode)
        .current_dir(root)
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
