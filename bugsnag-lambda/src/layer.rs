//! [`BugsnagLambdaLayer`]: the options of the Lambda integration.

use std::time::Duration;

use bugsnag_core::adapter::Settings;
use bugsnag_core::Client;
use serde::Serialize;
use serde_json::Value;

use crate::service::BugsnagLambda;
use crate::FRAMEWORK;

const SETTINGS: Settings = Settings::new(FRAMEWORK, &[("lambda_runtime", env!("BUGSNAG_VERSION_LAMBDA_RUNTIME"))]);

/// Reports a Lambda function's errors, panics and approaching timeouts, and delivers them
/// before the sandbox freezes. Wrap the function's service with it:
/// `ServiceBuilder::new().layer(BugsnagLambdaLayer::new()).service(service_fn(handler))`.
///
/// ```
/// use std::time::Duration;
/// use bugsnag_lambda::BugsnagLambdaLayer;
///
/// let layer = BugsnagLambdaLayer::new()
///     .flush_timeout(Duration::from_secs(1))
///     .timeout_warning(Duration::from_millis(500))
///     .without_event();
/// ```
///
/// `Tab` says whether events carry the invocation's event: [`WithEvent`] (the default;
/// the event type must then be `Serialize`) or [`WithoutEvent`]
/// ([`without_event`](Self::without_event); any event type).
#[derive(Clone, Debug)]
pub struct BugsnagLambdaLayer<Tab = WithEvent> {
    pub(crate) settings: Settings,
    pub(crate) flush_timeout: Duration,
    pub(crate) timeout_warning: Duration,
    pub(crate) event_tab: Tab,
}

impl Default for BugsnagLambdaLayer {
    fn default() -> Self {
        Self {
            settings: SETTINGS,
            flush_timeout: Duration::from_secs(2),
            timeout_warning: Duration::from_secs(1),
            event_tab: WithEvent,
        }
    }
}

impl BugsnagLambdaLayer {
    /// Reports to the process-wide client (`bugsnag_core::configure`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports to `client` instead of the process-wide client.
    pub fn with_client(client: Client) -> Self {
        Self { settings: SETTINGS.reporting_to(client), ..Self::default() }
    }

    /// Leaves the invocation's event out of events (no `AWS Lambda Event` tab), and with
    /// it the copy each invocation makes of it and the need for the event type to be
    /// `Serialize`: a function whose events are only `Deserialize` uses this.
    pub fn without_event(self) -> BugsnagLambdaLayer<WithoutEvent> {
        let Self { settings, flush_timeout, timeout_warning, event_tab: WithEvent } = self;
        BugsnagLambdaLayer { settings, flush_timeout, timeout_warning, event_tab: WithoutEvent }
    }
}

impl<Tab> BugsnagLambdaLayer<Tab> {
    /// How long an invocation that reported something waits, before it returns, for its
    /// events to be delivered (or kept in the outbox). 2 s by default, as the Python
    /// notifier's `aws_lambda_handler`.
    pub fn flush_timeout(mut self, timeout: Duration) -> Self {
        self.flush_timeout = timeout;
        self
    }

    /// How long before the invocation's deadline a `LambdaTimeoutApproaching` event is
    /// sent if the handler is still running; 1 s by default, `Duration::ZERO` for none.
    pub fn timeout_warning(mut self, before_deadline: Duration) -> Self {
        self.timeout_warning = before_deadline;
        self
    }
}

/// What of an invocation's event its events carry, in their `AWS Lambda Event` tab.
pub trait EventTab<T>: Clone + Send + Sync + 'static {
    /// The tab, copied from the event when the invocation starts (the handler takes the
    /// event), or `None`.
    fn tab(&self, event: &T) -> Option<Value>;
}

/// Events carry the invocation's event (filtered by `params_filters`, trimmed like any
/// metadata): the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct WithEvent;

impl<T: Serialize> EventTab<T> for WithEvent {
    fn tab(&self, event: &T) -> Option<Value> {
        serde_json::to_value(event).ok()
    }
}

/// Events leave the invocation's event out: [`BugsnagLambdaLayer::without_event`].
#[derive(Clone, Copy, Debug, Default)]
pub struct WithoutEvent;

impl<T> EventTab<T> for WithoutEvent {
    fn tab(&self, _: &T) -> Option<Value> {
        None
    }
}

impl<S, Tab: Clone> tower_layer::Layer<S> for BugsnagLambdaLayer<Tab> {
    type Service = BugsnagLambda<S, Tab>;

    fn layer(&self, inner: S) -> Self::Service {
        BugsnagLambda { inner, layer: self.clone() }
    }
}
