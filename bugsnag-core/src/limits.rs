//! Keeping what user code hands the notifier within bounds, on the caller's thread:
//! JSON nested deeper than [`MAX_DEPTH`] (which would overflow the stack wherever it is
//! cloned, redacted, serialized or dropped), and `Display`/`Debug` implementations that
//! fail, panic, or recurse without end.

use std::fmt::{self, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::Value;

/// Levels of objects and arrays kept in metadata; deeper values are replaced.
pub(crate) const MAX_DEPTH: usize = 32;
/// What a value nested too deep is replaced with.
pub(crate) const TOO_DEEP: &str = "[nested too deep]";
/// Bytes of an error's `Display` output kept.
const MAX_MESSAGE: usize = 64 * 1024;
/// Bytes of `Debug` output formatted when searching it (for an error's origin).
const MAX_SCAN: usize = 256 * 1024;

/// Replaces every object or array nested deeper than [`MAX_DEPTH`] with [`TOO_DEEP`],
/// without recursion, so any depth is safe.
pub(crate) fn cap_depth(value: &mut Value) {
    if !(value.is_object() || value.is_array()) {
        return;
    }
    let mut stack: Vec<(&mut Value, usize)> = vec![(value, 0)];
    while let Some((value, depth)) = stack.pop() {
        match value {
            Value::Array(_) | Value::Object(_) if depth >= MAX_DEPTH => {
                drop_flat(std::mem::replace(value, Value::String(TOO_DEEP.to_owned())));
            }
            Value::Array(items) => stack.extend(items.iter_mut().map(|v| (v, depth + 1))),
            Value::Object(map) => stack.extend(map.values_mut().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
}

/// Whether a value is nested deeper than [`MAX_DEPTH`], without recursion.
pub(crate) fn too_deep(value: &Value) -> bool {
    if !(value.is_object() || value.is_array()) {
        return false;
    }
    let mut stack = vec![(value, 0)];
    while let Some((value, depth)) = stack.pop() {
        match value {
            Value::Array(_) | Value::Object(_) if depth >= MAX_DEPTH => return true,
            Value::Array(items) => stack.extend(items.iter().map(|v| (v, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|v| (v, depth + 1))),
            _ => {}
        }
    }
    false
}

/// Drops a value of any depth: serde_json's own drop recurses once per level.
fn drop_flat(value: Value) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// A `fmt::Write` that stops the formatting (with an error) once `max` bytes are in.
struct Bounded {
    text: String,
    max: usize,
    full: bool,
}

impl Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.max - self.text.len();
        if s.len() <= room {
            self.text.push_str(s);
            return Ok(());
        }
        let cut = (0..=room).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        self.text.push_str(&s[..cut]);
        self.full = true;
        Err(fmt::Error)
    }
}

/// Formats `args` into at most `max` bytes. A formatting error or a panic in user code
/// ends in a note in the text, never in a panic of the caller.
fn bounded(max: usize, format: impl FnOnce(&mut Bounded) -> fmt::Result) -> String {
    let mut out = Bounded { text: String::new(), max, full: false };
    // User code's panic must not reach the host, nor be reported as a crash.
    let result = crate::reentry::quietly(|| catch_unwind(AssertUnwindSafe(|| format(&mut out))));
    match result {
        Ok(Ok(())) => {}
        Ok(Err(_)) if out.full => out.text.push_str("…[truncated]"),
        Ok(Err(_)) => out.text.push_str("[its formatting returned an error]"),
        Err(_) => out.text.push_str("[its formatting panicked]"),
    }
    out.text
}

/// The `Display` text of a value, bounded; see [`bounded`].
pub(crate) fn display(value: &dyn fmt::Display) -> String {
    bounded(MAX_MESSAGE, |out| write!(out, "{value}"))
}

/// Formats a value's alternate `Debug` output into nothing, for what the formatting
/// itself does (an `Origin` notes itself), stopping after [`MAX_SCAN`] bytes, at a field
/// named `backtrace` (formatting a `std::backtrace::Backtrace` resolves its symbols, on
/// the caller's thread), or at the first write `stop` asks to (it is asked before each);
/// user code's failures and panics end it quietly.
pub(crate) fn scan_debug(value: &dyn fmt::Debug, stop: &mut dyn FnMut() -> bool) {
    struct Nowhere<'a>(usize, &'a mut dyn FnMut() -> bool);
    impl Write for Nowhere<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            self.0 += s.len();
            if self.0 > MAX_SCAN || s == "backtrace" || (self.1)() {
                return Err(fmt::Error);
            }
            Ok(())
        }
    }
    let _ = guarded(|| write!(Nowhere(0, stop), "{value:#?}"));
}

/// Runs user code that may panic, quietly; `None` if it did.
pub(crate) fn guarded<R>(f: impl FnOnce() -> R) -> Option<R> {
    crate::reentry::quietly(|| catch_unwind(AssertUnwindSafe(f))).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(depth: usize) -> Value {
        // Not `json!`: it would serialize (recursively) the value it wraps.
        let mut value = json!("leaf");
        for _ in 0..depth {
            value = Value::Object(serde_json::Map::from_iter([("k".to_owned(), value)]));
        }
        value
    }

    #[test]
    fn deep_values_are_cut_at_the_limit_without_recursion() {
        let mut deep = nested(200_000);
        assert!(too_deep(&deep));
        cap_depth(&mut deep);
        assert!(!too_deep(&deep));
        let mut walk = &deep;
        for _ in 0..MAX_DEPTH {
            walk = &walk["k"];
        }
        assert_eq!(walk, &json!(TOO_DEEP));
        let mut shallow = nested(3);
        cap_depth(&mut shallow);
        assert_eq!(shallow, nested(3));
        drop_flat(deep);
    }

    struct Failing;
    impl fmt::Display for Failing {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("partial")?;
            Err(fmt::Error)
        }
    }
    struct Panicking;
    impl fmt::Display for Panicking {
        fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
            panic!("display panicked")
        }
    }

    #[test]
    fn failing_panicking_and_endless_formatting_is_contained() {
        assert_eq!(display(&Failing), "partial[its formatting returned an error]");
        assert_eq!(display(&Panicking), "[its formatting panicked]");
        assert_eq!(display(&"x".repeat(100_000)).len(), MAX_MESSAGE + "…[truncated]".len());
    }
}
