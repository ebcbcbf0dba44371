//! A program that reports a handled error and then panics, for `cargo xtask ci` to build
//! the way many services ship (`--profile release-abort`: release, `panic = "abort"`, line
//! tables only) and to crash for real: see `xtask/src/crash.rs`.
//!
//! `crash-check crash` reports, then panics (and so aborts); `crash-check overflow`
//! overflows the main thread's stack (std prints its message and aborts; the notifier's
//! signal handler records the crash first); `crash-check replay` starts, sends what the
//! outbox and the crash records kept, and exits. Both read `BUGSNAG_*` variables, and the outbox
//! directory from `CRASH_CHECK_OUTBOX`.

use std::time::Duration;

use bugsnag_core::Configuration;

fn main() {
    let outbox = std::env::var("CRASH_CHECK_OUTBOX").expect("CRASH_CHECK_OUTBOX names the outbox directory");
    let config = Configuration::from_env()
        .outbox_dir(outbox)
        .auto_capture_sessions(false)
        // When the endpoint is down, the handled event waits for a retry the abort cuts short.
        .retry_initial_backoff(Duration::from_secs(30));
    let guard = bugsnag_core::configure(config);
    match std::env::args().nth(1).as_deref() {
        Some("crash") => {
            bugsnag_core::notify_message("handled before the crash");
            checkout(&[]);
        }
        Some("overflow") => println!("{}", descend(0)),
        Some("replay") => drop(guard),
        _ => eprintln!("usage: crash-check crash|overflow|replay"),
    }
}

#[inline(never)]
fn checkout(lines: &[u32]) {
    let first = lines[std::hint::black_box(0)];
    println!("first line: {first}");
}

/// Recurses until the stack overflows.
#[inline(never)]
#[allow(unconditional_recursion)]
fn descend(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 32]);
    descend(depth + 1) + frame[0]
}
