//! Request data from an actix request.
//!
//! actix-web keeps its requests on one thread (`Rc`) and builds on an older `http`
//! crate, so the method, URI and headers are copied into `bugsnag_core`'s request type,
//! which scopes can share across threads.

use std::sync::Arc;

use actix_web::dev::ServiceRequest;
use bugsnag_core::http::{HttpRequest, RequestSettings};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri};

/// The request data of `request`, with actix's route pattern (`/users/{id}`) as the
/// route when a route matched.
pub fn http_request(request: &ServiceRequest, settings: Arc<RequestSettings>) -> HttpRequest<String> {
    let method = Method::from_bytes(request.method().as_str().as_bytes()).unwrap_or_default();
    let uri: Uri = request.uri().to_string().parse().unwrap_or_default();
    let mut headers = HeaderMap::with_capacity(request.headers().len());
    for (name, value) in request.headers() {
        // Both sides validated these bytes already; a mismatch skips the header.
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_str().as_bytes()), HeaderValue::from_bytes(value.as_bytes()))
        {
            headers.append(name, value);
        }
    }
    let peer = request.peer_addr();
    HttpRequest::new((&method, &uri, &headers), peer, request.match_pattern(), settings)
}
