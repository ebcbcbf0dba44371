//! The notify pipeline, on the caller's thread: gate (API key, release stage, ignored
//! classes), build the event from configuration, scope and options, run the callbacks,
//! and hand the event to the delivery thread without blocking.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::{Client, Decision, DropReason, Outcome};
use crate::breadcrumbs::{self, Breadcrumb, BreadcrumbType};
use crate::config::is_valid_api_key;
use crate::event::{merge_tab, Event, Exception, Severity, SeverityReason};
use crate::options::Options;
use crate::panic as panics;
use crate::scope::Scope;
use crate::stacktrace::Stacktrace;

impl Client {
    pub(super) fn report(&self, build: impl FnOnce(Stacktrace) -> Vec<Exception>, mut options: Options) -> Outcome {
        let inner = &*self.inner;
        if options.api_key.as_deref().is_some_and(|key| !is_valid_api_key(key)) {
            tracing::warn!(target: "bugsnag_core", "the API key given to notify is malformed; using the configured one");
            options.api_key = None;
        }
        let key_ok = inner.api_key.is_some() || options.api_key.is_some();
        let Some(delivery) = inner.delivery.as_ref().filter(|_| key_ok) else {
            return Outcome::Dropped(DropReason::Disabled);
        };
        if !inner.config.stage_notifies() {
            return Outcome::Dropped(DropReason::ReleaseStage);
        }
        let exceptions = build(options.stacktrace.take().unwrap_or_else(Stacktrace::capture));
        if exceptions.iter().any(|e| inner.config.ignore_classes.contains(&e.error_class)) {
            return Outcome::Dropped(DropReason::IgnoredClass);
        }
        let scope = options.scope.take().unwrap_or_else(Scope::current);
        let mut event = self.event(exceptions, options, &scope);
        if self.run_callbacks(&mut event) == Decision::Drop {
            return Outcome::Dropped(DropReason::Callback);
        }
        event.session = scope.lock().session.as_ref().map(|s| s.count(event.unhandled));
        let crumb = error_breadcrumb(&event);
        let queued = delivery.enqueue(Box::new(event));
        self.add_breadcrumb(&scope, crumb);
        if !queued {
            return Outcome::Dropped(DropReason::QueueFull);
        }
        if !inner.config.asynchronous {
            delivery.flush(inner.config.delivery_timeout);
        }
        Outcome::Queued
    }

    fn event(&self, exceptions: Vec<Exception>, options: Options, scope: &Scope) -> Event {
        let config = &self.inner.config;
        let scope = scope.lock();
        let mut metadata = scope.metadata.clone();
        for (tab, value) in options.metadata {
            merge_tab(&mut metadata, tab, value);
        }
        let source = scope.request_source.as_deref();
        let breadcrumbs = {
            let client_ring = self.inner.breadcrumbs.lock().unwrap_or_else(|p| p.into_inner());
            let start = source.and_then(|s| s.breadcrumb());
            breadcrumbs::merge(scope.breadcrumbs.as_ref(), start, &client_ring, config.breadcrumb_limit())
        };
        let feature_flags = self.flags().merged(&scope.feature_flags);
        let severity_reason = options.severity_reason.unwrap_or_else(|| match options.severity {
            Some(_) => SeverityReason::user_specified_severity(),
            None => SeverityReason::handled_error(),
        });
        let mut device = self.inner.device.lock().unwrap_or_else(|p| p.into_inner()).clone();
        device.time = Some(crate::delivery::now_rfc3339());
        Event {
            exceptions,
            breadcrumbs,
            request: scope.request.clone().or_else(|| source.map(|s| s.request())),
            context: options
                .context
                .or_else(|| scope.context.clone())
                .or_else(|| source.and_then(|s| s.context()))
                .or(options.fallback_context),
            grouping_hash: options.grouping_hash,
            unhandled: options.unhandled.unwrap_or(false),
            severity: options.severity.unwrap_or(Severity::Warning),
            severity_reason,
            user: options.user.or_else(|| scope.user.clone()).or_else(|| source.and_then(|s| s.user())),
            app: self.inner.app.clone(),
            device,
            session: None,
            feature_flags,
            metadata,
            api_key: options.api_key,
        }
    }

    fn run_callbacks(&self, event: &mut Event) -> Decision {
        let callbacks = self.inner.callbacks.read().unwrap_or_else(|p| p.into_inner()).clone();
        let before = event.severity;
        for callback in callbacks {
            // A panicking callback must not take the host down, nor be reported itself.
            let decision = panics::quietly(|| catch_unwind(AssertUnwindSafe(|| callback(event))));
            match decision {
                Ok(Decision::Send) => {}
                Ok(Decision::Drop) => return Decision::Drop,
                Err(_) => tracing::error!(target: "bugsnag_core", "a before_notify callback panicked; it was skipped"),
            }
        }
        if event.severity != before {
            event.severity_reason = SeverityReason::user_callback_set_severity();
        }
        Decision::Send
    }
}

/// The breadcrumb left for each reported event (as the Python notifier leaves one).
fn error_breadcrumb(event: &Event) -> Breadcrumb {
    let severity = serde_json::to_value(event.severity).unwrap_or_default();
    Breadcrumb::new(
        event.error_class(),
        BreadcrumbType::Error,
        serde_json::json!({
            "errorClass": event.error_class(),
            "message": event.message(),
            "unhandled": event.unhandled,
            "severity": severity,
        }),
    )
}
