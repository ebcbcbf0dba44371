//! [`Shared`]: a value every report reads and few calls change (the client's device,
//! feature flags, callbacks, breadcrumbs). A reader takes a pointer under the lock and
//! reads it after; a writer swaps in a changed copy. So no thread holds the lock while
//! it allocates or frees: a thread held up in the allocator (glibc's arenas stall under
//! memory pressure) can never hold up every `notify` of the process behind it.

use std::sync::{Arc, Mutex};

/// A value behind a lock that is held only to copy or swap a pointer.
#[derive(Debug, Default)]
pub(crate) struct Shared<T>(Mutex<Arc<T>>);

impl<T> Shared<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(Mutex::new(Arc::new(value)))
    }

    /// The current value.
    pub(crate) fn get(&self) -> Arc<T> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl<T: Clone> Shared<T> {
    /// Changes the value: `change` works on a copy, made outside the lock, which then
    /// replaces the value. Concurrent changes are applied one after the other.
    pub(crate) fn update(&self, change: impl Fn(&mut T)) {
        loop {
            let current = self.get();
            let mut next = T::clone(&current);
            change(&mut next);
            let next = Arc::new(next);
            let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
            if Arc::ptr_eq(&slot, &current) {
                let old = std::mem::replace(&mut *slot, next);
                drop(slot);
                // Freed after the lock is released.
                drop(old);
                return;
            }
            // Another change came first: apply this one to its result.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_keep_the_value_they_took_and_concurrent_changes_all_apply() {
        let shared = Arc::new(Shared::new(Vec::<u32>::new()));
        let before = shared.get();
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let shared = shared.clone();
                std::thread::spawn(move || (0..100).for_each(|j| shared.update(|v| v.push(i * 100 + j))))
            })
            .collect();
        writers.into_iter().for_each(|w| w.join().unwrap());
        assert!(before.is_empty(), "a reader's value does not change under it");
        assert_eq!(shared.get().len(), 800);
    }
}
