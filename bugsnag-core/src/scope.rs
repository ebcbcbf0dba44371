//! [`Scope`]: the per-request (or per-task) context the Python notifier keeps with
//! `configure_request` and `add_metadata_tab`.
//!
//! Adapters run each request inside its own scope with [`Scope::run`] (a tokio
//! task-local, which works on any executor); synchronous code uses
//! [`Scope::run_sync`]. Outside both, the current scope is one per thread, which is what
//! the seed's thread-local request configuration does.

use std::cell::RefCell;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value};
use tokio::task::futures::TaskLocalFuture;

use crate::event::{merge_tab, Request, User};
use crate::panic::PanicCapture;

tokio::task_local! {
    static TASK_SCOPE: Scope;
}

thread_local! {
    static THREAD_SCOPES: RefCell<Vec<Scope>> = const { RefCell::new(Vec::new()) };
    static THREAD_DEFAULT: Scope = Scope::new();
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
#[derive(Clone, Default, Debug)]
pub struct Scope {
    inner: Arc<Mutex<ScopeData>>,
}

/// Gives a scope its request data, context and default user, built only when an event
/// needs them (adapters implement it; see `bugsnag_core::http` behind feature `http`).
pub trait RequestSource: Send + Sync + std::fmt::Debug {
    /// The API's `request` object (redacted later by `params_filters`).
    fn request(&self) -> Request;
    /// The context when nothing else set one, such as `GET /users/{id}`.
    fn context(&self) -> Option<String>;
    /// The user when nothing else set one (the client IP, as the seed does).
    fn user(&self) -> Option<User>;
}

/// What a scope holds; copied into each event reported inside it.
#[derive(Default, Debug)]
pub(crate) struct ScopeData {
    pub(crate) request_source: Option<Arc<dyn RequestSource>>,
    pub(crate) context: Option<String>,
    pub(crate) user: Option<User>,
    pub(crate) metadata: Map<String, Value>,
    pub(crate) request: Option<Request>,
    /// Set by adapters that catch panics: the framework name for severityReason.
    pub(crate) catches_panics: Option<&'static str>,
    pub(crate) stashed_panic: Option<PanicCapture>,
}

impl Scope {
    /// An empty scope.
    pub fn new() -> Self {
        Self::default()
    }

    /// The scope of the current task, else of the innermost [`Scope::run_sync`], else
    /// this thread's own.
    pub fn current() -> Scope {
        if let Ok(scope) = TASK_SCOPE.try_with(Scope::clone) {
            return scope;
        }
        // `try_with`: this also runs in the panic hook, possibly during thread teardown.
        THREAD_SCOPES
            .try_with(|stack| stack.borrow().last().cloned())
            .ok()
            .flatten()
            .or_else(|| THREAD_DEFAULT.try_with(Scope::clone).ok())
            .unwrap_or_default()
    }

    /// Runs `future` with this scope as the current one, on any executor.
    pub fn run<F: Future>(&self, future: F) -> TaskLocalFuture<Scope, F> {
        TASK_SCOPE.scope(self.clone(), future)
    }

    /// Runs `f` on this thread with this scope as the current one.
    pub fn run_sync<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Pop;
        impl Drop for Pop {
            fn drop(&mut self) {
                THREAD_SCOPES.with(|stack| stack.borrow_mut().pop());
            }
        }
        THREAD_SCOPES.with(|stack| stack.borrow_mut().push(self.clone()));
        let _pop = Pop;
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
        self.lock().context = Some(context.into());
    }

    /// The current context.
    pub fn context(&self) -> Option<String> {
        self.lock().context.clone()
    }

    /// Sets the user affected by errors in this scope.
    pub fn set_user(&self, user: User) {
        self.lock().user = Some(user);
    }

    /// The current user.
    pub fn user(&self) -> Option<User> {
        self.lock().user.clone()
    }

    /// Adds a dashboard tab to every event of this scope, merging into an existing tab of
    /// the same name.
    pub fn add_metadata_tab(&self, name: impl Into<String>, value: Value) {
        merge_tab(&mut self.lock().metadata, name.into(), value);
    }

    /// Removes a dashboard tab.
    pub fn clear_metadata_tab(&self, name: &str) {
        self.lock().metadata.remove(name);
    }

    /// Sets the HTTP request of this scope (adapters do this).
    pub fn set_request(&self, request: Request) {
        self.lock().request = Some(request);
    }

    /// Sets where request data, the default context and the default user come from.
    pub fn set_request_source(&self, source: Arc<dyn RequestSource>) {
        self.lock().request_source = Some(source);
    }

    /// Runs `future` in this scope, catching its panics: the panic hook stashes what it
    /// saw at the panic point in this scope, and the caller reports one event with
    /// [`Client::notify_panic`](crate::Client::notify_panic). For framework adapters.
    pub fn run_catching<F: Future>(&self, framework: &'static str, future: F) -> crate::panic::CatchUnwind<F> {
        self.catch_panics(framework);
        crate::panic::CatchUnwind::new(self.run(future))
    }

    /// Marks this scope as one whose adapter catches panics: the panic hook then leaves
    /// the report to the adapter (see [`Client::notify_panic`](crate::Client::notify_panic)).
    pub fn catch_panics(&self, framework: &'static str) {
        self.lock().catches_panics = Some(framework);
    }

    pub(crate) fn snapshot(&self) -> ScopeData {
        self.lock().clone_without_panic()
    }
}

impl ScopeData {
    fn clone_without_panic(&self) -> ScopeData {
        ScopeData {
            context: self.context.clone(),
            user: self.user.clone(),
            metadata: self.metadata.clone(),
            request: self.request.clone(),
            request_source: self.request_source.clone(),
            catches_panics: self.catches_panics,
            stashed_panic: None,
        }
    }
}

/// Carries the current scope into futures that run elsewhere, such as `tokio::spawn`ed
/// tasks, which do not inherit task-locals.
///
/// ```
/// use bugsnag_core::InCurrentScope;
/// # async fn f() {
/// tokio::spawn(async { /* notify here reports with the request's context */ }.in_current_scope());
/// # }
/// ```
pub trait InCurrentScope: Future + Sized {
    /// Wraps the future so it runs in the scope current at this call.
    fn in_current_scope(self) -> TaskLocalFuture<Scope, Self> {
        Scope::current().run(self)
    }
}

impl<F: Future> InCurrentScope for F {}
