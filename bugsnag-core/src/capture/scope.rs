//! [`Scope`]: the per-request (or per-task) context the Python notifier keeps with
//! `configure_request` and `add_metadata_tab`: context, user, metadata tabs, request data,
//! the session, feature flags and breadcrumbs of one unit of work.
//!
//! The current scope is the top of a per-thread stack. [`Scope::run`] pushes its scope
//! around every poll of the future it wraps (so it works on any executor and follows the
//! task across threads); [`Scope::run_sync`] pushes it around a closure. The innermost
//! one always wins. Outside both, each thread has a scope of its own, which is what the
//! Python notifier's thread-local request configuration does.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use serde_json::{Map, Value};

use super::panic::PanicCapture;
use super::span_context::Carried;
use crate::model::{
    filtered, merge_tab, Breadcrumb, Correlation, FeatureFlag, Flags, Names, Request, Ring, Session, User,
};

thread_local! {
    static STACK: RefCell<Vec<Scope>> = const { RefCell::new(Vec::new()) };
    /// `STACK`'s length. A crash handler reads this first: it needs no destructor, so
    /// reading it never registers one (which allocates and takes a lock in the C library),
    /// and while it is 0 the handler leaves `STACK`, whose first use does, alone.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    static THREAD_DEFAULT: Scope = Scope { inner: Arc::new(Mutex::new(ScopeData::default())) };
}

/// A handle to one unit of work's context. Cloning it shares the same context.
///
/// ```
/// use bugsnag_core::{Scope, User};
///
/// let scope = Scope::new();
/// scope.run_sync(|| {
///     bugsnag_core::configure_request(|s| {
///         s.set_context("/users");
///         s.set_user(User::id("bob-hoskins"));
///     });
///     bugsnag_core::add_metadata_tab("account", serde_json::json!({"premium": true}));
/// });
/// assert_eq!(scope.context().as_deref(), Some("/users"));
/// ```
#[derive(Clone, Debug)]
pub struct Scope {
    inner: Arc<Mutex<ScopeData>>,
}

impl Default for Scope {
    fn default() -> Self {
        Self::new()
    }
}

/// Gives a scope its request data, context and default user, built only when an event
/// needs them (adapters implement it; `adapter::HttpRequest`, feature `http`, does for
/// the `http` crate's requests).
pub trait RequestSource: Send + Sync + std::fmt::Debug {
    /// The API's `request` object (redacted later by `params_filters`).
    fn request(&self) -> Request;
    /// The context when nothing else set one, such as `GET /users/{id}`.
    fn context(&self) -> Option<String>;
    /// The user when nothing else set one (the client IP, as the Python notifier does).
    fn user(&self) -> Option<User>;
    /// A breadcrumb for the start of this unit of work (a navigation breadcrumb for a
    /// request), built only when an event is.
    fn breadcrumb(&self) -> Option<Breadcrumb> {
        None
    }
    /// The trace the caller sent (a W3C `traceparent` header), for events made where no
    /// OpenTelemetry span is active.
    fn correlation(&self) -> Option<Correlation> {
        None
    }
}

/// What a scope holds; copied into each event reported inside it.
#[derive(Default)]
pub(crate) struct ScopeData {
    pub(crate) context: Option<String>,
    pub(crate) user: Option<User>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) request: Option<Request>,
    pub(crate) request_source: Option<Arc<dyn RequestSource>>,
    pub(crate) session: Option<Session>,
    pub(crate) feature_flags: Flags,
    /// `None` for a thread's own scope, whose breadcrumbs go to the client's ring.
    pub(crate) breadcrumbs: Option<Ring>,
    /// Set by adapters that catch panics: the framework name for severityReason.
    pub(crate) catches_panics: Option<&'static str>,
    pub(crate) stashed_panic: Option<PanicCapture>,
    /// Versions of the framework serving this unit of work, for `device.runtimeVersions`.
    pub(crate) runtime_versions: &'static [(&'static str, &'static str)],
    /// Made for a write outside any scope on an async runtime's thread: read by no event.
    detached: bool,
}

/// Leaves out what Bugsnag would filter (user, metadata values, request details).
impl std::fmt::Debug for ScopeData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scope")
            .field("context", &self.context)
            .field("user", &self.user)
            .field("metadata", &Names::of(&self.metadata))
            .field("request", &self.request)
            .field("request_source", &filtered(&self.request_source))
            .field("session", &self.session.is_some())
            .field("catches_panics", &self.catches_panics)
            .finish_non_exhaustive()
    }
}

/// What a crash handler can read of the current thread's innermost scope.
#[derive(Default)]
pub(crate) struct CrashScope<'a> {
    pub(crate) context: Option<&'a str>,
    pub(crate) user: Option<&'a str>,
    /// Id, start (ms since the epoch), handled and unhandled events so far.
    pub(crate) session: Option<(&'a str, u64, u64, u64)>,
}

/// Shows `f` the current thread's innermost scope, for a crash handler: read without
/// waiting (a scope whose lock is held, by the code that crashed maybe, is skipped) and
/// without allocating. A thread's own scope is not read: it is made on first use.
pub(crate) fn crash_scope(f: &mut dyn FnMut(CrashScope<'_>)) {
    if DEPTH.try_with(Cell::get).unwrap_or(0) == 0 {
        return;
    }
    let _ = STACK.try_with(|stack| {
        let Ok(stack) = stack.try_borrow() else { return };
        let Some(scope) = stack.last() else { return };
        let Ok(data) = scope.inner.try_lock() else { return };
        f(CrashScope {
            context: data.context.as_deref(),
            user: data.user.as_ref().and_then(|u| u.id.as_deref()),
            session: data.session.as_ref().and_then(Session::as_recorded),
        });
    });
}

/// Pops the stack when a `run_sync` or a poll ends, panicking or not.
struct Pop;

impl Drop for Pop {
    fn drop(&mut self) {
        let _ = STACK.try_with(|stack| {
            let mut stack = stack.borrow_mut();
            stack.pop();
            let _ = DEPTH.try_with(|depth| depth.set(stack.len()));
        });
    }
}

fn push(scope: &Scope) -> Pop {
    let _ = STACK.try_with(|stack| {
        let mut stack = stack.borrow_mut();
        stack.push(scope.clone());
        let _ = DEPTH.try_with(|depth| depth.set(stack.len()));
    });
    Pop
}

impl Scope {
    /// An empty scope, with breadcrumbs of its own.
    pub fn new() -> Self {
        let data = ScopeData { breadcrumbs: Some(Ring::default()), ..ScopeData::default() };
        Self { inner: Arc::new(Mutex::new(data)) }
    }

    /// The innermost scope entered on this thread, else this thread's own, except on a
    /// thread of an async runtime: such a thread runs many tasks one after another, so
    /// what one task set in the thread's scope would reach the next tasks' events. There,
    /// outside an entered scope, this is a scope of its own each time, which reaches no
    /// event (the first thing set in one says so, once): run the work in a scope (an
    /// adapter does per request; else [`Scope::run`], or
    /// [`in_current_scope`](crate::InCurrentScope::in_current_scope) for a spawned task).
    pub fn current() -> Scope {
        // `try_with`: this also runs in the panic hook, possibly during thread teardown.
        Self::entered().unwrap_or_else(|| {
            if tokio::runtime::Handle::try_current().is_ok() {
                return Self::detached();
            }
            THREAD_DEFAULT.try_with(Scope::clone).unwrap_or_default()
        })
    }

    /// A scope that no event will read, whose first change says so.
    fn detached() -> Self {
        Self { inner: Arc::new(Mutex::new(ScopeData { detached: true, ..ScopeData::default() })) }
    }

    /// The data, to change it; a detached scope's first change is told.
    fn write(&self) -> MutexGuard<'_, ScopeData> {
        let data = self.lock();
        if data.detached {
            static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
            if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                crate::diagnostics::warn(
                    "Bugsnag: a user, context, metadata tab, request, session or feature flag was set outside any scope on a thread of an async runtime, which runs many tasks: it would reach other tasks' events, so it is dropped (this and every later one). Run the work in a scope: adapters do per request; else `Scope::new().run(future)`, or `future.in_current_scope()` for a spawned task",
                );
            }
        }
        data
    }

    /// The innermost scope entered with [`Scope::run`] or [`Scope::run_sync`], if any
    /// (not the thread's own).
    pub fn entered() -> Option<Scope> {
        STACK.try_with(|stack| stack.borrow().last().cloned()).ok().flatten()
    }

    /// Runs `future` with this scope as the current one whenever it is polled.
    pub fn run<F: Future>(&self, future: F) -> Scoped<F> {
        Scoped { scope: self.clone(), carried: Carried::default(), inner: future }
    }

    /// Runs `f` on this thread with this scope as the current one.
    pub fn run_sync<R>(&self, f: impl FnOnce() -> R) -> R {
        let _pop = push(self);
        f()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ScopeData> {
        // A panic while the lock was held leaves data that is still usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// For the panic hook, which must not wait on a lock its own thread may hold.
    pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, ScopeData>> {
        match self.inner.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Sets what was happening, such as `/users` or `GET /users/{id}`.
    pub fn set_context(&self, context: impl Into<String>) {
        self.write().context = Some(context.into());
    }

    /// The context set on this scope.
    pub fn context(&self) -> Option<String> {
        self.lock().context.clone()
    }

    /// Sets the user affected by errors in this scope.
    pub fn set_user(&self, user: User) {
        self.write().user = Some(user);
    }

    /// The user set on this scope.
    pub fn user(&self) -> Option<User> {
        self.lock().user.clone()
    }

    /// Adds a dashboard tab to every event of this scope, merging into an existing tab of
    /// the same name.
    pub fn add_metadata_tab(&self, name: impl Into<String>, value: Value) {
        merge_tab(&mut self.write().metadata, name.into(), value);
    }

    /// Removes a dashboard tab.
    pub fn clear_metadata_tab(&self, name: &str) {
        self.write().metadata.remove(name);
    }

    /// Sets the HTTP request of this scope.
    pub fn set_request(&self, request: Request) {
        self.write().request = Some(request);
    }

    /// Sets where request data, the default context and the default user come from.
    pub fn set_request_source(&self, source: Arc<dyn RequestSource>) {
        self.write().request_source = Some(source);
    }

    /// Adds (or changes the variant of) a feature flag for this scope's events.
    pub fn add_feature_flag(&self, name: impl Into<String>, variant: Option<&str>) {
        self.write().feature_flags.add(FeatureFlag::new(name, variant));
    }

    /// Adds several feature flags.
    pub fn add_feature_flags(&self, flags: impl IntoIterator<Item = FeatureFlag>) {
        let mut data = self.write();
        flags.into_iter().for_each(|f| data.feature_flags.add(f));
    }

    /// Removes one feature flag of this scope.
    pub fn clear_feature_flag(&self, name: &str) {
        self.write().feature_flags.clear(name);
    }

    /// Removes every feature flag of this scope.
    pub fn clear_feature_flags(&self) {
        self.write().feature_flags.clear_all();
    }

    pub(crate) fn set_session(&self, session: Session) {
        self.write().session = Some(session);
    }

    /// The scope of one request or job of an adapter for `framework`, which catches its
    /// panics: its request data comes from `source` when there is one. Built in one
    /// allocation, because adapters make one per request.
    pub(crate) fn for_adapter(
        framework: &'static str,
        source: Option<Arc<dyn RequestSource>>,
        session: Option<Session>,
        runtime_versions: &'static [(&'static str, &'static str)],
    ) -> Scope {
        let data = ScopeData {
            request_source: source,
            catches_panics: Some(framework),
            breadcrumbs: Some(Ring::default()),
            session,
            runtime_versions,
            ..ScopeData::default()
        };
        Self { inner: Arc::new(Mutex::new(data)) }
    }
}

pin_project_lite::pin_project! {
    /// A future that runs in a [`Scope`]; made by [`Scope::run`] and
    /// [`InCurrentScope::in_current_scope`].
    pub struct Scoped<F> {
        scope: Scope,
        carried: Carried,
        #[pin]
        inner: F,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let _pop = push(this.scope);
        let _restore = this.carried.enter();
        this.inner.poll(cx)
    }
}

/// Carries the current scope into futures that run elsewhere, such as `tokio::spawn`ed
/// tasks, which do not inherit it, and the trace current here (feature `opentelemetry`):
/// events made in the future link to it when no span of their own is active.
///
/// ```
/// use bugsnag_core::InCurrentScope;
/// # async fn f() {
/// tokio::spawn(async { /* notify here reports with the request's context */ }.in_current_scope());
/// # }
/// ```
pub trait InCurrentScope: Future + Sized {
    /// Wraps the future so it runs in the scope current at this call.
    fn in_current_scope(self) -> Scoped<Self> {
        Scoped { scope: Scope::current(), carried: Carried::here(), inner: self }
    }
}

impl<F: Future> InCurrentScope for F {}
