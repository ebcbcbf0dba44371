//! Naming errors: the errorClass of each exception.
//!
//! One naming everywhere, whether the error's type is known (`notify(&err)`) or it is
//! reached as a `dyn Error` (a `source()`, a box):
//! - standard types by their public path (`std::io::Error`, `std::num::ParseIntError`),
//!   never an internal one (`std::io::error::Error`) nor a variant of their `Debug`
//!   (`Os`, `Custom`);
//! - a [`Traced<E>`](super::Traced) or a [`traced_error!`](crate::traced_error) type as
//!   what failed: `E`, or its kind, by full path (they note it when their `Debug` runs);
//! - an enum with its variant (`my_app::OrderErrorKind::Storage`), so that two variants
//!   returned at one line make two groups on the dashboard;
//! - anyhow's context layers as `anyhow::Error`;
//! - other types reached as `dyn Error` by the type their `Debug` output starts with.
//!
//! `Debug` is read with the alternate flag (`{:#?}`), bounded, and stops after its first
//! few bytes: anyhow's plain `Debug` of an error in a box resolves its backtrace before
//! writing anything, its alternate one does not.

use std::cell::RefCell;
use std::error::Error;
use std::fmt;

use crate::limits;

/// The errorClass when nothing better can be read (a message, say).
pub(crate) const FALLBACK_CLASS: &str = "Error";
/// Leading words of the `Debug` shapes `DebugHead::class` reads further than the word:
/// `std::io::Error`'s and anyhow's context layer's.
const SHAPED: &[&str] = &["Os", "Custom", "Kind", "Error"];
/// Bytes of `Debug` output read to name an error: its type (or variant) comes first.
/// Alternate: anyhow's plain `Debug` resolves its backtrace before writing anything (an
/// anyhow error in a box), its alternate one writes the error alone.
const MAX_HEAD: usize = 128;
/// What anyhow's context layers (and `anyhow!` messages) are named.
pub(crate) const ANYHOW: &str = "anyhow::Error";

thread_local! {
    /// While an error is named from its `Debug`: whether a [`Traced`](super::Traced) or a
    /// [`traced_error!`](crate::traced_error) type may still note itself, and what it noted.
    static NOTED_CLASS: RefCell<Noting> = const { RefCell::new(Noting::Off) };
    /// What [`note_kind`] named, by kind type and variant.
    static KNOWN: RefCell<std::collections::HashMap<(std::any::TypeId, u64), String>> =
        RefCell::new(std::collections::HashMap::new());
}

macro_rules! public_paths {
    ($($ty:ty => $public:literal),* $(,)?) => {
        /// The public path of a standard or common type named by `type_name`.
        fn public_path(type_name: &str) -> Option<&'static str> {
            // Most errors are the program's own: not one of these.
            if !["std::", "core::", "alloc::", "serde_json::", "reqwest::"].iter().any(|p| type_name.starts_with(p)) {
                return None;
            }
            $(if type_name == std::any::type_name::<$ty>() { return Some($public); })*
            None
        }

        /// Whether `path` is one of the public paths above.
        fn is_public_path(path: &str) -> bool {
            [$($public),*].contains(&path)
        }

        /// The public path of a common type behind a `dyn Error`.
        fn downcast_path(err: &(dyn Error + 'static)) -> Option<&'static str> {
            $(if err.is::<$ty>() { return Some($public); })*
            None
        }
    };
}

public_paths! {
    std::io::Error => "std::io::Error",
    std::num::ParseIntError => "std::num::ParseIntError",
    std::num::ParseFloatError => "std::num::ParseFloatError",
    std::num::TryFromIntError => "std::num::TryFromIntError",
    std::str::Utf8Error => "std::str::Utf8Error",
    std::string::FromUtf8Error => "std::string::FromUtf8Error",
    std::str::ParseBoolError => "std::str::ParseBoolError",
    std::char::ParseCharError => "std::char::ParseCharError",
    std::fmt::Error => "std::fmt::Error",
    std::env::VarError => "std::env::VarError",
    std::time::SystemTimeError => "std::time::SystemTimeError",
    std::net::AddrParseError => "std::net::AddrParseError",
    std::sync::mpsc::RecvError => "std::sync::mpsc::RecvError",
    std::array::TryFromSliceError => "std::array::TryFromSliceError",
    serde_json::Error => "serde_json::Error",
    reqwest::Error => "reqwest::Error",
}

/// What of `err` may hold an origin, to search: nothing for a standard type, which holds
/// none (saving the search of its `Debug`), the error an `io::Error` wraps, if any, else
/// `err` itself.
pub(crate) fn holder<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a (dyn Error + 'static)> {
    if let Some(io) = err.downcast_ref::<std::io::Error>() {
        return io.get_ref().map(|inner| inner as &(dyn Error + 'static));
    }
    downcast_path(err).is_none().then_some(err)
}

/// The errorClass of a statically known error type, `None` for `dyn Error`: its public
/// path. What the per-error budget keys on before the value is read.
pub(crate) fn class_of<E: ?Sized>() -> Option<&'static str> {
    static_name(std::any::type_name::<E>())
}

/// [`class_of`] for a type named by `std::any::type_name`. (A `Traced<E>` names itself
/// as `E` when its value is read.)
fn static_name(name: &'static str) -> Option<&'static str> {
    (!name.starts_with("dyn ")).then(|| public_path(name).unwrap_or(name))
}

/// The errorClass of `error`, whose type is `type_name` (`std::any::type_name::<E>()`,
/// kept when the error was boxed): what `notify(&error)` would have named it.
pub fn class_of_typed(error: &dyn fmt::Debug, type_name: &'static str) -> String {
    class_of_value(error, static_name(type_name))
}

/// The errorClass of `error`, whose type is `static_name` when known (see
/// [`class_of`]), else read from its `Debug` output.
pub(crate) fn class_of_value<E: fmt::Debug + ?Sized>(error: &E, static_name: Option<&str>) -> String {
    named(error, static_name).0
}

/// [`class_of_value`], and whether the name follows from the value's type and variant
/// alone (nothing inside it noted a class), so that it can be remembered for them.
fn named<E: fmt::Debug + ?Sized>(error: &E, static_name: Option<&str>) -> (String, bool) {
    if let Some(path) = static_name.filter(|path| is_public_path(path)) {
        return (path.to_owned(), true);
    }
    let head = DebugHead::of(&error);
    if let Some(noted) = head.noted {
        return (noted, false);
    }
    match static_name {
        Some(path) => match head.variant_of(path) {
            Some(variant) => (format!("{path}::{variant}"), true),
            None => (path.to_owned(), true),
        },
        None => (head.class().unwrap_or_else(|| FALLBACK_CLASS.to_owned()), false),
    }
}

/// Names an error known only as `dyn Error`: common types by their public path, a
/// [`Traced<E>`](super::Traced) or [`traced_error!`](crate::traced_error) type as what it
/// wraps, others from their `Debug` output.
pub fn class_of_dyn(err: &(dyn Error + 'static)) -> String {
    match downcast_path(err) {
        Some(path) => path.to_owned(),
        None => class_of_value(err, None),
    }
}

/// The type a value's `Debug` output names: `ParseError` for `ParseError { line: 3 }`,
/// `Timeout` for `Timeout(5s)`; `None` when it starts with no type-like word (a quoted
/// string, say). How errors known only through `Debug` get an errorClass: adapters'
/// framework errors (actix-web's `ResponseError`s). A [`Traced`](super::Traced) or
/// [`traced_error!`](crate::traced_error) value there is named by its full path.
pub fn class_from_debug(value: &dyn fmt::Debug) -> Option<String> {
    let head = DebugHead::of(value);
    head.noted.clone().or_else(|| head.class())
}

/// Whether an `ignore_classes` entry names `class`. A type is named by its full path
/// where it is known (`my_app::db::Timeout`) but only by its name when it is reached as
/// a `dyn Error` cause (`Timeout`), so either spelling matches either way round; an
/// enum's entry matches each of its variants (`my_app::Kind` matches
/// `my_app::Kind::Storage`).
pub(crate) fn class_matches(ignored: &str, class: &str) -> bool {
    fn segments(path: &str) -> Vec<&str> {
        path.split('<').next().unwrap_or(path).split("::").collect()
    }
    if ignored == class {
        return true;
    }
    let (ignored, class) = (segments(ignored), segments(class));
    let ends_with = |path: &[&str]| {
        if ignored.len() > 1 && path.len() > 1 {
            path.ends_with(&ignored)
        } else {
            path.last() == ignored.last()
        }
    };
    ends_with(&class) || (class.len() > 1 && ends_with(&class[..class.len() - 1]))
}

/// What the naming going on in this thread has been told.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Noting {
    /// No naming.
    Off,
    /// Nothing written yet: the value being named is what notes itself now.
    Open,
    /// Something was written: a traced value further in is a field, not the value.
    Closed,
    /// What the value is.
    Noted(String),
}

/// Notes, for the naming going on in this thread (if any), that the error being named is
/// `kind` (what a [`Traced`] or a [`traced_error!`](crate::traced_error) type wraps): only
/// before anything of it was written, so a wrapper holding a traced error as a field is
/// not named after it.
pub(crate) fn note_class<K: fmt::Debug + ?Sized>(kind: &K) {
    if is_open() {
        // Named in a naming of its own; this one closes meanwhile.
        noted(class_of_value(kind, class_of::<K>()));
    }
}

/// [`note_class`] for a kind whose type is known: its name is remembered by type and
/// variant (per thread, a few hundred), so that errors of a kind reported again are not
/// formatted again to be named.
#[doc(hidden)]
pub fn note_kind<K: fmt::Debug + 'static>(kind: &K) {
    use std::hash::{Hash, Hasher};
    const REMEMBERED: usize = 256;
    if !is_open() {
        return;
    }
    let mut hasher = rustc_hash::FxHasher::default();
    std::mem::discriminant(kind).hash(&mut hasher);
    let key = (std::any::TypeId::of::<K>(), hasher.finish());
    let known = KNOWN.try_with(|known| known.borrow().get(&key).cloned()).ok().flatten();
    let class = known.unwrap_or_else(|| {
        let (class, by_type) = named(kind, class_of::<K>());
        if by_type {
            let _ = KNOWN.try_with(|known| {
                let mut known = known.borrow_mut();
                if known.len() >= REMEMBERED {
                    known.clear();
                }
                known.insert(key, class.clone());
            });
        }
        class
    });
    noted(class);
}

fn is_open() -> bool {
    NOTED_CLASS.try_with(|state| state.try_borrow().is_ok_and(|s| *s == Noting::Open)) == Ok(true)
}

fn noted(class: String) {
    let _ = NOTED_CLASS.try_with(|state| {
        if let Ok(mut state) = state.try_borrow_mut() {
            *state = Noting::Noted(class);
        }
    });
}

/// The first bytes of a value's alternate `Debug` output, and the class a
/// [`Traced`](super::Traced) or [`traced_error!`](crate::traced_error) value in it noted.
struct DebugHead {
    text: String,
    noted: Option<String>,
}

impl DebugHead {
    /// Formats the head of `value`'s alternate `Debug`, and stops it as soon as what
    /// names the value is known: a class a traced value noted, or the leading word and
    /// what follows it (up to [`MAX_HEAD`] bytes for the words of std's and anyhow's
    /// shapes). What follows is often costly to format (a whole cause chain).
    fn of(value: &dyn fmt::Debug) -> Self {
        struct Head(String);
        impl fmt::Write for Head {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                if s.is_empty() {
                    return Ok(());
                }
                let noted = NOTED_CLASS.try_with(|state| {
                    let Ok(mut state) = state.try_borrow_mut() else { return false };
                    if *state == Noting::Open {
                        *state = Noting::Closed;
                    }
                    matches!(*state, Noting::Noted(_))
                });
                if noted == Ok(true) {
                    return Err(fmt::Error);
                }
                let room = MAX_HEAD - self.0.len();
                let cut = (0..=room.min(s.len())).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
                self.0.push_str(&s[..cut]);
                if cut < s.len() || self.named() {
                    return Err(fmt::Error);
                }
                Ok(())
            }
        }
        impl Head {
            /// Whether the text holds the leading word and the character after it, and
            /// the word is none whose shape needs reading further.
            fn named(&self) -> bool {
                let end = self.0.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'));
                end.is_some_and(|end| !SHAPED.contains(&&self.0[..end]))
            }
        }
        let outer = NOTED_CLASS.try_with(|state| state.replace(Noting::Open)).unwrap_or(Noting::Off);
        let mut head = Head(String::new());
        let _ = limits::guarded(|| fmt::write(&mut head, format_args!("{value:#?}")));
        let noted = match NOTED_CLASS.try_with(|state| state.replace(outer)) {
            Ok(Noting::Noted(class)) => Some(class),
            _ => None,
        };
        Self { text: head.0, noted }
    }

    /// The leading word: a type name, or an enum's variant.
    fn word(&self) -> &str {
        let end = self.text.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(self.text.len());
        self.text[..end].trim_end_matches(':')
    }

    /// The class of a value of unknown type.
    fn class(&self) -> Option<String> {
        if self.is_io_error() {
            return Some("std::io::Error".to_owned());
        }
        if self.text.starts_with("Error {\n    context: ") {
            return Some(ANYHOW.to_owned());
        }
        let word = self.word();
        word.chars().next().filter(|c| c.is_alphabetic() || *c == '_').map(|_| word.to_owned())
    }

    /// The variant an enum value of type `path` shows: a capitalised word other than the
    /// type's own name, followed by its fields or nothing (a custom `Debug` printing a
    /// sentence is not read as a variant).
    fn variant_of(&self, path: &str) -> Option<&str> {
        let word = self.word();
        let type_name = path.split('<').next().unwrap_or(path).rsplit("::").next().unwrap_or(path);
        let rest = &self.text[word.len()..];
        let shaped = rest.is_empty() || rest.starts_with('(') || rest.starts_with(" {");
        (shaped && word != type_name && !word.contains(':') && word.starts_with(|c: char| c.is_ascii_uppercase()))
            .then_some(word)
    }

    /// The shapes of `std::io::Error`'s `Debug`, for one in a box that no downcast reached
    /// (`notify(&*boxed)`).
    fn is_io_error(&self) -> bool {
        let t = &self.text;
        t.starts_with("Os {\n    code: ")
            || t.starts_with("Custom {\n    kind: ")
            || (t.starts_with("Error {\n    kind: ") && t.contains("\n    message: "))
            || (t.starts_with("Kind(\n    ") && t[10..].starts_with(|c: char| c.is_ascii_uppercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)]
    enum Kind {
        Storage(std::io::Error),
        Denied,
        Busy { seconds: u32 },
    }

    #[test]
    fn standard_types_have_public_paths_known_or_boxed() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        assert_eq!(class_of_value(&io, class_of::<std::io::Error>()), "std::io::Error");
        let boxed: Box<dyn Error + Send + Sync> = Box::new(std::io::Error::from_raw_os_error(2));
        assert_eq!(class_of_dyn(&*boxed), "std::io::Error");
        // Through a generic `notify::<dyn Error>`, where only `Debug` is known.
        assert_eq!(class_of_value(&*boxed, None), "std::io::Error");
        let custom: Box<dyn Error> = Box::new(std::io::Error::other("x"));
        assert_eq!(class_of_value(&*custom, None), "std::io::Error");
        let parse = "x".parse::<u8>().unwrap_err();
        assert_eq!(class_of_value(&parse, class_of::<std::num::ParseIntError>()), "std::num::ParseIntError");
    }

    #[test]
    fn enums_are_named_with_their_variant() {
        let path = class_of::<Kind>();
        assert_eq!(class_of_value(&Kind::Denied, path), format!("{}::Denied", path.unwrap()));
        assert!(class_of_value(&Kind::Busy { seconds: 1 }, path).ends_with("::Kind::Busy"));
        assert!(class_of_value(&Kind::Storage(std::io::Error::other("x")), path).ends_with("::Kind::Storage"));
    }

    #[test]
    fn a_sentence_is_not_a_variant() {
        struct Custom;
        impl fmt::Debug for Custom {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Connection refused by the server")
            }
        }
        assert_eq!(class_of_value(&Custom, Some("my::Custom")), "my::Custom");
    }

    #[test]
    fn ignore_entries_match_a_class_by_path_by_name_or_as_the_enum() {
        assert!(class_matches("my_app::Inner", "Inner"));
        assert!(class_matches("Inner", "my_app::Inner"));
        assert!(class_matches("my_app::Inner", "my_app::Inner"));
        assert!(!class_matches("my_app::Inner", "other::Inner"), "two paths must agree");
        assert!(!class_matches("Inner", "my_app::Outer"));
        assert!(class_matches("my_app::Kind", "my_app::Kind::Storage"));
        assert!(class_matches("Kind", "my_app::Kind::Storage"));
        assert!(class_matches("Kind::Storage", "my_app::Kind::Storage"));
        assert!(!class_matches("my_app::Kind::Denied", "my_app::Kind::Storage"));
    }

    #[test]
    fn debug_names_unknown_causes() {
        assert_eq!(class_from_debug(&format_args!("Timeout {{ after: 5 }}")).as_deref(), Some("Timeout"));
        assert_eq!(class_from_debug(&"a string error"), None);
        assert_eq!(class_of::<dyn Error>(), None);
    }
}
