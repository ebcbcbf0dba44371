//! [`UnitOfWork`]: one request or job, as an adapter serves it.

use std::any::Any;
use std::error::Error;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::settings::Settings;
use crate::capture::error_chain::ChainOrigins;
use crate::capture::error_chain::{read, read_dyn, Link};
use crate::capture::error_class::class_of;
use crate::capture::{CatchUnwind, Options, Origin, RequestSource, Scope};
use crate::client::{Client, DropReason, Outcome};
use crate::model::SeverityReason;

impl Settings {
    /// Opens the unit of work of one request or job: its scope (catching panics, with a
    /// session when `auto_capture_sessions` and [`sessions`](Self::sessions) are on, and request data from `source` when
    /// there is one) and the client reporting for it.
    pub fn open(&self, source: Option<Arc<dyn RequestSource>>) -> UnitOfWork {
        // So that a panic the unit catches carries the stack at the panic point.
        crate::panic_hook::ensure_hook();
        let client = self.client();
        let scope = match &client {
            Some(client) => client.adapter_scope(self.framework, source, self.runtime_versions, self.sessions),
            None => Scope::for_adapter(self.framework, source, None, self.runtime_versions),
        };
        UnitOfWork { scope, client, settings: self.clone() }
    }
}

/// An error's chain (errorClass, message and origin of the error and each `source()`),
/// read now, to be reported when the error itself is gone (a responder that consumed
/// it).
#[derive(Debug, Clone)]
pub struct ErrorChain {
    links: Vec<Link>,
    origin: Option<Origin>,
}

impl ErrorChain {
    /// Reads `error`'s chain, outermost first.
    pub fn of<E: Error + ?Sized + 'static>(error: &E) -> Self {
        let origins = ChainOrigins::of(error);
        Self { links: read(error, class_of::<E>(), &origins), origin: origins.deepest().cloned() }
    }

    /// A failure the framework describes (a gRPC status, say), caused by `cause` and its
    /// chain when there is one.
    pub fn caused_by(
        class: impl Into<String>,
        message: impl Into<String>,
        cause: Option<&(dyn Error + 'static)>,
    ) -> Self {
        let mut links = vec![Link::new(class, message)];
        let mut origin = None;
        if let Some(cause) = cause {
            let origins = ChainOrigins::of(cause);
            origin = origins.deepest().cloned();
            links.extend(read_dyn(cause, &origins));
        }
        Self { links, origin }
    }

    /// The chain of an error known only by its `Debug` output (actix-web's
    /// `ResponseError`s), when that output shows it: a
    /// [`traced_error!`](crate::traced_error) type does.
    pub fn in_debug(value: &dyn std::fmt::Debug) -> Option<Self> {
        let links = crate::capture::error_chain::read_in_debug(value)?;
        let origin = links.iter().rev().find_map(|link| link.origin.clone());
        Some(Self { links, origin })
    }

    /// Where the error was made (the deepest origin of its chain), when it carried an
    /// [`Origin`].
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_ref()
    }
}

/// One request or job: its scope, the client reporting for it, and the adapter's
/// settings. Made by [`Settings::open`].
#[derive(Debug, Clone)]
pub struct UnitOfWork {
    scope: Scope,
    client: Option<Client>,
    settings: Settings,
}

impl UnitOfWork {
    /// The scope the handler runs in.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The client reporting for this unit, if any is configured.
    pub fn client(&self) -> Option<&Client> {
        self.client.as_ref()
    }

    /// The adapter's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Runs `f` (a service's synchronous `call`, a blocking job) in the scope, catching
    /// its panic.
    pub fn call<R>(&self, f: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
        self.scope.run_sync(|| catch_unwind(AssertUnwindSafe(f)))
    }

    /// Runs `future` in the scope whenever it is polled, catching its panic.
    pub fn run<F: Future>(&self, future: F) -> CatchUnwind<F> {
        CatchUnwind::new(self.scope.run(future))
    }

    fn report(&self, report: impl FnOnce(&Client) -> Outcome) -> Outcome {
        self.client.as_ref().map_or(Outcome::Dropped(DropReason::NotConfigured), report)
    }

    /// Reports a panic the unit caught: one unhandled event (`unhandledExceptionMiddleware`
    /// with the framework), with the stack the panic hook saw at the panic point.
    pub fn report_panic(&self, payload: &(dyn Any + Send)) -> Outcome {
        self.report(|client| client.notify_caught_panic(&self.scope, payload))
    }

    fn options(&self, options: Options) -> Options {
        options
            .unhandled(SeverityReason::unhandled_error_middleware(self.settings.framework_name()))
            .scope(self.scope.clone())
    }

    /// Reports an error the handler returned, with its `source()` chain: unhandled,
    /// `unhandledErrorMiddleware` with the framework, its stack starting at the
    /// [`Origin`] it carries (else here). `options` may add to it (a status tab).
    #[track_caller]
    pub fn report_error<E: Error + ?Sized + 'static>(&self, error: &E, options: Options) -> Outcome {
        // Not through `report`: a closure would end `#[track_caller]`'s chain.
        match &self.client {
            Some(client) => client.notify_with(error, self.options(options)),
            None => Outcome::Dropped(DropReason::NotConfigured),
        }
    }

    /// Reports an `anyhow::Error` the handler returned, like
    /// [`report_error`](Self::report_error), with the backtrace anyhow captured when it
    /// carries no [`Origin`] (see [`AnyhowError`](crate::AnyhowError) for the cost of
    /// each form).
    #[cfg(feature = "anyhow")]
    #[track_caller]
    pub fn report_anyhow<'a>(&self, error: impl Into<crate::AnyhowError<'a>>, options: Options) -> Outcome {
        match &self.client {
            Some(client) => client.notify_anyhow_with(error, self.options(options)),
            None => Outcome::Dropped(DropReason::NotConfigured),
        }
    }

    /// Reports an error read earlier with [`ErrorChain::of`], like
    /// [`report_error`](Self::report_error); its stack starts at the chain's origin
    /// when it has one.
    pub fn report_chain(&self, chain: ErrorChain, options: Options) -> Outcome {
        let options = match &chain.origin {
            Some(origin) => options.origin(origin),
            None => options,
        };
        self.report(|client| client.notify_chain(chain.links, self.options(options)))
    }

    /// Reports a failure known only by its text (a framework's error type that is not a
    /// `std::error::Error`), like [`report_error`](Self::report_error); give its origin
    /// with [`Options::origin`] (from [`Origin::in_debug`]).
    #[track_caller]
    pub fn report_message(&self, message: impl Into<String>, options: Options) -> Outcome {
        match &self.client {
            Some(client) => client.notify_message_with(message, self.options(options)),
            None => Outcome::Dropped(DropReason::NotConfigured),
        }
    }

    /// Reports a response of `status` that carries no error, when the settings report
    /// that status and responses without error: errorClass `HTTP 503` and so on.
    pub fn report_response(&self, status: u16, reason: Option<&str>) -> Option<Outcome> {
        if !(self.settings.reports_status(status) && self.settings.reports_responses_without_error()) {
            return None;
        }
        let options = Options::new()
            .error_class(format!("HTTP {status}"))
            .add_metadata_tab("response", serde_json::json!({ "status": status }));
        Some(self.report_message(reason.unwrap_or("error response"), options))
    }
}
