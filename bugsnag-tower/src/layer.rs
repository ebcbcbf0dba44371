//! [`BugsnagLayer`]: the tower `Layer`, and the options shared by every request it sees.

use std::sync::Arc;

use bugsnag_core::http::RequestSettings;
use bugsnag_core::Client;
use http::StatusCode;
use tower_layer::Layer;

use crate::service::BugsnagService;

/// Reports panics and returned errors of every request of the service it wraps.
///
/// ```no_run
/// use axum::{routing::get, Router};
/// use bugsnag_tower::BugsnagLayer;
///
/// let app: Router = Router::new()
///     .route("/", get(|| async { "ok" }))
///     .layer(
///         BugsnagLayer::new()
///             .trust_forwarded_headers(true) // behind a proxy that sets X-Forwarded-For
///             .drop_headers(["x-internal-token"])
///             .report_status(|status| status.is_server_error() || status == 409),
///     );
/// ```
#[derive(Clone)]
pub struct BugsnagLayer {
    pub(crate) client: Option<Client>,
    pub(crate) settings: Arc<Settings>,
}

/// Options of a layer, shared by its services.
pub(crate) struct Settings {
    pub(crate) request: Arc<RequestSettings>,
    pub(crate) report_status: Box<dyn Fn(StatusCode) -> bool + Send + Sync>,
    pub(crate) report_without_error: bool,
    pub(crate) framework: &'static str,
}

/// The framework name reported in `severityReason.attributes.framework`.
const FRAMEWORK: &str = if cfg!(feature = "axum") { "axum" } else { "tower" };

impl Default for BugsnagLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl BugsnagLayer {
    /// A layer that reports to the process-wide client (`bugsnag_core::configure`).
    pub fn new() -> Self {
        bugsnag_core::panic::ensure_hook();
        let layer = Self {
            client: None,
            settings: Arc::new(Settings {
                request: Arc::new(RequestSettings::default()),
                report_status: Box::new(|status| status.is_server_error()),
                report_without_error: false,
                framework: FRAMEWORK,
            }),
        };
        if let Some(client) = bugsnag_core::client() {
            record_versions(&client);
        }
        layer
    }

    /// A layer that reports to `client` (tests, or several projects in one process).
    pub fn with_client(client: Client) -> Self {
        record_versions(&client);
        Self { client: Some(client), ..Self::new() }
    }

    fn settings_mut(&mut self) -> &mut Settings {
        Arc::get_mut(&mut self.settings).expect("layer options are set before the layer is cloned")
    }

    /// Which statuses of responses carrying an [`ErrorReport`](crate::ErrorReport) are
    /// reported (5xx by default).
    pub fn report_status(mut self, report: impl Fn(StatusCode) -> bool + Send + Sync + 'static) -> Self {
        self.settings_mut().report_status = Box::new(report);
        self
    }

    /// Also report responses of those statuses that carry no error (errorClass
    /// `HTTP 503` and so on). Off by default.
    pub fn report_responses_without_error(mut self, report: bool) -> Self {
        self.settings_mut().report_without_error = report;
        self
    }

    /// Read the client IP from `X-Forwarded-For`, `Forwarded` or `X-Real-IP`. Only turn
    /// this on behind a proxy that sets them: clients can forge them.
    pub fn trust_forwarded_headers(mut self, trust: bool) -> Self {
        Arc::make_mut(&mut self.settings_mut().request).trust_forwarded_headers = trust;
        self
    }

    /// Headers never sent, whatever `params_filters` says. Invalid names are ignored.
    pub fn drop_headers<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, names: I) -> Self {
        Arc::make_mut(&mut self.settings_mut().request).drop_headers(names);
        self
    }

    /// The framework named in reports (`axum` with the `axum` feature, else `tower`);
    /// set it to `tonic` or `hyper` when that is what the layer wraps.
    pub fn framework(mut self, name: &'static str) -> Self {
        self.settings_mut().framework = name;
        self
    }
}

fn record_versions(client: &Client) {
    // Versions of the APIs this crate was built against.
    client.add_runtime_version("tower", "0.5");
    if cfg!(feature = "axum") {
        client.add_runtime_version("axum", "0.8");
    }
}

impl<S> Layer<S> for BugsnagLayer {
    type Service = BugsnagService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BugsnagService::new(inner, self.clone())
    }
}
