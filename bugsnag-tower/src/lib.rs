//! Bugsnag for [axum], [tonic], [hyper] and any [tower] service of `http::Request` →
//! `http::Response`.
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use bugsnag_tower::BugsnagLayer;
//!
//! # async fn run() {
//! let _bugsnag = bugsnag_core::configure(bugsnag_core::Configuration::from_env());
//! let app = Router::new()
//!     .route("/users/{id}", get(|| async { "hello" }))
//!     .layer(BugsnagLayer::new());
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await.unwrap();
//! // `with_connect_info` lets the layer read the client address.
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
//!     .await
//!     .unwrap();
//! # }
//! ```
//!
//! For every request the layer:
//! - opens a [`Scope`](bugsnag_core::Scope), so `configure_request`, `add_metadata_tab`
//!   and `notify` inside the handler (and in futures carried with `in_current_scope`)
//!   attach to this request;
//! - records the request (method, URL with filtered query, filtered headers, client IP,
//!   referer) without copying any string until a report needs it;
//! - sets the context to `METHOD /route/{template}` from axum's `MatchedPath` (else the
//!   path) and `user.id` to the client IP unless the handler sets them;
//! - starts a session when `auto_capture_sessions` is on, and leaves a navigation
//!   breadcrumb for events reported during the request;
//! - catches handler panics, in `call` and in the future: one report (unhandled,
//!   `unhandledExceptionMiddleware`) and a `500` answer, and the server keeps serving;
//! - reports errors a handler returned, when their response carries an [`ErrorReport`]
//!   and its status is one to report (5xx by default);
//! - for gRPC calls (tonic), reads `grpc-status` where gRPC puts it, in the response
//!   headers or in the trailers at the end of the body, and reports the codes that mean
//!   the server failed (see [`GrpcCode`] and [`BugsnagLayer::grpc_report_codes`]).
//!
//! # Contents
//! - [`BugsnagLayer`] and its options, the [`BugsnagService`] it makes, that service's
//!   [`ResponseFuture`] and the [`ResponseBody`] it answers with.
//! - [`ErrorReport`]: how a handler hands its error to the layer.
//! - [`GrpcCode`]: the gRPC status codes.
//!
//! # tonic
//!
//! ```no_run
//! use bugsnag_tower::BugsnagLayer;
//!
//! # async fn run(routes: tonic::service::Routes) -> Result<(), tonic::transport::Error> {
//! let _bugsnag = bugsnag_core::configure(bugsnag_core::Configuration::from_env());
//! tonic::transport::Server::builder()
//!     .layer(BugsnagLayer::new().framework("tonic"))
//!     .add_routes(routes)
//!     .serve("0.0.0.0:50051".parse().unwrap())
//!     .await
//! # }
//! ```
//!
//! With the `tonic` feature, a `tonic::Status` returned with a source
//! (`Status::internal(..).set_source(..)`) is reported with that error and its
//! `source()` chain under the `grpc::<Code>` error.
//!
//! [axum]: https://docs.rs/axum
//! [tonic]: https://docs.rs/tonic
//! [hyper]: https://docs.rs/hyper
//! [tower]: https://docs.rs/tower
//!
//! Most programs add the `bugsnag` crate instead, with a feature for each integration
//! they use: it re-exports this crate, as `bugsnag::tower`.
//!
//! # Features
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod body;
mod error;
mod future;
mod grpc;
mod layer;
mod service;
mod versions;

pub use body::ResponseBody;
pub use error::ErrorReport;
pub use future::ResponseFuture;
pub use grpc::GrpcCode;
pub use layer::BugsnagLayer;
pub use service::BugsnagService;
