//! `before_notify` callbacks: what they decide, and the list a client runs.

use std::sync::Arc;

use crate::model::Event;

/// What a `before_notify` callback decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Send the event (with the callback's changes).
    Send,
    /// Do not send the event.
    Drop,
}

/// A registered `before_notify` callback.
pub(crate) type Callback = Arc<dyn Fn(&mut Event) -> Decision + Send + Sync>;

/// Callbacks in the order they were given.
#[derive(Clone, Default)]
pub(crate) struct Callbacks(pub(crate) Vec<Callback>);

impl std::fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} callback(s)", self.0.len())
    }
}
