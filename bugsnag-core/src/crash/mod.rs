//! Crashes without a panic: a segfault in `unsafe` or FFI code, a stack overflow, an
//! `abort()`, a failed allocation, an illegal instruction... Such a process dies without
//! running the panic hook, often without a chance to send anything.
//!
//! When the global client is configured (with `auto_notify` and `native_crashes` on),
//! handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT and SIGTRAP write one record file
//! (`signals`, the only `unsafe` code of the workspace; `record` for its format) and pass
//! the signal on, so the process ends as it would have. The next start reads each record
//! and reports it as an unhandled event (severityReason `signal`), through the usual
//! pipeline: callbacks, redaction, trimming, retries, the outbox. Its stack is resolved
//! against the program's files when they are the build that crashed (same build-id),
//! else kept as addresses with each module's load address and build-id.
//!
//! Records wait in the outbox directory: the `outbox_dir`, which the process-wide client
//! defaults to a directory of the program's own (see `storage`), made by the handler
//! itself if nothing was written there before.

mod record;
#[cfg(target_os = "linux")]
mod signals;
#[cfg(target_os = "linux")]
mod survived;

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::capture::Options;
use crate::client::{Client, DropReason, Outcome};
use crate::model::{App, Device, Exception, ProcessSnapshot, Session, SeverityReason, User};
use crate::stacktrace::{RecordedFrame, Stacktrace};
use crate::storage;
use record::Record;

/// Installs the handlers for `client` (once per process) and reports the crashes earlier
/// runs recorded. Logs one line when no directory can hold records.
pub(crate) fn install(client: &Client) {
    let config = client.config();
    if !config.auto_notify || !config.native_crashes {
        return;
    }
    let dir = config.outbox_dir.clone().or_else(crate::storage::program_dir);
    let private = |dir: &PathBuf| match storage::private_or_absent(dir, 1) {
        Ok(()) => true,
        Err(why) => {
            crate::diagnostics::warn_once(&format!("Bugsnag does not keep crash records in {}: {why}", dir.display()));
            false
        }
    };
    let Some(dir) = dir.filter(|dir| private(dir) && storage::can_hold_files(dir)) else {
        crate::diagnostics::warn_once(storage::NOTHING_KEPT);
        return;
    };
    report_recorded(client, &dir);
    #[cfg(target_os = "linux")]
    if let Err(e) = install_handlers(client, &dir) {
        crate::diagnostics::warn(&format!("Bugsnag could not install its crash handlers: {e}"));
    }
}

#[cfg(target_os = "linux")]
fn install_handlers(client: &Client, dir: &Path) -> Result<(), String> {
    let app = serde_json::to_value(client.app()).unwrap_or_default();
    let device = serde_json::to_value(client.device()).unwrap_or_default();
    let key = storage::key_digest(client.api_key().unwrap_or_default());
    let head = record::head(&app, &device, &key, &crate::stacktrace::loaded_modules());
    signals::install(signals::Prepared::new(dir, head.into_boxed_slice())?)
}

/// Notes that this thread's panic was reported, so that the abort `panic = "abort"`
/// raises next is not recorded as a crash of its own.
pub(crate) fn panic_reported() {
    #[cfg(target_os = "linux")]
    signals::panic_reported();
}

/// Whether a crash handler is running on this thread (for tests proving it allocates
/// nothing).
#[cfg(feature = "testing")]
pub(crate) fn handler_running() -> bool {
    #[cfg(target_os = "linux")]
    return signals::in_handler();
    #[cfg(not(target_os = "linux"))]
    false
}

/// Reports every record in `dir`, and every record a dead process had claimed. A record
/// is claimed first (as `storage` says), so two processes never report one twice, and
/// it is gone only once its event was sent, kept in the outbox, or deliberately not sent
/// (release stages, callbacks, ignored classes, the error budget); refused by a client
/// without a valid key, without room, or shutting down, it is given back for the next
/// start.
fn report_recorded(client: &Client, dir: &Path) {
    forget_oldest_records(dir);
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let original = storage::unclaimed_name(&name);
        if !original.ends_with(".record") || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let Some(claimed) = storage::claim(&path) else { continue };
        let text =
            storage::read_private(&claimed).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let Some(record) = Record::parse(&text) else {
            tracing::warn!(target: "bugsnag_core", "skipping unreadable Bugsnag crash record {}", path.display());
            let _ = std::fs::rename(&claimed, path.with_file_name(format!("{original}.corrupt")));
            continue;
        };
        // Recorded under another key (another project's program of the same name): left
        // for a start that has its key.
        if record.key.as_deref().is_some_and(|key| key != storage::key_digest(client.api_key().unwrap_or_default())) {
            let _ = std::fs::rename(&claimed, path.with_file_name(original));
            continue;
        }
        match client.report_crash(record, claimed.clone()) {
            // Delivery removes it, or gives it back.
            Outcome::Queued => {}
            Outcome::Dropped(
                DropReason::Disabled | DropReason::QueueFull | DropReason::ShutDown | DropReason::NotConfigured,
            ) => {
                let _ = std::fs::rename(&claimed, path.with_file_name(original));
            }
            Outcome::Dropped(_) => {
                let _ = std::fs::remove_file(&claimed);
            }
        }
    }
}

/// Records kept at most (a program crashing at every start, with nothing able to send
/// them); the oldest are removed past it, and unreadable ones set aside past their own.
const KEPT_RECORDS: usize = 100;

/// Removes all but the newest [`KEPT_RECORDS`] records, and of those set aside as
/// corrupt, all but the newest few.
fn forget_oldest_records(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let (mut records, mut corrupt) = (Vec::new(), Vec::new());
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).unwrap_or_default();
        if name.ends_with(".record.corrupt") {
            corrupt.push((age, entry.path()));
        } else if storage::unclaimed_name(&name).ends_with(".record") {
            records.push((age, entry.path()));
        }
    }
    for (list, keep) in [(&mut records, KEPT_RECORDS), (&mut corrupt, KEPT_RECORDS / 10)] {
        list.sort();
        for (_, path) in list.drain(..).skip(keep) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The name of a signal, as Bugsnag's native notifiers name them.
fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGBUS => "SIGBUS",
        libc::SIGILL => "SIGILL",
        libc::SIGFPE => "SIGFPE",
        libc::SIGABRT => "SIGABRT",
        libc::SIGTRAP => "SIGTRAP",
        _ => "signal",
    }
}

/// What happened, as a person would say it.
fn message(record: &Record) -> String {
    let thread = record.thread.as_deref().unwrap_or("?");
    let at = format!("0x{:x}", record.address);
    match record.signal {
        _ if record.is_stack_overflow() => format!("stack overflow in thread '{thread}'"),
        libc::SIGSEGV => format!("invalid memory reference at {at}"),
        libc::SIGBUS => format!("bus error (misaligned or unmapped memory) at {at}"),
        libc::SIGILL => format!("illegal instruction at {at}"),
        libc::SIGFPE => format!("arithmetic error (division by zero or overflow) at {at}"),
        // `handle_alloc_error` aborts: the delivery thread says so once the stack is known.
        libc::SIGABRT => "abort".to_owned(),
        libc::SIGTRAP => format!("trap (breakpoint) at {at}"),
        other => format!("signal {other}"),
    }
}

impl Client {
    /// Reports a crash an earlier run recorded: unhandled, severity `error`,
    /// severityReason `signal`, with the app, device and session of the crashed run.
    fn report_crash(&self, record: Record, path: PathBuf) -> Outcome {
        let class = signal_name(record.signal);
        let frames: Vec<RecordedFrame> = record
            .ips
            .iter()
            .map(|&ip| RecordedFrame {
                ip,
                module: record.modules.iter().find(|m| (m.start..m.end).contains(&ip)).cloned(),
            })
            .collect();
        let mut app: App = serde_json::from_value(record.app.clone()).unwrap_or_default();
        if app.release_stage.is_none() {
            app.release_stage = Some(self.config().release_stage.clone());
        }
        let mut device: Device = serde_json::from_value(record.device.clone()).unwrap_or_default();
        device.time = record
            .time_ms
            .map(|ms| crate::time::format_time((std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)).into()));
        let session = record
            .session
            .clone()
            .map(|(id, started, handled, unhandled)| Session::recorded(id, started, handled, unhandled));
        let mut options = Options::new()
            .unhandled(SeverityReason::signal(class))
            .add_metadata_tab(
                "crash",
                json!({
                    "signal": class,
                    "code": record.code,
                    "address": format!("0x{:x}", record.address),
                    "thread": record.thread,
                    "recordComplete": record.complete,
                }),
            )
            .stacktrace(Stacktrace::recorded(frames));
        if let Some(context) = &record.context {
            options = options.context(context.clone());
        }
        if let Some(user) = &record.user {
            options = options.user(User::id(user.clone()));
        }
        options.snapshot = Some(Box::new(ProcessSnapshot { app, device, session, record: path }));
        let message = message(&record);
        self.report(class, |stacktrace| vec![Exception { error_class: class.to_owned(), message, stacktrace }], options)
    }
}
