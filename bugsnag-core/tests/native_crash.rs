//! Crashes without a panic, for real: a child process configures the notifier (Bugsnag
//! down, an outbox directory) and dies of a bad write, a stack overflow on the main
//! thread and on a spawned one, `abort()`, a failed allocation, a bus error, and raised
//! SIGILL and SIGFPE. Each must die of the same signal as without the notifier, leave one
//! record, and, once a second child starts with Bugsnag up, arrive as exactly one
//! schema-valid event with the signal as its errorClass and the crashing function's frame
//! in-project. The child's allocators prove the handler allocates nothing: Rust's global
//! allocator, and the C library's `malloc`, `calloc` and `realloc`, which this test binary
//! replaces (glibc supports replacing them by defining them in the program) with
//! wrappers that tell when a crash handler calls them, as glibc itself does when a
//! thread-local's destructor is first registered.
//!
//! Making a process crash takes `unsafe` (a bad write, `raise`, a mapped file cut short):
//! this test file allows it for that, and for its allocators.
#![allow(unsafe_code)]
#![cfg(target_os = "linux")]

use std::alloc::{GlobalAlloc, Layout, System};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use bugsnag_core::testing::{closed_endpoint, Collector, API_KEY};
use bugsnag_core::Configuration;
use serde_json::Value;

/// Tells on standard error, without allocating, when called from a crash handler.
fn tell_if_in_a_crash_handler() {
    if bugsnag_core::__private::crash_handler_running() {
        let note = b"ALLOCATED IN A CRASH HANDLER\n";
        // SAFETY: writes a static buffer to standard error.
        unsafe { libc::write(2, note.as_ptr().cast(), note.len()) };
    }
}

/// The system allocator, telling when it is called from a crash handler.
struct Watching;

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Watching {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        tell_if_in_a_crash_handler();
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static ALLOCATOR: Watching = Watching;

#[cfg(target_env = "gnu")]
mod c_allocator {
    use libc::{c_void, size_t};

    extern "C" {
        fn __libc_malloc(size: size_t) -> *mut c_void;
        fn __libc_calloc(count: size_t, size: size_t) -> *mut c_void;
        fn __libc_realloc(ptr: *mut c_void, size: size_t) -> *mut c_void;
    }

    /// Calls of `malloc`, to prove the replacement is the one the C library calls.
    pub static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    /// glibc's `malloc`, telling when called from a crash handler.
    ///
    /// # Safety
    /// As `malloc`.
    #[no_mangle]
    pub unsafe extern "C" fn malloc(size: size_t) -> *mut c_void {
        CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        super::tell_if_in_a_crash_handler();
        __libc_malloc(size)
    }

    /// glibc's `calloc`, telling when called from a crash handler.
    ///
    /// # Safety
    /// As `calloc`.
    #[no_mangle]
    pub unsafe extern "C" fn calloc(count: size_t, size: size_t) -> *mut c_void {
        super::tell_if_in_a_crash_handler();
        __libc_calloc(count, size)
    }

    /// glibc's `realloc`, telling when called from a crash handler.
    ///
    /// # Safety
    /// As `realloc`.
    #[no_mangle]
    pub unsafe extern "C" fn realloc(ptr: *mut c_void, size: size_t) -> *mut c_void {
        super::tell_if_in_a_crash_handler();
        __libc_realloc(ptr, size)
    }
}

const CHILD: &str = "BUGSNAG_NATIVE_CHILD";
const DIR: &str = "BUGSNAG_NATIVE_DIR";
const WAIT: Duration = Duration::from_secs(20);

#[inline(never)]
fn write_to_a_bad_address() {
    let bad = std::hint::black_box(0x10usize) as *mut u64;
    // SAFETY: none; this is the crash under test.
    unsafe { std::ptr::write_volatile(bad, 42) };
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse_forever(depth: u64) -> u64 {
    let buffer = std::hint::black_box([depth; 64]);
    recurse_forever(depth + 1) + buffer[0]
}

#[inline(never)]
fn read_past_a_truncated_mapping() {
    let path = std::env::temp_dir().join(format!("bugsnag-sigbus-{}", std::process::id()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
    file.set_len(4096).unwrap();
    // SAFETY: none past `mmap`; reading a page the file no longer backs raises SIGBUS.
    unsafe {
        let fd = std::os::fd::AsRawFd::as_raw_fd(&file);
        let page = libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_SHARED, fd, 0);
        assert_ne!(page, libc::MAP_FAILED);
        file.set_len(0).unwrap();
        std::ptr::read_volatile(page.cast::<u8>());
    }
}

#[inline(never)]
fn raise_signal(signal: libc::c_int) {
    // SAFETY: raises a signal on this thread; the crash under test.
    unsafe { libc::raise(signal) };
}

#[inline(never)]
fn allocation_fails() {
    std::alloc::handle_alloc_error(Layout::from_size_align(1 << 40, 8).unwrap());
}

/// A report resolved first: the walk from the registers is ready, as it is in a service
/// that has run a while (else libgcc walks, as early in a run).
fn walk_ready() {
    let collector = Collector::start();
    let other = bugsnag_core::Client::new(collector.configuration());
    other.notify(&std::io::Error::other("before the signal"));
    assert!(other.flush(WAIT) && collector.events().len() == 1);
}

/// Waits (up to 10 s) until `dir` holds no record: the notifier removed the record of a
/// signal the process survived.
fn wait_until_no_record(dir: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !records(dir).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the survived signal's record was not removed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Installs a seccomp filter on this thread that denies `process_vm_readv`, with `EPERM`
/// or by killing the process.
fn deny_process_vm_readv(kill: bool) {
    const LOAD_SYSCALL_NR: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JUMP_IF_EQUAL: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RETURN: u16 = 0x06; // BPF_RET | BPF_K
    const ALLOW: u32 = 0x7fff_0000;
    let deny = if kill { 0x8000_0000 } else { 0x0005_0000 | libc::EPERM as u32 };
    let filter = [
        libc::sock_filter { code: LOAD_SYSCALL_NR, jt: 0, jf: 0, k: 0 },
        libc::sock_filter { code: JUMP_IF_EQUAL, jt: 0, jf: 1, k: libc::SYS_process_vm_readv as u32 },
        libc::sock_filter { code: RETURN, jt: 0, jf: 0, k: deny },
        libc::sock_filter { code: RETURN, jt: 0, jf: 0, k: ALLOW },
    ];
    let program = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
    // SAFETY: `prctl` with a valid filter program that outlives the call.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(libc::prctl(libc::PR_SET_SECCOMP, 2 /* SECCOMP_MODE_FILTER */, &program), 0, "seccomp");
    }
}

/// The parts children play; a no-op in the test suite itself.
#[test]
fn child() {
    let (Ok(part), Ok(dir)) = (std::env::var(CHILD), std::env::var(DIR)) else { return };
    let endpoint = std::env::var("BUGSNAG_ENDPOINT").unwrap_or_else(|_| closed_endpoint());
    // A start without an API key cannot send what earlier runs recorded.
    let key = if part == "replay-without-key" { "" } else { API_KEY };
    let config = Configuration::default()
        .api_key(key)
        .endpoint(&endpoint)
        .session_endpoint(endpoint.replace("/notify", "/sessions"))
        .outbox_dir(&dir)
        .auto_capture_sessions(false)
        .project_root(env!("CARGO_MANIFEST_DIR"));
    if part == "survived-segv" {
        // Installed first: a `kill -SEGV` (a signal sent) is handled and the process goes
        // on, as a JVM or a Go runtime does with its own faults; a real fault is not.
        extern "C" fn recover_sent(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
            // SAFETY: the kernel's `info`; `signal` is async-signal-safe.
            unsafe {
                if (*info).si_code > 0 {
                    libc::signal(libc::SIGSEGV, libc::SIG_DFL);
                }
            }
        }
        // SAFETY: installs an async-signal-safe handler.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction =
                recover_sent as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) as usize;
            action.sa_flags = libc::SA_SIGINFO;
            libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut());
        }
    }
    if matches!(part.as_str(), "recovered-trap" | "measure-stack" | "measure-stack-walk-ready") {
        // Installed first, so the notifier's handler passes SIGTRAP on to it.
        extern "C" fn recover(_: libc::c_int) {}
        // SAFETY: an async-signal-safe handler that does nothing.
        unsafe { libc::signal(libc::SIGTRAP, recover as extern "C" fn(libc::c_int) as libc::sighandler_t) };
    }
    let guard = bugsnag_core::configure(config);
    match part.as_str() {
        "replay" => {
            assert!(guard.client().flush(WAIT));
            return;
        }
        "replay-without-key" => return,
        "segv" => write_to_a_bad_address(),
        "overflow" => println!("{}", recurse_forever(0)),
        "overflow-thread" => {
            let spawned = std::thread::Builder::new().name("worker-7".into()).spawn(|| recurse_forever(0));
            println!("{:?}", spawned.unwrap().join());
        }
        "overflow-thread-later" => {
            // A report resolved first (by a client of its own, kept out of the record's
            // outbox): the symbols thread has built the stack walk's index, so the
            // handler walks from the crash's registers, without libgcc.
            let collector = Collector::start();
            let other = bugsnag_core::Client::new(collector.configuration());
            other.notify(&std::io::Error::other("before the crash"));
            assert!(other.flush(WAIT) && collector.events().len() == 1);
            let spawned = std::thread::Builder::new().name("worker-8".into()).spawn(|| recurse_forever(0));
            println!("{:?}", spawned.unwrap().join());
        }
        "two-threads" => {
            // Both fault at once: the second must not end the process while the first
            // writes its record.
            let start = std::sync::Arc::new(std::sync::Barrier::new(2));
            let threads: Vec<_> = (0..2)
                .map(|n| {
                    let start = start.clone();
                    std::thread::Builder::new().name(format!("crasher-{n}")).spawn(move || {
                        start.wait();
                        write_to_a_bad_address();
                    })
                })
                .collect();
            threads.into_iter().for_each(|t| drop(t.unwrap().join()));
        }
        "segv-fresh-thread" => {
            // A thread that never entered a scope: its scope stack was never used, and
            // first using it registers a destructor, which allocates in the C library.
            let spawned = std::thread::Builder::new().name("fresh".into()).spawn(write_to_a_bad_address);
            println!("{:?}", spawned.unwrap().join());
        }
        "fork" => {
            // The forked child crashes, then the parent: two records, each under its pid.
            // SAFETY: the child only crashes, which is what is under test.
            match unsafe { libc::fork() } {
                0 => write_to_a_bad_address(),
                child => {
                    println!("PIDS {} {child}", std::process::id());
                    let mut status = 0;
                    // SAFETY: waits for the child just forked.
                    unsafe { libc::waitpid(child, &mut status, 0) };
                    assert!(libc::WIFSIGNALED(status), "the forked child crashed");
                    write_to_a_bad_address();
                }
            }
        }
        "recovered-trap" | "survived-segv" => {
            // A signal another handler recovers from: the process lives on, so it is no
            // crash. Its record goes, and the handler is back, for the crash that follows.
            let signal = if part == "recovered-trap" { libc::SIGTRAP } else { libc::SIGSEGV };
            raise_signal(signal);
            wait_until_no_record(Path::new(&dir));
            write_to_a_bad_address();
        }
        "seccomp-errno" | "seccomp-kill" => {
            // In a container whose seccomp profile denies `process_vm_readv` (older Docker
            // and containerd defaults): the crash is still recorded, with its stack.
            walk_ready();
            deny_process_vm_readv(part == "seccomp-kill");
            write_to_a_bad_address();
        }
        "measure-stack" | "measure-stack-walk-ready" => {
            if part.ends_with("walk-ready") {
                walk_ready();
            }
            // On a spawned thread, whose alternate signal stack is std's few pages, painted
            // first, a signal another handler recovers from: the handler's use shows as
            // what it overwrote.
            let measured = std::thread::spawn(|| {
                let mut stack = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: 0, ss_size: 0 };
                // SAFETY: reads this thread's alternate stack, then paints it while not on it.
                let painted = unsafe {
                    libc::sigaltstack(std::ptr::null(), &mut stack) == 0 && !stack.ss_sp.is_null() && {
                        std::ptr::write_bytes(stack.ss_sp.cast::<u8>(), 0xAA, stack.ss_size);
                        true
                    }
                };
                raise_signal(libc::SIGTRAP);
                painted.then(|| {
                    // SAFETY: the stack is this thread's, and no handler runs on it now.
                    let bytes = unsafe { std::slice::from_raw_parts(stack.ss_sp.cast::<u8>(), stack.ss_size) };
                    (bytes.len() - bytes.iter().position(|b| *b != 0xAA).unwrap_or(bytes.len()), bytes.len())
                })
            });
            let (used, size) = measured.join().unwrap().expect("the thread has an alternate stack");
            println!("HANDLER STACK USE {used} of {size}");
            return;
        }
        "abort" => std::process::abort(),
        "alloc" => allocation_fails(),
        "bus" => read_past_a_truncated_mapping(),
        "ill" => raise_signal(libc::SIGILL),
        "fpe" => raise_signal(libc::SIGFPE),
        other => panic!("unknown part {other}"),
    }
    bugsnag_core::notify_message("still alive");
}

fn run_child(part: &str, dir: &Path, endpoint: Option<&str>) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args(["--exact", "child", "--nocapture", "--test-threads=1"]).env(CHILD, part).env(DIR, dir);
    match endpoint {
        Some(url) => command.env("BUGSNAG_ENDPOINT", url),
        None => command.env_remove("BUGSNAG_ENDPOINT"),
    };
    command.env_remove("BUGSNAG_NATIVE_CRASHES").output().unwrap()
}

fn records(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or(vec![]);
    entries.into_iter().filter(|p: &PathBuf| p.extension().is_some_and(|e| e == "record")).collect()
}

/// Crashes a child the way `part` says, then replays its record; the one event sent.
fn crash_and_replay(part: &str, signal: i32) -> (Value, String) {
    let (mut events, stderr) = crash_and_replay_all(part, signal, 1);
    (events.remove(0), stderr)
}

/// Crashes a child the way `part` says, expecting `count` records, then replays them; the
/// events sent.
fn crash_and_replay_all(part: &str, signal: i32, count: usize) -> (Vec<Value>, String) {
    let dir = std::env::temp_dir().join(format!("bugsnag-native-{part}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let crashed = run_child(part, &dir, None);
    let stderr = String::from_utf8_lossy(&crashed.stderr).into_owned();
    assert_eq!(crashed.status.signal(), Some(signal), "{part}: died of the same signal: {stderr}");
    assert!(!stderr.contains("ALLOCATED IN A CRASH HANDLER"), "{part}: the handler allocated: {stderr}");
    assert_eq!(records(&dir).len(), count, "{part}: {count} records");

    let collector = Collector::start();
    let replay = run_child("replay", &dir, Some(&format!("{}/notify", collector.url())));
    assert!(replay.status.success(), "{part}: {}", String::from_utf8_lossy(&replay.stderr));
    let events = collector.events();
    assert_eq!(events.len(), count, "{part}: one event per record: {events:#?}");
    assert!(records(&dir).is_empty(), "{part}: the records are gone once reported");
    let _ = std::fs::remove_dir_all(&dir);
    (events, stderr)
}

fn assert_crash(event: &Value, class: &str, message_start: &str, function: &str) {
    assert_eq!(event["exceptions"][0]["errorClass"], class, "{event:#}");
    let message = event["exceptions"][0]["message"].as_str().unwrap();
    assert!(message.starts_with(message_start), "{class}: {message}");
    assert_eq!(event["unhandled"], true);
    assert_eq!(event["severity"], "error");
    assert_eq!(event["severityReason"], serde_json::json!({"type": "signal", "attributes": {"signalType": class}}));
    let frames = event["exceptions"][0]["stacktrace"].as_array().unwrap();
    let ours = frames.iter().find(|f| f["method"].as_str().unwrap_or_default().ends_with(function));
    let ours = ours.unwrap_or_else(|| panic!("{class}: no frame of {function}: {frames:#?}"));
    assert_eq!(ours["inProject"], true, "{ours:#}");
    assert_eq!(ours["file"], "tests/native_crash.rs", "{ours:#}");
}

#[test]
fn a_bad_write_is_reported_as_sigsegv_with_its_address() {
    let (event, _) = crash_and_replay("segv", libc::SIGSEGV);
    assert_crash(&event, "SIGSEGV", "invalid memory reference at 0x10", "write_to_a_bad_address");
}

/// On the thread the test harness runs the child's test on, named after the test (the
/// main thread of a program of its own overflows in `cargo xtask crash`).
#[test]
fn a_stack_overflow_on_the_test_thread_is_told_apart() {
    let (event, stderr) = crash_and_replay("overflow", libc::SIGABRT);
    assert!(stderr.contains("has overflowed its stack"), "std's message still prints: {stderr}");
    assert_crash(&event, "SIGSEGV", "stack overflow in thread 'child'", "recurse_forever");
}

#[test]
#[cfg(target_env = "gnu")]
fn the_c_library_calls_the_watching_malloc() {
    let before = c_allocator::CALLS.load(std::sync::atomic::Ordering::Relaxed);
    // SAFETY: duplicates a static C string, then frees the copy.
    unsafe { libc::free(libc::strdup(c"copied by the C library".as_ptr()).cast()) };
    assert!(c_allocator::CALLS.load(std::sync::atomic::Ordering::Relaxed) > before);
}

/// Without the C library's allocator: a handler reading the scope stack of a thread that
/// never used it would register its destructor, which calls `calloc` (and takes the
/// loader's lock, which a crash in `malloc` may hold).
#[test]
fn a_crash_on_a_thread_that_never_entered_a_scope_allocates_nothing() {
    let (event, _) = crash_and_replay("segv-fresh-thread", libc::SIGSEGV);
    assert_crash(&event, "SIGSEGV", "invalid memory reference at 0x10", "write_to_a_bad_address");
    assert_eq!(event["metaData"]["crash"]["thread"], "fresh");
}

#[test]
fn a_forked_child_records_its_crash_under_its_own_pid() {
    // The records' names, as the crashes left them: one under each process's own pid.
    let dir = std::env::temp_dir().join(format!("bugsnag-native-fork-names-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let crashed = run_child("fork", &dir, None);
    let stdout = String::from_utf8_lossy(&crashed.stdout);
    let pids = stdout.lines().find_map(|l| l.split("PIDS ").nth(1)).unwrap_or_else(|| panic!("no pids: {stdout}"));
    let mut pids: Vec<String> = pids.split(' ').map(str::to_owned).collect();
    let mut named: Vec<String> = records(&dir)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().split('-').nth(1).unwrap().to_owned())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    pids.sort();
    named.sort();
    assert_eq!(named, pids, "each record is named after the process that crashed");

    let (events, _) = crash_and_replay_all("fork", libc::SIGSEGV, 2);
    for event in &events {
        assert_crash(event, "SIGSEGV", "invalid memory reference at 0x10", "write_to_a_bad_address");
        assert_eq!(event["metaData"]["crash"]["recordComplete"], true);
    }
}

#[test]
fn a_signal_another_handler_recovers_from_is_no_crash_and_the_next_crash_is_recorded() {
    // Another signal than the crash's, then the same one (the handler was put back).
    for part in ["recovered-trap", "survived-segv"] {
        let (event, _) = crash_and_replay(part, libc::SIGSEGV);
        assert_crash(&event, "SIGSEGV", "invalid memory reference at 0x10", "write_to_a_bad_address");
    }
}

#[test]
fn a_crash_where_seccomp_denies_process_vm_readv_is_recorded_with_its_stack() {
    for part in ["seccomp-errno", "seccomp-kill"] {
        let (event, _) = crash_and_replay(part, libc::SIGSEGV);
        assert_crash(&event, "SIGSEGV", "invalid memory reference at 0x10", "write_to_a_bad_address");
        assert_eq!(event["metaData"]["crash"]["recordComplete"], true, "{part}");
    }
}

/// The handler runs on the crashing thread's alternate stack, for threads std spawns a
/// few pages: with room to spare, whether libgcc walks (early in a run) or the walk from
/// the registers is ready.
#[test]
fn the_crash_handler_fits_in_std_alternate_stacks() {
    for part in ["measure-stack", "measure-stack-walk-ready"] {
        let dir = std::env::temp_dir().join(format!("bugsnag-native-{part}-{}", std::process::id()));
        let output = run_child(part, &dir, None);
        let _ = std::fs::remove_dir_all(&dir);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.split("HANDLER STACK USE ").nth(1))
            .unwrap_or_else(|| panic!("{part}: not measured: {stdout} {}", String::from_utf8_lossy(&output.stderr)));
        let (used, size) = line.split_once(" of ").unwrap();
        let (used, size) = (used.parse::<usize>().unwrap(), size.parse::<usize>().unwrap());
        println!("{part}: the crash handler used {used} of the {size} bytes of std's alternate signal stack");
        assert!(used > 0 && used + 2048 <= size, "{part}: {used} of {size} bytes");
    }
}

#[test]
fn a_stack_overflow_on_a_spawned_thread_is_told_apart() {
    let (event, _) = crash_and_replay("overflow-thread", libc::SIGABRT);
    assert_crash(&event, "SIGSEGV", "stack overflow in thread 'worker-7'", "recurse_forever");
}

#[test]
fn a_stack_overflow_on_a_spawned_thread_once_the_walk_is_ready_is_told_apart() {
    let (event, stderr) = crash_and_replay("overflow-thread-later", libc::SIGABRT);
    assert!(stderr.contains("has overflowed its stack"), "std's message still prints: {stderr}");
    assert_crash(&event, "SIGSEGV", "stack overflow in thread 'worker-8'", "recurse_forever");
}

#[test]
fn two_threads_crashing_at_once_leave_one_whole_record() {
    for _ in 0..3 {
        let (event, _) = crash_and_replay("two-threads", libc::SIGSEGV);
        assert_crash(&event, "SIGSEGV", "invalid memory reference at 0x10", "write_to_a_bad_address");
        let crash = &event["metaData"]["crash"];
        assert_eq!(crash["recordComplete"], true, "the record was written to its end: {crash:#}");
        assert!(crash["thread"].as_str().unwrap_or_default().starts_with("crasher-"), "{crash:#}");
    }
}

#[test]
fn abort_and_a_failed_allocation_are_reported_as_sigabrt() {
    let (event, _) = crash_and_replay("abort", libc::SIGABRT);
    assert_crash(&event, "SIGABRT", "abort", "child");
    let (event, stderr) = crash_and_replay("alloc", libc::SIGABRT);
    assert!(stderr.contains("memory allocation of"), "std's message still prints: {stderr}");
    assert_crash(&event, "SIGABRT", "memory allocation failed", "allocation_fails");
}

#[test]
fn bus_errors_illegal_instructions_and_arithmetic_errors_are_reported() {
    let (event, _) = crash_and_replay("bus", libc::SIGBUS);
    assert_crash(&event, "SIGBUS", "bus error", "read_past_a_truncated_mapping");
    let (event, _) = crash_and_replay("ill", libc::SIGILL);
    assert_crash(&event, "SIGILL", "illegal instruction", "raise_signal");
    let (event, _) = crash_and_replay("fpe", libc::SIGFPE);
    assert_crash(&event, "SIGFPE", "arithmetic error", "raise_signal");
}

#[test]
fn a_record_is_kept_until_a_start_can_send_it() {
    let dir = std::env::temp_dir().join(format!("bugsnag-native-kept-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let crashed = run_child("segv", &dir, None);
    assert_eq!(crashed.status.signal(), Some(libc::SIGSEGV));
    assert_eq!(records(&dir).len(), 1);
    // A start that cannot send (no API key: a misconfiguration) gives the record back.
    let collector = Collector::start();
    let url = format!("{}/notify", collector.url());
    let unsent = run_child("replay-without-key", &dir, Some(&url));
    assert!(unsent.status.success(), "{}", String::from_utf8_lossy(&unsent.stderr));
    assert_eq!(records(&dir).len(), 1, "the record is still there");
    // Then one that can.
    let replay = run_child("replay", &dir, Some(&url));
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    let events = collector.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_crash(&events[0], "SIGSEGV", "invalid memory reference at 0x10", "write_to_a_bad_address");
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none(), "nothing left once it was sent");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_record_claimed_by_a_process_that_died_is_taken_back() {
    let dir = std::env::temp_dir().join(format!("bugsnag-native-dead-claim-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let crashed = run_child("segv", &dir, None);
    assert_eq!(crashed.status.signal(), Some(libc::SIGSEGV));
    // As a process that claimed it and died before sending it would leave it: same pid
    // namespace, a pid that is not running.
    let record = records(&dir).pop().unwrap();
    let namespace = std::fs::read_link("/proc/self/ns/pid").unwrap();
    let namespace = namespace.to_str().unwrap().trim_start_matches("pid:[").trim_end_matches(']');
    let name = record.file_name().unwrap().to_str().unwrap();
    std::fs::rename(&record, dir.join(format!("{name}.claimed-{namespace}.{}.1", u32::MAX - 1))).unwrap();
    let collector = Collector::start();
    let replay = run_child("replay", &dir, Some(&format!("{}/notify", collector.url())));
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    let events = collector.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert!(std::fs::read_dir(&dir).unwrap().next().is_none(), "nothing left once it was sent");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_record_from_another_build_keeps_its_addresses() {
    let dir = std::env::temp_dir().join(format!("bugsnag-native-other-build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exe = serde_json::to_string(&std::env::current_exe().unwrap()).unwrap();
    let record = format!(
        "bugsnag-crash 1\napp {{\"version\":\"0.9.0\",\"releaseStage\":\"staging\"}}\ndevice {{\"hostname\":\"web-9\",\"osName\":\"linux\"}}\n\
         module 555555554000 555555654000 555555554000 00112233445566778899aabbccddeeff {exe}\n\
         signal 11\ncode 1\naddress 0\nsp 7ffd00000000\ntime 1764540000123\nthread \"main\"\n\
         context \"GET /orders/{{id}}\"\nuser \"u-7\"\nip 555555560010\nip 555555570020\nend\n"
    );
    std::fs::write(dir.join("crash-1-1.record"), record).unwrap();
    let collector = Collector::start();
    let replay = run_child("replay", &dir, Some(&format!("{}/notify", collector.url())));
    assert!(replay.status.success(), "{}", String::from_utf8_lossy(&replay.stderr));
    let events = collector.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    let frame = &event["exceptions"][0]["stacktrace"][0];
    assert_eq!(frame["frameAddress"], "0x555555560010", "{frame:#}");
    assert_eq!(frame["loadAddress"], "0x555555554000");
    assert_eq!(frame["codeIdentifier"], "00112233445566778899aabbccddeeff");
    assert_eq!(event["app"]["version"], "0.9.0", "the crashed run's app");
    assert_eq!(event["app"]["releaseStage"], "staging");
    assert_eq!(event["device"]["hostname"], "web-9");
    assert_eq!(event["device"]["time"], "2025-11-30T22:00:00.123Z");
    assert_eq!(event["context"], "GET /orders/{id}");
    assert_eq!(event["user"]["id"], "u-7");
    let _ = std::fs::remove_dir_all(&dir);
}
