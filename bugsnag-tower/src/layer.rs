//! [`BugsnagLayer`]: the tower `Layer`, and its options.

use bugsnag_core::adapter::Settings;
use http::StatusCode;
use tower_layer::Layer;

use crate::grpc::{Codes, GrpcCode};
use crate::service::BugsnagService;

/// The framework named in `severityReason.attributes.framework` by default.
const FRAMEWORK: &str = if cfg!(feature = "axum") { "axum" } else { "tower" };

/// `device.runtimeVersions` of the requests this layer serves.
const RUNTIME_VERSIONS: &[(&str, &str)] = &[
    ("tower", crate::versions::TOWER),
    #[cfg(feature = "axum")]
    ("axum", crate::versions::AXUM),
    #[cfg(feature = "tonic")]
    ("tonic", crate::versions::TONIC),
];

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
#[derive(Clone, Debug)]
pub struct BugsnagLayer {
    settings: Settings,
    grpc_codes: Codes,
}

impl Default for BugsnagLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl BugsnagLayer {
    /// A layer that reports to the process-wide client (`bugsnag_core::configure`).
    pub fn new() -> Self {
        Self { settings: Settings::new(FRAMEWORK, RUNTIME_VERSIONS), grpc_codes: Codes::SERVER_FAULTS }
    }

    bugsnag_core::adapter_options!(settings);

    /// Which statuses are reported: those of responses carrying an
    /// [`ErrorReport`](crate::ErrorReport), and with
    /// [`report_responses_without_error`](Self::report_responses_without_error) all of
    /// them (5xx by default).
    pub fn report_status(mut self, report: impl Fn(StatusCode) -> bool + Send + Sync + 'static) -> Self {
        self.settings = self.settings.report_status(move |code| StatusCode::from_u16(code).is_ok_and(&report));
        self
    }

    /// Which gRPC status codes are reported, for calls whose content type is
    /// `application/grpc`: by default those that mean the server failed (`Unknown`,
    /// `Internal`, `Unavailable`, `DataLoss`). See [`GrpcCode`].
    ///
    /// ```
    /// use bugsnag_tower::{BugsnagLayer, GrpcCode};
    ///
    /// // Also report calls that ran past their deadline.
    /// let layer = BugsnagLayer::new().framework("tonic").grpc_report_codes([
    ///     GrpcCode::Unknown,
    ///     GrpcCode::Internal,
    ///     GrpcCode::Unavailable,
    ///     GrpcCode::DataLoss,
    ///     GrpcCode::DeadlineExceeded,
    /// ]);
    /// ```
    pub fn grpc_report_codes(mut self, codes: impl IntoIterator<Item = GrpcCode>) -> Self {
        self.grpc_codes = Codes::of(codes);
        self
    }

    /// The framework named in reports (`axum` with the `axum` feature, else `tower`);
    /// set it to `tonic` or `hyper` when that is what the layer wraps.
    pub fn framework(mut self, name: &'static str) -> Self {
        self.settings = self.settings.framework(name);
        self
    }
}

impl<S> Layer<S> for BugsnagLayer {
    type Service = BugsnagService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BugsnagService::new(inner, self.settings.clone(), self.grpc_codes)
    }
}
