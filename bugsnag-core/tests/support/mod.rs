//! What more than one test binary measures.

/// Voluntary context switches of the calling thread so far (Linux): a call that waits on
/// another thread (a lock it holds, a condition variable, a full channel) gives up the
/// CPU, and the kernel counts it here, whatever the machine's load.
pub(crate) fn voluntary_switches() -> u64 {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("/proc/thread-self/status has the count")
}
