//! Bugsnag error reporting for Rust: handled errors, errors your handlers return (from the
//! line that made them), panics, crashes without a panic, sessions, breadcrumbs and
//! feature flags, delivered off your threads with retries and an on-disk outbox.
//!
//! This is the crate to add: everything of `bugsnag-core` is here (`bugsnag::configure`,
//! `bugsnag::notify`, [`traced_error!`], ...), and each integration is a module behind a
//! feature named after what you have:
//!
//! ```toml
//! [dependencies]
//! bugsnag = { path = "../bugsnag-rust/bugsnag", features = ["axum"] }
//! ```
//!
//! ```no_run
//! // Keep the guard for the life of the program: dropping it flushes and ends reporting.
//! let _bugsnag = bugsnag::configure(bugsnag::Configuration::from_env()); // BUGSNAG_API_KEY
//! # #[cfg(feature = "tower")]
//! let layer = bugsnag::tower::BugsnagLayer::new(); // your axum Router's `.layer(layer)`
//! ```
//!
//! | you have | feature | module |
//! |---|---|---|
//! | axum | `axum` | [`tower`]: `BugsnagLayer` |
//! | tonic, hyper, any tower service | `tonic`, `tower` | [`tower`]: `BugsnagLayer` |
//! | actix-web 4 | `actix-web` | [`actix`]: `Bugsnag` |
//! | Rocket 0.5 | `rocket` | [`rocket`]: `BugsnagFairing`, `catch_panics`, `Reported` |
//! | a job runner | `worker` | [`worker`]: `FailureHandler` |
//! | apalis | `apalis` | [`worker`]: `connect_failure_handler` |
//! | AWS Lambda (`lambda_runtime`) | `lambda` | [`lambda`]: `BugsnagLambdaLayer` |
//! | `tracing` or `log` | `tracing`, `log` | [`logging`] |
//! | `anyhow` | `anyhow` | [`notify_anyhow`](crate::Client::notify_anyhow), `ErrorReport::anyhow`, `FailureHandler::run_anyhow` |
//! | OpenTelemetry | `opentelemetry` | events link to the active span |
//! | tests of your integration | `testing` | [`testing`]: a loopback `Collector` |
//!
//! The crates behind the modules (`bugsnag-core`, `bugsnag-tower`, `bugsnag-actix`,
//! `bugsnag-rocket`, `bugsnag-worker`, `bugsnag-lambda`) stay, for integrators and for
//! programs that want one piece: a library reporting to its host's client depends on
//! `bugsnag-core` alone, a framework integration on `bugsnag-core`'s [`adapter`] module.
//! The types are the same whichever path they are reached by.
//!
//! The [`guide`] explains what happens and how to tune it: where errors come from,
//! configuration, what is filtered, delivery and the outbox, crashes, release builds.
//!
//! # Features
#![doc = document_features::document_features!()]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use bugsnag_core::*;

/// axum, tonic, hyper and any tower HTTP service: [`BugsnagLayer`](tower::BugsnagLayer)
/// (the `bugsnag-tower` crate).
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower {
    #[doc(inline)]
    pub use bugsnag_tower::*;
}

/// actix-web 4: the [`Bugsnag`](struct@actix::Bugsnag) middleware (the `bugsnag-actix` crate).
#[cfg(feature = "actix-web")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix-web")))]
pub mod actix {
    #[doc(inline)]
    pub use bugsnag_actix::*;
}

/// Rocket 0.5: [`BugsnagFairing`](struct@rocket::BugsnagFairing), `catch_panics` and `Reported`
/// (the `bugsnag-rocket` crate).
#[cfg(feature = "rocket")]
#[cfg_attr(docsrs, doc(cfg(feature = "rocket")))]
pub mod rocket {
    #[doc(inline)]
    pub use bugsnag_rocket::*;
}

/// Background jobs: [`FailureHandler`](worker::FailureHandler) for any runner,
/// `connect_failure_handler` for apalis (the `bugsnag-worker` crate).
#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub mod worker {
    #[doc(inline)]
    pub use bugsnag_worker::*;
}

/// AWS Lambda: [`BugsnagLambdaLayer`](lambda::BugsnagLambdaLayer) for `lambda_runtime`
/// (the `bugsnag-lambda` crate).
#[cfg(feature = "lambda")]
#[cfg_attr(docsrs, doc(cfg(feature = "lambda")))]
pub mod lambda {
    #[doc(inline)]
    pub use bugsnag_lambda::*;
}

/// How it works and how to tune it, page by page. (Its examples are built and run as the
/// doctests of the repository's `examples` package.)
#[cfg(not(doctest))]
pub mod guide {
    #![doc = include_str!("../guide/guide.md")]

    /// Where did this error come from? Origins, grouping, and which frames are yours.
    pub mod origins {
        #![doc = include_str!("../guide/origins.md")]
    }

    /// Configuration: every option, its default and its environment variable.
    pub mod configuration {
        #![doc = include_str!("../guide/configuration.md")]
    }

    /// Sending handled errors, per-call options, per-request data and callbacks.
    pub mod reporting {
        #![doc = include_str!("../guide/reporting.md")]
    }

    /// What is filtered out of every report.
    pub mod filtering {
        #![doc = include_str!("../guide/filtering.md")]
    }

    /// The integrations: axum, tonic, actix-web, Rocket, jobs, apalis, Lambda.
    pub mod frameworks {
        #![doc = include_str!("../guide/frameworks.md")]
    }

    /// Logging frameworks, traces, sessions, breadcrumbs and feature flags.
    pub mod logging_and_traces {
        #![doc = include_str!("../guide/logging-and-traces.md")]
    }

    /// Delivery: what happens when Bugsnag is slow or down, and what is kept on disk.
    pub mod delivery {
        #![doc = include_str!("../guide/delivery.md")]
    }

    /// Crashes without a panic, and release builds.
    pub mod crashes {
        #![doc = include_str!("../guide/crashes.md")]
    }

    /// Testing your integration, and seeing reports locally with `bugsnag-inbox`.
    pub mod testing_and_inbox {
        #![doc = include_str!("../guide/testing-and-inbox.md")]
    }
}
