//! [`ResponseFuture`]: runs the handler's future in the request's unit of work, turns
//! its panic into one report and a `500` (gRPC: `Internal`), and reports returned errors
//! and failed gRPC calls.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bugsnag_core::adapter::{CatchUnwind, UnitOfWork};
use bugsnag_core::Options;
use http::{Response, StatusCode};

use crate::body::ResponseBody;
use crate::error::ErrorReport;
use crate::grpc;

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
            grpc: Option<grpc::Call>,
        },
        Panicked { grpc: bool },
    }
}

impl<F: Future> ResponseFuture<F> {
    pub(crate) fn running(unit: UnitOfWork, future: F, grpc: Option<grpc::Call>) -> Self {
        Self { state: State::Running { future: unit.run(future), unit, grpc } }
    }

    /// The service's `call` itself panicked: reported now, answered with a `500`.
    pub(crate) fn panicked(unit: &UnitOfWork, payload: &(dyn std::any::Any + Send), grpc: bool) -> Self {
        let _ = unit.report_panic(payload);
        Self { state: State::Panicked { grpc } }
    }
}

/// The answer to a request whose handler panicked: a `500`, or for a gRPC call the
/// `Internal` status gRPC clients understand (they read a bare `500` as `Unknown`).
fn panic_response<B: Default>(grpc: bool) -> Response<ResponseBody<B>> {
    let mut response = Response::new(ResponseBody::plain(B::default()));
    if grpc {
        grpc::panic_headers(response.headers_mut());
    } else {
        *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    }
    response
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (future, unit, grpc) = match self.project().state.project() {
            StateProj::Running { future, unit, grpc } => (future, unit, grpc),
            StateProj::Panicked { grpc } => return Poll::Ready(Ok(panic_response(*grpc))),
        };
        match ready!(future.poll(cx)) {
            Ok(Ok(response)) => Poll::Ready(Ok(match grpc.take() {
                Some(call) => ResponseBody::for_call(call, unit, response),
                None => {
                    report_response(unit, &response);
                    response.map(ResponseBody::plain)
                }
            })),
            Ok(Err(error)) => Poll::Ready(Err(error)),
            Err(payload) => {
                let _ = unit.report_panic(&*payload);
                Poll::Ready(Ok(panic_response(grpc.is_some())))
            }
        }
    }
}

fn report_response<B>(unit: &UnitOfWork, response: &Response<B>) {
    let status = response.status();
    match response.extensions().get::<ErrorReport>() {
        Some(report) if unit.settings().reports_status(status.as_u16()) => {
            let options = Options::new().add_metadata_tab("response", serde_json::json!({ "status": status.as_u16() }));
            let _ = report.report(unit, options);
        }
        Some(_) => {}
        None => {
            let _ = unit.report_response(status.as_u16(), status.canonical_reason());
        }
    }
}
