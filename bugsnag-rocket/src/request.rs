//! The state kept with each request (in Rocket's request-local cache): its unit of work.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bugsnag_core::adapter::{HttpRequest, Settings, UnitOfWork};
use rocket::Request;

/// The framework named in reports.
const FRAMEWORK: &str = "Rocket";

/// The defaults, and the settings of a request no fairing opened (a wrapped route or a
/// responder on a Rocket without the fairing).
pub(crate) const DEFAULT_SETTINGS: Settings = Settings::new(FRAMEWORK, &[(FRAMEWORK, env!("BUGSNAG_VERSION_ROCKET"))]);

/// One request's unit of work, and what has been done with it.
pub(crate) struct RequestState {
    pub(crate) unit: UnitOfWork,
    described: AtomicBool,
    reported: AtomicBool,
}

impl RequestState {
    /// The request's state, made on first use: by the fairing with its settings, or by a
    /// wrapped route or a responder (with the defaults) when the fairing is not attached.
    pub(crate) fn of<'a>(request: &'a Request<'_>, settings: impl FnOnce() -> Settings) -> &'a RequestState {
        request.local_cache(|| RequestState {
            unit: settings().open(None),
            described: AtomicBool::new(false),
            reported: AtomicBool::new(false),
        })
    }

    /// Records the request data, once the route is known (it is not when fairings run).
    pub(crate) fn describe(&self, request: &Request<'_>) {
        if request.route().is_none() || self.described.swap(true, Ordering::AcqRel) {
            return;
        }
        let headers: Vec<_> = request.headers().iter().collect();
        let pairs = headers.iter().map(|h| (h.name().as_str(), h.value().as_bytes()));
        let route = request.route().map(|r| r.uri.as_str().to_owned());
        let uri = request.uri().to_string();
        let method = request.method();
        let settings = self.unit.settings().clone();
        let source = HttpRequest::from_raw(method.as_str(), &uri, pairs, request.remote(), route, settings);
        self.unit.scope().set_request_source(Arc::new(source));
    }

    /// Notes that this request's failure was reported, so its 5xx is not reported again.
    pub(crate) fn mark_reported(&self) {
        self.reported.store(true, Ordering::Release);
    }

    pub(crate) fn was_reported(&self) -> bool {
        self.reported.load(Ordering::Acquire)
    }
}
