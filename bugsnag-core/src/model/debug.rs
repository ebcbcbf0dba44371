//! `Debug` output that shows the shape of what a report holds, never the values that
//! Bugsnag would filter: a `{:?}` in a log line must not leak an API key, a user or
//! metadata (`Options`, `Event`, `Scope`, `User` and `Request` print through these).

use std::fmt;

/// What stands for a value that is there but not shown.
pub(crate) const FILTERED: &str = "[FILTERED]";

/// Names (of metadata tabs, of headers) without their values.
pub(crate) struct Names<'a>(Vec<&'a str>);

impl<'a> Names<'a> {
    pub(crate) fn of<V: 'a>(entries: impl IntoIterator<Item = (&'a String, V)>) -> Self {
        Self(entries.into_iter().map(|(name, _)| name.as_str()).collect())
    }
}

impl fmt::Debug for Names<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.0).finish()
    }
}

/// `Some("[FILTERED]")` for a value that is there, `None` for one that is not.
pub(crate) fn filtered<T>(value: &Option<T>) -> Option<&'static str> {
    value.as_ref().map(|_| FILTERED)
}
