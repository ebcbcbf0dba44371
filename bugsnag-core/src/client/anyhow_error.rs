//! `anyhow::Error` reports (feature `anyhow`), with the backtrace anyhow captured where
//! the error was made. Reading that backtrace makes std resolve its symbols (the first
//! time in a process, it loads debug information), so a given error is read on the
//! delivery thread; a borrowed one can only be read on the caller's.

use std::backtrace::BacktraceStatus;
use std::error::Error;
use std::sync::Arc;

use super::outcome::Outcome;
use super::pipeline::Pipeline;
use crate::capture::error_chain::{class_of_dyn, exceptions, FALLBACK_CLASS};
use crate::capture::{Options, Origin};
use crate::stacktrace::Stacktrace;

/// An `anyhow::Error` for [`Client::notify_anyhow`](crate::Client::notify_anyhow): the
/// error itself (`err`), shared (`Arc<anyhow::Error>`) or a reference (`&err`).
///
/// Give the error when you are done with it: its backtrace is then read on the delivery
/// thread and the call returns in microseconds. With a reference, std resolves the
/// backtrace on the calling thread: the first time in a process that loads debug
/// information (hundreds of milliseconds), then about a hundred microseconds per report.
/// Without a captured backtrace (`RUST_BACKTRACE`/`RUST_LIB_BACKTRACE` unset) both cost
/// the same as [`Client::notify`](crate::Client::notify).
#[derive(Debug)]
pub enum AnyhowError<'a> {
    /// The error, moved to the delivery thread with the event.
    Owned(anyhow::Error),
    /// A reference: the backtrace is read before the call returns.
    Borrowed(&'a anyhow::Error),
    /// Shared (kept in a response, say): moved to the delivery thread like `Owned`.
    Shared(Arc<anyhow::Error>),
}

impl From<Arc<anyhow::Error>> for AnyhowError<'_> {
    fn from(error: Arc<anyhow::Error>) -> Self {
        Self::Shared(error)
    }
}

impl From<anyhow::Error> for AnyhowError<'_> {
    fn from(error: anyhow::Error) -> Self {
        Self::Owned(error)
    }
}

impl<'a> From<&'a anyhow::Error> for AnyhowError<'a> {
    fn from(error: &'a anyhow::Error) -> Self {
        Self::Borrowed(error)
    }
}

impl AnyhowError<'_> {
    pub(super) fn report(self, pipeline: &Pipeline, options: Options) -> Outcome {
        match self {
            AnyhowError::Owned(error) => AnyhowError::Shared(Arc::new(error)).report(pipeline, options),
            AnyhowError::Shared(error) => {
                report(pipeline, &error, options, |here| Stacktrace::from_anyhow(error.clone(), here))
            }
            AnyhowError::Borrowed(error) => {
                report(pipeline, error, options, |here| Stacktrace::from_std_backtrace(error.backtrace(), here))
            }
        }
    }
}

/// The errorClass of an anyhow error: its outermost error's, unless that reads as a bare
/// `Error` (anyhow's context layers and message errors do), then its root cause's, which
/// names what failed (and is what the dashboard then groups by).
fn class_of_anyhow(error: &anyhow::Error) -> String {
    let outer = class_of_dyn(error.as_ref());
    if outer != FALLBACK_CLASS {
        return outer;
    }
    Some(class_of_dyn(error.root_cause())).filter(|root| root != FALLBACK_CLASS).unwrap_or(outer)
}

/// Reports `error`, its stack the [`Origin`] one of its errors carries, else the one
/// made by `backtrace` from the stack here when anyhow captured one, else here.
fn report(
    pipeline: &Pipeline,
    error: &anyhow::Error,
    mut options: Options,
    backtrace: impl FnOnce(Stacktrace) -> Stacktrace,
) -> Outcome {
    let root: &(dyn Error + Send + Sync + 'static) = error.as_ref();
    let given = options.stacktrace.is_some();
    let origin = (!given).then(|| Origin::find(root)).flatten();
    if let Some(origin) = &origin {
        options = options.origin(origin);
    }
    let captured = !given && origin.is_none() && error.backtrace().status() == BacktraceStatus::Captured;
    let class = options.error_class.clone().unwrap_or_else(|| class_of_anyhow(error));
    pipeline.report(
        &class,
        |here| exceptions(root, Some(&class), if captured { backtrace(here) } else { here }),
        options,
    )
}
