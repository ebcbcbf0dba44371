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

    /// Resolves `event`'s stacks; `false` if the shutdown ran out of time first.
    pub(super) async fn resolve_unless_stopped(&self, event: &mut Event) -> bool {
        let mut stopped = self.stopped.clone();
        let mut traces: Vec<&mut Stacktrace> = event.exceptions.iter_mut().map(|e| &mut e.stacktrace).collect();
        tokio::select! {
            biased;
            _ = stopped.wait_for(|stop| *stop) => false,
            () = crate::stacktrace::resolve(&mut traces, &self.rules) => true,
        }
    }

    /// Writes `event` to the outbox with its stacks unresolved; `false` when it cannot
    /// be (no outbox, or a stack only this process can read).
    pub(super) fn keep_unresolved(&self, event: &mut Event) -> bool {
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
