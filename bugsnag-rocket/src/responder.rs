//! [`Reported`]: a responder that reports the error it wraps.

use std::error::Error;

use bugsnag_core::adapter::ErrorChain;
use bugsnag_core::{Options, Origin};
use rocket::response::{self, Responder};
use rocket::Request;

use crate::request::{RequestState, DEFAULT_SETTINGS};

/// An error a handler returns, reported to Bugsnag when Rocket turns it into a response
/// of a status the fairing reports (5xx by default). It responds exactly as the error
/// does. The report's stack starts where it was made: the line of the `?` (or `.into()`)
/// that wrapped it, or the [`Origin`] the error itself carries.
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
    origin: Origin,
}

impl<E> Reported<E> {
    /// Wraps `error`, capturing (unresolved, cheaply) the caller's [`Origin`].
    #[track_caller]
    pub fn new(error: E) -> Self {
        Self { error, origin: Origin::capture() }
    }

    /// The wrapped error.
    pub fn into_inner(self) -> E {
        self.error
    }
}

impl<E> From<E> for Reported<E> {
    #[track_caller]
    fn from(error: E) -> Self {
        Self::new(error)
    }
}

impl<'r, 'o: 'r, E> Responder<'r, 'o> for Reported<E>
where
    E: Error + Responder<'r, 'o> + 'static,
{
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'o> {
        let state = RequestState::of(request, || DEFAULT_SETTINGS);
        state.describe(request);
        let Self { error, origin } = self;
        // The status is only known once the error has responded, and responding consumes
        // it: its chain is read first.
        let chain = ErrorChain::of(&error);
        let response = error.respond_to(request);
        let status = match &response {
            Ok(response) => response.status().code,
            Err(status) => status.code,
        };
        if state.unit.settings().reports_status(status) {
            state.mark_reported();
            // An origin the error carries was made first, nearer the line that failed.
            let options =
                Options::new().origin(&origin).add_metadata_tab("response", serde_json::json!({ "status": status }));
            let _ = state.unit.report_chain(chain, options);
        }
        response
    }
}
