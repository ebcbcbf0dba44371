//! Capture, on the caller's thread: the per-request [`Scope`], per-call [`Options`], an
//! error's `source()` chain turned into exceptions, where an error was made, what a
//! panic leaves behind, and the trace an event belongs to. All
//! of it is cheap: stacks are captured unresolved, and request data is only formatted
//! when an event needs it.

mod catch_unwind;
pub(crate) mod error_chain;
pub(crate) mod error_class;
mod options;
pub(crate) mod origin;
pub(crate) mod panic;
mod scope;
pub(crate) mod span_context;

pub use catch_unwind::CatchUnwind;
pub(crate) use options::site_of;
pub use options::Options;
pub use origin::{Origin, Traced};
pub(crate) use scope::{crash_scope, CrashScope};
pub use scope::{InCurrentScope, RequestSource, Scope, Scoped};
