//! [`Job`]: what the notifier knows of one job run.

use serde_json::{Map, Value};

/// One run of a job: its name (the event's context) and what identifies the run.
#[derive(Debug, Clone)]
#[must_use]
pub struct Job {
    pub(crate) name: String,
    id: Option<String>,
    attempt: Option<u32>,
    queue: Option<String>,
    worker: Option<String>,
    arguments: Option<Value>,
}

impl Job {
    /// A run of the job called `name`, such as `send_invoice`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), id: None, attempt: None, queue: None, worker: None, arguments: None }
    }

    /// The run's id in your queue.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Which attempt this is, 1 for the first.
    pub fn attempt(mut self, attempt: u32) -> Self {
        self.attempt = Some(attempt);
        self
    }

    /// The queue the job came from.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self
    }

    /// The worker running it.
    pub fn worker(mut self, worker: impl Into<String>) -> Self {
        self.worker = Some(worker.into());
        self
    }

    /// The job's arguments (replacing any given before); redacted by `params_filters`
    /// before they are sent, and cut at 32 levels of nesting.
    pub fn arguments(mut self, mut arguments: Value) -> Self {
        bugsnag_core::adapter::cap_depth(&mut arguments);
        self.arguments = Some(arguments);
        self
    }

    /// The `job` metaData tab.
    pub(crate) fn tab(&self) -> Value {
        let mut tab = Map::new();
        tab.insert("name".into(), self.name.clone().into());
        if let Some(id) = &self.id {
            tab.insert("id".into(), id.clone().into());
        }
        if let Some(attempt) = self.attempt {
            tab.insert("attempt".into(), attempt.into());
        }
        if let Some(queue) = &self.queue {
            tab.insert("queue".into(), queue.clone().into());
        }
        if let Some(worker) = &self.worker {
            tab.insert("worker".into(), worker.clone().into());
        }
        if let Some(arguments) = &self.arguments {
            tab.insert("arguments".into(), arguments.clone());
        }
        Value::Object(tab)
    }
}
