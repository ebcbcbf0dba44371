//! [`FailureHandler`]: runs jobs in their own scope and reports how they fail.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bugsnag_core::{Client, Options, Scope, SeverityReason};

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

/// Runs jobs and reports their failures (the seed's `connect_failure_handler`).
#[derive(Debug, Clone)]
pub struct FailureHandler {
    client: Option<Client>,
    framework: &'static str,
}

impl Default for FailureHandler {
    fn default() -> Self {
        Self::new()
    }
}

impl FailureHandler {
    /// Reports to the process-wide client.
    pub fn new() -> Self {
        bugsnag_core::panic::ensure_hook();
        Self { client: None, framework: "bugsnag-worker" }
    }

    /// Reports to `client`.
    pub fn with_client(client: Client) -> Self {
        Self { client: Some(client), ..Self::new() }
    }

    /// The runner named in `severityReason.attributes.framework` (`bugsnag-worker` by
    /// default), such as `apalis` or `my-queue`.
    pub fn framework(mut self, name: &'static str) -> Self {
        self.framework = name;
        self
    }

    pub(crate) fn client(&self) -> Option<Client> {
        self.client.clone().or_else(bugsnag_core::client)
    }

    pub(crate) fn scope(&self, job: &Job) -> Scope {
        let scope = Scope::new();
        scope.set_context(job.name.clone());
        scope.add_metadata_tab("job", job.tab());
        scope.catch_panics(self.framework);
        scope
    }

    /// Runs an async job in its own scope; a returned error or a panic is reported and
    /// handed back as a [`JobError`].
    pub async fn run<F, T, E>(&self, job: Job, future: F) -> Result<T, JobError<E>>
    where
        F: Future<Output = Result<T, E>>,
        E: Error + 'static,
    {
        let scope = self.scope(&job);
        let outcome = scope.run_catching(self.framework, future).await;
        self.finish(&scope, outcome)
    }

    /// Runs an async job returning `anyhow::Error`, like [`FailureHandler::run`], and
    /// reports a returned error with the backtrace anyhow captured where it was made
    /// (when one was captured; else the stack here). The error comes back as is, so the
    /// report borrows it: std resolves that backtrace on this task's thread (see
    /// [`bugsnag_core::client::AnyhowError`] for the cost).
    #[cfg(feature = "anyhow")]
    pub async fn run_anyhow<F, T>(&self, job: Job, future: F) -> Result<T, JobError<anyhow::Error>>
    where
        F: Future<Output = anyhow::Result<T>>,
    {
        let scope = self.scope(&job);
        match scope.run_catching(self.framework, future).await {
            Ok(Err(err)) => {
                if let Some(client) = self.client() {
                    let reason = SeverityReason::unhandled_error_middleware(self.framework);
                    let _ = client.notify_anyhow(&err, Options::new().unhandled(reason).scope(scope.clone()));
                }
                Err(JobError::Failed(err))
            }
            Ok(Ok(value)) => Ok(value),
            Err(payload) => Err(self.panicked(&scope, payload)),
        }
    }

    /// Runs a blocking job in its own scope, like [`FailureHandler::run`].
    pub fn run_blocking<T, E>(&self, job: Job, f: impl FnOnce() -> Result<T, E>) -> Result<T, JobError<E>>
    where
        E: Error + 'static,
    {
        let scope = self.scope(&job);
        let outcome = scope.run_sync(|| catch_unwind(AssertUnwindSafe(f)));
        self.finish(&scope, outcome)
    }

    /// Spawns an async job on the current tokio runtime, like [`FailureHandler::run`].
    pub fn spawn<F, T, E>(&self, job: Job, future: F) -> tokio::task::JoinHandle<Result<T, JobError<E>>>
    where
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Error + Send + 'static,
    {
        let handler = self.clone();
        tokio::spawn(async move { handler.run(job, future).await })
    }

    fn finish<T, E: Error + 'static>(
        &self,
        scope: &Scope,
        outcome: Result<Result<T, E>, Box<dyn std::any::Any + Send>>,
    ) -> Result<T, JobError<E>> {
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                if let Some(client) = self.client() {
                    let reason = SeverityReason::unhandled_error_middleware(self.framework);
                    let _ = client.notify_with(&err, Options::new().unhandled(reason).scope(scope.clone()));
                }
                Err(JobError::Failed(err))
            }
            Err(payload) => Err(self.panicked(scope, payload)),
        }
    }

    /// Reports a job's panic (with the stack at the panic point) as unhandled.
    fn panicked<E>(&self, scope: &Scope, payload: Box<dyn std::any::Any + Send>) -> JobError<E> {
        if let Some(client) = self.client() {
            let _ = client.notify_panic(scope, &*payload, self.framework);
        }
        JobError::Panicked(bugsnag_core::panic::payload_message(&*payload))
    }
}
