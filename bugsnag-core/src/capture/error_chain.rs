//! Turning Rust errors into the API's `exceptions` array.
//!
//! `exceptions[0]` is the outermost error, then each `source()` in turn. Its errorClass is
//! the Rust type path where the type is known (`std::any::type_name`); for causes reached
//! through `dyn Error`, common standard-library types are recognised by downcasting and
//! the rest are named from the first word of their `Debug` output ([`class_from_debug`]).

use std::error::Error;

use crate::limits;
use crate::model::Exception;
use crate::stacktrace::Stacktrace;

/// Causes past this depth are not sent (guards against cyclic `source()` chains).
const MAX_CHAIN: usize = 32;
/// The errorClass when nothing better can be read.
pub(crate) const FALLBACK_CLASS: &str = "Error";

/// The error chain of `error`, outermost first; `class` names the outermost error when
/// its type is known statically.
pub(crate) fn exceptions<E: Error + ?Sized + 'static>(
    error: &E,
    class: Option<&str>,
    stacktrace: Stacktrace,
) -> Vec<Exception> {
    let mut out = vec![Exception {
        error_class: class.map_or_else(|| class_from_debug(&error).unwrap_or_else(fallback), str::to_owned),
        message: limits::display(&error),
        stacktrace,
    }];
    // User code: `source()` may panic (then the chain ends there).
    let mut cause = limits::guarded(|| error.source()).flatten();
    while let Some(err) = cause {
        if out.len() >= MAX_CHAIN {
            break;
        }
        out.push(Exception {
            error_class: class_of_dyn(err),
            message: limits::display(&err),
            stacktrace: Stacktrace::empty(),
        });
        cause = limits::guarded(|| err.source()).flatten();
    }
    out
}

/// Whether an `ignore_classes` entry names `class`. A type is named by its full path
/// where it is known (`my_app::db::Timeout`) but only by its name when it is reached as
/// a `dyn Error` cause (`Timeout`), so either spelling matches either way round.
pub(crate) fn class_matches(ignored: &str, class: &str) -> bool {
    fn name(path: &str) -> &str {
        let path = path.split('<').next().unwrap_or(path);
        path.rsplit("::").next().unwrap_or(path)
    }
    ignored == class || ((!ignored.contains("::") || !class.contains("::")) && name(ignored) == name(class))
}

/// The errorClass of a statically known error type, `None` for `dyn Error`; a
/// [`Traced<E>`](super::Traced) is named as `E`.
pub(crate) fn class_of<E: ?Sized>() -> Option<&'static str> {
    let mut name = std::any::type_name::<E>();
    while let Some(inner) = name.strip_prefix(super::origin::TRACED_PATH).and_then(|n| n.strip_suffix('>')) {
        name = inner;
    }
    (!name.starts_with("dyn ")).then_some(name)
}

macro_rules! known_types {
    ($err:expr, $($ty:ty),* $(,)?) => {
        $(if $err.is::<$ty>() { return std::any::type_name::<$ty>().to_owned(); })*
    };
}

/// Names an error known only as `dyn Error`: common standard-library types by their
/// path, a [`Traced<E>`](super::Traced) by `E`'s, others from their `Debug` output.
pub fn class_of_dyn(err: &(dyn Error + 'static)) -> String {
    known_types!(
        err,
        std::io::Error,
        std::num::ParseIntError,
        std::num::ParseFloatError,
        std::num::TryFromIntError,
        std::str::Utf8Error,
        std::string::FromUtf8Error,
        std::str::ParseBoolError,
        std::fmt::Error,
        std::env::VarError,
        std::time::SystemTimeError,
        serde_json::Error,
        reqwest::Error,
    );
    super::origin::traced_class(|| class_from_debug(&err)).unwrap_or_else(fallback)
}

fn fallback() -> String {
    FALLBACK_CLASS.to_owned()
}

/// The type a value's `Debug` output names: `ParseError` for `ParseError { line: 3 }`,
/// `Timeout` for `Timeout(5s)`; `None` when it starts with no type-like word (a quoted
/// string, say). How errors known only through `Debug` get an errorClass: `dyn Error`
/// causes, and adapters' framework errors (actix-web's `ResponseError`s).
pub fn class_from_debug(value: &dyn std::fmt::Debug) -> Option<String> {
    // Only the first word is formatted: user `Debug` may recurse without end, or be
    // costly past its type name.
    let word = limits::debug_word(value);
    let word = word.trim_end_matches(':');
    word.chars().next().filter(|c| c.is_alphabetic() || *c == '_').map(|_| word.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::num::ParseIntError);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("outer")
        }
    }
    impl Error for Outer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn chain_is_outermost_first_with_classes() {
        let err = Outer("x".parse::<i32>().unwrap_err());
        let chain = exceptions(&err, class_of::<Outer>(), Stacktrace::empty());
        assert_eq!(chain.len(), 2);
        assert!(chain[0].error_class.ends_with("::Outer"), "{}", chain[0].error_class);
        assert_eq!(chain[0].message, "outer");
        assert_eq!(chain[1].error_class, "core::num::error::ParseIntError");
    }

    #[test]
    fn ignore_entries_match_a_class_by_path_or_by_name() {
        assert!(class_matches("my_app::Inner", "Inner"));
        assert!(class_matches("Inner", "my_app::Inner"));
        assert!(class_matches("my_app::Inner", "my_app::Inner"));
        assert!(!class_matches("my_app::Inner", "other::Inner"), "two paths must agree");
        assert!(!class_matches("Inner", "my_app::Outer"));
    }

    #[test]
    fn debug_names_unknown_causes() {
        assert_eq!(class_from_debug(&format_args!("Timeout {{ after: 5 }}")).as_deref(), Some("Timeout"));
        assert_eq!(class_from_debug(&format_args!("Custom(\"x\")")).as_deref(), Some("Custom"));
        assert_eq!(class_from_debug(&"a string error"), None);
        assert_eq!(class_of::<dyn Error>(), None);
    }
}
