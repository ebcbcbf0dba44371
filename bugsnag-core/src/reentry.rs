//! Marks a thread carries while it runs notifier code, so that the notifier never
//! reports on itself: a panic or log record inside a callback, the panic hook or user
//! formatting code is not reported (`QUIET`), and a `before_notify` callback calling
//! `notify` is refused rather than recursing (`IN_CALLBACK`).

use std::cell::Cell;
use std::thread::LocalKey;

thread_local! {
    /// Set while this thread runs notifier code that may panic (callbacks, the hook,
    /// user `Display` code the notifier formats).
    static QUIET: Cell<bool> = const { Cell::new(false) };
    /// Set while this thread runs `before_notify` callbacks.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with `flag` set on this thread, restoring it afterwards however `f` ends.
fn with_flag<R>(flag: &'static LocalKey<Cell<bool>>, f: impl FnOnce() -> R) -> R {
    struct Restore(&'static LocalKey<Cell<bool>>, bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = self.0.try_with(|c| c.set(self.1));
        }
    }
    // `try_with`: this also runs during thread teardown, where the flag may be gone.
    let _restore = Restore(flag, flag.try_with(|c| c.replace(true)).unwrap_or(true));
    f()
}

/// Whether this thread is running notifier code whose panics and log records must not
/// be reported. During thread teardown it counts as quiet.
pub(crate) fn is_quiet() -> bool {
    QUIET.try_with(Cell::get).unwrap_or(true)
}

/// Runs `f` with this thread's panics and log records kept out of reports.
pub(crate) fn quietly<R>(f: impl FnOnce() -> R) -> R {
    with_flag(&QUIET, f)
}

/// Whether this thread is running `before_notify` callbacks.
pub(crate) fn in_callback() -> bool {
    IN_CALLBACK.try_with(Cell::get).unwrap_or(false)
}

/// Runs `f` (the callbacks) with [`in_callback`] true.
pub(crate) fn as_callback<R>(f: impl FnOnce() -> R) -> R {
    with_flag(&IN_CALLBACK, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_restored_even_after_a_panic() {
        assert!(!is_quiet() && !in_callback());
        quietly(|| {
            assert!(is_quiet());
            as_callback(|| assert!(in_callback() && is_quiet()));
            assert!(!in_callback());
        });
        let _ = std::panic::catch_unwind(|| quietly(|| panic!("inside")));
        assert!(!is_quiet());
    }
}
