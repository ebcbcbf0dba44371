//! The notify pipeline, on the caller's thread: gate (API key, release stage, ignored
//! classes), build the event from configuration, scope and options, run the callbacks,
//! and hand the event to the delivery thread without blocking.

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Client, Decision, DropReason, Outcome};
use crate::breadcrumbs::{self, Breadcrumb, BreadcrumbType};
use crate::config::is_valid_api_key;
use crate::error_chain::{class_matches, FALLBACK_CLASS};
use crate::event::{merge_tab, Event, Exception, Severity, SeverityReason};
use crate::limits;
use crate::options::Options;
use crate::panic as panics;
use crate::scope::Scope;
use crate::stacktrace::Stacktrace;

thread_local! {
    /// Set while this thread runs `before_notify` callbacks.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

impl Client {
    pub(super) fn report(&self, build: impl FnOnce(Stacktrace) -> Vec<Exception>, options: Options) -> Outcome {
        let outcome = self.report_inner(build, options);
        crate::diagnostics::trace(self.inner.config.debug, || format!("notify: {outcome:?}"));
        outcome
    }

    fn report_inner(&self, build: impl FnOnce(Stacktrace) -> Vec<Exception>, mut options: Options) -> Outcome {
        let inner = &*self.inner;
        if IN_CALLBACK.try_with(Cell::get).unwrap_or(false) {
            // It would run the callbacks again, and so on until the stack overflows.
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(target: "bugsnag_core", "notify was called from a before_notify callback; such reports are dropped");
            }
            return Outcome::Dropped(DropReason::InsideCallback);
        }
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
        let ignored = |e: &Exception| inner.config.ignore_classes.iter().any(|c| class_matches(c, &e.error_class));
        if exceptions.iter().any(ignored) {
            return Outcome::Dropped(DropReason::IgnoredClass);
        }
        let scope = options.scope.take().unwrap_or_else(Scope::current);
        let mut event = self.event(exceptions, options, &scope);
        let callbacks = self.inner.callbacks.read().unwrap_or_else(|p| p.into_inner()).clone();
        if !callbacks.is_empty() {
            if run_callbacks(&callbacks, &mut event) == Decision::Drop {
                return Outcome::Dropped(DropReason::Callback);
            }
            normalize(&mut event);
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
            let mut newest_first =
                breadcrumbs::merge(scope.breadcrumbs.as_ref(), start, &client_ring, config.breadcrumb_limit());
            // Sent oldest first, as the seed and Bugsnag's other notifiers send them.
            newest_first.reverse();
            newest_first
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
}

fn run_callbacks(callbacks: &[super::Callback], event: &mut Event) -> Decision {
    let before = event.severity;
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            let _ = IN_CALLBACK.try_with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(IN_CALLBACK.try_with(|c| c.replace(true)).unwrap_or(false));
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

/// Puts right what callbacks may have left invalid, so every event sent validates
/// against the API schema: at least one exception, each with a class; tabs that are
/// objects; nothing nested deeper than [`limits::MAX_DEPTH`]; feature flags with names.
fn normalize(event: &mut Event) {
    if event.exceptions.is_empty() {
        tracing::warn!(target: "bugsnag_core", "a before_notify callback removed every exception; sending a placeholder");
        event.exceptions.push(Exception {
            error_class: FALLBACK_CLASS.to_owned(),
            message: String::new(),
            stacktrace: Stacktrace::empty(),
        });
    }
    for exception in &mut event.exceptions {
        if exception.error_class.trim().is_empty() {
            exception.error_class = FALLBACK_CLASS.to_owned();
        }
    }
    for tab in event.metadata.values_mut() {
        if !tab.is_object() {
            *tab = serde_json::json!({ "value": std::mem::take(tab) });
        }
        limits::cap_depth(tab);
    }
    for crumb in &mut event.breadcrumbs {
        if crumb.metadata.values().any(limits::too_deep) {
            std::sync::Arc::make_mut(crumb).metadata.values_mut().for_each(limits::cap_depth);
        }
    }
    event.device.runtime_versions.values_mut().for_each(limits::cap_depth);
    event.feature_flags.retain(|flag| !flag.name.is_empty());
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
