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
//! # How it is built, floor by floor
//! Each module imports only from the floors below it:
//!
//! | floor | modules | what they hold |
//! |---|---|---|
//! | 8 | `adapter`, `logging` | integrations: adapters' settings and units of work, the log bridges |
//! | 7 | `global` | the process-wide client and the free functions |
//! | 6 | `panic_hook`, `crash/` | the panic hook; the signal handlers and the crash records they leave |
//! | 5 | `client/` | [`Client`] and the pipeline of one event on the caller's thread |
//! | 4 | `delivery/` | the delivery thread: resolve, redact, trim, send, retry, outbox |
//! | 3 | `sessions` | per-minute session counts |
//! | 2 | `capture/` | scopes, per-call options, error chains, origins, what a panic leaves |
//! | 1 | `config`, `callbacks` | [`Configuration`]; `before_notify` callbacks and their [`Decision`] |
//! | 0 | `model/` | the data sent: [`Event`], breadcrumbs, feature flags, payloads |
//! | − | `stacktrace/`, `storage`, `limits`, `reentry`, `shared`, `time`, `diagnostics` | helpers with no notifier knowledge (`storage`: the program's directory and file claims) |
//!
//! One event goes up and across: a `notify` call (floor 7 or 5) captures on the
//! caller's thread (2), is built and filtered by the client's pipeline (5) and handed to
//! the delivery thread (4), which resolves its stack (−), redacts, trims and sends it.
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

/// What [`traced_error!`] expands to calls; not part of the API.
#[doc(hidden)]
pub mod __private {
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
