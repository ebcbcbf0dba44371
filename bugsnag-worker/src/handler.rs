//! [`FailureHandler`]: runs jobs in their own scope and reports how they fail.

use std::error::Error;
use std::fmt;
use std::future::Future;

use bugsnag_core::adapter::{payload_message, Settings, UnitOfWork};
use bugsnag_core::{Client, InCurrentScope, Options};

use crate::job::Job;

/// How a job run through a [`FailureHandler`] failed.
#[derive(Debug)]
pub enum JobError<E> {
    /// The job returned this error.
    Failed(E),
    /// The job panicked with this message.
    Panicked(String),
}

impl<E: fmt::Display> fmt::Display for JobError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobError::Failed(err) => write!(f, "job failed: {err}"),
            JobError::Panicked(message) => write!(f, "job panicked: {message}"),
        }
    }
}

impl<E: Error + 'static> Error for JobError<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            JobError::Failed(err) => Some(err),
            JobError::Panicked(_) => None,
        }
    }
}

/// Runs jobs and reports their failures (the Python notifier's `connect_failure_handler`).
#[derive(Debug, Clone)]
pub struct FailureHandler {
    settings: Settings,
}

impl Default for FailureHandler {
    fn default() -> Self {
        Self::new()
    }
}

impl FailureHandler {
    /// Reports to the process-wide client.
    pub fn new() -> Self {
        Self::with_settings(Settings::new("bugsnag-worker", &[]).sessions(false))
    }

    pub(crate) fn with_settings(settings: Settings) -> Self {
        Self { settings }
    }

    /// Reports to `client` instead of the process-wide client.
    pub fn with_client(client: Client) -> Self {
        Self::new().reporting_to(client)
    }

    pub(crate) fn reporting_to(mut self, client: Client) -> Self {
        self.settings = self.settings.reporting_to(client);
        self
    }

    /// Makes each job a session when `auto_capture_sessions` is on (off by default, as
    /// the Python notifier's Celery integration: a job is not a user's session).
    pub fn sessions(mut self, on: bool) -> Self {
        self.settings = self.settings.sessions(on);
        self
    }

    /// The runner named in `severityReason.attributes.framework` (`bugsnag-worker` by
    /// default), such as `my-queue`.
    pub fn framework(mut self, name: &'static str) -> Self {
        self.settings = self.settings.framework(name);
        self
    }

    /// The unit of work of one job: its own scope, context = the job's name, and the
    /// `job` tab.
    pub(crate) fn open(&self, job: &Job) -> UnitOfWork {
        let unit = self.settings.open(None);
        unit.scope().set_context(job.name.clone());
        unit.scope().add_metadata_tab("job", job.tab());
        unit
    }

    /// Runs an async job in its own scope; a returned error or a panic is reported and
    /// handed back as a [`JobError`].
    pub async fn run<F, T, E>(&self, job: Job, future: F) -> Result<T, JobError<E>>
    where
        F: Future<Output = Result<T, E>>,
        E: Error + 'static,
    {
        let unit = self.open(&job);
        let outcome = unit.run(future).await;
        finish(&unit, outcome)
    }

    /// Runs an async job returning `anyhow::Error`, like [`FailureHandler::run`], and
    /// reports a returned error with the backtrace anyhow captured where it was made
    /// (when one was captured; else the stack here). The error comes back as is, so the
    /// report borrows it: std resolves that backtrace on this task's thread (see
    /// [`bugsnag_core::AnyhowError`] for the cost).
    #[cfg(feature = "anyhow")]
    pub async fn run_anyhow<F, T>(&self, job: Job, future: F) -> Result<T, JobError<anyhow::Error>>
    where
        F: Future<Output = anyhow::Result<T>>,
    {
        let unit = self.open(&job);
        match unit.run(future).await {
            Ok(Err(err)) => {
                let _ = unit.report_anyhow(&err, Options::new());
                Err(JobError::Failed(err))
            }
            Ok(Ok(value)) => Ok(value),
            Err(payload) => Err(panicked(&unit, payload)),
        }
    }

    /// Runs a blocking job in its own scope, like [`FailureHandler::run`].
    pub fn run_blocking<T, E>(&self, job: Job, f: impl FnOnce() -> Result<T, E>) -> Result<T, JobError<E>>
    where
        E: Error + 'static,
    {
        let unit = self.open(&job);
        let outcome = unit.call(f);
        finish(&unit, outcome)
    }

    /// Spawns an async job on the current tokio runtime, like [`FailureHandler::run`]. The
    /// job carries the trace current here (feature `opentelemetry`), as
    /// [`in_current_scope`](bugsnag_core::InCurrentScope::in_current_scope) does.
    pub fn spawn<F, T, E>(&self, job: Job, future: F) -> tokio::task::JoinHandle<Result<T, JobError<E>>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Error + Send + 'static,
    {
        let handler = self.clone();
        tokio::spawn(async move { handler.run(job, future).await }.in_current_scope())
    }
}

fn finish<T, E: Error + 'static>(
    unit: &UnitOfWork,
    outcome: Result<Result<T, E>, Box<dyn std::any::Any + Send>>,
) -> Result<T, JobError<E>> {
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(err)) => {
            let _ = unit.report_error(&err, Options::new());
            Err(JobError::Failed(err))
        }
        Err(payload) => Err(panicked(unit, payload)),
    }
}

/// Reports a job's panic (with the stack at the panic point) as unhandled.
fn panicked<E>(unit: &UnitOfWork, payload: Box<dyn std::any::Any + Send>) -> JobError<E> {
    let _ = unit.report_panic(&*payload);
    JobError::Panicked(payload_message(&*payload))
}
