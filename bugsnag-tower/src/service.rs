//! [`BugsnagService`]: opens a unit of work per request, records the request and catches
//! panics of the wrapped service's `call`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bugsnag_core::adapter::{HttpRequest, Settings};
use http::{Request, Response};
use tower_service::Service;

use crate::body::ResponseBody;
use crate::future::ResponseFuture;
use crate::grpc::{self, Codes};

/// The service made by [`BugsnagLayer`](crate::BugsnagLayer).
#[derive(Clone, Debug)]
pub struct BugsnagService<S> {
    inner: S,
    settings: Settings,
    grpc_codes: Codes,
}

impl<S> BugsnagService<S> {
    pub(crate) fn new(inner: S, settings: Settings, grpc_codes: Codes) -> Self {
        Self { inner, settings, grpc_codes }
    }
}

impl<S, B, ResBody> Service<Request<B>> for BugsnagService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let source = HttpRequest::new(
            (request.method(), request.uri(), request.headers()),
            peer(&request),
            route(&request),
            self.settings.clone(),
        );
        // A gRPC call's outcome is in `grpc-status`, not in the HTTP status.
        let grpc = grpc::is_grpc(request.headers())
            .then(|| grpc::Call { codes: self.grpc_codes, path: Arc::from(request.uri().path()) });
        let unit = self.settings.open(Some(Arc::new(source)));
        let inner = &mut self.inner;
        match unit.call(|| inner.call(request)) {
            Ok(future) => ResponseFuture::running(unit, future, grpc),
            Err(payload) => ResponseFuture::panicked(&unit, &*payload, grpc.is_some()),
        }
    }
}

/// The client's socket address, from axum's `ConnectInfo`, tonic's `TcpConnectInfo` or
/// a plain `SocketAddr` extension (which hyper users can insert).
fn peer<B>(request: &Request<B>) -> Option<SocketAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = request.extensions().get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0);
    }
    #[cfg(feature = "tonic")]
    if let Some(info) = request.extensions().get::<tonic::transport::server::TcpConnectInfo>() {
        return info.remote_addr();
    }
    request.extensions().get::<SocketAddr>().copied()
}

/// The route template as the framework keeps it (cloning it copies no string).
#[derive(Debug, Clone)]
enum Route {
    #[cfg(feature = "axum")]
    Axum(axum::extract::MatchedPath),
}

impl AsRef<str> for Route {
    fn as_ref(&self) -> &str {
        match *self {
            #[cfg(feature = "axum")]
            Route::Axum(ref path) => path.as_str(),
        }
    }
}

/// The route template, from axum's `MatchedPath`.
fn route<B>(request: &Request<B>) -> Option<Route> {
    #[cfg(feature = "axum")]
    if let Some(path) = request.extensions().get::<axum::extract::MatchedPath>() {
        return Some(Route::Axum(path.clone()));
    }
    let _ = request;
    None
}
