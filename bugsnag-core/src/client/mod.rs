//! [`Client`]: one configured notifier. It turns errors into [`Event`]s on the caller's
//! thread (cheaply: the stack is captured unresolved), decides whether to send them, and
//! hands them to its delivery thread without blocking (the stages are in `pipeline`).

#[cfg(feature = "anyhow")]
mod anyhow_error;
mod budget;
mod outcome;
mod pipeline;

#[cfg(feature = "anyhow")]
pub use anyhow_error::AnyhowError;
pub(crate) use outcome::Closed;
pub use outcome::{DropReason, Outcome};

use std::error::Error;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::callbacks::Decision;
use crate::capture::error_chain::ChainOrigins;
use crate::capture::error_chain::{exceptions, into_exceptions, Link};
use crate::capture::error_class::{class_of, FALLBACK_CLASS};
use crate::capture::panic::{PanicCapture, PANIC_CLASS};
use crate::capture::{Options, RequestSource, Scope};
use crate::config::{checked_api_key, Configuration};
use crate::delivery::{Delivery, Stats};
use crate::model::{
    App, Breadcrumb, BreadcrumbType, Device, Event, Exception, FeatureFlag, Flags, Ring, SeverityReason,
};
use crate::sessions::SessionTracker;
use crate::shared::Shared;
use crate::stacktrace::Stacktrace;
use pipeline::Pipeline;

/// A configured notifier. Cheap to clone; clones share the delivery thread.
///
/// Most programs install one globally with [`configure`](crate::configure) and use the
/// free functions (its client is [`Guard::client`](crate::Guard::client), or
/// [`bugsnag_core::client()`](crate::client()) anywhere); tests and libraries can build
/// their own:
///
/// ```no_run
/// use bugsnag_core::{Client, Configuration};
///
/// let client = Client::new(Configuration::from_env());
/// let err = "x".parse::<u8>().unwrap_err();
/// client.notify(&err);
/// client.flush(std::time::Duration::from_secs(2));
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Pipeline>,
}

impl std::fmt::Debug for Client {
    // Never prints the API key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.config.endpoint)
            .field("release_stage", &self.inner.config.release_stage)
            .field("enabled", &(self.inner.api_key.is_some() && self.inner.delivery.is_some()))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `config`. A missing or malformed API key or endpoint logs one warning
    /// and gives a client that sends nothing (unless a call supplies its own key).
    pub fn new(config: Configuration) -> Self {
        let config = config.within_limits();
        let api_key = checked_api_key(&config);
        let config = config.with_endpoints_for(api_key.as_deref());
        if let Some(root) = config.project_root.as_ref().filter(|root| !root.is_dir()) {
            crate::diagnostics::warn(&format!(
                "Bugsnag project_root {} is not a directory here: no frame will be marked in-project (leave it unset to have the build decide)",
                root.display()
            ));
        }
        let app = App {
            version: config.app_version.clone(),
            release_stage: Some(config.release_stage.clone()),
            kind: config.app_type.clone(),
        };
        let hostname = config.hostname.clone().or_else(|| gethostname::gethostname().into_string().ok());
        let device = Device {
            hostname,
            os_name: Some(std::env::consts::OS.to_owned()),
            time: None,
            runtime_versions: Map::from_iter([("rustc".to_owned(), Value::from(env!("BUGSNAG_RUSTC_VERSION")))]),
        };
        let device = Arc::new(Shared::new(device));
        let sessions_on = api_key.is_some() && config.sessions_enabled();
        let sessions = Arc::new(SessionTracker::new(sessions_on, api_key.clone(), app.clone(), device.clone()));
        if api_key.is_some() {
            // Debug information starts loading now, once per process, off every caller.
            crate::stacktrace::start_service();
            crate::capture::origin::capture_stacks();
        }
        let delivery = Delivery::start(&config, api_key.clone(), sessions.clone())
            .map_err(|e| crate::diagnostics::warn(&format!("Bugsnag is disabled: {e}")))
            .ok();
        let budget = budget::Budget::new(config.error_budget_burst, config.error_budget_per_second);
        let callbacks = config.callbacks.0.clone();
        Self {
            inner: Arc::new(Pipeline {
                breadcrumbs: Mutex::new(Ring::with_capacity(config.breadcrumb_limit())),
                config,
                api_key,
                callbacks: Shared::new(callbacks),
                delivery,
                sessions,
                app,
                device,
                feature_flags: Shared::default(),
                budget,
                closed: Default::default(),
                closed_warned: Default::default(),
            }),
        }
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &Configuration {
        &self.inner.config
    }

    /// Reports a handled error with severity `warning`; its `source()` chain becomes the
    /// event's exceptions.
    #[track_caller]
    pub fn notify<E: Error + ?Sized + 'static>(&self, error: &E) -> Outcome {
        self.notify_with(error, Options::new())
    }

    /// Reports an error with per-call options. Its stack starts where the error was
    /// made when it carries an [`Origin`](crate::Origin) (the deepest of its chain), else
    /// here; each cause carries the stack of the origin nearest below it.
    #[track_caller]
    pub fn notify_with<E: Error + ?Sized + 'static>(&self, error: &E, options: Options) -> Outcome {
        let mut options = options.at(std::panic::Location::caller());
        let origins = ChainOrigins::of(error);
        if options.stacktrace.is_none() {
            if let Some(origin) = origins.deepest() {
                options = options.origin(origin);
            }
        }
        let given = options.error_class.clone();
        // The class is read once the budget lets the event through; it keys on the type.
        let hint = given.as_deref().or_else(|| class_of::<E>()).unwrap_or(std::any::type_name::<E>());
        let hint = hint.to_owned();
        self.inner.report(
            &hint,
            |trace| {
                let mut chain = exceptions(error, class_of::<E>(), trace, &origins);
                if let (Some(class), Some(first)) = (given, chain.first_mut()) {
                    first.error_class = class;
                }
                chain
            },
            options,
        )
    }

    /// Reports a message with no error value (errorClass `Error`), severity `warning`.
    #[track_caller]
    pub fn notify_message(&self, message: impl Into<String>) -> Outcome {
        self.notify_message_with(message, Options::new())
    }

    /// Reports a message with per-call options (errorClass `Error` unless they set one).
    #[track_caller]
    pub fn notify_message_with(&self, message: impl Into<String>, options: Options) -> Outcome {
        let options = options.at(std::panic::Location::caller());
        let message = message.into();
        let class = options.error_class.clone().unwrap_or_else(|| FALLBACK_CLASS.to_owned());
        let hint = class.clone();
        self.inner.report(&hint, |stacktrace| vec![Exception { error_class: class, message, stacktrace }], options)
    }

    /// Reports an `anyhow::Error` (given or borrowed, see [`AnyhowError`]) with the
    /// backtrace anyhow captured where it was made, or the stack here when it captured
    /// none.
    ///
    /// ```
    /// # let client = bugsnag_core::Client::new(bugsnag_core::Configuration::default());
    /// use bugsnag_core::Options;
    ///
    /// let err = anyhow::anyhow!("could not load the order");
    /// client.notify_anyhow(&err); // keeps `err`
    /// client.notify_anyhow(err); // done with it: cheaper
    /// ```
    #[cfg(feature = "anyhow")]
    #[track_caller]
    pub fn notify_anyhow<'a>(&self, error: impl Into<AnyhowError<'a>>) -> Outcome {
        self.notify_anyhow_with(error, Options::new())
    }

    /// Reports an `anyhow::Error` with per-call options.
    #[cfg(feature = "anyhow")]
    #[track_caller]
    pub fn notify_anyhow_with<'a>(&self, error: impl Into<AnyhowError<'a>>, options: Options) -> Outcome {
        error.into().report(&self.inner, options.at(std::panic::Location::caller()))
    }

    /// Reports an error chain read earlier (from a log record, or from an error that is
    /// gone), outermost first; the first exception's stack is the options' or captured
    /// here, its causes' their origins' (see `error_chain`).
    pub(crate) fn notify_chain(&self, chain: Vec<Link>, options: Options) -> Outcome {
        let class = chain.first().map_or(FALLBACK_CLASS, |link| link.class.as_str()).to_owned();
        self.inner.report(&class, |trace| into_exceptions(chain, trace), options)
    }

    /// Reports a panic an adapter caught in `scope`: one unhandled event, severity
    /// `error`, reason `unhandledExceptionMiddleware` naming the scope's framework, with
    /// the backtrace the panic hook stashed at the panic point.
    pub(crate) fn notify_caught_panic(&self, scope: &Scope, payload: &(dyn std::any::Any + Send)) -> Outcome {
        let (capture, framework) = {
            let mut data = scope.lock();
            let capture = data.stashed_panic.take().unwrap_or_else(|| PanicCapture::from_payload(payload));
            (capture, data.catches_panics.unwrap_or("rust"))
        };
        self.report_panic(capture, SeverityReason::unhandled_exception_middleware(framework), scope)
    }

    /// Reports what the panic hook captured, from `scope`.
    pub(crate) fn report_panic(&self, capture: PanicCapture, reason: SeverityReason, scope: &Scope) -> Outcome {
        let tab = capture.metadata();
        let site = capture.site();
        let correlation = capture.correlation();
        let (stacktrace, build) = capture.into_parts();
        let mut options =
            Options::new().unhandled(reason).add_metadata_tab("panic", tab).scope(scope.clone()).stacktrace(stacktrace);
        options.site = site;
        options.correlation = correlation;
        self.inner.report(PANIC_CLASS, build, options)
    }

    /// Takes an event through the pipeline (for the modules above this one).
    pub(crate) fn report(
        &self,
        class: &str,
        build: impl FnOnce(Stacktrace) -> Vec<Exception>,
        options: Options,
    ) -> Outcome {
        self.inner.report(class, build, options)
    }

    /// The configured API key, once validated.
    pub(crate) fn api_key(&self) -> Option<&str> {
        self.inner.api_key.as_deref()
    }

    /// The app every event of this client carries.
    pub(crate) fn app(&self) -> &App {
        &self.inner.app
    }

    /// The device every event of this client carries (without its time).
    pub(crate) fn device(&self) -> Device {
        Device::clone(&self.inner.device.get())
    }

    /// Registers a callback run on every event before it is queued; it may change the
    /// event or drop it. A severity change sets severityReason `userCallbackSetSeverity`.
    pub fn before_notify(&self, callback: impl Fn(&mut Event) -> Decision + Send + Sync + 'static) {
        let callback: crate::callbacks::Callback = Arc::new(callback);
        self.inner.callbacks.update(|all| all.push(callback.clone()));
    }

    /// Records a runtime's version for `device.runtimeVersions` on every event of this
    /// client (adapters record their framework's on the events of the requests they serve).
    pub fn add_runtime_version(&self, name: &str, version: &str) {
        self.inner.device.update(|device| {
            device.runtime_versions.insert(name.to_owned(), Value::from(version));
        });
    }

    /// Starts a session in the current scope (adapters do this per request when
    /// `auto_capture_sessions` is on). Events reported in the scope then carry it.
    pub fn start_session(&self) {
        if let Some(session) = self.inner.sessions.start() {
            Scope::current().set_session(session);
        }
    }

    /// The scope of one request or job an adapter for `framework` serves, with a session
    /// when `auto_capture_sessions` is on.
    pub(crate) fn adapter_scope(
        &self,
        framework: &'static str,
        source: Option<Arc<dyn RequestSource>>,
        runtime_versions: &'static [(&'static str, &'static str)],
        sessions: bool,
    ) -> Scope {
        let session =
            if sessions && self.inner.config.auto_capture_sessions { self.inner.sessions.start() } else { None };
        Scope::for_adapter(framework, source, session, runtime_versions)
    }

    /// Leaves a breadcrumb in the current scope (or the client's ring outside one);
    /// `metadata` is an object of details, or `Value::Null`.
    pub fn leave_breadcrumb(&self, name: impl Into<String>, kind: BreadcrumbType, metadata: Value) {
        self.inner.leave_breadcrumb_in(&Scope::current(), Breadcrumb::new(name, kind, metadata));
    }

    /// Leaves a breadcrumb made beforehand (with its own time) in `scope`.
    pub fn leave_breadcrumb_in(&self, scope: &Scope, crumb: Breadcrumb) {
        self.inner.leave_breadcrumb_in(scope, crumb);
    }

    /// Adds (or changes the variant of) a feature flag for every event of this client.
    pub fn add_feature_flag(&self, name: impl Into<String>, variant: Option<&str>) {
        let flag = FeatureFlag::new(name, variant);
        self.inner.feature_flags.update(|flags| flags.add(flag.clone()));
    }

    /// Adds several feature flags for every event of this client.
    pub fn add_feature_flags(&self, flags: impl IntoIterator<Item = FeatureFlag>) {
        let flags: Vec<FeatureFlag> = flags.into_iter().collect();
        self.inner.feature_flags.update(|all| flags.iter().cloned().for_each(|f| all.add(f)));
    }

    /// Removes one of this client's feature flags.
    pub fn clear_feature_flag(&self, name: &str) {
        self.inner.feature_flags.update(|flags| flags.clear(name));
    }

    /// Removes all of this client's feature flags.
    pub fn clear_feature_flags(&self) {
        self.inner.feature_flags.update(Flags::clear_all);
    }

    /// Whether session counts wait to be sent and none were sent for
    /// `session_publish_interval`: for an integration whose process may be frozen between
    /// units of work (a Lambda sandbox, where the timer that sends them does not run), so
    /// it can [`flush`](Self::flush) before the freeze without a round trip each time.
    pub fn session_counts_due(&self) -> bool {
        self.inner.sessions.due(self.inner.config.session_publish_interval)
    }

    /// Sends the session counts gathered so far, then waits until every payload queued
    /// before this call has been sent or given up on, or until `timeout` passes; returns
    /// whether everything was done. Blocks the thread.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.inner.send_held_back();
        self.inner.delivery.as_ref().is_none_or(|d| d.flush(timeout))
    }

    /// Ends this client: later reports are refused ([`DropReason::ShutDown`]); what is
    /// queued is flushed (up to `timeout`), what is still unsent then is written to the
    /// outbox (when one is configured) for the next start, and one line tells every
    /// loss. Returns whether everything was sent or kept. The guard returned by
    /// `configure` calls this when dropped.
    pub fn shutdown(&self, timeout: Duration) -> bool {
        self.close(Closed::ShutDown);
        self.inner.send_held_back();
        self.inner.delivery.as_ref().is_none_or(|d| d.shutdown(timeout))
    }

    /// Makes this client refuse reports from now on; the first reason given is kept.
    pub(crate) fn close(&self, why: Closed) {
        let _ = self.inner.closed.compare_exchange(0, why as u8, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Counters of what this client queued, delivered and dropped.
    pub fn stats(&self) -> Stats {
        let mut stats = self.inner.delivery.as_ref().map(Delivery::stats).unwrap_or_default();
        stats.held_back = self.inner.budget.as_ref().map_or(0, budget::Budget::held_back);
        stats
    }
}
