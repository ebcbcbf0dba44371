//! [`ErrorReport`]: how a handler's returned error reaches the layer.
//!
//! By the time a response leaves the handler its error has become a status code. Put an
//! `ErrorReport` in the response's extensions (usually in your error type's
//! `IntoResponse`) and the layer reports that error, with its `source()` chain and the
//! stack where the report was made, when the status is one it reports (5xx by default).
//!
//! ```
//! use axum::http::StatusCode;
//! use axum::response::{IntoResponse, Response};
//! use bugsnag_tower::ErrorReport;
//!
//! #[derive(Debug)]
//! struct AppError(std::io::Error);
//!
//! impl std::fmt::Display for AppError {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         write!(f, "storage failed")
//!     }
//! }
//!
//! impl std::error::Error for AppError {
//!     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
//!         Some(&self.0)
//!     }
//! }
//!
//! impl IntoResponse for AppError {
//!     fn into_response(self) -> Response {
//!         let mut response = (StatusCode::INTERNAL_SERVER_ERROR, "something went wrong").into_response();
//!         response.extensions_mut().insert(ErrorReport::new(self));
//!         response
//!     }
//! }
//! ```

use std::error::Error;
use std::sync::Arc;

use bugsnag_core::Stacktrace;

/// An error a handler returned, attached to its response for the layer to report.
#[derive(Clone)]
pub struct ErrorReport {
    pub(crate) error: Arc<dyn Error + Send + Sync>,
    pub(crate) class: &'static str,
    pub(crate) stacktrace: Stacktrace,
}

impl ErrorReport {
    /// Wraps `error`, capturing (unresolved, cheaply) the stack where it is reported.
    pub fn new<E: Error + Send + Sync + 'static>(error: E) -> Self {
        Self { error: Arc::new(error), class: std::any::type_name::<E>(), stacktrace: Stacktrace::capture() }
    }
}

impl std::fmt::Debug for ErrorReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorReport").field("class", &self.class).field("error", &self.error).finish()
    }
}
