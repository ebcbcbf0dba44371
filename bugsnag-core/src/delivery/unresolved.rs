//! [`Unresolved`]: an event kept before its stack was resolved. Resolving needs the
//! program's debug information loaded (a third of a second of CPU for a debug build,
//! seconds of wall time on a saturated machine), so a shutdown that runs out of time
//! keeps such events as they are, with the return addresses of their stacks and the
//! modules they were in; the next start resolves them against its own files (the same
//! build: same build-id) and sends them.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Event;
use crate::stacktrace::{FrameRules, LoadedModule, RecordedFrame, Stacktrace};

/// An event, redacted and serialized but for its stacks, which are addresses.
#[derive(Serialize, Deserialize)]
pub(crate) struct Unresolved {
    /// The event as the API takes it, each exception's `stacktrace` empty.
    event: Value,
    /// Each exception's return addresses, innermost first.
    stacks: Vec<Vec<u64>>,
    /// The process's executable mappings when the event was kept.
    modules: Vec<LoadedModule>,
}

impl Unresolved {
    /// `event` (redacted already) as it is; `None` if a stack of it cannot be kept as
    /// addresses (a backtrace read from text, a crash of another run).
    pub(crate) fn of(event: &Event, modules: &[LoadedModule]) -> Option<Self> {
        let stacks = event.exceptions.iter().map(|e| e.stacktrace.addresses()).collect::<Option<Vec<_>>>()?;
        let event = serde_json::to_value(event).ok()?;
        Some(Self { event, stacks, modules: modules.to_vec() })
    }

    /// The event with its stacks resolved, serialized, as this build resolves them.
    pub(crate) async fn resolve(mut self, rules: &Arc<FrameRules>) -> Option<Vec<u8>> {
        let mut traces: Vec<Stacktrace> = self
            .stacks
            .iter()
            .map(|ips| {
                let frames = ips
                    .iter()
                    .map(|&ip| RecordedFrame {
                        ip,
                        module: self.modules.iter().find(|m| (m.start..m.end).contains(&ip)).cloned(),
                    })
                    .collect();
                Stacktrace::recorded(frames)
            })
            .collect();
        crate::stacktrace::resolve(&mut traces.iter_mut().collect::<Vec<_>>(), rules).await;
        let exceptions = self.event.get_mut("exceptions")?.as_array_mut()?;
        for (exception, trace) in exceptions.iter_mut().zip(&traces) {
            exception["stacktrace"] = serde_json::to_value(trace).ok()?;
        }
        serde_json::to_vec(&self.event).ok()
    }
}
