//! Telling the user what the notifier does, what is wrong with its setup, and what it
//! lost.
//!
//! A misconfiguration (no API key, a placeholder key, an unusable endpoint...) leaves the
//! notifier silent, so it must be seen: it goes to `tracing` and, when no `tracing`
//! subscriber has been set to show it, to standard error as well. With the `debug`
//! option (`BUGSNAG_DEBUG=1`) every step of every report is written to standard error.

/// Warns about a misconfiguration or a loss, where the user will see it.
pub(crate) fn warn(message: &str) {
    tracing::warn!(target: "bugsnag_core", "{message}");
    if !tracing::dispatcher::has_been_set() {
        eprintln!("[bugsnag] {message}");
    }
}

/// [`warn`], once per process for each message.
pub(crate) fn warn_once(message: &str) {
    use std::sync::{Mutex, OnceLock};
    static SAID: OnceLock<Mutex<std::collections::HashSet<String>>> = OnceLock::new();
    let said = SAID.get_or_init(Mutex::default);
    let first = said.lock().map(|mut said| said.len() < 64 && said.insert(message.to_owned())).unwrap_or(false);
    if first {
        warn(message);
    }
}

/// Writes one line about what the notifier is doing, when `debug` is on.
pub(crate) fn trace(debug: bool, message: impl FnOnce() -> String) {
    if debug {
        eprintln!("[bugsnag debug] {}", message());
    }
}

/// Whether an API key is a placeholder copied from documentation.
pub(crate) fn is_placeholder_key(key: &str) -> bool {
    let upper = key.to_ascii_uppercase();
    ["YOUR", "API_KEY", "APIKEY", "XXXX", "CHANGEME", "REPLACE"].iter().any(|p| upper.contains(p))
}
