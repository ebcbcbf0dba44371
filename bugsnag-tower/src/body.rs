//! [`ResponseBody`]: the body of every response the layer passes on. For an HTTP
//! request it is the handler's body as is; for a gRPC call whose outcome comes in the
//! trailers (every stream, and every call that did not fail at once), it reads the
//! trailers as they pass and reports the call's failure.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bugsnag_core::adapter::UnitOfWork;
use http::Response;
use http_body::{Body, Frame, SizeHint};

use crate::grpc;

pin_project_lite::pin_project! {
    /// The response body of [`BugsnagService`](crate::BugsnagService): the handler's,
    /// watched for a gRPC call's trailers.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        // A gRPC call whose outcome is still to come, in the trailers.
        call: Option<Box<(UnitOfWork, grpc::Call)>>,
    }
}

impl<B> ResponseBody<B> {
    /// The handler's body, passed on as it is.
    pub(crate) fn plain(inner: B) -> Self {
        Self { inner, call: None }
    }

    /// The handler's response to a gRPC call: reported now when it ends the call at once
    /// (the status is in its headers), else given a body that reports the status in its
    /// trailers.
    pub(crate) fn for_call(call: grpc::Call, unit: &UnitOfWork, response: Response<B>) -> Response<Self> {
        match grpc::status_of(response.headers()) {
            Some((code, message)) => {
                call.report(unit, code, message, grpc::status_source(&response));
                response.map(Self::plain)
            }
            None => response.map(|inner| Self { inner, call: Some(Box::new((unit.clone(), call))) }),
        }
    }
}

impl<B: Default> Default for ResponseBody<B> {
    fn default() -> Self {
        Self::plain(B::default())
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let (Some(Ok(frame)), Some(watched)) = (&frame, this.call.as_deref()) {
            if let Some((code, message)) = frame.trailers_ref().and_then(grpc::status_of) {
                let (unit, call) = watched;
                call.report(unit, code, message, None);
                *this.call = None;
            }
        }
        // A body that ends (or is dropped: a client that cancels) without trailers
        // reports nothing.
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: std::fmt::Debug> std::fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseBody").field("inner", &self.inner).field("grpc", &self.call.is_some()).finish()
    }
}
