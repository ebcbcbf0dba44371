//! [`connect_failure_handler`]: Bugsnag for [apalis] workers, as a tower layer.
//!
//! ```ignore
//! WorkerBuilder::new("email-worker")
//!     .backend(storage)
//!     .layer(bugsnag_worker::connect_failure_handler()) // before .retry(..)
//!     .retry(RetryPolicy::retries(2))
//!     .build(send_email)
//! ```
//!
//! Each task runs in its own scope: context = the task's name (its arguments' type, or
//! the name given with [`FailureLayer::name`]), a `job` tab with the task id, attempt,
//! queue, worker and, only with [`FailureLayer::send_arguments`], the arguments (filtered by
//! `params_filters`). A returned error is reported as unhandled
//! (`unhandledErrorMiddleware`), a panic as unhandled (`unhandledExceptionMiddleware`,
//! stack at the panic point) and handed to apalis as an error, so the worker keeps
//! running; both with framework `apalis`, and `apalis` in `device.runtimeVersions`.
//!
//! **Retries.** Added before `.retry(..)` (as above), the layer wraps apalis's retries and
//! sees each task's final outcome: one report per task that finally fails, whose `job`
//! tab says how many attempts were made. To report each attempt, add the layer after
//! `.retry(..)`, where it sees every attempt: it then reports a failure when the attempt
//! is the task's last allowed one (the task's `max_attempts`), or every failure when the
//! task has no such limit, and [`FailureLayer::every_attempt`] reports every failed
//! attempt whatever the limit. (Before `.retry(..)`, `every_attempt` cannot see the
//! attempts apalis makes inside it: one line says so, once.) Task ids are reported as
//! text, whatever their kind (apalis's Sentry layer panics on ids that are not UUIDs),
//! and each report is an event of its own.
//!
//! [apalis]: https://docs.rs/apalis

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use apalis_core::error::BoxDynError;
use apalis_core::task::Task;
use bugsnag_core::adapter::Settings;
use bugsnag_core::{Client, Options};
use serde_json::Value;

use crate::handler::FailureHandler;
use crate::job::Job;

/// The framework named in reports.
const FRAMEWORK: &str = "apalis";
/// The settings of the apalis layer.
const SETTINGS: Settings = Settings::new(FRAMEWORK, &[(FRAMEWORK, env!("BUGSNAG_VERSION_APALIS"))]).sessions(false);

/// Reads a task's arguments, when they are of the type `send_arguments` was given: the
/// type's name, and the reader.
type Arguments = (&'static str, Arc<dyn Fn(&dyn Any) -> Option<Value> + Send + Sync>);

/// The layer for apalis workers reporting to the process-wide client; see the
/// [module documentation](self).
pub fn connect_failure_handler() -> FailureLayer {
    FailureLayer::new(FailureHandler::with_settings(SETTINGS))
}

/// Reports the failures of an apalis worker's tasks: made by [`connect_failure_handler`]
/// or [`FailureLayer::with_client`].
#[derive(Clone)]
pub struct FailureLayer {
    handler: FailureHandler,
    name: Option<String>,
    arguments: Option<Arguments>,
    every_attempt: bool,
}

impl FailureLayer {
    fn new(handler: FailureHandler) -> Self {
        Self { handler, name: None, arguments: None, every_attempt: false }
    }

    /// The layer reporting to `client` instead of the process-wide client.
    pub fn with_client(client: Client) -> Self {
        Self::new(FailureHandler::with_settings(SETTINGS).reporting_to(client))
    }

    /// The context of the worker's reports, instead of the arguments' type name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sends the task's arguments in the `job` tab (filtered by `params_filters`); off by
    /// default, since arguments often hold personal data. `Args` is the worker's argument
    /// type; given another, nothing is sent and one line says so.
    pub fn send_arguments<Args: serde::Serialize + 'static>(mut self) -> Self {
        let read = |args: &dyn Any| args.downcast_ref::<Args>().and_then(|a| serde_json::to_value(a).ok());
        self.arguments = Some((std::any::type_name::<Args>(), Arc::new(read)));
        self
    }

    /// Makes each task a session when `auto_capture_sessions` is on (off by default, as
    /// the Python notifier's Celery integration: a task is not a user's session).
    pub fn sessions(mut self, on: bool) -> Self {
        self.handler = self.handler.sessions(on);
        self
    }

    /// Reports every failed attempt, not only the last.
    pub fn every_attempt(mut self, every: bool) -> Self {
        self.every_attempt = every;
        self
    }
}

/// Says once that `send_arguments::<T>()` names another type than the tasks' arguments.
fn warn_arguments_mismatch(expected: &str, actual: &str) {
    if expected == actual {
        return; // of the right type, but not serializable as JSON
    }
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            target: "bugsnag_worker",
            "bugsnag_worker's send_arguments::<{expected}>() does not match this worker's task arguments, of type {actual}: no arguments are sent; use send_arguments::<{actual}>()"
        );
    }
}

/// Says once that `every_attempt` was set on a layer added before `.retry(..)`.
fn warn_every_attempt_outside_retry() {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            target: "bugsnag_worker",
            "bugsnag_worker's layer is added before .retry(..), so every_attempt(true) cannot see the attempts apalis makes inside it: each task is reported once, for its final failure; add the layer after .retry(..) to report each attempt"
        );
    }
}

impl<S> tower_layer::Layer<S> for FailureLayer {
    type Service = FailureService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        FailureService { inner, layer: self.clone() }
    }
}

/// The service made by [`FailureLayer`].
#[derive(Clone)]
pub struct FailureService<S> {
    inner: S,
    layer: FailureLayer,
}

impl<S> std::fmt::Debug for FailureService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureService").field("layer", &self.layer).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for FailureLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureLayer")
            .field("handler", &self.handler)
            .field("name", &self.name)
            .field("send_arguments", &self.arguments.as_ref().map(|(of, _)| of))
            .field("every_attempt", &self.every_attempt)
            .finish()
    }
}

impl<S, Args> tower_service::Service<Task<Args>> for FailureService<S>
where
    S: tower_service::Service<Task<Args>>,
    S::Future: Send + 'static,
    S::Error: Into<BoxDynError>,
    S::Response: Send + 'static,
    Args: 'static,
{
    type Response = S::Response;
    type Error = BoxDynError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxDynError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, task: Task<Args>) -> Self::Future {
        let layer = &self.layer;
        let name = layer.name.clone().unwrap_or_else(|| std::any::type_name::<Args>().to_owned());
        // apalis counts an attempt when it starts running, below every layer: read after
        // the task ran, the count is this attempt's number (inside `.retry(..)`) or the
        // number of attempts made (outside it).
        let attempts = task.raw_attempt().clone();
        let before = attempts.current();
        let max_attempts = task.max_attempts();
        let mut job = Job::new(name);
        if let Some(id) = task.task_id() {
            job = job.id(id.to_string());
        }
        if let Some(queue) = task.queue() {
            job = job.queue(queue.to_string());
        }
        if let Some(worker) = task.data().get::<apalis_core::worker::context::WorkerContext>() {
            job = job.worker(worker.name());
        }
        if let Some((expected, read)) = &layer.arguments {
            match read(&task.args as &dyn Any) {
                Some(arguments) => job = job.arguments(arguments),
                None => warn_arguments_mismatch(expected, std::any::type_name_of_val(&task.args)),
            }
        }
        let every_attempt = layer.every_attempt;
        let unit = layer.handler.open(&job);
        let future = self.inner.call(task);
        Box::pin(async move {
            let outcome = unit.run(future).await;
            let failed = || {
                let attempt = attempts.current();
                unit.scope().add_metadata_tab("job", serde_json::json!({ "attempt": attempt }));
                let retried_inside = attempt > before + 1;
                if retried_inside && every_attempt {
                    warn_every_attempt_outside_retry();
                }
                retried_inside || every_attempt || max_attempts.is_none_or(|max| attempt >= max)
            };
            match outcome {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(error)) => {
                    let report = failed();
                    let error: BoxDynError = error.into();
                    if report {
                        // A boxed error: name it by what is in the box.
                        let class = bugsnag_core::adapter::class_of_dyn(&*error);
                        let _ = unit.report_error(&*error, Options::new().error_class(class));
                    }
                    Err(error)
                }
                Err(payload) => {
                    let report = failed();
                    let message = bugsnag_core::adapter::payload_message(&*payload);
                    if report {
                        let _ = unit.report_panic(&*payload);
                    }
                    Err(format!("task panicked: {message}").into())
                }
            }
        })
    }
}
