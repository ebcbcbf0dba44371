//! [`Options`]: what one `notify` call adds to or overrides in the configuration and the
//! current scope (the Python notifier's keyword arguments to `bugsnag.notify`).

use serde_json::{Map, Value};

use super::origin::Origin;
use super::scope::Scope;
use crate::model::{filtered, merge_tab, Correlation, Names, ProcessSnapshot, Severity, SeverityReason, User};
use crate::stacktrace::Stacktrace;

/// Per-call options for [`notify_with`](crate::notify_with).
///
/// ```
/// use bugsnag_core::{Options, Severity, User};
/// use serde_json::json;
///
/// let options = Options::new()
///     .severity(Severity::Info)
///     .context("sign_up")
///     .user(User::id("bob"))
///     .add_metadata_tab("account", json!({"premium": true}))
///     .grouping_hash("sign_up|Timeout");
/// ```
#[derive(Clone, Default)]
#[must_use = "options do nothing until passed to notify_with"]
pub struct Options {
    pub(crate) severity: Option<Severity>,
    pub(crate) severity_reason: Option<SeverityReason>,
    pub(crate) unhandled: Option<bool>,
    pub(crate) context: Option<String>,
    pub(crate) fallback_context: Option<String>,
    pub(crate) user: Option<User>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) grouping_hash: Option<String>,
    pub(crate) api_key: Option<String>,
    pub(crate) correlation: Option<Correlation>,
    pub(crate) error_class: Option<String>,
    pub(crate) scope: Option<Scope>,
    pub(crate) stacktrace: Option<Stacktrace>,
    /// The call site (file, line, column), hashed: with the errorClass, what the
    /// per-error budget groups by.
    pub(crate) site: Option<u64>,
    /// Where an origin made before any client could send was: its call site, shown above
    /// the stack captured where it is reported.
    pub(crate) made_at: Option<&'static std::panic::Location<'static>>,
    /// The app, device and session of another process (a crash it recorded).
    pub(crate) snapshot: Option<Box<ProcessSnapshot>>,
}

/// Leaves out what Bugsnag would filter: the API key, the user and metadata values (tab
/// names are shown).
impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("severity", &self.severity)
            .field("unhandled", &self.unhandled)
            .field("context", &self.context)
            .field("error_class", &self.error_class)
            .field("grouping_hash", &self.grouping_hash)
            .field("user", &self.user)
            .field("metadata", &Names::of(&self.metadata))
            .field("correlation", &self.correlation)
            .field("stacktrace", &self.stacktrace)
            .field("api_key", &filtered(&self.api_key))
            .finish_non_exhaustive()
    }
}

impl Options {
    /// No options: the configuration and the current scope decide everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the severity (severityReason becomes `userSpecifiedSeverity`).
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = Some(severity);
        self
    }

    /// Sets what was happening, overriding the scope's context.
    pub fn context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// Sets the context only when neither the scope nor its request has one (the log
    /// bridges use it for tracing's span path).
    #[cfg(any(feature = "log", feature = "tracing"))]
    pub(crate) fn fallback_context(mut self, context: impl Into<String>) -> Self {
        self.fallback_context = Some(context.into());
        self
    }

    /// Sets the user, overriding the scope's user.
    pub fn user(mut self, user: User) -> Self {
        self.user = Some(user);
        self
    }

    /// Adds a dashboard tab, merged over the scope's tab of the same name.
    pub fn add_metadata_tab(mut self, tab: impl Into<String>, value: Value) -> Self {
        merge_tab(&mut self.metadata, tab.into(), value);
        self
    }

    /// Groups this event with others of the same hash instead of by stack trace.
    pub fn grouping_hash(mut self, hash: impl Into<String>) -> Self {
        self.grouping_hash = Some(hash.into());
        self
    }

    /// Sends this event with another project's API key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Links the event to this trace and span, over the active OpenTelemetry span and the
    /// request's `traceparent` header.
    pub fn correlation(mut self, correlation: Correlation) -> Self {
        self.correlation = Some(correlation);
        self
    }

    /// Overrides the errorClass of the outermost error.
    pub fn error_class(mut self, class: impl Into<String>) -> Self {
        self.error_class = Some(class.into());
        self
    }

    /// Reports from `scope` instead of the current one (adapters reporting after the
    /// request's future has finished).
    pub fn scope(mut self, scope: Scope) -> Self {
        self.scope = Some(scope);
        self
    }

    /// Uses a stack trace captured earlier (where an error was created) instead of one
    /// captured by this call.
    pub fn stacktrace(mut self, stacktrace: Stacktrace) -> Self {
        self.stacktrace = Some(stacktrace);
        self
    }

    /// Starts the event's stack at `origin`, where the error was made, and groups it (for
    /// the per-error budget) by that call site. `notify` and the adapters find the origin
    /// an error carries themselves; this is for one you hold apart from the error.
    pub fn origin(mut self, origin: &Origin) -> Self {
        let location = origin.location();
        if origin.site_is_known() {
            self.site = Some(site_of(location.file(), location.line(), location.column()));
        }
        match origin.stacktrace() {
            Some(stacktrace) => self.stacktrace = Some(stacktrace),
            None => self.made_at = origin.site_is_known().then_some(location),
        }
        self
    }

    /// Marks the event as unhandled with the given reason and severity `error`; for
    /// adapters and bridges that report on the application's behalf.
    pub fn unhandled(mut self, reason: SeverityReason) -> Self {
        self.unhandled = Some(true);
        self.severity.get_or_insert(Severity::Error);
        self.severity_reason = Some(reason);
        self
    }

    /// Records where the report was made, unless a call further out already did.
    pub(crate) fn at(mut self, location: &std::panic::Location<'_>) -> Self {
        if self.site.is_none() {
            self.site = Some(site_of(location.file(), location.line(), location.column()));
        }
        self
    }

    /// Sets the severityReason without changing `unhandled` (such as `log`).
    pub fn reason(mut self, reason: SeverityReason) -> Self {
        self.severity_reason = Some(reason);
        self
    }
}

/// A call site (file, line, column) as a number: with the errorClass, what the per-error
/// budget groups by.
pub(crate) fn site_of(file: &str, line: u32, column: u32) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = rustc_hash::FxHasher::default();
    (file, line, column).hash(&mut hasher);
    hasher.finish()
}
