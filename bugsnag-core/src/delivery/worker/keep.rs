//! What a shutdown out of time keeps: everything queued or in hand goes to the outbox,
//! events whose stacks are not resolved yet as they are (without waiting for the debug
//! information); and what an earlier run kept that way, resolved and sent now.

use std::collections::VecDeque;

use tokio::task::JoinSet;

use super::{take_batch, Prepared, Queues, Worker};
use crate::delivery::batch::{Serialized, ENVELOPE_BYTES};
use crate::delivery::outbox::Held;
use crate::delivery::send::OnDisk;
use crate::delivery::unresolved::Unresolved;
use crate::delivery::{bump, trim, Finish, Job};
use crate::model::Event;
use crate::stacktrace::Stacktrace;

/// The stacks of an event's exceptions.
fn stacks(event: &mut Event) -> Vec<&mut Stacktrace> {
    event.exceptions.iter_mut().map(|e| &mut e.stacktrace).collect()
}

impl Worker {
    /// Shutdown ran out of time: everything still queued or in hand goes to the outbox.
    pub(super) async fn keep_everything(
        &self,
        mut queues: Queues,
        mut preparing: JoinSet<Option<Prepared>>,
        mut pending: VecDeque<Prepared>,
    ) {
        while let Some(job) = queues.try_recv() {
            match job {
                Job::Event(event) => {
                    let done = self.progress.start();
                    pending.extend(self.prepare(event, done).await);
                }
                Job::Ready(outgoing) => self.sender.keep(&outgoing),
                Job::Barrier(barrier) => barrier.open(),
            }
        }
        while let Some(prepared) = preparing.join_next().await {
            pending.extend(prepared.ok().flatten());
        }
        while let Some((outgoing, disk, _done)) = take_batch(&mut pending) {
            self.sender.keep_on_disk(&outgoing, disk);
        }
    }

    /// Resolves `event`'s stacks; `false` when the shutdown ran out of time first and
    /// the event was kept as it is, for the next start to resolve and send, rather than
    /// lost while the debug information loads. One that cannot be kept so (no outbox, a
    /// stack only this process can read) waits for its stacks.
    pub(super) async fn resolve_or_keep(&self, event: &mut Event) -> bool {
        let mut stopped = self.stopped.clone();
        let mut traces = stacks(event);
        let resolved = tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => false,
            () = crate::stacktrace::resolve(&mut traces, &self.rules) => true,
        };
        drop(traces);
        if resolved {
            return true;
        }
        if self.keep_unresolved(event) {
            return false;
        }
        crate::stacktrace::resolve(&mut stacks(event), &self.rules).await;
        true
    }

    /// Writes `event` to the outbox with its stacks unresolved; `false` when it cannot
    /// be (no outbox, or a stack only this process can read).
    fn keep_unresolved(&self, event: &mut Event) -> bool {
        self.filters.event(event);
        let api_key = event.api_key.clone().or_else(|| self.api_key.clone()).unwrap_or_default();
        let modules = self.modules.get_or_init(crate::stacktrace::loaded_modules);
        Unresolved::of(event, modules).is_some_and(|kept| self.sender.keep_unresolved(&api_key, &kept))
    }

    /// An event an earlier run kept unresolved: resolved with this build's debug
    /// information, then sent like any other; given back if this run stops first.
    pub(super) async fn prepare_kept(
        &self,
        held: Held,
        api_key: String,
        event: Unresolved,
        done: Finish,
    ) -> Option<Prepared> {
        let mut stopped = self.stopped.clone();
        let resolved = tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => {
                self.sender.release(held, 1);
                return None;
            }
            resolved = event.resolve(&self.rules) => resolved,
        };
        let Some(body) = resolved.and_then(|body| trim::fit(body, trim::MAX_PAYLOAD_BYTES - ENVELOPE_BYTES)) else {
            bump(&self.counters.dropped_invalid);
            self.sender.forget(OnDisk { whole: Some(held), parts: Vec::new() });
            return None;
        };
        Some(Prepared { event: Serialized { api_key, body }, held: Some(held), done })
    }
}
