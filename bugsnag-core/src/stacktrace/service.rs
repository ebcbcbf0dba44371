//! The symbols thread: one per process, whatever the number of clients. It owns what is
//! read of the program's debug information (the units the stacks reported need, a few
//! megabytes), starts reading it at its start, before the first report needs it, and
//! resolves every client's stack traces against it; stacks it resolved once are shared
//! with the delivery threads (`known`), which then do not ask again. A delivery
//! thread hands it traces and awaits the answer, so the delivery thread stays free to
//! answer a flush or a shutdown meanwhile, and a client that is dropped never waits for
//! debug information to load.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};

use tokio::sync::oneshot;

use super::{FrameRules, Resolver, Stacktrace};

/// The thread's name; the panic hook and the log bridges never report from it.
pub(crate) const THREAD_NAME: &str = "bugsnag-symbols";

struct Job {
    traces: Vec<Stacktrace>,
    rules: Arc<FrameRules>,
    reply: oneshot::Sender<Vec<Stacktrace>>,
}

static SERVICE: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();

/// Starts the symbols thread if it is not running yet (clients call this when they are
/// made, so that debug information is loading while the program starts).
pub(crate) fn start_service() {
    SERVICE.get_or_init(spawn);
}

fn spawn() -> Option<mpsc::Sender<Job>> {
    let (jobs, received) = mpsc::channel();
    let spawned = std::thread::Builder::new().name(THREAD_NAME.into()).spawn(move || serve(received));
    match spawned {
        Ok(_) => Some(jobs),
        Err(e) => {
            tracing::error!(target: "bugsnag_core", "could not start the Bugsnag symbols thread ({e}); stack traces are resolved on each delivery thread");
            None
        }
    }
}

fn serve(jobs: mpsc::Receiver<Job>) {
    // Notifier code: its panics are not reported (the hook checks this flag).
    crate::reentry::quietly(|| {
        let mut resolver = Resolver::default();
        // The fast stack walk's index first (milliseconds): captures need it soonest.
        let _ = catch_unwind(super::walk::prepare);
        // The warm-up: loads the executable's debug information.
        let _ = catch_unwind(AssertUnwindSafe(|| resolver.frames(&capture_ips())));
        for job in jobs {
            let Job { traces, rules, reply } = job;
            let resolved = catch_unwind(AssertUnwindSafe(|| resolve_all(traces, &rules, &mut resolver)));
            // A panic in resolution loses this job's frames, not the thread.
            let _ = reply.send(resolved.unwrap_or_default());
        }
    });
}

fn capture_ips() -> Vec<usize> {
    match Stacktrace::capture().0 {
        super::Repr::Unresolved(ips) => ips,
        _ => Vec::new(),
    }
}

fn resolve_all(mut traces: Vec<Stacktrace>, rules: &FrameRules, resolver: &mut Resolver) -> Vec<Stacktrace> {
    for trace in &mut traces {
        trace.resolve_with(rules, resolver);
    }
    traces
}

/// Resolves `traces` (the exceptions of one event) with `rules`, on the symbols thread.
/// Cancel-safe: the thread works on copies, so a resolution given up on (a shutdown out
/// of time) leaves `traces` as they were.
pub(crate) async fn resolve(traces: &mut [&mut Stacktrace], rules: &Arc<FrameRules>) {
    for trace in traces.iter_mut() {
        trace.resolve_known(rules);
    }
    if traces.iter().all(|t| t.is_resolved()) {
        return;
    }
    let taken: Vec<Stacktrace> = traces.iter().map(|t| (**t).clone()).collect();
    let (reply, answer) = oneshot::channel();
    let job = Job { traces: taken, rules: rules.clone(), reply };
    let sent = match SERVICE.get_or_init(spawn) {
        Some(service) => service.send(job).map_err(|mpsc::SendError(job)| job),
        None => Err(job),
    };
    let resolved = match sent {
        Ok(()) => answer.await.unwrap_or_default(),
        // No symbols thread: resolve here, with caches of this call only.
        Err(job) => resolve_all(job.traces, rules, &mut Resolver::default()),
    };
    for (slot, trace) in traces.iter_mut().zip(resolved) {
        **slot = trace;
    }
}
