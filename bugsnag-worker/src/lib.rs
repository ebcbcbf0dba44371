//! Bugsnag for background jobs: the counterpart of the Python notifier's Celery
//! `connect_failure_handler`, for whatever runs your jobs (a tokio task loop, a queue
//! consumer, a cron binary).
//!
//! Run each job through a [`FailureHandler`]: the job gets its own scope (context = the
//! job's name, a `job` metaData tab with its id, attempt, queue and arguments, filtered by
//! `params_filters` like all metadata), so `notify` and the log bridges inside it attach
//! to the job; a returned `Err` is reported as unhandled (`unhandledErrorMiddleware`), a
//! panic as unhandled (`unhandledExceptionMiddleware`, with the stack at the panic point)
//! and turned into [`JobError::Panicked`] so the runner can retry or record it.
//!
//! **Which stack a failure carries.** A panic carries the stack at the panic point. A
//! returned `Err` carries the stack where the `FailureHandler` received it (the job's
//! caller, not the line that made the error), since a `std::error::Error` holds no
//! backtrace; jobs returning `anyhow::Error` can use [`FailureHandler::run_anyhow`]
//! (feature `anyhow`), which sends the backtrace anyhow captured where the error was
//! made (with `RUST_BACKTRACE=1` or `RUST_LIB_BACKTRACE=1`).
//!
//! ```no_run
//! use bugsnag_worker::{FailureHandler, Job};
//! use serde_json::json;
//!
//! # async fn send_invoice(id: u64) -> Result<(), std::io::Error> { Ok(()) }
//! # async fn run() {
//! let _bugsnag = bugsnag_core::configure(bugsnag_core::Configuration::from_env());
//! let jobs = FailureHandler::new();
//!
//! let job = Job::new("send_invoice").id("job-81").attempt(2).arguments(json!({"invoice": 7}));
//! match jobs.run(job, send_invoice(7)).await {
//!     Ok(()) => {}
//!     Err(failure) => eprintln!("job failed, reported to Bugsnag: {failure}"),
//! }
//! # }
//! ```
//!
//! **apalis** (feature `apalis`): `WorkerBuilder::new(..).layer(connect_failure_handler())`
//! does all of this for every task of an apalis 1.0 worker; see [`apalis`](mod@apalis).
//!
//! # Contents
//! - [`FailureHandler`] and [`JobError`]: running jobs and reporting how they fail.
//! - [`Job`]: what the notifier knows of one job.
//! - `apalis` (feature `apalis`): [`connect_failure_handler`], the layer for apalis workers.
//!
//! Most programs add the `bugsnag` crate instead, with a feature for each integration
//! they use: it re-exports this crate, as `bugsnag::worker`.
//!
//! # Features
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

#[cfg(feature = "apalis")]
pub mod apalis;
mod handler;
mod job;

#[cfg(feature = "apalis")]
pub use apalis::{connect_failure_handler, FailureLayer, FailureService};
pub use handler::{FailureHandler, JobError};
pub use job::Job;
