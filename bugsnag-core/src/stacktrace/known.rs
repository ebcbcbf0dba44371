//! Stacks resolved already, shared by the symbols thread, which adds them, and every
//! delivery thread, which reads them: an event whose stacks are all known is not handed
//! to the symbols thread, so a call site seen before costs a lookup rather than two
//! thread switches.

use std::sync::{Arc, LazyLock, Mutex};

use rustc_hash::FxHashMap;

use super::Frames;

/// Stacks remembered; past this many, or past [`BYTES`], the cache starts again.
const ENTRIES: usize = 4096;
/// Memory the remembered stacks may keep alive, about (see [`Frames::weight`]).
const BYTES: usize = 2 * 1024 * 1024;

#[derive(Default)]
struct Known {
    /// By frame rules and whether the stacks are origins', by return addresses.
    stacks: FxHashMap<(u64, bool), FxHashMap<Vec<usize>, Arc<Frames>>>,
    entries: usize,
    bytes: usize,
}

static KNOWN: LazyLock<Mutex<Known>> = LazyLock::new(Mutex::default);

fn known() -> std::sync::MutexGuard<'static, Known> {
    KNOWN.lock().unwrap_or_else(|p| p.into_inner())
}

/// The frames of the stack `ips` under the rules `rules`, if resolved already.
pub(crate) fn get(rules: u64, origin: bool, ips: &[usize]) -> Option<Arc<Frames>> {
    known().stacks.get(&(rules, origin))?.get(ips).cloned()
}

/// Remembers the frames of the stack `ips`.
pub(crate) fn insert(rules: u64, origin: bool, ips: Vec<usize>, frames: Arc<Frames>) {
    let bytes = frames.weight();
    let mut known = known();
    if known.entries >= ENTRIES || known.bytes + bytes > BYTES {
        // Dropped after the lock is released: freeing a stack may free many frames.
        let old = std::mem::take(&mut *known);
        drop(known);
        drop(old);
        known = self::known();
    }
    known.entries += 1;
    known.bytes += bytes;
    known.stacks.entry((rules, origin)).or_default().insert(ips, frames);
}
