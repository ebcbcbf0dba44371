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
//! status is one to report, 5xx by default. An error type declared with
//! [`bugsnag_core::traced_error!`] (and implementing `ResponseError`) is reported from the
//! line of the `?` that made it, not from this middleware.
//!
//! Options, the same as every Bugsnag adapter's: `Bugsnag::with_client(client)` (an
//! explicit client, as tests use), `.report_status(..)`,
//! `.report_responses_without_error(true)`, `.trust_forwarded_headers(true)`,
//! `.drop_headers([..])`, each callable on `Bugsnag` itself:
//! `App::new().wrap(Bugsnag.trust_forwarded_headers(true))`.
//!
//! # Contents
//! - [`Bugsnag`](struct@Bugsnag) (the `Transform`) and [`BugsnagMiddleware`], the service it makes.
//! - `request`: turning an actix request into request data.
//!
//! [actix-web]: https://actix.rs
//!
//! Most programs add the `bugsnag` crate instead, with a feature for each integration
//! they use: it re-exports this crate, as `bugsnag::actix`.
//!
//! # Features
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod middleware;
mod request;

pub use middleware::{Bugsnag, BugsnagMiddleware};
