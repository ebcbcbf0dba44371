//! The event model: what one report carries, field for field as the Error Reporting API
//! expects it.
//!
//! [`Event`] is built on the caller's thread by `notify`, shown to
//! [`before_notify`](crate::Client::before_notify) callbacks, and serialized on the
//! delivery thread. Absent values are omitted from the JSON, never sent as `null`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::breadcrumb::Breadcrumb;
use super::correlation::Correlation;
use super::debug::{filtered, Names};
use super::feature_flag::FeatureFlag;
use super::session::EventSession;
use crate::stacktrace::Stacktrace;

/// How serious an event is; shown in the dashboard and used to filter the error list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Crashes and unhandled errors.
    Error,
    /// The default for handled errors sent with `notify`.
    Warning,
    /// Informational reports.
    Info,
}

/// Why an event has its severity and `unhandled` flag (the API's `severityReason`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SeverityReason {
    /// The API's reason type, such as `handledError` or `unhandledPanic`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Details of the reason, such as the framework or the log level.
    #[serde(skip_serializing_if = "ReasonAttributes::is_empty")]
    pub attributes: ReasonAttributes,
}

/// Details attached to a [`SeverityReason`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ReasonAttributes {
    /// The framework whose middleware caught the error (`unhandled*Middleware`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub framework: Option<String>,
    /// The log level of a report made by a log bridge (`log`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// The signal of a crash (`signal`), such as `SIGSEGV`.
    #[serde(rename = "signalType", skip_serializing_if = "Option::is_none")]
    pub signal_type: Option<String>,
}

impl ReasonAttributes {
    fn is_empty(&self) -> bool {
        self.framework.is_none() && self.level.is_none() && self.signal_type.is_none()
    }
}

impl SeverityReason {
    fn plain(kind: &'static str) -> Self {
        Self { kind, attributes: ReasonAttributes::default() }
    }
    /// `handledError`: a `notify` call that did not choose a severity.
    pub fn handled_error() -> Self {
        Self::plain("handledError")
    }
    /// `userSpecifiedSeverity`: a `notify` call that chose the severity.
    pub fn user_specified_severity() -> Self {
        Self::plain("userSpecifiedSeverity")
    }
    /// `userCallbackSetSeverity`: a `before_notify` callback changed the severity.
    pub fn user_callback_set_severity() -> Self {
        Self::plain("userCallbackSetSeverity")
    }
    /// `unhandledPanic`: a panic seen by the panic hook outside any adapter.
    pub fn unhandled_panic() -> Self {
        Self::plain("unhandledPanic")
    }
    /// `unhandledExceptionMiddleware`: a panic caught by a framework adapter or job hook.
    pub fn unhandled_exception_middleware(framework: impl Into<String>) -> Self {
        Self {
            kind: "unhandledExceptionMiddleware",
            attributes: ReasonAttributes { framework: Some(framework.into()), ..ReasonAttributes::default() },
        }
    }
    /// `unhandledErrorMiddleware`: an error or 5xx response a handler returned.
    pub fn unhandled_error_middleware(framework: impl Into<String>) -> Self {
        Self {
            kind: "unhandledErrorMiddleware",
            attributes: ReasonAttributes { framework: Some(framework.into()), ..ReasonAttributes::default() },
        }
    }
    /// `log`: a report made by the `log` or `tracing` bridge.
    pub fn log(level: impl Into<String>) -> Self {
        Self { kind: "log", attributes: ReasonAttributes { level: Some(level.into()), ..ReasonAttributes::default() } }
    }
    /// `signal`: a crash (SIGSEGV, SIGABRT...) a signal handler recorded.
    pub fn signal(signal: impl Into<String>) -> Self {
        Self {
            kind: "signal",
            attributes: ReasonAttributes { signal_type: Some(signal.into()), ..ReasonAttributes::default() },
        }
    }
}

/// The user affected by an error; searchable in the dashboard. Its `Debug` shows which
/// fields are set, not their values.
#[derive(Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct User {
    /// A stable identifier; adapters default it to the client IP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The user's display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's e-mail address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl User {
    /// A user of whom nothing is known yet; set what is with the `with_` methods.
    pub fn new() -> Self {
        Self::default()
    }
    /// A user known only by id (the Python notifier's legacy `user_id`).
    pub fn id(id: impl Into<String>) -> Self {
        Self { id: Some(id.into()), ..Self::default() }
    }
    /// Sets the display name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Sets the e-mail address.
    pub fn with_email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }
    /// Sets the id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }
}

impl Request {
    /// A request of which nothing is known yet; set its fields, or build it with the
    /// `with_` methods.
    ///
    /// ```
    /// let request = bugsnag_core::Request::new("GET", "https://shop.example/orders/7")
    ///     .with_header("accept", "application/json")
    ///     .with_client_ip("203.0.113.9");
    /// assert_eq!(request.http_method.as_deref(), Some("GET"));
    /// ```
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        Self { http_method: Some(method.into()), url: Some(url.into()), ..Self::default() }
    }
    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name.into(), value.into());
        self
    }
    /// Sets the client's address.
    pub fn with_client_ip(mut self, ip: impl Into<String>) -> Self {
        self.client_ip = Some(ip.into());
        self
    }
    /// Sets the `Referer`.
    pub fn with_referer(mut self, referer: impl Into<String>) -> Self {
        self.referer = Some(referer.into());
        self
    }
}

impl Exception {
    /// An error of the chain, with no stack trace (a cause, or one a callback adds).
    pub fn new(error_class: impl Into<String>, message: impl Into<String>) -> Self {
        Self { error_class: error_class.into(), message: message.into(), stacktrace: Stacktrace::empty() }
    }
}

/// The HTTP request being served when the error happened (the API's `request` object).
/// Its `Debug` shows the method and the header names only.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Request {
    /// The client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// Request headers; values of filtered names are replaced with `[FILTERED]`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// The request method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_method: Option<String>,
    /// The full URL; filtered query parameters are replaced with `[FILTERED]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The `Referer` header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referer: Option<String>,
}

/// One error of the chain: `exceptions[0]` is the outermost error, then each `source()`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Exception {
    /// The Rust type path of the error, or `panic` for panics.
    pub error_class: String,
    /// The error's `Display` text.
    pub message: String,
    /// Where the error was reported from; empty for causes.
    pub stacktrace: Stacktrace,
}

/// The application that reported the event.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct App {
    /// `app_version` of the configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `release_stage` of the configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release_stage: Option<String>,
    /// `app_type` of the configuration.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// The machine that reported the event.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[non_exhaustive]
pub struct Device {
    /// `hostname` of the configuration, or the machine's host name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The operating system (`linux`, `macos`, `windows`...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_name: Option<String>,
    /// When the event happened, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// Versions of the compiler and of the frameworks adapters serve.
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub runtime_versions: Map<String, Value>,
}

/// The app, device and session of a process that crashed, for the event the next start
/// makes of its record.
#[derive(Debug, Clone)]
pub(crate) struct ProcessSnapshot {
    pub(crate) app: App,
    pub(crate) device: Device,
    pub(crate) session: Option<EventSession>,
    /// The record, claimed by this process: gone once the event is sent (or kept in
    /// the outbox), given back if it is kept for the next start.
    pub(crate) record: std::path::PathBuf,
}

/// One error report, as sent in the `events` array of a payload.
///
/// `before_notify` callbacks receive it mutably and may change any field. Its `Debug`
/// leaves out what Bugsnag would filter: the API key, the user, metadata values (tab
/// names are shown) and request details.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Event {
    /// The error chain, outermost first.
    pub exceptions: Vec<Exception>,
    /// What happened before, newest first.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "super::breadcrumb::serialize_shared")]
    pub breadcrumbs: Vec<std::sync::Arc<Breadcrumb>>,
    /// The HTTP request being served, set by adapters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// What was happening, such as `GET /users/{id}` or a job name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Overrides Bugsnag's grouping of events into errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grouping_hash: Option<String>,
    /// Whether the error escaped the application's own handling.
    pub unhandled: bool,
    /// How serious the event is.
    pub severity: Severity,
    /// Why the event has its severity.
    pub severity_reason: SeverityReason,
    /// The user affected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// The application.
    pub app: App,
    /// The machine.
    pub device: Device,
    /// The session the event happened in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<EventSession>,
    /// The distributed trace the event happened in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<Correlation>,
    /// Feature flags active when the event happened.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub feature_flags: Vec<FeatureFlag>,
    /// Dashboard tabs: tab name to an object of values.
    #[serde(rename = "metaData", skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// Sends this event with another API key than the configuration's.
    #[serde(skip)]
    pub api_key: Option<String>,
    /// The crash record this event was made from (see [`ProcessSnapshot::record`]).
    #[serde(skip)]
    pub(crate) crash_record: Option<std::path::PathBuf>,
}

impl Event {
    /// The errorClass of the outermost error.
    pub fn error_class(&self) -> &str {
        self.exceptions.first().map_or("", |e| e.error_class.as_str())
    }

    /// The message of the outermost error.
    pub fn message(&self) -> &str {
        self.exceptions.first().map_or("", |e| e.message.as_str())
    }

    /// Adds a dashboard tab, merging its keys into a tab of the same name if there is one.
    pub fn add_metadata_tab(&mut self, name: impl Into<String>, value: Value) {
        merge_tab(&mut self.metadata, name.into(), value);
    }
}

/// Merges `value` into the tab `name`: object keys are added or replaced one by one, and
/// anything that is not an object lands under the key `value` (tabs must be objects).
pub(crate) fn merge_tab(metadata: &mut Map<String, Value>, name: String, mut value: Value) {
    crate::limits::cap_depth(&mut value);
    let incoming = match value {
        Value::Object(map) => map,
        other => Map::from_iter([("value".to_owned(), other)]),
    };
    match metadata.get_mut(&name) {
        Some(Value::Object(existing)) => existing.extend(incoming),
        _ => {
            metadata.insert(name, Value::Object(incoming));
        }
    }
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &filtered(&self.id))
            .field("name", &filtered(&self.name))
            .field("email", &filtered(&self.email))
            .finish()
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("http_method", &self.http_method)
            .field("url", &filtered(&self.url))
            .field("headers", &Names::of(&self.headers))
            .field("client_ip", &filtered(&self.client_ip))
            .field("referer", &filtered(&self.referer))
            .finish()
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Event")
            .field("exceptions", &self.exceptions)
            .field("context", &self.context)
            .field("severity", &self.severity)
            .field("severity_reason", &self.severity_reason)
            .field("unhandled", &self.unhandled)
            .field("grouping_hash", &self.grouping_hash)
            .field("user", &self.user)
            .field("request", &self.request)
            .field("metadata", &Names::of(&self.metadata))
            .field("breadcrumbs", &self.breadcrumbs.len())
            .field("feature_flags", &self.feature_flags.len())
            .field("app", &self.app)
            .field("device", &self.device)
            .field("session", &self.session)
            .field("correlation", &self.correlation)
            .field("api_key", &filtered(&self.api_key))
            .finish()
    }
}
