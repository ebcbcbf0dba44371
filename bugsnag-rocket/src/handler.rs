//! [`catch_panics`]: runs each route's handler in the request's scope and turns its
//! panic into one report and a `500`.

use std::collections::HashSet;
use std::sync::{LazyLock, Mutex};

use rocket::http::Status;
use rocket::route::{Handler, Outcome};
use rocket::{Data, Orbit, Request, Rocket, Route};

use crate::request::{RequestState, DEFAULT_SETTINGS};

/// Wraps `routes` so that their handlers run in the request's Bugsnag scope and their
/// panics are reported: `.mount("/", catch_panics(routes![...]))`.
pub fn catch_panics(routes: Vec<Route>) -> Vec<Route> {
    let mut wrapped = WRAPPED.lock().unwrap_or_else(|p| p.into_inner());
    routes
        .into_iter()
        .map(|mut route| {
            route.handler = Box::new(CatchPanics { inner: route.handler });
            wrapped.insert(identity(&route));
            route
        })
        .collect()
}

/// Routes that went through [`catch_panics`]. Rocket hands a fairing no way to wrap
/// routes that are already mounted, so the fairing can only tell which were not.
static WRAPPED: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);

/// A route's method, name and path as written in its attribute (before mounting).
fn identity(route: &Route) -> String {
    format!("{} {} {}", route.method, route.name.as_deref().unwrap_or("?"), route.uri.unmounted_origin)
}

/// Logs one warning at launch for each route not wrapped by [`catch_panics`]: a panic in
/// it is still reported by the panic hook, but without the request, context or user.
pub(crate) fn warn_unwrapped(rocket: &Rocket<Orbit>) {
    let wrapped = WRAPPED.lock().unwrap_or_else(|p| p.into_inner());
    for route in rocket.routes().filter(|route| !wrapped.contains(&identity(route))) {
        // Through `log`, which Rocket's own logger prints.
        log::warn!(
            target: "bugsnag_rocket",
            "route {} {} is not wrapped by bugsnag_rocket::catch_panics: a panic in it will be reported without its request (mount it as catch_panics(routes![...]))",
            route.method,
            route.uri
        );
    }
}

#[derive(Clone)]
struct CatchPanics {
    inner: Box<dyn Handler>,
}

#[rocket::async_trait]
impl Handler for CatchPanics {
    async fn handle<'r>(&self, request: &'r Request<'_>, data: Data<'r>) -> Outcome<'r> {
        let state = RequestState::of(request, || DEFAULT_SETTINGS);
        state.describe(request);
        match state.unit.run(self.inner.handle(request, data)).await {
            Ok(outcome) => outcome,
            Err(payload) => {
                state.mark_reported();
                let _ = state.unit.report_panic(&*payload);
                Outcome::Error(Status::InternalServerError)
            }
        }
    }
}
