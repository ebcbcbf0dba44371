//! The data the notifier sends, as plain types: the [`Event`] and what it carries
//! (exceptions, breadcrumbs, feature flags, the session's counts, the trace it belongs to), and the serialized
//! payload that goes to each API. Nothing here knows how events are made or sent.

mod breadcrumb;
mod correlation;
mod debug;
mod event;
mod feature_flag;
mod payload;
mod session;

pub(crate) use breadcrumb::{merge as merge_breadcrumbs, Ring, MAX_BREADCRUMBS};
pub use breadcrumb::{Breadcrumb, BreadcrumbType};
pub use correlation::Correlation;
pub(crate) use debug::{filtered, Names};
pub(crate) use event::{merge_tab, ProcessSnapshot};
pub use event::{App, Device, Event, Exception, ReasonAttributes, Request, Severity, SeverityReason, User};
pub use feature_flag::FeatureFlag;
pub(crate) use feature_flag::Flags;
#[cfg(feature = "testing")]
pub(crate) use payload::integrity_of;
pub(crate) use payload::{Kind, Notifier, Outgoing, NOTIFIER};
pub(crate) use session::Session;
pub use session::{EventSession, SessionEvents};
