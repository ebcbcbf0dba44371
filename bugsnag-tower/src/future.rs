//! [`ResponseFuture`]: runs the handler's future in the request's scope, turns its panic
//! into one report and a `500`, and reports returned errors.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bugsnag_core::panic::CatchUnwind;
use bugsnag_core::{Client, Options, Scope, SeverityReason};
use http::{Response, StatusCode};

use crate::error::ErrorReport;
use crate::layer::Settings;

pin_project_lite::pin_project! {
    /// The response future of [`BugsnagService`](crate::BugsnagService).
    pub struct ResponseFuture<F: Future> {
        #[pin]
        state: State<F>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F: Future> {
        Running {
            #[pin]
            future: CatchUnwind<F>,
            scope: Scope,
            client: Option<Client>,
            settings: Arc<Settings>,
        },
        Panicked,
    }
}

impl<F: Future> ResponseFuture<F> {
    pub(crate) fn running(scope: Scope, future: F, client: Option<Client>, settings: Arc<Settings>) -> Self {
        let future = scope.run_catching(settings.framework, future);
        Self { state: State::Running { future, scope, client, settings } }
    }

    pub(crate) fn panicked(
        scope: &Scope,
        payload: &(dyn std::any::Any + Send),
        client: Option<Client>,
        settings: &Settings,
    ) -> Self {
        if let Some(client) = client {
            let _ = client.notify_panic(scope, payload, settings.framework);
        }
        Self { state: State::Panicked }
    }
}

fn internal_error<B: Default>() -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    response
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let StateProj::Running { future, scope, client, settings } = self.project().state.project() else {
            return Poll::Ready(Ok(internal_error()));
        };
        match ready!(future.poll(cx)) {
            Ok(Ok(response)) => {
                if let Some(client) = client {
                    report_response(client, scope, settings, &response);
                }
                Poll::Ready(Ok(response))
            }
            Ok(Err(error)) => Poll::Ready(Err(error)),
            Err(payload) => {
                if let Some(client) = client {
                    let _ = client.notify_panic(scope, &*payload, settings.framework);
                }
                Poll::Ready(Ok(internal_error()))
            }
        }
    }
}

fn report_response<B>(client: &Client, scope: &Scope, settings: &Settings, response: &Response<B>) {
    let status = response.status();
    if !(settings.report_status)(status) {
        return;
    }
    let options = Options::new()
        .unhandled(SeverityReason::unhandled_error_middleware(settings.framework))
        .scope(scope.clone())
        .metadata("response", serde_json::json!({ "status": status.as_u16() }));
    let _ = match response.extensions().get::<ErrorReport>() {
        Some(report) => {
            client.notify_with(&*report.error, options.error_class(report.class).stacktrace(report.stacktrace.clone()))
        }
        None if settings.report_without_error => client.notify_message(
            status.canonical_reason().unwrap_or("error response"),
            options.error_class(format!("HTTP {}", status.as_u16())),
        ),
        None => return,
    };
}
