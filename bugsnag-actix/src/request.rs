//! Request data from an actix request.
//!
//! actix-web keeps its requests on one thread (`Rc`) and builds on an older `http`
//! crate, so the method, URI and headers are copied into `bugsnag_core`'s request type,
//! which scopes can share across threads.

use actix_web::dev::ServiceRequest;
use bugsnag_core::adapter::{HttpRequest, Settings};

/// The request data of `request`, with actix's route pattern (`/users/{id}`) as the
/// route when a route matched.
pub(crate) fn http_request(request: &ServiceRequest, settings: Settings) -> HttpRequest<String> {
    let headers = request.headers().iter().map(|(name, value)| (name.as_str(), value.as_bytes()));
    let uri = request.uri().to_string();
    HttpRequest::from_raw(
        request.method().as_str(),
        &uri,
        headers,
        request.peer_addr(),
        request.match_pattern(),
        settings,
    )
}
