//! Request data from an actix request.
//!
//! actix-web keeps its requests on one thread (`Rc`) and builds on an older `http`
//! crate, so the method, URI and headers are copied into `bugsnag_core`'s request type,
//! which scopes can share across threads.

use std::sync::Arc;

use actix_web::dev::ServiceRequest;
use bugsnag_core::http::{HttpRequest, RequestSettings};

/// The request data of `request`, with actix's route pattern (`/users/{id}`) as the
/// route when a route matched.
pub fn http_request(request: &ServiceRequest, settings: Arc<RequestSettings>) -> HttpRequest<String> {
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
