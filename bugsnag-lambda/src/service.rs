//! [`BugsnagLambda`]: runs each invocation in its scope and delivers its reports before
//! it returns.

use std::error::Error;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bugsnag_core::adapter::UnitOfWork;
use bugsnag_core::Options;
use lambda_runtime::LambdaEvent;
use tower_service::Service;

use crate::invocation::{context_tab, time_left, warn_before_deadline, Invocation};
use crate::layer::{BugsnagLambdaLayer, EventTab, WithEvent};

/// The service [`BugsnagLambdaLayer`] makes around a function's service.
///
/// The function's error type must give a `dyn Error` (`AsRef<dyn Error + Send + Sync>`),
/// as `lambda_runtime::Error`, `anyhow::Error` and `eyre::Report` do: it is reported with
/// its `source()` chain and origin, then handed back unchanged.
#[derive(Clone, Debug)]
pub struct BugsnagLambda<S, Tab = WithEvent> {
    pub(crate) inner: S,
    pub(crate) layer: BugsnagLambdaLayer<Tab>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, T, Tab> Service<LambdaEvent<T>> for BugsnagLambda<S, Tab>
where
    S: Service<LambdaEvent<T>>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
    S::Error: AsRef<dyn Error + Send + Sync + 'static> + Send + 'static,
    Tab: EventTab<T>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, event: LambdaEvent<T>) -> Self::Future {
        let layer = &self.layer;
        let unit = layer.settings.open(Some(Arc::new(Invocation::new(&event.context))));
        unit.scope().add_metadata_tab("AWS Lambda Context", context_tab(&event.context));
        // Copied now: the handler takes the event. (Keeping it serialized as text until
        // something is reported cost ten times more: every string byte is escaped.)
        if let Some(tab) = layer.event_tab.tab(&event.payload) {
            unit.scope().add_metadata_tab("AWS Lambda Event", tab);
        }
        let queued_before = unit.client().map(|client| client.stats().queued);
        let deadline = event.context.deadline;
        // Aborted when the invocation ends, however it ends (an outer timeout may drop
        // its future): a stale warning must not fire during a later invocation.
        let watch = (unit.client().is_some() && !layer.timeout_warning.is_zero())
            .then(|| AbortOnDrop(tokio::spawn(warn_before_deadline(unit.clone(), deadline, layer.timeout_warning))));
        let flush_timeout = layer.flush_timeout;
        let called = unit.call(|| self.inner.call(event));
        Box::pin(async move {
            let outcome = match called {
                Ok(future) => unit.run(future).await,
                Err(payload) => Err(payload),
            };
            drop(watch);
            let result = match outcome {
                Ok(Ok(response)) => Ok(response),
                Ok(Err(error)) => {
                    let _ = unit.report_error(error.as_ref(), Options::new());
                    Err(error)
                }
                Err(payload) => {
                    let _ = unit.report_panic(&*payload);
                    deliver(&unit, queued_before, flush_timeout, deadline).await;
                    // lambda_runtime answers the invocation with the panic as its error.
                    std::panic::resume_unwind(payload);
                }
            };
            deliver(&unit, queued_before, flush_timeout, deadline).await;
            result
        })
    }
}

/// A task aborted when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Time left, before the deadline, for the function to hand its answer to the Runtime
/// API (a loopback request): a flush that ran up to the deadline would turn the answer
/// into a timeout.
const ANSWER_MARGIN: Duration = Duration::from_millis(100);

/// Waits for what this invocation reported to be delivered (or kept), up to `timeout`
/// and never past the deadline (less [`ANSWER_MARGIN`]): the sandbox may freeze as soon
/// as the invocation returns. Other invocations running at once (`lambda_runtime`'s
/// concurrent mode) may have queued events too; they are waited for within the same bound.
/// An invocation that reported nothing does not wait, unless session counts are due
/// (none sent for `session_publish_interval`): the timer that sends them does not run in
/// a frozen sandbox, and a sandbox thrown away takes what it did not send with it.
async fn deliver(unit: &UnitOfWork, queued_before: Option<u64>, timeout: Duration, deadline_ms: u64) {
    let Some(client) = unit.client().cloned() else { return };
    let reported = queued_before.is_none_or(|before| client.stats().queued != before);
    if !reported && !client.session_counts_due() {
        return;
    }
    let timeout = match deadline_ms {
        0 => timeout,
        deadline => timeout.min(time_left(deadline).saturating_sub(ANSWER_MARGIN)),
    };
    let _ = tokio::task::spawn_blocking(move || client.flush(timeout)).await;
}
