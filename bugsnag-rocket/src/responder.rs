//! [`Reported`]: a responder that reports the error it wraps.

use std::error::Error;
use std::sync::Arc;

use bugsnag_core::http::RequestSettings;
use bugsnag_core::stacktrace::Stacktrace;
use bugsnag_core::{Options, SeverityReason};
use rocket::response::{self, Responder};
use rocket::Request;

use crate::request::RequestState;
use crate::FRAMEWORK;

/// An error a handler returns, reported to Bugsnag when Rocket turns it into a response.
/// It responds exactly as the error does.
///
/// ```
/// use bugsnag_rocket::Reported;
/// use rocket::http::Status;
///
/// #[derive(Debug, rocket::Responder)]
/// #[response(status = 500)]
/// struct StorageError(String);
/// # impl std::fmt::Display for StorageError {
/// #     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.0) }
/// # }
/// impl std::error::Error for StorageError {}
///
/// #[rocket::get("/save")]
/// fn save() -> Result<&'static str, Reported<StorageError>> {
///     Err(StorageError("disk full".into()).into())
/// }
/// ```
#[derive(Debug)]
pub struct Reported<E> {
    error: E,
    stacktrace: Stacktrace,
}

impl<E> Reported<E> {
    /// Wraps `error`, capturing (unresolved, cheaply) the stack where it was returned.
    pub fn new(error: E) -> Self {
        Self { error, stacktrace: Stacktrace::capture() }
    }

    /// The wrapped error.
    pub fn into_inner(self) -> E {
        self.error
    }
}

impl<E> From<E> for Reported<E> {
    fn from(error: E) -> Self {
        Self::new(error)
    }
}

impl<'r, 'o: 'r, E> Responder<'r, 'o> for Reported<E>
where
    E: Error + Responder<'r, 'o> + 'static,
{
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'o> {
        let state = RequestState::of(request, bugsnag_core::client);
        state.describe(request, request.local_cache(Arc::<RequestSettings>::default));
        if let Some(client) = &state.client {
            let options = Options::new()
                .unhandled(SeverityReason::unhandled_error_middleware(FRAMEWORK))
                .scope(state.scope.clone())
                .stacktrace(self.stacktrace);
            let _ = client.notify_with(&self.error, options);
        }
        self.error.respond_to(request)
    }
}
