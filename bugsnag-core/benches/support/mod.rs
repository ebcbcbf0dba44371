//! What the benchmarks and the `notify_cost` example report: a call 20 frames deep, and a
//! service's returned error with an origin and a cause.

use std::hint::black_box;

/// Calls `f` `depth` frames below this one.
#[inline(never)]
pub(crate) fn deep(depth: u32, f: &mut dyn FnMut()) {
    if depth == 0 {
        f();
    } else {
        deep(depth - 1, f);
        black_box(depth);
    }
}

/// What failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OrderErrorKind {
    #[error("could not load the order")]
    Storage(#[from] std::io::Error),
}

bugsnag_core::traced_error!(
    /// A service's returned error: an origin and a cause.
    pub(crate) struct OrderError(OrderErrorKind);
);

/// Fails at its `?`, where the error's origin is.
#[inline(never)]
pub(crate) fn load_order() -> Result<(), OrderError> {
    Err(std::io::Error::other("timed out"))?;
    Ok(())
}
