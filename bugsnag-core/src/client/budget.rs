//! The per-error budget: in a storm, one bug can fire thousands of times a second. Each
//! error group (its grouping hash, else its errorClass and call site) may send a burst,
//! then a bounded rate; events past that are counted, not built, and the count goes out
//! with the group's next event (`metaData.notifier.heldBack`) or, at flush, in a summary
//! event of its own. Checked on the caller before anything costly (no stack capture, no
//! formatting), and without a lock: each group's slot is updated with atomic operations,
//! so a storm of copies from many threads never makes one wait for another.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwapOption;

use crate::model::{Event, Exception};
use crate::stacktrace::Stacktrace;

/// Groups tracked at once; a group whose slot another takes over starts a new budget.
const SLOTS: usize = 1024;

/// What identifies an error group, as cheaply as it can be known before the event is
/// made: a hash of the grouping hash, or of the errorClass and the call site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupKey(u64);

impl GroupKey {
    pub(crate) fn new(grouping_hash: Option<&str>, class: &str, site: Option<u64>) -> Self {
        let mut hasher = rustc_hash::FxHasher::default();
        match grouping_hash {
            Some(hash) => (0u8, hash).hash(&mut hasher),
            None => (1u8, class, site).hash(&mut hasher),
        }
        Self(hasher.finish())
    }
}

/// What a group's last sent event looked like, for the summary of what it held back.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    exceptions: Vec<(String, String)>,
    stacktrace: Stacktrace,
    context: Option<String>,
    grouping_hash: Option<String>,
    unhandled: bool,
    severity: crate::model::Severity,
    severity_reason: crate::model::SeverityReason,
}

impl Sample {
    pub(crate) fn of(event: &Event) -> Self {
        Self {
            exceptions: event.exceptions.iter().map(|e| (e.error_class.clone(), e.message.clone())).collect(),
            stacktrace: event.exceptions.first().map_or_else(Stacktrace::empty, |e| e.stacktrace.clone()),
            context: event.context.clone(),
            grouping_hash: event.grouping_hash.clone(),
            unhandled: event.unhandled,
            severity: event.severity,
            severity_reason: event.severity_reason.clone(),
        }
    }

    /// Fills `event` (made with the client's app and device) as the group's events were.
    pub(crate) fn fill(self, event: &mut Event) {
        let mut stacktrace = Some(self.stacktrace);
        event.exceptions = self
            .exceptions
            .into_iter()
            .map(|(error_class, message)| Exception {
                error_class,
                message,
                stacktrace: stacktrace.take().unwrap_or_else(Stacktrace::empty),
            })
            .collect();
        event.context = self.context;
        event.grouping_hash = self.grouping_hash;
        event.unhandled = self.unhandled;
        event.severity = self.severity;
        event.severity_reason = self.severity_reason;
    }
}

/// Budgets are counted in thousandths of an event, so that a slow rate refills.
const MILLI: u64 = 1000;

/// One group's budget, in one word: tokens (thousandths) in the high 32 bits, the time
/// of the last update (milliseconds since the budget started, wrapping) in the low 32.
fn pack(tokens: u64, at_ms: u32) -> u64 {
    (tokens.min(u64::from(u32::MAX)) << 32) | u64::from(at_ms)
}

fn unpack(state: u64) -> (u64, u32) {
    (state >> 32, state as u32)
}

#[derive(Default)]
struct Slot {
    key: AtomicU64,
    state: AtomicU64,
    held_back: AtomicU64,
    sample: ArcSwapOption<Sample>,
}

/// What the budget says about one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Send it; `held_back` events of its group were held back since the last one sent;
    /// `sample` says whether the group is busy enough to keep a sample of it, and
    /// `fresh` whether the group was quiet (its budget whole), which earns it room in a
    /// queue that copies of another error have filled.
    Send { held_back: u64, sample: bool, fresh: bool },
    /// Count it and drop it.
    HoldBack,
}

/// The budgets of one client's error groups.
pub(crate) struct Budget {
    /// In thousandths of an event.
    burst: u64,
    /// Thousandths of an event per millisecond.
    per_ms: f64,
    started: Instant,
    slots: Box<[Slot]>,
    held_back: AtomicU64,
}

impl Budget {
    /// Each group may send `burst` events at once, then `per_second`; `None` when the
    /// budget is off.
    pub(crate) fn new(burst: u32, per_second: f64) -> Option<Self> {
        if burst == 0 {
            return None;
        }
        let slots = (0..SLOTS).map(|_| Slot::default()).collect();
        Some(Self {
            burst: u64::from(burst) * MILLI,
            // Events per second are thousandths of an event per millisecond.
            per_ms: per_second.max(0.0),
            started: Instant::now(),
            slots,
            held_back: AtomicU64::new(0),
        })
    }

    fn slot(&self, key: GroupKey) -> &Slot {
        &self.slots[(key.0 as usize) % SLOTS]
    }

    /// Spends one event of `key`'s budget, if there is one left.
    pub(crate) fn check(&self, key: GroupKey) -> Verdict {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: GroupKey, now: Instant) -> Verdict {
        let slot = self.slot(key);
        let now_ms = now.saturating_duration_since(self.started).as_millis() as u32;
        if slot.key.load(Ordering::Acquire) != key.0 {
            // A new group, or one whose slot another took over: a fresh budget.
            slot.state.store(pack(self.burst, now_ms), Ordering::Release);
            slot.held_back.store(0, Ordering::Relaxed);
            slot.key.store(key.0, Ordering::Release);
        }
        let mut current = slot.state.load(Ordering::Acquire);
        loop {
            let (tokens, at_ms) = unpack(current);
            // Another thread may have written a later time: no time has passed then.
            let elapsed = match now_ms.wrapping_sub(at_ms) {
                e if e > u32::MAX / 2 => 0,
                e => e,
            };
            let refilled = (tokens + (f64::from(elapsed) * self.per_ms) as u64).min(self.burst);
            let (next, verdict) = if refilled < MILLI {
                (refilled, None)
            } else {
                let spent = refilled - MILLI;
                // A group that has spent half its burst may soon be held back: keep a
                // sample of its events for the summary at flush.
                (spent, Some((refilled >= self.burst, spent <= self.burst / 2)))
            };
            // The time moves on only with the tokens it earned, so slow rates add up.
            let earned_ms = if self.per_ms > 0.0 && refilled < self.burst {
                at_ms.wrapping_add(((refilled - tokens) as f64 / self.per_ms) as u32)
            } else {
                now_ms
            };
            match slot.state.compare_exchange_weak(current, pack(next, earned_ms), Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    let Some((fresh, sample)) = verdict else {
                        slot.held_back.fetch_add(1, Ordering::Relaxed);
                        self.held_back.fetch_add(1, Ordering::Relaxed);
                        return Verdict::HoldBack;
                    };
                    return Verdict::Send { held_back: slot.held_back.swap(0, Ordering::Relaxed), sample, fresh };
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Keeps `sample` as the last event of `key`'s group.
    pub(crate) fn keep_sample(&self, key: GroupKey, sample: Sample) {
        self.slot(key).sample.store(Some(Arc::new(sample)));
    }

    /// Every group with events held back since its last one sent: its count, taken, and
    /// the sample of its events, for a summary event each.
    pub(crate) fn take_held_back(&self) -> Vec<(u64, Sample)> {
        let mut out = Vec::new();
        for slot in self.slots.iter() {
            if slot.held_back.load(Ordering::Relaxed) == 0 {
                continue;
            }
            if let Some(sample) = slot.sample.swap(None) {
                let held_back = slot.held_back.swap(0, Ordering::Relaxed);
                if held_back > 0 {
                    out.push((held_back, Sample::clone(&sample)));
                }
            }
        }
        out
    }

    /// Events held back since the client started.
    pub(crate) fn held_back(&self) -> u64 {
        self.held_back.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::site_of;

    #[test]
    fn a_burst_passes_then_the_rate_and_the_count_goes_with_the_next_event() {
        let budget = Budget::new(3, 0.0).unwrap();
        let storm = GroupKey::new(None, "Timeout", Some(site_of("src/db.rs", 10, 5)));
        let rare = GroupKey::new(None, "Timeout", Some(site_of("src/cache.rs", 7, 1)));
        let verdicts: Vec<Verdict> = (0..5).map(|_| budget.check(storm)).collect();
        assert_eq!(verdicts[..3].iter().filter(|v| matches!(v, Verdict::Send { .. })).count(), 3);
        assert_eq!(verdicts[3..], [Verdict::HoldBack, Verdict::HoldBack]);
        assert!(matches!(budget.check(rare), Verdict::Send { held_back: 0, .. }), "another call site, another group");
        assert_eq!(budget.held_back(), 2);

        let refilling = Budget::new(1, 10.0).unwrap();
        let start = Instant::now();
        let at = |ms| start + std::time::Duration::from_millis(ms);
        assert!(matches!(refilling.check_at(storm, at(0)), Verdict::Send { held_back: 0, .. }));
        assert_eq!(refilling.check_at(storm, at(50)), Verdict::HoldBack);
        assert_eq!(refilling.check_at(storm, at(90)), Verdict::HoldBack);
        assert!(
            matches!(refilling.check_at(storm, at(101)), Verdict::Send { held_back: 2, .. }),
            "refilled, with the count"
        );
        assert_eq!(
            GroupKey::new(Some("h"), "A", None),
            GroupKey::new(Some("h"), "B", Some(1)),
            "a grouping hash is the group"
        );
    }
}
