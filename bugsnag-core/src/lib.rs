//! Bugsnag error reporting for Rust.
//!
//! `bugsnag-core` owns configuration, the event model, capture, per-request scopes, the
//! panic hook and asynchronous delivery. Framework adapters (`bugsnag-tower`,
//! `bugsnag-actix`, `bugsnag-rocket`, `bugsnag-worker`) build on it.
//!
//! ```no_run
//! use bugsnag_core::{Configuration, Options, Severity, User};
//! use serde_json::json;
//!
//! // Keep the guard in a named binding: dropping it flushes and ends reporting.
//! let bugsnag = bugsnag_core::configure(Configuration::from_env().app_version("2.5.1"));
//!
//! let err = "forty-two".parse::<u32>().unwrap_err();
//! bugsnag_core::notify(&err);
//! bugsnag_core::notify_with(
//!     &err,
//!     Options::new()
//!         .severity(Severity::Info)
//!         .context("sign_up")
//!         .user(User::id("bob"))
//!         .add_metadata_tab("account", json!({"premium": true})),
//! );
//! println!("{:?}", bugsnag.client().stats());
//! ```
//!
//! # The public API
//! - Setting up: [`Configuration`], [`configure`] and its [`Guard`], [`Client`].
//! - Reporting: [`notify`] and [`notify_message`], with per-call [`Options`]:
//!   [`notify_with`], [`notify_message_with`]; `notify_anyhow` and `notify_anyhow_with`
//!   (feature `anyhow`). Each returns an [`Outcome`], which may be ignored.
//! - Where errors come from: [`Origin`], [`Traced`] and [`traced_error!`]: an error
//!   returned through `?` is reported from the line that failed, not from where it was
//!   reported.
//! - Per request or task: [`Scope`], [`configure_request`], [`add_metadata_tab`],
//!   [`InCurrentScope`].
//! - Around reports: [`before_notify`] and [`Decision`], [`leave_breadcrumb`],
//!   [`add_feature_flag`], [`start_session`], [`Client::stats`].
//! - Linking to traces: [`Correlation`] and [`Options::correlation`]; with the feature
//!   `opentelemetry`, events made inside an active OpenTelemetry span link to it, and
//!   adapters read a request's W3C `traceparent` header otherwise.
//! - The model callbacks see: [`Event`] and its parts.
//! - [`logging`] (features `log`, `tracing`): reports and breadcrumbs from log records.
//! - [`adapter`]: what framework adapters are built from.
//! - [`testing`] (feature `testing`): a loopback collector for your tests.
//!
//! How the crate is built (its modules, floor by floor): the repository's CONTRIBUTING.md.
//!
//! Most programs add the `bugsnag` crate instead, with a feature for each integration
//! they use: it re-exports this crate, as `bugsnag::*`.
//!
//! # Features
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

pub mod adapter;
mod callbacks;
mod capture;
mod client;
mod config;
mod crash;
mod delivery;
mod diagnostics;
mod global;
mod limits;
#[cfg(any(feature = "log", feature = "tracing"))]
pub mod logging;
mod model;
mod panic_hook;
mod reentry;
mod sessions;
mod shared;
mod stacktrace;
mod storage;
#[cfg(feature = "testing")]
pub mod testing;
mod time;

pub use callbacks::Decision;
pub use capture::{InCurrentScope, Options, Origin, Scope, Scoped, Traced};
#[cfg(feature = "anyhow")]
pub use client::AnyhowError;
pub use client::{Client, DropReason, Outcome};
pub use config::{
    Configuration, DEFAULT_ENDPOINT, DEFAULT_PARAMS_FILTERS, DEFAULT_SESSION_ENDPOINT, INSIGHT_HUB_ENDPOINT,
    INSIGHT_HUB_SESSION_ENDPOINT,
};
pub use delivery::Stats;
pub use global::{
    add_feature_flag, add_metadata_tab, before_notify, clear_feature_flag, clear_feature_flags, client, configure,
    configure_request, flush, leave_breadcrumb, notify, notify_message, notify_message_with, notify_with,
    start_session, Guard,
};
#[cfg(feature = "anyhow")]
pub use global::{notify_anyhow, notify_anyhow_with};
pub use model::{
    App, Breadcrumb, BreadcrumbType, Correlation, Device, Event, EventSession, Exception, FeatureFlag,
    ReasonAttributes, Request, SessionEvents, Severity, SeverityReason, User,
};
pub use stacktrace::{Stackframe, Stacktrace};

/// What [`traced_error!`] expands to calls, and what this repository's own tests ask;
/// not part of the API.
#[doc(hidden)]
pub mod __private {
    /// Whether a crash (signal) handler is running on the calling thread: for a test's
    /// global allocator, to prove that the handler allocates nothing.
    #[cfg(feature = "testing")]
    pub fn crash_handler_running() -> bool {
        crate::crash::handler_running()
    }

    pub use crate::capture::error_chain::note_error;
    pub use crate::capture::error_class::note_kind;

    /// Notes `origin` as its holder's own, before the holder writes anything.
    pub fn note_origin(origin: &crate::Origin) {
        origin.note_own();
    }
}

/// Your crate's version (`CARGO_PKG_VERSION`), for `app_version`: expands in your crate,
/// so it reads your `Cargo.toml`, as sentry's `release_name!()` does.
///
/// ```
/// let config = bugsnag_core::Configuration::from_env().app_version(bugsnag_core::app_version!());
/// ```
#[macro_export]
macro_rules! app_version {
    () => {
        env!("CARGO_PKG_VERSION")
    };
}
