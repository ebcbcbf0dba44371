//! The state kept with each request (in Rocket's request-local cache): its scope and the
//! client that reports for it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bugsnag_core::http::{HttpRequest, RequestSettings};
use bugsnag_core::{Client, Scope};
use rocket::Request;

use crate::FRAMEWORK;

/// One request's scope and client.
pub(crate) struct RequestState {
    pub(crate) scope: Scope,
    pub(crate) client: Option<Client>,
    described: AtomicBool,
}

impl RequestState {
    /// The request's state, made on first use (by the fairing, or by a wrapped route or
    /// a responder when the fairing is not attached).
    pub(crate) fn of<'a>(request: &'a Request<'_>, client: impl FnOnce() -> Option<Client>) -> &'a RequestState {
        request.local_cache(|| {
            let client = client();
            let scope = Scope::new();
            scope.catch_panics(FRAMEWORK);
            if let Some(client) = &client {
                client.auto_start_session(&scope);
            }
            RequestState { scope, client, described: AtomicBool::new(false) }
        })
    }

    /// Records the request data, once the route is known (it is not when fairings run).
    pub(crate) fn describe(&self, request: &Request<'_>, settings: &Arc<RequestSettings>) {
        if request.route().is_none() || self.described.swap(true, Ordering::AcqRel) {
            return;
        }
        let headers: Vec<_> = request.headers().iter().collect();
        let pairs = headers.iter().map(|h| (h.name().as_str(), h.value().as_bytes()));
        let route = request.route().map(|r| r.uri.as_str().to_owned());
        let uri = request.uri().to_string();
        let method = request.method();
        let source = HttpRequest::from_raw(method.as_str(), &uri, pairs, request.remote(), route, settings.clone());
        self.scope.set_request_source(Arc::new(source));
    }
}
