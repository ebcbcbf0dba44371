//! [`catch_panics`]: runs each route's handler in the request's scope and turns its
//! panic into one report and a `500`.

use std::sync::Arc;

use bugsnag_core::http::RequestSettings;
use rocket::http::Status;
use rocket::route::{Handler, Outcome};
use rocket::{Data, Request, Route};

use crate::request::RequestState;
use crate::FRAMEWORK;

/// Wraps `routes` so that their handlers run in the request's Bugsnag scope and their
/// panics are reported: `.mount("/", catch_panics(routes![...]))`.
pub fn catch_panics(routes: Vec<Route>) -> Vec<Route> {
    bugsnag_core::panic::ensure_hook();
    routes
        .into_iter()
        .map(|mut route| {
            route.handler = Box::new(CatchPanics { inner: route.handler });
            route
        })
        .collect()
}

#[derive(Clone)]
struct CatchPanics {
    inner: Box<dyn Handler>,
}

#[rocket::async_trait]
impl Handler for CatchPanics {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> Outcome<'r> {
        let state = RequestState::of(request, bugsnag_core::client);
        let settings = request.local_cache(Arc::<RequestSettings>::default);
        state.describe(request, settings);
        match state.scope.run_catching(FRAMEWORK, self.inner.handle(request, data)).await {
            Ok(outcome) => outcome,
            Err(payload) => {
                if let Some(client) = &state.client {
                    let _ = client.notify_panic(&state.scope, &*payload, FRAMEWORK);
                }
                Outcome::Error(Status::InternalServerError)
            }
        }
    }
}
