//! `anyhow::Error` reports (feature `anyhow`), with the backtrace anyhow captured where
//! the error was made. Reading that backtrace makes std resolve its symbols (the first
//! time in a process, it loads debug information), so a given error is read on the
//! delivery thread; a borrowed one can only be read on the caller's.

use std::backtrace::BacktraceStatus;
use std::error::Error;
use std::sync::Arc;

use super::outcome::Outcome;
use super::pipeline::Pipeline;
use crate::capture::error_chain::ChainOrigins;
use crate::capture::error_chain::{into_exceptions, read_dyn};
use crate::capture::Options;
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

/// Reports `error`, its stack the deepest [`Origin`](crate::Origin) its chain carries,
/// else the one made by `backtrace` from the stack here when anyhow captured one, else
/// here. Named as any chain is (a context layer after the error it wraps).
fn report(
    pipeline: &Pipeline,
    error: &anyhow::Error,
    mut options: Options,
    backtrace: impl FnOnce(Stacktrace) -> Stacktrace,
) -> Outcome {
    let root: &(dyn Error + Send + Sync + 'static) = error.as_ref();
    let given = options.stacktrace.is_some();
    let origins = ChainOrigins::of(root);
    let origin = (!given).then(|| origins.deepest()).flatten();
    if let Some(origin) = origin {
        options = options.origin(origin);
    }
    let captured = !given && origin.is_none() && error.backtrace().status() == BacktraceStatus::Captured;
    let class = options.error_class.clone();
    let hint = class.clone().unwrap_or_else(|| "anyhow::Error".to_owned());
    pipeline.report(
        &hint,
        |here| {
            let links = read_dyn(root, &origins);
            let mut chain = into_exceptions(links, if captured { backtrace(here) } else { here });
            if let (Some(class), Some(first)) = (class, chain.first_mut()) {
                first.error_class = class;
            }
            chain
        },
        options,
    )
}
