//! Bugsnag for Rust functions on [AWS Lambda]: a tower layer for [`lambda_runtime`].
//!
//! ```no_run
//! use bugsnag_lambda::BugsnagLambdaLayer;
//! use lambda_runtime::{service_fn, Error, LambdaEvent};
//! use serde_json::Value;
//! use tower::ServiceBuilder;
//!
//! async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
//!     Ok(event.payload)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     let _bugsnag = bugsnag_core::configure(bugsnag_core::Configuration::from_env());
//!     let function = ServiceBuilder::new().layer(BugsnagLambdaLayer::new()).service(service_fn(handler));
//!     lambda_runtime::run(function).await
//! }
//! ```
//!
//! Lambda freezes the process the moment the function asks for its next invocation, and
//! may throw the frozen sandbox away: whatever was not sent by then is sent minutes later
//! or never. For each invocation the layer:
//! - opens a scope (context: the function's name; a session when
//!   `auto_capture_sessions`), with an `AWS Lambda Context` tab (function name and
//!   version, ARN, memory, request id, log group and stream, identity and client
//!   context when present) and an `AWS Lambda Event` tab (the event, filtered by
//!   `params_filters` like any metadata; [`BugsnagLambdaLayer::without_event`] leaves it
//!   out, and with it the need for the event type to be `Serialize`),
//!   and links its events to the X-Ray trace when the invocation is sampled;
//! - reports a returned `Err` (`unhandledErrorMiddleware`, framework `aws-lambda`, from
//!   the [`Origin`](bugsnag_core::Origin) it carries when it has one) and a panic
//!   (`unhandledExceptionMiddleware`), which it then hands on to `lambda_runtime`;
//! - reports `LambdaTimeoutApproaching` a while before the deadline
//!   ([`BugsnagLambdaLayer::timeout_warning`], 1 s by default, as the Python notifier) if
//!   the handler is still running, and waits for its delivery;
//! - before returning, waits (up to [`BugsnagLambdaLayer::flush_timeout`], 2 s) for every
//!   event the invocation reported to be delivered or kept in the outbox, so nothing is
//!   waiting when the sandbox freezes, and never closer than 100 ms to the deadline (the
//!   answer still has to reach Lambda). An invocation that reported nothing does not
//!   wait, unless session counts are due: none were sent for `session_publish_interval`
//!   (30 s), since the timer that sends them does not run while the sandbox is frozen.
//!   So a sandbox thrown away loses at most that interval's session counts.
//!
//! # Contents
//! - [`BugsnagLambdaLayer`]: the layer and its options; [`WithEvent`] and [`WithoutEvent`]
//!   ([`EventTab`]): whether events carry the invocation's event.
//! - [`BugsnagLambda`]: the service it makes.
//! - `testing` (feature `testing`): a loopback emulator of the Runtime API that freezes
//!   and kills the function as Lambda does.
//!
//! [AWS Lambda]: https://aws.amazon.com/lambda/
//!
//! Most programs add the `bugsnag` crate instead, with a feature for each integration
//! they use: it re-exports this crate, as `bugsnag::lambda`.
//!
//! # Features
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod invocation;
mod layer;
mod service;
#[cfg(feature = "testing")]
pub mod testing;

pub use layer::{BugsnagLambdaLayer, EventTab, WithEvent, WithoutEvent};
pub use service::BugsnagLambda;

/// The framework name in `severityReason` and the runtime version in
/// `device.runtimeVersions`.
const FRAMEWORK: &str = "aws-lambda";
