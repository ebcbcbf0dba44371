//! [`ResponseFuture`]: runs the handler's future in the request's unit of work, turns
//! its panic into one report and a `500`, and reports returned errors.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bugsnag_core::adapter::{CatchUnwind, UnitOfWork};
use bugsnag_core::Options;
use http::{Response, StatusCode};

use crate::error::ErrorReport;

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
            unit: UnitOfWork,
        },
        Panicked,
    }
}

impl<F: Future> ResponseFuture<F> {
    pub(crate) fn running(unit: UnitOfWork, future: F) -> Self {
        Self { state: State::Running { future: unit.run(future), unit } }
    }

    /// The service's `call` itself panicked: reported now, answered with a `500`.
    pub(crate) fn panicked(unit: &UnitOfWork, payload: &(dyn std::any::Any + Send)) -> Self {
        let _ = unit.report_panic(payload);
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
        let StateProj::Running { future, unit } = self.project().state.project() else {
            return Poll::Ready(Ok(internal_error()));
        };
        match ready!(future.poll(cx)) {
            Ok(Ok(response)) => {
                report_response(unit, &response);
                Poll::Ready(Ok(response))
            }
            Ok(Err(error)) => Poll::Ready(Err(error)),
            Err(payload) => {
                let _ = unit.report_panic(&*payload);
                Poll::Ready(Ok(internal_error()))
            }
        }
    }
}

fn report_response<B>(unit: &UnitOfWork, response: &Response<B>) {
    let status = response.status();
    match response.extensions().get::<ErrorReport>() {
        Some(report) if unit.settings().reports_status(status.as_u16()) => {
            let options = Options::new()
                .error_class(report.class)
                .stacktrace(report.stacktrace.clone())
                .add_metadata_tab("response", serde_json::json!({ "status": status.as_u16() }));
            let _ = unit.report_error(&*report.error, options);
        }
        Some(_) => {}
        None => {
            let _ = unit.report_response(status.as_u16(), status.canonical_reason());
        }
    }
}
