//! [`Configuration`]: every option of the Python notifier, plus the ones a Rust service
//! needs (endpoints, timeouts, queue size), readable from `BUGSNAG_*` environment
//! variables and deserializable from a framework's own configuration file.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::callbacks::{Callbacks, Decision};
use crate::model::Event;

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
    pub(crate) project_root: PathBuf,
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
            project_root: std::env::current_dir().unwrap_or_default(),
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

    /// Defaults overlaid with the `BUGSNAG_*` environment variables that are set:
    /// `BUGSNAG_API_KEY`, `BUGSNAG_RELEASE_STAGE`, `BUGSNAG_NOTIFY_RELEASE_STAGES`
    /// (comma-separated), `BUGSNAG_APP_VERSION`, `BUGSNAG_APP_TYPE`, `BUGSNAG_ENDPOINT`,
    /// `BUGSNAG_SESSION_ENDPOINT`, `BUGSNAG_HOSTNAME`, `BUGSNAG_PROJECT_ROOT`,
    /// `BUGSNAG_PROXY_HOST`, `BUGSNAG_PARAMS_FILTERS` (comma-separated, added to the
    /// defaults), `BUGSNAG_IGNORE_CLASSES` (comma-separated), `BUGSNAG_OUTBOX_DIR`,
    /// `BUGSNAG_SHUTDOWN_TIMEOUT` (seconds, such as `5` or `0.5`), and the switches
    /// `BUGSNAG_AUTO_NOTIFY`, `BUGSNAG_SEND_CODE`, `BUGSNAG_AUTO_CAPTURE_SESSIONS`,
    /// `BUGSNAG_ASYNCHRONOUS`, `BUGSNAG_DEBUG`, `BUGSNAG_NATIVE_CRASHES`, `BUGSNAG_OUTBOX`
    /// (`true`/`false`/`1`/`0`).
    pub fn from_env() -> Self {
        Self::default().with_env()
    }

    /// Overlays the `BUGSNAG_*` environment variables that are set onto this
    /// configuration: how a configuration read from a file (which sees no environment)
    /// picks them up. Values from the environment win.
    ///
    /// ```no_run
    /// let from_file: bugsnag_core::Configuration = serde_json::from_str(r#"{"app_version": "2.5.1"}"#).unwrap();
    /// let config = from_file.with_env(); // BUGSNAG_API_KEY and the others apply
    /// ```
    pub fn with_env(self) -> Self {
        self.with_env_from(|name| std::env::var(name).ok())
    }

    /// Overlays values read by `lookup` (an environment) onto this configuration; the
    /// testable core of [`Configuration::with_env`].
    pub fn with_env_from(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(&format!("BUGSNAG_{name}")).filter(|v| !v.trim().is_empty());
        let list = |v: String| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect::<Vec<_>>();
        let flag = |name: &str, current: bool| match get(name).as_deref().map(str::trim) {
            Some("1" | "true" | "TRUE" | "yes") => true,
            Some("0" | "false" | "FALSE" | "no") => false,
            Some(other) => {
                tracing::warn!(target: "bugsnag_core", "BUGSNAG_{name}={other:?} is not a boolean; keeping {current}");
                current
            }
            None => current,
        };
        let from_env = get("API_KEY").map(|key| ApiKey { key, source: KeySource::Environment });
        self.api_key = from_env.or(self.api_key);
        self.release_stage = get("RELEASE_STAGE").unwrap_or(self.release_stage);
        self.notify_release_stages = get("NOTIFY_RELEASE_STAGES").map(list).or(self.notify_release_stages);
        self.app_version = get("APP_VERSION").or(self.app_version);
        self.app_type = get("APP_TYPE").or(self.app_type);
        self.endpoint = get("ENDPOINT").unwrap_or(self.endpoint);
        self.session_endpoint = get("SESSION_ENDPOINT").unwrap_or(self.session_endpoint);
        self.hostname = get("HOSTNAME").or(self.hostname);
        self.project_root = get("PROJECT_ROOT").map(PathBuf::from).unwrap_or(self.project_root);
        self.proxy_host = get("PROXY_HOST").or(self.proxy_host);
        if let Some(extra) = get("PARAMS_FILTERS") {
            self.params_filters.extend(list(extra));
        }
        if let Some(classes) = get("IGNORE_CLASSES") {
            self.ignore_classes.extend(list(classes));
        }
        self.auto_notify = flag("AUTO_NOTIFY", self.auto_notify);
        self.send_code = flag("SEND_CODE", self.send_code);
        self.auto_capture_sessions = flag("AUTO_CAPTURE_SESSIONS", self.auto_capture_sessions);
        self.asynchronous = flag("ASYNCHRONOUS", self.asynchronous);
        self.debug = flag("DEBUG", self.debug);
        self.native_crashes = flag("NATIVE_CRASHES", self.native_crashes);
        self.outbox_dir = get("OUTBOX_DIR").map(PathBuf::from).or(self.outbox_dir);
        self.outbox = flag("OUTBOX", self.outbox);
        if let Some(text) = get("SHUTDOWN_TIMEOUT") {
            match text.trim().parse::<f64>().ok().and_then(|s| Duration::try_from_secs_f64(s).ok()) {
                Some(timeout) => self.shutdown_timeout = timeout,
                None => {
                    tracing::warn!(target: "bugsnag_core", "BUGSNAG_SHUTDOWN_TIMEOUT={text:?} is not a number of seconds; keeping {:?}", self.shutdown_timeout)
                }
            }
        }
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
        /// relative to it. Defaults to the current directory.
        project_root: impl Into<PathBuf> => project_root(into);
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

    /// For an Insight Hub API key (beginning `00000`), Insight Hub's endpoints in place
    /// of the defaults. Endpoints set to anything else are kept, and a custom notify
    /// endpoint keeps the default session endpoint (which turns sessions off).
    pub(crate) fn with_endpoints_for(mut self, api_key: Option<&str>) -> Self {
        if api_key.is_some_and(|key| key.starts_with("00000")) && self.endpoint == DEFAULT_ENDPOINT {
            self.endpoint = INSIGHT_HUB_ENDPOINT.to_owned();
            if self.session_endpoint == DEFAULT_SESSION_ENDPOINT {
                self.session_endpoint = INSIGHT_HUB_SESSION_ENDPOINT.to_owned();
            }
        }
        self
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

    /// An endpoint given without a scheme, with one: `http://` for loopback and private
    /// addresses (a local collector, a proxy), else the one `use_ssl` asks for. Adding
    /// one is told in a line naming the URL used: a wrong guess loses every event.
    pub(crate) fn with_scheme(&self, what: &str, endpoint: &str) -> String {
        if endpoint.contains("://") {
            return endpoint.to_owned();
        }
        let scheme = if !self.use_ssl || is_local(endpoint) { "http" } else { "https" };
        let url = format!("{scheme}://{endpoint}");
        crate::diagnostics::warn(&format!("the Bugsnag {what} {endpoint:?} has no scheme; using {url}"));
        url
    }
}

/// Whether the host of a URL written without a scheme is this machine or a private
/// network's: `localhost`, a loopback, private or link-local address.
fn is_local(endpoint: &str) -> bool {
    let authority = endpoint.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => false,
    }
}

/// An API key, and where it came from (for a message that names the right place to fix
/// it); its `Debug` output never shows it, so printing a configuration is safe.
#[derive(Clone, Deserialize)]
#[serde(from = "String")]
pub(crate) struct ApiKey {
    pub(crate) key: String,
    pub(crate) source: KeySource,
}

/// Where an API key was set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// `.api_key(..)`, or a configuration file.
    Code,
    /// `BUGSNAG_API_KEY`.
    Environment,
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self { key, source: KeySource::Code }
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[FILTERED]")
    }
}

/// Whether `key` looks like a Bugsnag API key: 32 hexadecimal characters.
pub(crate) fn is_valid_api_key(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The configured API key when it can be used; every way it cannot is told to the user,
/// since a notifier without a key is silent.
pub(crate) fn checked_api_key(config: &Configuration) -> Option<String> {
    let from_env = std::env::var("BUGSNAG_API_KEY").ok().filter(|k| !k.trim().is_empty());
    let key = config.api_key.as_ref().map(|k| (k.key.as_str(), k.source));
    let problem = match key {
        Some((key, _)) if is_valid_api_key(key) => return Some(key.to_owned()),
        Some((key, KeySource::Environment)) if crate::diagnostics::is_placeholder_key(key) => {
            "BUGSNAG_API_KEY holds a placeholder copied from documentation, not your project's API key (its settings page in Bugsnag shows it); no events will be sent".to_owned()
        }
        Some((_, KeySource::Environment)) => {
            "BUGSNAG_API_KEY is malformed (expected your project's 32 hex characters); no events will be sent".to_owned()
        }
        Some((key, KeySource::Code)) if crate::diagnostics::is_placeholder_key(key) => format!(
            "the Bugsnag API key set in code is a placeholder copied from documentation{}; no events will be sent",
            if from_env.is_some() { ", and it is set over BUGSNAG_API_KEY: remove the .api_key(..) call" } else { "" }
        ),
        Some((_, KeySource::Code)) => {
            "the Bugsnag API key set in code is malformed (expected 32 hex characters); no events will be sent".to_owned()
        }
        None if from_env.is_some() => "BUGSNAG_API_KEY is set, but this Configuration never read the environment (it was built with Configuration::default() or deserialized): use Configuration::from_env() or .with_env(); no events will be sent".to_owned(),
        None => "no Bugsnag API key is configured (set BUGSNAG_API_KEY); no events will be sent".to_owned(),
    };
    crate::diagnostics::warn(&problem);
    None
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
    fn env_overlays_defaults() {
        let env = |name: &str| match name {
            "BUGSNAG_API_KEY" => Some("0123456789abcdef0123456789abcdef".to_owned()),
            "BUGSNAG_NOTIFY_RELEASE_STAGES" => Some("production, staging".to_owned()),
            "BUGSNAG_PARAMS_FILTERS" => Some("ssn".to_owned()),
            "BUGSNAG_SEND_CODE" => Some("0".to_owned()),
            "BUGSNAG_SHUTDOWN_TIMEOUT" => Some("7.5".to_owned()),
            "BUGSNAG_OUTBOX_DIR" => Some("/var/spool/app-bugsnag".to_owned()),
            _ => None,
        };
        let config = Configuration::default().with_env_from(env);
        assert_eq!(config.shutdown_timeout, Duration::from_millis(7500));
        assert_eq!(config.outbox_dir.as_deref(), Some(std::path::Path::new("/var/spool/app-bugsnag")));
        let unreadable =
            Configuration::default().with_env_from(|n| (n == "BUGSNAG_SHUTDOWN_TIMEOUT").then(|| "soon".into()));
        assert_eq!(unreadable.shutdown_timeout, Duration::from_secs(2), "kept, with a warning");
        let key = config.api_key.as_ref().map(|k| (k.key.as_str(), k.source));
        assert_eq!(key, Some(("0123456789abcdef0123456789abcdef", KeySource::Environment)));
        assert!(!format!("{config:?}").contains("0123456789abcdef"), "Debug never shows the key");
        assert_eq!(config.notify_release_stages, Some(vec!["production".into(), "staging".into()]));
        assert_eq!(config.params_filters, ["ssn"]);
        assert!(!config.send_code);
    }

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

    #[test]
    fn local_endpoints_without_a_scheme_get_http() {
        let config = Configuration::default();
        assert_eq!(config.with_scheme("endpoint", "127.0.0.1:9339/notify"), "http://127.0.0.1:9339/notify");
        assert_eq!(config.with_scheme("endpoint", "localhost:9339/notify"), "http://localhost:9339/notify");
        assert_eq!(config.with_scheme("endpoint", "[::1]:9339/notify"), "http://[::1]:9339/notify");
        assert_eq!(config.with_scheme("endpoint", "10.1.2.3/notify"), "http://10.1.2.3/notify");
        assert_eq!(config.with_scheme("endpoint", "notify.example.com"), "https://notify.example.com");
        assert_eq!(config.with_scheme("endpoint", "https://x.example"), "https://x.example");
        assert_eq!(config.use_ssl(false).with_scheme("endpoint", "x.example"), "http://x.example");
    }

    #[test]
    fn insight_hub_keys_default_to_insight_hub_endpoints() {
        let hub = "00000123456789abcdef0123456789ab";
        let config = Configuration::default().with_endpoints_for(Some(hub));
        assert_eq!(
            (config.endpoint.as_str(), config.session_endpoint.as_str()),
            (INSIGHT_HUB_ENDPOINT, INSIGHT_HUB_SESSION_ENDPOINT)
        );
        let other = Configuration::default().with_endpoints_for(Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(
            (other.endpoint.as_str(), other.session_endpoint.as_str()),
            (DEFAULT_ENDPOINT, DEFAULT_SESSION_ENDPOINT)
        );
        let custom = Configuration::default().endpoint("http://127.0.0.1:9/notify").with_endpoints_for(Some(hub));
        assert_eq!(
            (custom.endpoint.as_str(), custom.session_endpoint.as_str()),
            ("http://127.0.0.1:9/notify", DEFAULT_SESSION_ENDPOINT)
        );
        assert!(!custom.sessions_enabled(), "sessions would go to Bugsnag while events go elsewhere");
    }

    #[test]
    fn api_keys_are_32_hex_characters() {
        assert!(is_valid_api_key("0123456789abcdef0123456789ABCDEF"));
        assert!(!is_valid_api_key("YOUR_API_KEY_HERE"));
    }
}
