//! [`Shared`]: a value every report reads and few calls change (the client's device,
//! feature flags, callbacks). Readers take a pointer without any lock (`arc-swap`), and a
//! writer swaps in a changed copy, so a report never waits for another thread: not for
//! one that allocates (glibc's arenas stall under memory pressure), nor for one the
//! scheduler took off the core in the middle of a change.

use std::sync::Arc;

use arc_swap::ArcSwap;

/// A value read without a lock and changed by swapping in a new copy.
#[derive(Debug, Default)]
pub(crate) struct Shared<T>(ArcSwap<T>);

impl<T> Shared<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(ArcSwap::from_pointee(value))
    }

    /// The current value.
    pub(crate) fn get(&self) -> Arc<T> {
        self.0.load_full()
    }
}

impl<T: Clone> Shared<T> {
    /// Changes the value: `change` works on a copy, which then replaces the value.
    /// Concurrent changes are applied one after the other.
    pub(crate) fn update(&self, change: impl Fn(&mut T)) {
        self.0.rcu(|current| {
            let mut next = T::clone(current);
            change(&mut next);
            next
        });
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
