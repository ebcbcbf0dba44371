//! [`CatchUnwind`]: the future adapters run a request's handler in, so that its panic
//! becomes one report and an answer rather than a dropped connection.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::scope::Scoped;

pin_project_lite::pin_project! {
    /// A future run in a scope whose panics are caught: it resolves to `Err(payload)` if
    /// polling panicked. Made by [`UnitOfWork::run`](crate::adapter::UnitOfWork::run);
    /// must not be polled after that.
    pub struct CatchUnwind<F: Future> {
        #[pin]
        inner: Scoped<F>,
    }
}

impl<F: Future> CatchUnwind<F> {
    pub(crate) fn new(inner: Scoped<F>) -> Self {
        Self { inner }
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.project().inner;
        match catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}
