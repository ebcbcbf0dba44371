//! Bugsnag for [Rocket] 0.5: a fairing, a route wrapper that catches handler panics, and a
//! responder that reports the errors handlers return.
//!
//! ```no_run
//! use bugsnag_rocket::{catch_panics, BugsnagFairing};
//!
//! #[rocket::get("/users/<id>")]
//! fn user(id: u32) -> String {
//!     format!("user {id}")
//! }
//!
//! #[rocket::main]
//! async fn main() -> Result<(), rocket::Error> {
//!     let _bugsnag = bugsnag_core::configure(bugsnag_core::Configuration::from_env());
//!     rocket::build()
//!         .attach(BugsnagFairing)
//!         .mount("/", catch_panics(rocket::routes![user]))
//!         .launch()
//!         .await?;
//!     Ok(())
//! }
//! ```
//!
//! - [`BugsnagFairing`](struct@BugsnagFairing) opens a scope for every request (so `configure_request`,
//!   `add_metadata_tab` and `notify` in handlers attach to it), records the request
//!   (method, URL with filtered query, filtered headers, client IP, referer), sets the
//!   context to `GET /users/<id>` from the matched route and `user.id` to the client IP,
//!   starts a session and leaves a navigation breadcrumb.
//! - [`catch_panics`] wraps routes so that a panicking handler is reported once
//!   (`unhandledExceptionMiddleware`, framework `Rocket`), with its request, and answered
//!   with a `500`. Rocket gives a fairing no way to wrap routes that are already mounted,
//!   so the fairing cannot do this alone: at launch it logs one warning for each route
//!   not wrapped (a panic there is still reported, by the panic hook, but without the
//!   request, context or user).
//! - [`Reported`] wraps an error a handler returns: it responds as the error does and
//!   reports it (`unhandledErrorMiddleware`) with its `source()` chain.
//!
//! Options, the same as every Bugsnag adapter's: `BugsnagFairing::with_client(client)`,
//! `.report_status(..)`, `.report_responses_without_error(true)`,
//! `.trust_forwarded_headers(true)`, `.drop_headers([..])`, each callable on
//! `BugsnagFairing` itself: `.attach(BugsnagFairing.trust_forwarded_headers(true))`.
//!
//! # Contents
//! - [`BugsnagFairing`](struct@BugsnagFairing): the per-request unit of work and its options.
//! - [`catch_panics`]: the route wrapper.
//! - [`Reported`]: the responder.
//! - `request`: the per-request state the three share.
//!
//! [Rocket]: https://rocket.rs
//!
//! Most programs add the `bugsnag` crate instead, with a feature for each integration
//! they use: it re-exports this crate, as `bugsnag::rocket`.
//!
//! # Features
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod fairing;
mod handler;
mod request;
mod responder;

pub use fairing::BugsnagFairing;
pub use handler::catch_panics;
pub use responder::Reported;
