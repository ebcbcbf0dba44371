//! Signals the process survives. A handler installed before ours may recover from a
//! signal (a JVM, wasmtime or a Go runtime in the process handle their own faults; a
//! `kill -SEGV` handled by the program): the process goes on. Such a signal is no crash:
//! its record must not be reported by the next start, and our handler, which handed the
//! signal on by putting the previous one back, must be in place again for the next crash.
//!
//! The handler tells a thread of ours, through a pipe (`write` is async-signal-safe),
//! after each record; the thread waits [`SURVIVED_AFTER`], and if the process is still
//! alive then (a crash ends it within milliseconds; the kernel stops every thread before
//! it dumps a core), removes that record and puts our handler back.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::OnceLock;
use std::time::Duration;

/// How long a process lives on after a signal before it is taken to have survived it.
pub(crate) const SURVIVED_AFTER: Duration = Duration::from_secs(1);

/// The pipe's write end, for the handler.
static TOLD: OnceLock<std::io::PipeWriter> = OnceLock::new();

/// Starts the thread that waits to be told of signals (once per process).
pub(crate) fn watch() {
    let Ok((mut reader, writer)) = std::io::pipe() else { return };
    if TOLD.set(writer).is_err() {
        return;
    }
    let spawned = std::thread::Builder::new().name("bugsnag-crash-watch".into()).spawn(move || {
        let mut signal = [0u8; 1];
        while reader.read_exact(&mut signal).is_ok() {
            std::thread::sleep(SURVIVED_AFTER);
            survived(i32::from(signal[0]));
        }
    });
    if spawned.is_err() {
        tracing::debug!(target: "bugsnag_core", "no thread to tell survived signals apart from crashes");
    }
}

/// The write end of the pipe, for the handler to tell the thread (-1: none).
pub(crate) fn told_fd() -> i32 {
    TOLD.get().map_or(-1, AsRawFd::as_raw_fd)
}

/// The process lived on after `signal`: its record goes, our handler comes back.
fn survived(signal: i32) {
    if let Some(record) = super::signals::last_record() {
        let _ = std::fs::remove_file(&record);
    }
    super::signals::rearm(signal);
    tracing::debug!(
        target: "bugsnag_core",
        "signal {signal} was handled by a handler installed before Bugsnag's and the process went on: not a crash"
    );
}
