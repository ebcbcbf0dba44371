//! One invocation as Bugsnag sees it: its tabs, its trace, and the watch on its deadline.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bugsnag_core::adapter::{RequestSource, UnitOfWork};
use bugsnag_core::{Correlation, Options, Request, Severity, User};
use lambda_runtime::Context;
use serde_json::{json, Value};

/// What every event of one invocation shares: the function as context, the X-Ray trace.
#[derive(Debug)]
pub(crate) struct Invocation {
    function_name: String,
    xray_trace_id: Option<String>,
}

impl Invocation {
    pub(crate) fn new(context: &Context) -> Self {
        Self { function_name: context.env_config.function_name.clone(), xray_trace_id: context.xray_trace_id.clone() }
    }
}

impl RequestSource for Invocation {
    fn request(&self) -> Request {
        // An invocation is no HTTP request: an empty one is left out of the event.
        Request::default()
    }

    fn context(&self) -> Option<String> {
        Some(self.function_name.clone()).filter(|name| !name.is_empty())
    }

    fn user(&self) -> Option<User> {
        None
    }

    fn correlation(&self) -> Option<Correlation> {
        self.xray_trace_id.as_deref().and_then(xray_correlation)
    }
}

/// The trace of an X-Ray header (`Root=1-5759e988-bd862e3fe1be46a994272793;`
/// `Parent=53995c3f42cd8ad8;Sampled=1`) when it is sampled: its root is the W3C trace id
/// (the epoch and the random part), its parent the span.
fn xray_correlation(header: &str) -> Option<Correlation> {
    let field = |name: &str| {
        header.split(';').find_map(|part| part.trim().strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
    };
    if field("Sampled") != Some("1") {
        return None;
    }
    let root = field("Root")?.strip_prefix("1-")?.replace('-', "");
    Correlation::from_hex(&root, field("Parent")?)
}

/// The `AWS Lambda Context` tab.
pub(crate) fn context_tab(context: &Context) -> Value {
    let config = &context.env_config;
    let mut tab = json!({
        "function_name": config.function_name,
        "function_version": config.version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": config.memory,
        "aws_request_id": context.request_id,
        "log_group_name": config.log_group,
        "log_stream_name": config.log_stream,
    });
    if let Some(identity) = &context.identity {
        tab["identity"] = serde_json::to_value(identity).unwrap_or_default();
    }
    if let Some(client_context) = &context.client_context {
        tab["client_context"] = serde_json::to_value(client_context).unwrap_or_default();
    }
    tab
}

/// How long until the invocation's deadline (`Lambda-Runtime-Deadline-Ms`, milliseconds
/// since the Unix epoch); zero once it has passed.
pub(crate) fn time_left(deadline_ms: u64) -> Duration {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    Duration::from_millis(deadline_ms).saturating_sub(now)
}

/// Waits until `warning` before the deadline; if the handler is still running then (this
/// future was not dropped), reports `LambdaTimeoutApproaching` in the invocation's scope
/// and waits for its delivery until the deadline.
pub(crate) async fn warn_before_deadline(unit: UnitOfWork, deadline_ms: u64, warning: Duration) {
    let started = Instant::now();
    let left = time_left(deadline_ms);
    let Some(wait) = left.checked_sub(warning).filter(|_| !warning.is_zero()) else { return };
    tokio::time::sleep(wait).await;
    let Some(client) = unit.client().cloned() else { return };
    let message = format!(
        "the invocation has run for {} ms and will time out in {} ms (deadline {deadline_ms} ms after the Unix epoch)",
        started.elapsed().as_millis(),
        time_left(deadline_ms).as_millis()
    );
    // Handled, a warning: the handler has not failed yet.
    let options =
        Options::new().error_class("LambdaTimeoutApproaching").severity(Severity::Warning).scope(unit.scope().clone());
    client.notify_message_with(message, options);
    let until_deadline = time_left(deadline_ms);
    let _ = tokio::task::spawn_blocking(move || client.flush(until_deadline)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sampled_xray_header_gives_its_trace_and_an_unsampled_one_none() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let expected = Correlation::from_hex("5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8");
        assert!(expected.is_some());
        assert_eq!(xray_correlation(header), expected);
        assert_eq!(xray_correlation(&header.replace("Sampled=1", "Sampled=0")), None);
        for broken in ["", "Root=1-zz;Parent=53995c3f42cd8ad8;Sampled=1", "Sampled=1", "Root=5759e988;Sampled=1"] {
            assert_eq!(xray_correlation(broken), None, "{broken}");
        }
    }
}
