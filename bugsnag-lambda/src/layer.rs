//! [`BugsnagLambdaLayer`]: the options of the Lambda integration.

use std::time::Duration;

use bugsnag_core::adapter::Settings;
use bugsnag_core::Client;

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
///     .send_event(false);
/// ```
#[derive(Clone, Debug)]
pub struct BugsnagLambdaLayer {
    pub(crate) settings: Settings,
    pub(crate) flush_timeout: Duration,
    pub(crate) timeout_warning: Duration,
    pub(crate) send_event: bool,
}

impl Default for BugsnagLambdaLayer {
    fn default() -> Self {
        Self {
            settings: SETTINGS,
            flush_timeout: Duration::from_secs(2),
            timeout_warning: Duration::from_secs(1),
            send_event: true,
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

    /// Whether events carry the invocation's event in an `AWS Lambda Event` tab
    /// (filtered by `params_filters`, trimmed like any metadata); on by default.
    pub fn send_event(mut self, send: bool) -> Self {
        self.send_event = send;
        self
    }
}

impl<S> tower_layer::Layer<S> for BugsnagLambdaLayer {
    type Service = BugsnagLambda<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BugsnagLambda { inner, layer: self.clone() }
    }
}
