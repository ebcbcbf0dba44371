//! The versions of tower and axum this crate was built against, as `build.rs` read them.

pub(crate) const TOWER: &str = env!("BUGSNAG_VERSION_TOWER");
pub(crate) const AXUM: &str = env!("BUGSNAG_VERSION_AXUM");
