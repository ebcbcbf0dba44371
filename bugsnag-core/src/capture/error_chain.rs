//! Turning Rust errors into the API's `exceptions` array.
//!
//! `exceptions[0]` is the outermost error, then each `source()` in turn, each named as
//! `error_class` names errors. Bugsnag groups an event by its INNERMOST exception (the
//! last): its class, and the file and line of its top in-project frame. So every
//! exception carries a stack: the first the event's (its origin's, a panic's, anyhow's
//! backtrace, or the reporting site's), each cause the stack of the nearest origin at or
//! below it in the chain, else the event's.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;

use super::error_class::{class_of_dyn, class_of_value};
use super::origin::Origin;
use crate::limits;
use crate::model::Exception;
use crate::stacktrace::Stacktrace;

/// Causes past this depth are not sent (guards against cyclic `source()` chains).
const MAX_CHAIN: usize = 32;

thread_local! {
    /// While a chain is read from a value's `Debug`: the chain of the first error there
    /// that showed itself ([`traced_error!`](crate::traced_error) types do).
    static SHOWN: RefCell<Option<Option<Vec<Link>>>> = const { RefCell::new(None) };
}

/// One error of a chain, read: its class, its message and the origin nearest at or
/// below it. For chains read now and reported later (a log record, a consumed error).
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub(crate) class: String,
    pub(crate) message: String,
    pub(crate) origin: Option<Origin>,
}

impl Link {
    /// A link with no origin of its own.
    pub(crate) fn new(class: impl Into<String>, message: impl Into<String>) -> Self {
        Self { class: class.into(), message: message.into(), origin: None }
    }
}

/// The error chain of `error`, outermost first; `class` names the outermost error when
/// its type is known statically (`None` for a `dyn Error`).
pub(crate) fn read<E: Error + ?Sized + 'static>(error: &E, class: Option<&str>, origins: &ChainOrigins) -> Vec<Link> {
    read_named(class_of_value(error, class), error, origins)
}

/// [`read`] for an error known as `dyn Error`, named as its causes are.
pub(crate) fn read_dyn(error: &(dyn Error + 'static), origins: &ChainOrigins) -> Vec<Link> {
    read_named(class_of_dyn(error), error, origins)
}

fn read_named<E: Error + ?Sized + 'static>(class: String, error: &E, origins: &ChainOrigins) -> Vec<Link> {
    let mut out = vec![Link { class, message: limits::display(&error), origin: origins.at_or_below(0).cloned() }];
    let mut cause = limits::guarded(|| error.source()).flatten();
    while let Some(err) = cause {
        if out.len() >= MAX_CHAIN {
            break;
        }
        out.push(Link {
            class: class_of_dyn(err),
            message: limits::display(&err),
            origin: origins.at_or_below(out.len()).cloned(),
        });
        cause = limits::guarded(|| err.source()).flatten();
    }
    name_layers(&mut out);
    out
}

/// The exceptions of `error`, the first with `first` as its stack (see the module's
/// documentation for the others').
pub(crate) fn exceptions<E: Error + ?Sized + 'static>(
    error: &E,
    class: Option<&str>,
    first: Stacktrace,
    origins: &ChainOrigins,
) -> Vec<Exception> {
    into_exceptions(read(error, class, origins), first)
}

/// The chain of the first error a value's `Debug` output shows of itself (a
/// [`traced_error!`](crate::traced_error) type does): for errors reported through a trait
/// that has no `source()` (actix-web's `ResponseError`).
pub(crate) fn read_in_debug(value: &dyn fmt::Debug) -> Option<Vec<Link>> {
    let outer = SHOWN.try_with(|shown| shown.replace(Some(None))).ok()?;
    // Done once an error showed its chain.
    let mut shown =
        || SHOWN.try_with(|shown| shown.try_borrow().is_ok_and(|s| matches!(*s, Some(Some(_))))).unwrap_or(true);
    limits::scan_debug(value, &mut shown);
    SHOWN.try_with(|shown| shown.replace(outer)).ok().flatten().flatten()
}

/// Notes, for a chain being read from `Debug` on this thread (if any), that `error` is
/// being formatted: its chain is read now, while it is borrowed.
#[doc(hidden)]
pub fn note_error(error: &(dyn Error + 'static)) {
    let taken = SHOWN.try_with(|shown| {
        let Ok(mut shown) = shown.try_borrow_mut() else { return false };
        // Marked as found before it is read: reading formats it again.
        let unset = matches!(*shown, Some(None));
        if unset {
            *shown = Some(Some(Vec::new()));
        }
        unset
    });
    if taken != Ok(true) {
        return;
    }
    let links = read_dyn(error, &ChainOrigins::of(error));
    let _ = SHOWN.try_with(|shown| {
        if let Ok(mut shown) = shown.try_borrow_mut() {
            *shown = Some(Some(links));
        }
    });
}

/// Exceptions from a chain read earlier; the first has `first` as its stack.
pub(crate) fn into_exceptions(links: Vec<Link>, first: Stacktrace) -> Vec<Exception> {
    let mut out: Vec<Exception> = Vec::with_capacity(links.len());
    let mut first = Some(first);
    for link in links {
        let stacktrace = match (first.take(), link.origin.as_ref().and_then(Origin::stacktrace)) {
            (Some(first), _) => first,
            (None, Some(origin)) => origin,
            (None, None) => out[0].stacktrace.clone(),
        };
        out.push(Exception { error_class: link.class, message: link.message, stacktrace });
    }
    out
}

/// A context layer (anyhow's: named `anyhow::Error`) at the top of a chain says nothing
/// of what failed: the outermost is named after the error it wraps (the nearest below
/// with a type of its own), which is what the dashboard shows first.
fn name_layers(links: &mut [Link]) {
    let untyped = |class: &str| class == super::error_class::ANYHOW;
    if links.len() < 2 || !untyped(&links[0].class) {
        return;
    }
    if let Some(typed) = links.iter().find(|l| !untyped(&l.class)).map(|l| l.class.clone()) {
        links[0].class = typed;
    }
}

impl Origin {
    /// The origin an error carries: the deepest along its `source()` chain (where it
    /// failed), each error's `Debug` output searched; `None` when there is none.
    pub fn find<E: Error + ?Sized + 'static>(error: &E) -> Option<Origin> {
        ChainOrigins::of(error).deepest().cloned()
    }
}

/// The origins an error chain shows: for each error of the chain (the error, then each
/// `source()`), the first made among those its `Debug` output shows, if any. What the
/// stack of each exception of an event comes from.
#[derive(Debug, Clone, Default)]
pub(crate) struct ChainOrigins(Vec<Option<Origin>>);

impl ChainOrigins {
    /// The origins `error`'s chain shows; nothing is searched until an origin was made.
    pub(crate) fn of<E: Error + ?Sized + 'static>(error: &E) -> Self {
        if !super::origin::ANY_MADE.load(std::sync::atomic::Ordering::Relaxed) {
            return Self::default();
        }
        // A standard type (other than `io::Error`, which may wrap anything) holds none.
        let leaf = super::error_class::class_of::<E>().is_some_and(|c| c != "std::io::Error" && c.starts_with("std::"));
        let mut found = vec![if leaf { None } else { Origin::in_debug(&error) }];
        // User code: `source()` may panic (then the chain ends there).
        let mut cause = limits::guarded(|| error.source()).flatten();
        while let Some(err) = cause {
            if found.len() >= MAX_CHAIN {
                break;
            }
            found.push(match super::error_class::holder(err) {
                Some(holder) => Origin::in_debug(&holder),
                None => None,
            });
            cause = limits::guarded(|| err.source()).flatten();
        }
        Self(found)
    }

    /// The deepest origin along the chain: where it failed.
    pub(crate) fn deepest(&self) -> Option<&Origin> {
        self.0.iter().rev().find_map(Option::as_ref)
    }

    /// The origin nearest at or below the `index`th error of the chain.
    pub(crate) fn at_or_below(&self, index: usize) -> Option<&Origin> {
        self.0.get(index..)?.iter().find_map(Option::as_ref)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt;

    #[derive(Debug)]
    struct Outer(std::num::ParseIntError);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer")
        }
    }
    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn chain_is_outermost_first_with_classes_and_every_cause_has_a_stack() {
        let err = Outer("x".parse::<i32>().unwrap_err());
        let here = Stacktrace::from_frames(vec![crate::Stackframe::new("src/main.rs", 3, "app::main")]);
        let chain = exceptions(&err, super::super::error_class::class_of::<Outer>(), here, &ChainOrigins::default());
        assert_eq!(chain.len(), 2);
        assert!(chain[0].error_class.ends_with("::Outer"), "{}", chain[0].error_class);
        assert_eq!(chain[0].message, "outer");
        assert_eq!(chain[1].error_class, "std::num::ParseIntError");
        assert_eq!(chain[1].stacktrace.frames().map(<[_]>::len), Some(1), "without an origin: the event's stack");
    }
}
