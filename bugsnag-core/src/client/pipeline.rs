//! The life of one event on the caller's thread, as stages: **gate** (a disabled client,
//! a silenced release stage or a callback calling `notify` stops here, before anything
//! is captured), **budget** (an error group past its budget is counted and stops here,
//! see `budget`), **capture** (the error chain and an unresolved stack), **filter**
//! (`ignore_classes`), **build** (configuration, then the scope, then the call's
//! options), **callbacks** (`before_notify`, then whatever they left invalid is put
//! right), **hand-off** (a non-blocking `try_send` to the delivery thread). The delivery
//! thread takes it from there: resolve, redact, trim, serialize, send (`delivery`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::budget::{Budget, GroupKey, Sample, Verdict};
use super::outcome::{Closed, DropReason, Outcome};
use crate::callbacks::{Callback, Decision};
use crate::capture::error_class::{class_matches, FALLBACK_CLASS};
use crate::capture::{span_context, Options, Scope};
use crate::config::{is_valid_api_key, Configuration};
use crate::delivery::Delivery;
use crate::model::{
    merge_breadcrumbs, merge_tab, App, Breadcrumb, BreadcrumbType, Device, Event, Exception, Flags, Request, Ring,
    Severity, SeverityReason,
};
use crate::sessions::SessionTracker;
use crate::shared::Shared;
use crate::stacktrace::Stacktrace;
use crate::{limits, reentry};

/// Everything one client needs to take an event from a `notify` call to its delivery
/// thread; shared by the clones of a [`Client`](crate::Client).
///
/// What every report reads is [`Shared`], and the breadcrumb ring's lock is held only to
/// move pointers: no lock that other threads' reports take is held while allocating or
/// freeing.
pub(crate) struct Pipeline {
    pub(crate) config: Configuration,
    pub(crate) api_key: Option<String>,
    pub(crate) callbacks: Shared<Vec<Callback>>,
    pub(crate) delivery: Option<Delivery>,
    pub(crate) sessions: Arc<SessionTracker>,
    pub(crate) app: App,
    pub(crate) device: Arc<Shared<Device>>,
    pub(crate) breadcrumbs: Mutex<Ring>,
    pub(crate) feature_flags: Shared<Flags>,
    /// `None` when the per-error budget is off.
    pub(crate) budget: Option<Budget>,
    /// 0 while open, else the [`Closed`] reason.
    pub(crate) closed: AtomicU8,
    pub(crate) closed_warned: AtomicBool,
}

impl Pipeline {
    /// Takes one event through every stage; `build` makes its exceptions around the
    /// stack captured here (or given in the options); `class` is the errorClass the
    /// event will have, as far as it is known before it is made.
    pub(crate) fn report(
        &self,
        class: &str,
        build: impl FnOnce(Stacktrace) -> Vec<Exception>,
        options: Options,
    ) -> Outcome {
        let outcome = match self.stages(class, build, options) {
            Ok(()) => Outcome::Queued,
            Err(reason) => Outcome::Dropped(reason),
        };
        crate::diagnostics::trace(self.config.debug, || format!("notify: {outcome:?}"));
        outcome
    }

    fn stages(
        &self,
        class: &str,
        build: impl FnOnce(Stacktrace) -> Vec<Exception>,
        mut options: Options,
    ) -> Result<(), DropReason> {
        let delivery = self.gate(&mut options)?;
        let group = GroupKey::new(options.grouping_hash.as_deref(), class, options.site);
        let verdict = match &self.budget {
            Some(budget) => budget.check(group),
            None => Verdict::Send { held_back: 0, sample: false, fresh: false },
        };
        let Verdict::Send { held_back, sample, fresh } = verdict else {
            return Err(DropReason::HeldBack);
        };
        let here = || match options.made_at {
            Some(location) => Stacktrace::below(location, Stacktrace::capture()),
            None => Stacktrace::capture(),
        };
        let mut exceptions = build(options.stacktrace.take().unwrap_or_else(here));
        name_the_unnamed(&mut exceptions);
        let ignored = |e: &Exception| self.config.ignore_classes.iter().any(|c| class_matches(c, &e.error_class));
        if exceptions.iter().any(ignored) {
            return Err(DropReason::IgnoredClass);
        }
        let scope = options.scope.take().unwrap_or_else(Scope::current);
        let mut event = self.build(exceptions, options, &scope);
        self.run_callbacks(&mut event)?;
        if held_back > 0 {
            merge_tab(&mut event.metadata, "notifier".to_owned(), serde_json::json!({ "heldBack": held_back }));
        }
        if let (true, Some(budget)) = (sample, &self.budget) {
            budget.keep_sample(group, Sample::of(&event));
        }
        if event.session.is_none() {
            event.session = scope.lock().session.as_ref().map(|s| s.count(event.unhandled));
        }
        let crumb = error_breadcrumb(&event);
        let queued = delivery.enqueue(Box::new(event), fresh);
        self.leave_breadcrumb_in(&scope, crumb);
        if !queued {
            return Err(DropReason::QueueFull);
        }
        if !self.config.asynchronous {
            delivery.flush(self.config.delivery_timeout);
        }
        Ok(())
    }

    /// Whether this event may be made at all, before anything is captured.
    fn gate(&self, options: &mut Options) -> Result<&Delivery, DropReason> {
        let closed = self.closed.load(Ordering::Acquire);
        if closed != 0 {
            if !self.closed_warned.swap(true, Ordering::Relaxed) {
                crate::diagnostics::warn(if closed == Closed::GuardDropped as u8 {
                    "a report was made after the guard returned by bugsnag_core::configure was dropped, so it is not sent (nor any later one): keep the guard in a named binding for the life of the program (`let _bugsnag = bugsnag_core::configure(..)`); `let _ = bugsnag_core::configure(..)` drops it at once"
                } else {
                    "a report was made after Client::shutdown, so it is not sent (nor any later one)"
                });
            }
            return Err(DropReason::ShutDown);
        }
        if reentry::in_callback() {
            // It would run the callbacks again, and so on until the stack overflows.
            static WARNED: AtomicBool = AtomicBool::new(false);
            if !WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(target: "bugsnag_core", "notify was called from a before_notify callback; such reports are dropped");
            }
            return Err(DropReason::InsideCallback);
        }
        if options.api_key.as_deref().is_some_and(|key| !is_valid_api_key(key)) {
            tracing::warn!(target: "bugsnag_core", "the API key given to notify is malformed; using the configured one");
            options.api_key = None;
        }
        let key_ok = self.api_key.is_some() || options.api_key.is_some();
        let delivery = self.delivery.as_ref().filter(|_| key_ok).ok_or(DropReason::Disabled)?;
        if !self.config.stage_notifies() {
            return Err(DropReason::ReleaseStage);
        }
        Ok(delivery)
    }

    /// The event: configuration, overlaid with the scope, overlaid with the options.
    fn build(&self, exceptions: Vec<Exception>, options: Options, scope: &Scope) -> Event {
        let scope = scope.lock();
        let mut metadata = scope.metadata.clone();
        for (tab, value) in options.metadata {
            merge_tab(&mut metadata, tab, value);
        }
        let source = scope.request_source.as_deref();
        let breadcrumbs = {
            let limit = self.config.breadcrumb_limit();
            let mut client_crumbs = Vec::with_capacity(limit);
            self.breadcrumbs.lock().unwrap_or_else(|p| p.into_inner()).copy_newest(limit, &mut client_crumbs);
            let start = source.and_then(|s| s.breadcrumb());
            let mut newest_first = merge_breadcrumbs(scope.breadcrumbs.as_ref(), start, &client_crumbs, limit);
            // Sent oldest first, as the Python notifier and Bugsnag's others send them.
            newest_first.reverse();
            newest_first
        };
        let feature_flags = self.feature_flags.get().merged(&scope.feature_flags);
        let severity_reason = options.severity_reason.unwrap_or_else(|| match options.severity {
            Some(_) => SeverityReason::user_specified_severity(),
            None => SeverityReason::handled_error(),
        });
        // Another process's crash belongs to no trace of this one.
        let here = options.snapshot.is_none();
        let correlation = options
            .correlation
            .or_else(|| here.then(span_context::current).flatten())
            .or_else(|| source.and_then(|s| s.correlation()));
        // Not in the panic hook (quiet): the spans' locks may be held by the code that panicked.
        if here && !reentry::is_quiet() {
            if let Some(fields) = span_context::span_fields() {
                merge_tab(&mut metadata, span_context::SPANS_TAB.to_owned(), fields);
            }
        }
        let (app, mut device, session, crash_record) = match options.snapshot {
            Some(snapshot) => (snapshot.app, snapshot.device, snapshot.session, Some(snapshot.record)),
            None => {
                let mut device = Device::clone(&self.device.get());
                device.time = Some(crate::time::now_rfc3339());
                (self.app.clone(), device, None, None)
            }
        };
        for (name, version) in scope.runtime_versions {
            device.runtime_versions.insert((*name).to_owned(), Value::from(*version));
        }
        Event {
            exceptions,
            breadcrumbs,
            // A source with no HTTP request (a Lambda invocation's) gives an empty one.
            request: scope
                .request
                .clone()
                .or_else(|| source.map(|s| s.request()))
                .filter(|request| *request != Request::default()),
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
            app,
            device,
            session,
            correlation,
            feature_flags,
            metadata,
            api_key: options.api_key,
            crash_record,
        }
    }

    /// Runs the `before_notify` callbacks; a callback that panics is skipped.
    fn run_callbacks(&self, event: &mut Event) -> Result<(), DropReason> {
        let callbacks = self.callbacks.get();
        if callbacks.is_empty() {
            return Ok(());
        }
        let before = event.severity;
        let decision = reentry::as_callback(|| {
            for callback in callbacks.iter() {
                // A panicking callback must not take the host down, nor be reported itself.
                match reentry::quietly(|| catch_unwind(AssertUnwindSafe(|| callback(event)))) {
                    Ok(Decision::Send) => {}
                    Ok(Decision::Drop) => return Decision::Drop,
                    Err(_) => {
                        tracing::error!(target: "bugsnag_core", "a before_notify callback panicked; it was skipped")
                    }
                }
            }
            Decision::Send
        });
        if decision == Decision::Drop {
            return Err(DropReason::Callback);
        }
        if event.severity != before {
            event.severity_reason = SeverityReason::user_callback_set_severity();
        }
        normalize(event);
        Ok(())
    }

    /// Queues one summary event for each error group with events held back since its
    /// last one sent (at flush and shutdown), so no count waits for an event that may
    /// never come. Summaries skip the budget and the callbacks: they stand for events
    /// that went through both.
    pub(crate) fn send_held_back(&self) {
        let (Some(budget), Some(delivery)) = (&self.budget, &self.delivery) else { return };
        for (held_back, sample) in budget.take_held_back() {
            let mut device = Device::clone(&self.device.get());
            device.time = Some(crate::time::now_rfc3339());
            let mut event = Event {
                exceptions: Vec::new(),
                breadcrumbs: Vec::new(),
                request: None,
                context: None,
                grouping_hash: None,
                unhandled: false,
                severity: Severity::Warning,
                severity_reason: SeverityReason::handled_error(),
                user: None,
                app: self.app.clone(),
                device,
                session: None,
                correlation: None,
                feature_flags: Vec::new(),
                metadata: serde_json::Map::new(),
                api_key: None,
                crash_record: None,
            };
            sample.fill(&mut event);
            let note = format!(
                "{held_back} events of this error were held back by the notifier's per-error budget since the last one sent; this event stands for them"
            );
            merge_tab(
                &mut event.metadata,
                "notifier".to_owned(),
                serde_json::json!({ "heldBack": held_back, "summary": note }),
            );
            let _ = delivery.enqueue(Box::new(event), true);
        }
    }

    /// Leaves a breadcrumb in `scope`, or in the client's ring for a thread's own scope.
    pub(crate) fn leave_breadcrumb_in(&self, scope: &Scope, mut crumb: Breadcrumb) {
        // Its fields are public: it may not have come through `Breadcrumb::new`.
        crumb.metadata.values_mut().for_each(limits::cap_depth);
        let max = self.config.breadcrumb_limit();
        let crumb = Arc::new(crumb);
        let evicted = match scope.lock().breadcrumbs.as_mut() {
            Some(ring) => ring.push(crumb, max),
            None => self.breadcrumbs.lock().unwrap_or_else(|p| p.into_inner()).push(crumb, max),
        };
        // The breadcrumb pushed out is freed here, with no lock held.
        drop(evicted);
    }
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
    name_the_unnamed(&mut event.exceptions);
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

/// Gives an errorClass to exceptions without one (`Options::error_class("")`, say): the
/// API refuses an empty one.
fn name_the_unnamed(exceptions: &mut [Exception]) {
    for exception in exceptions {
        if exception.error_class.trim().is_empty() {
            exception.error_class = FALLBACK_CLASS.to_owned();
        }
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
