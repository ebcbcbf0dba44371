//! Bugsnag for [actix-web]: `App::new().wrap(Bugsnag)`.
//!
//! ```no_run
//! use actix_web::{web, App, HttpServer};
//! use bugsnag_actix::Bugsnag;
//!
//! #[actix_web::main]
//! async fn main() -> std::io::Result<()> {
//!     let _bugsnag = bugsnag_core::configure(bugsnag_core::Configuration::from_env());
//!     HttpServer::new(|| {
//!         App::new()
//!             .wrap(Bugsnag)
//!             .route("/users/{id}", web::get().to(|| async { "hello" }))
//!     })
//!     .bind(("0.0.0.0", 8080))?
//!     .run()
//!     .await
//! }
//! ```
//!
//! For every request the middleware opens a scope (so `configure_request`,
//! `add_metadata_tab` and `notify` in handlers attach to the request), records the
//! request (method, URL with filtered query, filtered headers, the peer address, referer),
//! sets the context to `GET /users/{id}` from actix's route pattern and `user.id` to the
//! client IP, starts a session, and leaves a navigation breadcrumb. A panicking handler is
//! reported once (`unhandledExceptionMiddleware`, framework `actix-web`) and answered with
//! a `500`; errors handlers return are reported (`unhandledErrorMiddleware`) when their
//! status is one to report, 5xx by default.
//!
//! Options: `Bugsnag::with_client(client)` (an explicit client, as tests use),
//! `.report_status(..)`, `.trust_forwarded_headers(true)`, `.drop_headers([..])`, each
//! callable on `Bugsnag` itself: `App::new().wrap(Bugsnag.trust_forwarded_headers(true))`.
//!
//! # Modules
//! - [`middleware`] — [`Bugsnag`] (the `Transform`), [`Configured`] (with options) and
//!   [`BugsnagMiddleware`].
//! - [`request`] — turning an actix request into request data.
//!
//! [actix-web]: https://actix.rs
#![warn(missing_docs)]

pub mod middleware;
pub mod request;

pub use middleware::{Bugsnag, BugsnagMiddleware, Configured};
