//! [`ErrorReport`]: how a handler's returned error reaches the layer.
//!
//! By the time a response leaves the handler its error has become a status code. Put an
//! `ErrorReport` in the response's extensions (usually in your error type's
//! `IntoResponse`) and the layer reports that error, with its `source()` chain, when the
//! status is one it reports (5xx by default). Its stack starts where the error was made
//! when the error carries an [`Origin`](bugsnag_core::Origin) (see
//! [`traced_error!`](bugsnag_core::traced_error)), else where the report was made.
//!
//! ```
//! use axum::http::StatusCode;
//! use axum::response::{IntoResponse, Response};
//! use bugsnag_tower::ErrorReport;
//!
//! #[derive(Debug, thiserror::Error)]
//! enum AppErrorKind {
//!     #[error("storage failed")]
//!     Storage(#[from] std::io::Error),
//! }
//!
//! // `?` into AppError records the line it was on: reports start there.
//! bugsnag_core::traced_error!(struct AppError(AppErrorKind););
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

use bugsnag_core::adapter::UnitOfWork;
use bugsnag_core::{Options, Origin, Outcome, Stacktrace};

/// An error a handler returned, attached to its response for the layer to report.
#[derive(Clone)]
pub struct ErrorReport {
    error: Reported,
    stack: Stack,
}

/// Where the report's stack starts, best first.
#[derive(Clone)]
enum Stack {
    /// Where the error was made.
    Origin(Origin),
    /// The backtrace anyhow captured where it was made.
    #[cfg(feature = "anyhow")]
    Anyhow,
    /// Where the report was made.
    Here(Stacktrace),
}

impl Stack {
    fn of(origin: Option<Origin>) -> Self {
        origin.map_or_else(|| Stack::Here(Stacktrace::capture()), Stack::Origin)
    }
}

#[derive(Clone)]
enum Reported {
    Error {
        error: Arc<dyn Error + Send + Sync>,
        class: &'static str,
    },
    #[cfg(feature = "anyhow")]
    Anyhow(Arc<anyhow::Error>),
}

impl ErrorReport {
    /// Wraps `error`, with the [`Origin`] it carries or else (unresolved, cheaply) the
    /// stack here.
    pub fn new<E: Error + Send + Sync + 'static>(error: E) -> Self {
        let stack = Stack::of(Origin::find(&error));
        Self { error: Reported::Error { error: Arc::new(error), class: std::any::type_name::<E>() }, stack }
    }

    /// Wraps an `anyhow::Error` (feature `anyhow`): its stack is the [`Origin`] one of its
    /// errors carries, else the backtrace anyhow captured (with `RUST_LIB_BACKTRACE=1`),
    /// else the stack here.
    #[cfg(feature = "anyhow")]
    pub fn anyhow(error: anyhow::Error) -> Self {
        let root: &(dyn Error + Send + Sync + 'static) = error.as_ref();
        let stack = match Origin::find(root) {
            None if error.backtrace().status() == std::backtrace::BacktraceStatus::Captured => Stack::Anyhow,
            origin => Stack::of(origin),
        };
        Self { error: Reported::Anyhow(Arc::new(error)), stack }
    }

    /// Reports the error in `unit`, with `options` (the response's status).
    pub(crate) fn report(&self, unit: &UnitOfWork, options: Options) -> Outcome {
        let options = match &self.stack {
            Stack::Origin(origin) => options.origin(origin),
            Stack::Here(here) => options.stacktrace(here.clone()),
            // Left unset: the report reads anyhow's.
            #[cfg(feature = "anyhow")]
            Stack::Anyhow => options,
        };
        match &self.error {
            Reported::Error { error, class } => {
                let class = bugsnag_core::adapter::class_of_typed(&**error, class);
                unit.report_error(&**error, options.error_class(class))
            }
            #[cfg(feature = "anyhow")]
            Reported::Anyhow(error) => unit.report_anyhow(error.clone(), options),
        }
    }
}

impl std::fmt::Debug for ErrorReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            Reported::Error { error, class } => {
                f.debug_struct("ErrorReport").field("class", class).field("error", error).finish()
            }
            #[cfg(feature = "anyhow")]
            Reported::Anyhow(error) => f.debug_struct("ErrorReport").field("error", &error.to_string()).finish(),
        }
    }
}
