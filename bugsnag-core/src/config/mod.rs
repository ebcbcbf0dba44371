//! [`Configuration`]: every option of the Python notifier, plus the ones a Rust service
//! needs (endpoints, timeouts, queue size), readable from `BUGSNAG_*` environment
//! variables and deserializable from a framework's own configuration file.
//!
//! Here the options and their builder methods; `env` reads the `BUGSNAG_*` variables,
//! `endpoints` chooses where payloads go, `api_key` checks the key.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::callbacks::{Callbacks, Decision};
use crate::model::Event;

mod api_key;
mod endpoints;
mod env;

pub(crate) use api_key::{checked_api_key, is_valid_api_key, ApiKey};

/// The default Error Reporting API endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://notify.bugsnag.com";
/// The default Session Tracking API endpoint.
pub const DEFAULT_SESSION_ENDPOINT: &str = "https://sessions.bugsnag.com";
/// The Error Reporting API endpoint of SmartBear Insight Hub, the default for API keys
/// that begin `00000` (as the Python notifier does since 4.8).
pub const INSIGHT_HUB_ENDPOINT: &str = "https://notify.bugsnag.smartbear.com";
/// The Session Tracking API endpoint of SmartBear Insight Hub, for the same keys.
pub const INSIGHT_HUB_SESSION_ENDPOINT: &str = "https://sessions.bugsnag.smartbear.com";
/// Keys whose values are always sent as `[FILTERED]`, wherever they appear (metadata,
/// user, device, request headers, URL query strings and fragments, breadcrumbs, job
/// arguments), unless [`Configuration::without_default_params_filters`] is called. A
/// plain entry matches any key containing it, case-insensitively; an entry written
/// `/like this/` is a regular expression. Rails' `filter_parameters` stems and the
/// headers sentry never sends are the anchor; `email` and user names are left usable,
/// since Bugsnag searches on them.
pub const DEFAULT_PARAMS_FILTERS: &[&str] = &[
    "passw",
    "pwd",
    "passphrase",
    "secret",
    "token",
    "_key",
    "-key",
    "apikey",
    "private",
    "credential",
    "authorization",
    "/(^|[^a-z])auth([^a-z]|$)/",
    "cookie",
    "jwt",
    "session_id",
    "sessionid",
    "signature",
    "csrf",
    "xsrf",
    "crypt",
    "salt",
    "certificate",
    "/(^|[^a-z])otp([^a-z]|$)/",
    "/(^|[^a-z])ssn([^a-z]|$)/",
    "cvv",
    "cvc",
    "credit_card",
    "creditcard",
    "card_number",
    "/(^|[^a-z])dsn([^a-z]|$)/",
    "database_url",
];

/// How the notifier behaves. Build it with [`Configuration::from_env`] or
/// [`Configuration::default`] and the builder methods, or deserialize it.
///
#[doc = include_str!("options.md")]
///
/// # Example
///
/// ```
/// use bugsnag_core::Configuration;
///
/// let config = Configuration::default()
///     .api_key("0123456789abcdef0123456789abcdef")
///     .app_version("2.5.1")
///     .release_stage("staging")
///     .notify_release_stages(["production", "staging"])
///     .params_filters(["iban"]); // added to DEFAULT_PARAMS_FILTERS
/// assert_eq!(config.release_stage_name(), "staging");
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Configuration {
    pub(crate) api_key: Option<ApiKey>,
    pub(crate) release_stage: String,
    pub(crate) notify_release_stages: Option<Vec<String>>,
    pub(crate) auto_notify: bool,
    pub(crate) send_code: bool,
    pub(crate) use_ssl: bool,
    pub(crate) project_root: Option<PathBuf>,
    pub(crate) project_packages: Vec<String>,
    pub(crate) app_version: Option<String>,
    pub(crate) app_type: Option<String>,
    /// The user's filters, added to [`DEFAULT_PARAMS_FILTERS`].
    pub(crate) params_filters: Vec<String>,
    pub(crate) default_params_filters: bool,
    pub(crate) send_sensitive_headers: bool,
    pub(crate) ignore_classes: Vec<String>,
    #[serde(alias = "traceback_exclude_modules")]
    pub(crate) exclude_modules: Vec<String>,
    pub(crate) proxy_host: Option<String>,
    pub(crate) asynchronous: bool,
    pub(crate) endpoint: String,
    pub(crate) session_endpoint: String,
    pub(crate) hostname: Option<String>,
    pub(crate) auto_capture_sessions: bool,
    #[serde(rename = "delivery_timeout_ms", with = "millis")]
    pub(crate) delivery_timeout: Duration,
    #[serde(rename = "shutdown_timeout_ms", with = "millis")]
    pub(crate) shutdown_timeout: Duration,
    #[serde(rename = "panic_timeout_ms", with = "millis")]
    pub(crate) panic_timeout: Duration,
    pub(crate) queue_capacity: usize,
    pub(crate) max_breadcrumbs: usize,
    pub(crate) outbox_dir: Option<PathBuf>,
    pub(crate) outbox: bool,
    pub(crate) outbox_max_events: u64,
    pub(crate) outbox_max_bytes: u64,
    pub(crate) max_retries: u32,
    #[serde(rename = "retry_initial_backoff_ms", with = "millis")]
    pub(crate) retry_initial_backoff: Duration,
    #[serde(rename = "retry_max_backoff_ms", with = "millis")]
    pub(crate) retry_max_backoff: Duration,
    pub(crate) max_in_flight: usize,
    #[serde(rename = "session_publish_interval_ms", with = "millis")]
    pub(crate) session_publish_interval: Duration,
    pub(crate) debug: bool,
    /// Record crashes without a panic (signals) for the next start to report.
    pub(crate) native_crashes: bool,
    /// Events each error group may send at once; 0 turns the budget off.
    pub(crate) error_budget_burst: u32,
    /// Events each error group may send per second once its burst is spent.
    pub(crate) error_budget_per_second: f64,
    /// `before_notify` callbacks the client starts with.
    #[serde(skip)]
    pub(crate) callbacks: Callbacks,
}

impl Default for Configuration {
    fn default() -> Self {
        Self {
            api_key: None,
            release_stage: "production".into(),
            notify_release_stages: None,
            auto_notify: true,
            send_code: true,
            use_ssl: true,
            project_root: None,
            project_packages: Vec::new(),
            app_version: None,
            app_type: None,
            params_filters: Vec::new(),
            default_params_filters: true,
            send_sensitive_headers: false,
            ignore_classes: Vec::new(),
            exclude_modules: Vec::new(),
            proxy_host: None,
            asynchronous: true,
            endpoint: DEFAULT_ENDPOINT.into(),
            session_endpoint: DEFAULT_SESSION_ENDPOINT.into(),
            hostname: None,
            auto_capture_sessions: true,
            delivery_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(2),
            panic_timeout: Duration::from_secs(2),
            queue_capacity: 1024,
            max_breadcrumbs: 25,
            outbox_dir: None,
            outbox: true,
            outbox_max_events: 1000,
            outbox_max_bytes: 10 * 1024 * 1024,
            max_retries: 5,
            retry_initial_backoff: Duration::from_secs(1),
            retry_max_backoff: Duration::from_secs(60),
            max_in_flight: 4,
            session_publish_interval: Duration::from_secs(30),
            debug: false,
            native_crashes: true,
            error_budget_burst: 100,
            error_budget_per_second: 10.0,
            callbacks: Callbacks::default(),
        }
    }
}

/// Builder methods. A list setter adds to its list (like `params_filters`, which adds to
/// the default filters), so calling it twice keeps both calls' items.
macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty => $field:ident $(($conv:ident))?;)*) => {
        $($(#[$doc])* pub fn $name(mut self, value: $ty) -> Self {
            setters!(@set self.$field, value $(, $conv)?);
            self
        })*
    };
    (@set $f:expr, $v:ident) => { $f = $v };
    (@set $f:expr, $v:ident, into) => { $f = $v.into() };
    (@set $f:expr, $v:ident, some) => { $f = Some($v.into()) };
    (@set $f:expr, $v:ident, list) => { $f.extend($v.into_iter().map(Into::into)) };
    (@set $f:expr, $v:ident, list_some) => { $f.get_or_insert_with(Vec::new).extend($v.into_iter().map(Into::into)) };
}

impl Configuration {
    /// Your project's 32-character hex API key (required to send anything).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::from(key.into()));
        self
    }

    setters! {
        /// The stage this process runs in (`production` by default).
        release_stage: impl Into<String> => release_stage(into);
        /// Only these release stages send events and sessions (all do by default; each
        /// call adds to the list).
        notify_release_stages: impl IntoIterator<Item = impl Into<String>> => notify_release_stages(list_some);
        /// Report panics automatically through the panic hook (on by default).
        auto_notify: bool => auto_notify;
        /// With `auto_notify`, also record crashes without a panic (segfaults, stack
        /// overflows, aborts, failed allocations...) in signal handlers, for the next
        /// start to report (on by default; Linux).
        native_crashes: bool => native_crashes;
        /// Send a few lines of source code around in-project frames (on by default).
        send_code: bool => send_code;
        /// Use `https://` for endpoints given without a scheme (on by default).
        use_ssl: bool => use_ssl;
        /// Frames from files under this directory are in-project; their paths are sent
        /// relative to it. Unset (the default), the build decides: frames of the crates
        /// of the workspace the program was built in are in-project, wherever it runs,
        /// and their paths are sent relative to that workspace's root; the registry,
        /// git checkouts, vendored crates, the standard library and this notifier are
        /// not.
        project_root: impl Into<PathBuf> => project_root(some);
        /// Crate names whose frames are in-project wherever their files are (each call
        /// adds to the list).
        project_packages: impl IntoIterator<Item = impl Into<String>> => project_packages(list);
        /// The version of your application.
        app_version: impl Into<String> => app_version(some);
        /// The kind of process, such as `web` or `worker`.
        app_type: impl Into<String> => app_type(some);
        /// errorClasses that are never sent, such as `my_app::NotFound` (each call adds
        /// to the list).
        ignore_classes: impl IntoIterator<Item = impl Into<String>> => ignore_classes(list);
        /// Module path prefixes whose frames are dropped from stack traces (the Python notifier's
        /// `traceback_exclude_modules`), for wrappers around `notify` (each call adds to
        /// the list).
        exclude_modules: impl IntoIterator<Item = impl Into<String>> => exclude_modules(list);
        /// An HTTP proxy for all requests, such as `http://proxy:3128`.
        proxy_host: impl Into<String> => proxy_host(some);
        /// `false` makes `notify` wait (up to the delivery timeout) until the event is sent.
        asynchronous: bool => asynchronous;
        /// The Error Reporting API endpoint.
        endpoint: impl Into<String> => endpoint(into);
        /// The Session Tracking API endpoint.
        session_endpoint: impl Into<String> => session_endpoint(into);
        /// The host name sent in `device.hostname` (the machine's by default).
        hostname: impl Into<String> => hostname(some);
        /// Start a session for each request served by an adapter (on by default).
        auto_capture_sessions: bool => auto_capture_sessions;
        /// Total time allowed for one HTTP request to Bugsnag (10 s by default).
        delivery_timeout: Duration => delivery_timeout;
        /// How long the guard returned by `configure` waits for queued events on drop.
        shutdown_timeout: Duration => shutdown_timeout;
        /// How long the panic hook waits for its report before letting the thread unwind.
        panic_timeout: Duration => panic_timeout;
        /// Events waiting for delivery; when full, new events are dropped and counted.
        queue_capacity: usize => queue_capacity;
        /// Breadcrumbs kept and sent per event (25 by default; at most 100).
        max_breadcrumbs: usize => max_breadcrumbs;
        /// A directory where payloads that could not be sent (and crash records) are kept
        /// and sent on the next start. The process-wide client (`configure`) defaults to
        /// a directory of the program's own, `~/.cache/bugsnag/<program>/` or the like,
        /// made only when something is written; a `Client::new` has none unless given.
        outbox_dir: impl Into<PathBuf> => outbox_dir(some);
        /// `false` keeps nothing unsent on disk, not even in `outbox_dir`: what the
        /// shutdown cannot send, or retries give up on, is lost (and said so). On by
        /// default; `BUGSNAG_OUTBOX=0` turns it off. Crash records are still written,
        /// at a crash, unless `native_crashes` is off.
        outbox: bool => outbox;
        /// Events the outbox keeps at most (1000); the oldest go first, counted in
        /// `Stats::dropped_outbox_full`.
        outbox_max_events: u64 => outbox_max_events;
        /// Bytes the outbox keeps at most (10 MiB); the oldest go first.
        outbox_max_bytes: u64 => outbox_max_bytes;
        /// Retries of a payload after a retryable failure (5).
        max_retries: u32 => max_retries;
        /// The first retry's backoff (1 s), doubled each retry, with jitter.
        retry_initial_backoff: Duration => retry_initial_backoff;
        /// The longest backoff between retries (60 s).
        retry_max_backoff: Duration => retry_max_backoff;
        /// Requests to Bugsnag in flight at once (4).
        max_in_flight: usize => max_in_flight;
        /// How often session counts are sent (30 s); they are also sent at flush.
        session_publish_interval: Duration => session_publish_interval;
        /// Writes what the notifier does with every report (queued, sent, retried, kept,
        /// dropped, and why) to standard error, as sentry's `debug: true` does. Off by
        /// default; `BUGSNAG_DEBUG=1` turns it on.
        debug: bool => debug;
    }

    /// The per-error budget: each error group (its grouping hash, else its errorClass
    /// and the line that reported it) may send `burst` events at once (100 by default),
    /// then `per_second` (10). Events past it are counted, not sent: the next event of
    /// the group carries the count (`metaData.notifier.heldBack`), a flush sends one
    /// summary event per group with a count left, and `client.stats().held_back` sums
    /// them. It keeps one bug's storm from filling the queue and hiding rarer errors.
    pub fn error_budget(mut self, burst: u32, per_second: f64) -> Self {
        self.error_budget_burst = burst;
        self.error_budget_per_second = per_second;
        self
    }

    /// Sends every event, however many of one error there are (the queue still bounds
    /// what waits).
    pub fn without_error_budget(mut self) -> Self {
        self.error_budget_burst = 0;
        self
    }

    /// Runs `callback` on every event before it is queued (the Python notifier's
    /// `before_notify`): it may change the event or drop it. Given here, it is in place
    /// before the first report; [`Client::before_notify`](crate::Client::before_notify)
    /// adds one later.
    ///
    /// ```
    /// use bugsnag_core::{Configuration, Decision};
    ///
    /// let config = Configuration::from_env().before_notify(|event| {
    ///     if event.context.as_deref() == Some("GET /health") {
    ///         return Decision::Drop;
    ///     }
    ///     Decision::Send
    /// });
    /// ```
    pub fn before_notify(mut self, callback: impl Fn(&mut Event) -> Decision + Send + Sync + 'static) -> Self {
        self.callbacks.0.push(std::sync::Arc::new(callback));
        self
    }

    /// Also sends as `[FILTERED]` the values of keys containing any of these
    /// (case-insensitively; `/pattern/` entries are regular expressions), in addition to
    /// [`DEFAULT_PARAMS_FILTERS`]. Empty entries are ignored.
    pub fn params_filters(mut self, filters: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.params_filters.extend(filters.into_iter().map(Into::into));
        self
    }

    /// Stops filtering [`DEFAULT_PARAMS_FILTERS`]: only the keys given to
    /// [`params_filters`](Self::params_filters) are filtered. Sensitive headers stay
    /// filtered unless [`send_sensitive_headers`](Self::send_sensitive_headers) says otherwise.
    pub fn without_default_params_filters(mut self) -> Self {
        self.default_params_filters = false;
        self
    }

    /// `true` sends the values of headers that carry credentials (`Authorization`,
    /// `Proxy-Authorization`, `Cookie`, `Set-Cookie`, `X-Api-Key`, `X-Auth-Token` and any
    /// header whose name holds `auth`, `cookie`, `token`, `key`, `secret`, `session`,
    /// `signature` or `password`) unless `params_filters` covers them. Off by default:
    /// only turn it on if your own filters or callbacks handle them.
    pub fn send_sensitive_headers(mut self, send: bool) -> Self {
        self.send_sensitive_headers = send;
        self
    }

    /// The configured release stage.
    pub fn release_stage_name(&self) -> &str {
        &self.release_stage
    }

    /// Whether this release stage sends events.
    pub(crate) fn stage_notifies(&self) -> bool {
        self.notify_release_stages.as_ref().is_none_or(|stages| stages.contains(&self.release_stage))
    }

    /// `max_breadcrumbs` within the API's limit.
    pub(crate) fn breadcrumb_limit(&self) -> usize {
        self.max_breadcrumbs.min(crate::model::MAX_BREADCRUMBS)
    }

    /// Whether this client may send sessions: a custom notify endpoint with the default
    /// session endpoint would send sessions to bugsnag.com, so sessions are off (as the
    /// Python notifier does) with a warning.
    pub(crate) fn sessions_enabled(&self) -> bool {
        if self.endpoint != DEFAULT_ENDPOINT && self.session_endpoint == DEFAULT_SESSION_ENDPOINT {
            tracing::warn!(target: "bugsnag_core", "a custom endpoint is set without a session_endpoint; sessions will not be sent");
            return false;
        }
        self.stage_notifies()
    }

    /// This configuration with every number brought within what the notifier can work
    /// with, logging one line for each value changed: extreme values must neither panic
    /// (tokio and `Instant` arithmetic do on some) nor stop delivery.
    pub(crate) fn within_limits(mut self) -> Self {
        fn clamp<T: PartialOrd + Copy + std::fmt::Debug>(name: &str, value: &mut T, min: T, max: T) {
            let fixed = if *value < min {
                min
            } else if *value > max {
                max
            } else {
                return;
            };
            tracing::warn!(target: "bugsnag_core", "Bugsnag option {name} = {value:?} is out of range; using {fixed:?}");
            *value = fixed;
        }
        let ms = Duration::from_millis;
        let hour = Duration::from_secs(3600);
        clamp("delivery_timeout", &mut self.delivery_timeout, ms(100), hour);
        clamp("shutdown_timeout", &mut self.shutdown_timeout, Duration::ZERO, hour);
        clamp("panic_timeout", &mut self.panic_timeout, Duration::ZERO, hour);
        clamp("retry_initial_backoff", &mut self.retry_initial_backoff, ms(1), hour);
        clamp("retry_max_backoff", &mut self.retry_max_backoff, ms(1), hour);
        clamp("session_publish_interval", &mut self.session_publish_interval, ms(100), 24 * hour);
        clamp("queue_capacity", &mut self.queue_capacity, 1, 1 << 20);
        clamp("max_in_flight", &mut self.max_in_flight, 1, 64);
        clamp("max_retries", &mut self.max_retries, 0, 1000);
        clamp("error_budget_burst", &mut self.error_budget_burst, 0, 1_000_000);
        if self.error_budget_per_second.is_nan() {
            tracing::warn!(target: "bugsnag_core", "Bugsnag option error_budget_per_second = {} is out of range; using 0", self.error_budget_per_second);
            self.error_budget_per_second = 0.0;
        }
        clamp("error_budget_per_second", &mut self.error_budget_per_second, 0.0, 1e6);
        self
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deserializes_from_a_config_file() {
        let config: Configuration = serde_json::from_value(serde_json::json!({
            "api_key": "0123456789abcdef0123456789abcdef",
            "traceback_exclude_modules": ["my_app::logging"],
            "delivery_timeout_ms": 500
        }))
        .unwrap();
        assert_eq!(config.exclude_modules, ["my_app::logging"]);
        assert_eq!(config.delivery_timeout, Duration::from_millis(500));
        assert_eq!(config.release_stage, "production");
    }
}
