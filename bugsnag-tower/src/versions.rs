//! The versions of tower, axum and tonic this crate was built against, as `build.rs` read them.

pub(crate) const TOWER: &str = env!("BUGSNAG_VERSION_TOWER");
#[cfg(feature = "axum")]
pub(crate) const AXUM: &str = env!("BUGSNAG_VERSION_AXUM");
#[cfg(feature = "tonic")]
pub(crate) const TONIC: &str = env!("BUGSNAG_VERSION_TONIC");
