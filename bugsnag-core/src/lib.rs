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
//! let _bugsnag = bugsnag_core::configure(Configuration::from_env().app_version("2.5.1"));
//!
//! let err = "forty-two".parse::<u32>().unwrap_err();
//! let _ = bugsnag_core::notify(&err);
//! let _ = bugsnag_core::notify_with(
//!     &err,
//!     Options::new()
//!         .severity(Severity::Info)
//!         .context("sign_up")
//!         .user(User::id("bob"))
//!         .metadata("account", json!({"premium": true})),
//! );
//! ```
//!
//! # Where things live
//! - [`config`] — [`Configuration`] and its environment variables.
//! - [`global`] — [`configure`] and the free functions ([`notify`], [`configure_request`]...).
//! - [`client`](mod@client) — [`Client`], [`Outcome`], [`Decision`] and the notify pipeline.
//! - [`options`] — per-call [`Options`].
//! - [`scope`] — per-request [`Scope`] and [`InCurrentScope`].
//! - [`session`] — sessions and their per-minute counts.
//! - [`breadcrumbs`] — [`Breadcrumb`]s, per scope and per client.
//! - [`feature_flags`] — [`FeatureFlag`]s, per scope and per client.
//! - [`event`] — the [`Event`] model sent to the API.
//! - [`error_chain`] — errors into `exceptions`, and how an errorClass is named.
//! - [`stacktrace`] — capture and resolution of stack traces.
//! - [`redact`] — redaction by `params_filters`: what is filtered, and where.
//! - [`limits`] — bounds on what user code hands the notifier (depth, formatting).
//! - [`panic`](mod@panic) — the panic hook and [`panic::CatchUnwind`] for adapters.
//! - `http` (feature `http`): request data from `http::Request` for web adapters.
//! - `logging` (features `log`, `tracing`): reports and breadcrumbs from log records.
//! - `delivery`: the delivery thread: queue, retries, outbox, trimming ([`Stats`]).
//! - `testing` (feature `testing`): a loopback collector for tests, and an `Observer` hook for tools built on it.
#![warn(missing_docs)]

pub mod breadcrumbs;
pub mod client;
pub mod config;
mod delivery;
mod diagnostics;
pub mod error_chain;
pub mod event;
pub mod feature_flags;
pub mod global;
#[cfg(feature = "http")]
pub mod http;
pub mod limits;
#[cfg(any(feature = "log", feature = "tracing"))]
pub mod logging;
pub mod options;
pub mod panic;
pub mod redact;
pub mod scope;
pub mod session;
pub mod stacktrace;
#[cfg(feature = "testing")]
pub mod testing;

pub use breadcrumbs::{Breadcrumb, BreadcrumbType};
pub use client::{Client, Decision, DropReason, Outcome};
pub use config::Configuration;
pub use delivery::Stats;
pub use event::{Event, Exception, Request, Severity, SeverityReason, User};
pub use feature_flags::FeatureFlag;
#[cfg(feature = "anyhow")]
pub use global::notify_anyhow;
pub use global::{
    add_feature_flag, add_metadata_tab, before_notify, clear_feature_flag, clear_feature_flags, client, configure,
    configure_request, flush, leave_breadcrumb, notify, notify_message, notify_with, start_session, Guard,
};
pub use options::Options;
pub use scope::{InCurrentScope, RequestSource, Scope, Scoped};

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
