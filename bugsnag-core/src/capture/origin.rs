//! Where an error was made, carried inside the error to wherever it is reported.
//!
//! An error returned through `?` is reported far from the line that failed (an
//! `IntoResponse`, a middleware, a job runner): the stack at the report says where it was
//! reported, and every error of one type shares it. An [`Origin`] is captured where the
//! error entered the application's error type: at the `?` (whose `From` conversion is
//! `#[track_caller]`), as the call site and the stack then, unresolved. It travels inside
//! the error; `notify`, every adapter and the log bridges look for it before capturing
//! the stack where they report.
//!
//! Finding it needs no trait from the error: an `Origin` notes itself when it is
//! formatted with `Debug`, so each error's `Debug` output (derived, as errors' are) is
//! read, bounded and written nowhere. Of several origins, the deepest along `source()`
//! is where it failed; within one error's `Debug`, the first made.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;
use std::ops::Deref;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::limits;
use crate::stacktrace::{OriginStack, Stacktrace};

/// Whether stacks are captured: only once a client that can send was made, so a program
/// (or a library's tests) without Bugsnag pays for a call site only.
static CAPTURING: AtomicBool = AtomicBool::new(false);
/// Whether any origin was made: until then, nothing is searched.
pub(crate) static ANY_MADE: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// While an error's `Debug` is searched: the origin made first among those seen.
    static FOUND: RefCell<Option<Search>> = const { RefCell::new(None) };
}

/// One search of a value's `Debug` output for origins.
#[derive(Default)]
struct Search {
    /// The best origin seen so far.
    best: Option<Origin>,
    /// Whether anything was written yet.
    written: bool,
    /// Whether `best` is the value's own: noted before anything of it was written, as a
    /// [`Traced`] or a [`traced_error!`](crate::traced_error) type notes its origin. What
    /// follows is the value's contents, whose errors the chain's later links search.
    own: bool,
}

/// Turns stack capture on (a client able to send exists).
pub(crate) fn capture_stacks() {
    CAPTURING.store(true, Ordering::Relaxed);
}

/// Where an error was made: the call site and the stack there, captured cheaply
/// (return addresses only; symbols are resolved later, off your thread).
///
/// Keep one in your error type (or use [`Traced`] or [`traced_error!`](crate::traced_error))
/// and every report of that error, wherever it is made, starts at that line: two call
/// sites make two groups on your dashboard, and the line to fix is the first frame.
/// Reporters find it through your error's `Debug` output, so derive `Debug` (or show
/// the field in yours).
///
/// ```
/// use bugsnag_core::Origin;
///
/// #[derive(Debug)]
/// struct StorageError {
///     path: String,
///     origin: Origin,
/// }
///
/// impl StorageError {
///     #[track_caller]
///     fn new(path: &str) -> Self {
///         Self { path: path.to_owned(), origin: Origin::capture() }
///     }
/// }
///
/// let line = line!() + 1;
/// let err = StorageError::new("/var/orders");
/// assert_eq!(err.origin.location().line(), line);
/// ```
#[derive(Clone)]
pub struct Origin {
    location: &'static Location<'static>,
    /// `None` while no client can send.
    stack: Option<Arc<OriginStack>>,
}

impl Origin {
    /// The caller's location and stack. With `#[track_caller]` on the function that
    /// calls it (a `From` impl that `?` uses), the location is that function's caller.
    #[track_caller]
    pub fn capture() -> Self {
        let location = Location::caller();
        if !ANY_MADE.load(Ordering::Relaxed) {
            ANY_MADE.store(true, Ordering::Relaxed);
        }
        if !CAPTURING.load(Ordering::Relaxed) {
            return Self { location, stack: None };
        }
        Self { location, stack: Some(OriginStack::capture(location)) }
    }

    /// Where it was captured (with `#[track_caller]`, the line of the `?`).
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The origin shown in a value's `Debug` output (the first made, when it shows
    /// several): for errors that are not `std::error::Error`s, such as a framework's.
    pub fn in_debug(value: &dyn fmt::Debug) -> Option<Origin> {
        if !ANY_MADE.load(Ordering::Relaxed) {
            return None;
        }
        // Saved and put back: a `Debug` impl may report an error of its own.
        let outer = FOUND.try_with(|found| found.replace(Some(Search::default()))).ok()?;
        let mut stop = || {
            let own = FOUND.try_with(|found| {
                let Ok(mut found) = found.try_borrow_mut() else { return false };
                let Some(search) = found.as_mut() else { return false };
                search.written = true;
                search.own
            });
            own.unwrap_or(true)
        };
        limits::scan_debug(value, &mut stop);
        FOUND.try_with(|found| found.replace(outer)).ok().flatten().and_then(|search| search.best)
    }

    /// The stack, for the event (`None` when it was made while no client could send).
    pub(crate) fn stacktrace(&self) -> Option<Stacktrace> {
        self.stack.clone().map(Stacktrace::origin)
    }

    /// Whether the call site is the program's: `.map_err(AppError::from)` calls the
    /// conversion from the standard library, whose location says nothing.
    pub(crate) fn site_is_known(&self) -> bool {
        crate::stacktrace::is_program_location(self.location)
    }

    /// Offers this origin to the search going on in this thread, before its holder writes
    /// anything: it is then the holder's own (what [`traced_error!`](crate::traced_error)
    /// types do).
    pub(crate) fn note_own(&self) {
        self.note();
    }

    /// Offers this origin to the search going on in this thread, if any: the value's own
    /// (noted before anything was written) ends the search; else the first made wins, and
    /// one with a stack wins over one made before stacks were captured.
    fn note(&self) {
        let _ = FOUND.try_with(|found| {
            let Ok(mut found) = found.try_borrow_mut() else { return };
            let Some(search) = found.as_mut() else { return };
            if search.own {
                return;
            }
            if !search.written && search.best.is_none() {
                search.own = true;
                search.best = Some(self.clone());
                return;
            }
            let best = &mut search.best;
            let better = match (best.as_ref().map(|b| b.stack.as_ref()), &self.stack) {
                (None, _) => true,
                (Some(Some(best)), Some(stack)) => stack.made < best.made,
                (Some(None), Some(_)) => true,
                (Some(_), None) => false,
            };
            if better {
                *best = Some(self.clone());
            }
        });
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.note();
        write!(f, "Origin({}:{}:{})", self.location.file(), self.location.line(), self.location.column())
    }
}

/// Any error with its [`Origin`]: `?` wraps it, capturing the line of the `?` and the
/// stack there. For functions that return `io::Error`, a library's error or your own
/// structs; transparent to reports (errorClass, message and causes are `E`'s).
///
/// ```
/// use bugsnag_core::Traced;
///
/// fn read_config(path: &str) -> Result<String, Traced<std::io::Error>> {
///     Ok(std::fs::read_to_string(path)?) // the origin: this line
/// }
///
/// let err = read_config("/no/such/file").unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::NotFound); // derefs to the io::Error
/// # bugsnag_core::notify(&err);
/// ```
pub struct Traced<E> {
    error: E,
    origin: Origin,
}

impl<E> Traced<E> {
    /// Wraps `error`, capturing the caller's origin.
    #[track_caller]
    pub fn new(error: E) -> Self {
        Self { error, origin: Origin::capture() }
    }

    /// Where the error was wrapped.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The error, without its origin.
    pub fn into_inner(self) -> E {
        self.error
    }

    /// The error and its origin, for a conversion that keeps the origin
    /// ([`traced_error!`](crate::traced_error) types convert from a `Traced` so).
    pub fn into_parts(self) -> (E, Origin) {
        (self.error, self.origin)
    }
}

impl<E: Error> From<E> for Traced<E> {
    #[track_caller]
    fn from(error: E) -> Self {
        Self::new(error)
    }
}

impl<E> Deref for Traced<E> {
    type Target = E;

    fn deref(&self) -> &E {
        &self.error
    }
}

impl<E: fmt::Debug> fmt::Debug for Traced<E> {
    // `E`'s alone: a `Traced` is transparent.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.origin.note();
        super::error_class::note_class(&self.error);
        self.error.fmt(f)
    }
}

impl<E: fmt::Display> fmt::Display for Traced<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.error.fmt(f)
    }
}

impl<E: Error> Error for Traced<E> {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.error.source()
    }
}

/// Declares your application's error type as an error of `Kind` (your `thiserror` enum,
/// say) plus the [`Origin`] where it was made. Every `?` that converts into it (from
/// anything `Kind` converts from) captures the origin; nothing changes at call sites.
///
/// The type gets `From<T>` for every `T: Into<Kind>`, `From<Traced<T>>` for the same `T`
/// (keeping the `Traced`'s own origin, made deeper), `Debug` (the origin first, which is
/// how reporters find it; it also shows them the type's chain where only `Debug` is
/// known, as for actix-web's `ResponseError`), `Display` and `Error` (those of `Kind`),
/// and `kind()`, `into_kind()` and `origin()`. `Kind` must implement
/// `std::error::Error` and be a type of your crate (the `From<Traced<T>>` conversion
/// needs it; for another crate's error, return [`Traced<E>`] instead). Reports name the
/// error as its kind: `my_app::AppErrorKind::Storage` for an enum (its variant keeps two
/// failures at one line apart on the dashboard).
///
/// ```
/// #[derive(Debug, thiserror::Error)]
/// enum AppErrorKind {
///     #[error("storage failed")]
///     Io(#[from] std::io::Error),
///     #[error("bad order number")]
///     Parse(#[from] std::num::ParseIntError),
/// }
///
/// bugsnag_core::traced_error! {
///     /// The service's error: what failed and where.
///     pub struct AppError(AppErrorKind);
/// }
///
/// fn order_number(text: &str) -> Result<u32, AppError> {
///     Ok(text.parse::<u32>()?) // the origin: this line
/// }
///
/// let err = order_number("forty-two").unwrap_err();
/// assert!(matches!(err.kind(), AppErrorKind::Parse(_)));
/// assert_eq!(err.origin().location().line(), line!() - 5);
/// ```
#[macro_export]
macro_rules! traced_error {
    ($(#[$attr:meta])* $vis:vis struct $name:ident($kind:ty);) => {
        $(#[$attr])*
        $vis struct $name {
            origin: $crate::Origin,
            kind: $kind,
        }

        #[allow(dead_code)]
        impl $name {
            /// What failed.
            $vis fn kind(&self) -> &$kind {
                &self.kind
            }

            /// What failed, without where.
            $vis fn into_kind(self) -> $kind {
                self.kind
            }

            /// Where it was made.
            $vis fn origin(&self) -> &$crate::Origin {
                &self.origin
            }
        }

        impl<E: ::std::convert::Into<$kind>> ::std::convert::From<E> for $name {
            #[track_caller]
            fn from(error: E) -> Self {
                Self { kind: error.into(), origin: $crate::Origin::capture() }
            }
        }

        /// Keeps the origin the `Traced` error carries: where it failed.
        impl<E: ::std::convert::Into<$kind>> ::std::convert::From<$crate::Traced<E>> for $name {
            fn from(traced: $crate::Traced<E>) -> Self {
                let (error, origin) = traced.into_parts();
                Self { kind: error.into(), origin }
            }
        }

        /// The origin first, so that a long kind cannot push it past what a search reads.
        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                $crate::__private::note_origin(&self.origin);
                $crate::__private::note_kind(&self.kind);
                $crate::__private::note_error(self);
                f.debug_struct(::std::stringify!($name)).field("origin", &self.origin).field("kind", &self.kind).finish()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.kind, f)
            }
        }

        impl ::std::error::Error for $name {
            fn source(&self) -> ::std::option::Option<&(dyn ::std::error::Error + 'static)> {
                ::std::error::Error::source(&self.kind)
            }
        }
    };
}
