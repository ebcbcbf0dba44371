//! [`BugsnagService`]: opens a scope per request, records the request and catches panics
//! of the wrapped service's `call`.

use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Poll};

use bugsnag_core::http::HttpRequest;
use bugsnag_core::Scope;
use http::{Request, Response};
use tower_service::Service;

use crate::future::ResponseFuture;
use crate::layer::BugsnagLayer;

/// The service made by [`BugsnagLayer`].
#[derive(Clone)]
pub struct BugsnagService<S> {
    inner: S,
    layer: BugsnagLayer,
}

impl<S> BugsnagService<S> {
    pub(crate) fn new(inner: S, layer: BugsnagLayer) -> Self {
        Self { inner, layer }
    }
}

impl<S, B, ResBody> Service<Request<B>> for BugsnagService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let settings = &self.layer.settings;
        let client = self.layer.client.clone().or_else(bugsnag_core::client);
        let source = Arc::new(HttpRequest::new(
            (request.method(), request.uri(), request.headers()),
            peer(&request),
            route(&request),
            settings.request.clone(),
        ));
        let scope = match &client {
            Some(client) => client.request_scope(source, settings.framework),
            None => Scope::for_request(source, settings.framework),
        };
        let inner = &mut self.inner;
        match scope.run_sync(|| catch_unwind(AssertUnwindSafe(|| inner.call(request)))) {
            Ok(future) => ResponseFuture::running(scope, future, client, settings.clone()),
            Err(payload) => ResponseFuture::panicked(&scope, &*payload, client, settings),
        }
    }
}

/// The client's socket address, from axum's `ConnectInfo` or a plain `SocketAddr`
/// extension (which hyper users can insert).
fn peer<B>(request: &Request<B>) -> Option<SocketAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = request.extensions().get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0);
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
