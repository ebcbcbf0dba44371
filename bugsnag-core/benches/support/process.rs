//! What the whole-cost benchmarks read of their process: its CPU over all threads, and
//! its memory.

use std::time::Duration;

/// Process CPU (user + system, all threads) so far.
#[allow(unsafe_code)] // getrusage: the one call that sums every thread's CPU.
pub(crate) fn cpu() -> Duration {
    // SAFETY: getrusage writes the struct it is given; zeroed is a valid rusage.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1_000);
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// A field of `/proc/self/status`, in KiB.
fn status_kib(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let value = status.lines().find_map(|l| l.strip_prefix(name)).unwrap_or_default();
    value.trim().trim_end_matches("kB").trim().parse().unwrap_or(0)
}

/// Resident memory now, its peak, and the anonymous part now, in MiB.
pub(crate) fn memory() -> (f64, f64, f64) {
    let mib = |kib: u64| kib as f64 / 1024.0;
    (mib(status_kib("VmRSS:")), mib(status_kib("VmHWM:")), mib(status_kib("RssAnon:")))
}
