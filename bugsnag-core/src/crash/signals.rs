//! The signal handlers.
//!
//! A handler runs when the process is already broken (its heap may be corrupt, a lock may
//! be held by the very code that crashed), so it does only what is safe in a signal
//! handler: no allocation, no lock that could be held, no formatting that allocates.
//! Everything it writes was prepared before ([`Prepared`]); what it adds (the signal, the
//! faulting address, the stack's return addresses, the thread's name, the crashing
//! scope's context and user) goes through a small buffer on its own stack straight to a
//! file with `write(2)`. It runs on the thread's alternate signal stack, so that a stack
//! overflow can still be recorded: std gives one to the main thread and to every thread it
//! spawns; threads made by C code without one cannot report a stack overflow (the kernel
//! kills the process). Then it gives the signal to the handler that was there before
//! (std's, which prints "has overflowed its stack"; another crash reporter's), or to the
//! default action, so the process ends as it would have without it.

#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::unix::ffi::OsStringExt;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;

use libc::{c_int, c_void, siginfo_t};

use super::record::SignalWriter;

/// The signals a crash raises.
pub(crate) const SIGNALS: [c_int; 6] =
    [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE, libc::SIGABRT, libc::SIGTRAP];

/// Return addresses kept from the crashing stack.
const MAX_FRAMES: usize = 128;
/// Size of the alternate stack given to the installing thread when it has none or a
/// small one: the unwinder needs a few kilobytes.
const ALT_STACK_BYTES: usize = 256 * 1024;

/// Size of the stack the handler writes its record on.
const HANDLER_STACK_BYTES: usize = 256 * 1024;

/// Room after the directory for `crash-<pid>-<ms>-<n>.record` and its NUL.
const NAME_BYTES: usize = 80;

/// What the handler needs, prepared when the handlers are installed.
pub(crate) struct Prepared {
    /// The records' directory with a trailing `/`, then room for the file's name, which
    /// the handler writes at the crash, after the process that crashed (a forked child's
    /// pid is not its parent's). Here rather than on the handler's stack, which may be
    /// std's few pages: only the thread holding `HANDLING` writes it.
    path: Box<[AtomicU8]>,
    dir_len: usize,
    /// The top of a stack of the handler's own (16-byte aligned), where it writes the
    /// record: the thread's alternate stack may be std's few pages, most of which the
    /// kernel's signal frame takes on CPUs with large register state.
    stack_top: usize,
    /// The directories to make before the first record, outermost first (nothing is
    /// made before something is written).
    missing: Box<[CString]>,
    /// The record's first lines: app, device, loaded modules.
    pub(crate) head: Box<[u8]>,
}

impl Prepared {
    /// `dir` is the records' directory; `head` the record's first lines.
    pub(crate) fn new(dir: &std::path::Path, head: Box<[u8]>) -> Result<Self, String> {
        let mut dir_bytes = dir.as_os_str().as_encoded_bytes().to_vec();
        if dir_bytes.contains(&0) {
            return Err(format!("the directory {} has a NUL byte in its path", dir.display()));
        }
        dir_bytes.push(b'/');
        let dir_len = dir_bytes.len();
        let path = dir_bytes.into_iter().chain([0; NAME_BYTES]).map(AtomicU8::new).collect();
        let missing = crate::storage::missing_dirs(dir)
            .into_iter()
            .filter_map(|d| CString::new(d.into_os_string().into_encoded_bytes()).ok())
            .collect();
        // Leaked on purpose: a crash may come at any time until the process ends.
        let stack: &'static mut [u8] = Box::leak(vec![0u8; HANDLER_STACK_BYTES].into_boxed_slice());
        let stack_top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
        Ok(Self { path, dir_len, missing, stack_top, head })
    }
}

static PREPARED: OnceLock<Prepared> = OnceLock::new();

/// The crashing stack's addresses: here rather than on the handler's stack (1 KiB of
/// std's 8 KiB alternate stacks, of which the kernel's signal frame takes a third).
struct Frames(std::cell::UnsafeCell<[usize; MAX_FRAMES]>);

// SAFETY: written only by `record`, which only the thread holding `HANDLING` runs.
unsafe impl Sync for Frames {}

static FRAMES: Frames = Frames(std::cell::UnsafeCell::new([0; MAX_FRAMES]));
/// The handlers that were installed before ours, one per signal of [`SIGNALS`].
static PREVIOUS: OnceLock<[libc::sigaction; SIGNALS.len()]> = OnceLock::new();
/// Set while a handler writes a record: a signal meanwhile (the abort std calls after a
/// stack overflow, a crash in the handler itself, another thread crashing at once) is
/// only passed on, once that record is whole.
static HANDLING: AtomicBool = AtomicBool::new(false);
/// When the last record was finished (ms since the epoch; 0: never). A signal within
/// [`SAME_CRASH_MS`] of it is the same crash ending the process; one later (after a fault
/// some other handler recovered from) is recorded anew.
static RECORDED_AT: AtomicU64 = AtomicU64::new(0);
/// Records written by this process, to name each one apart.
static RECORDS: AtomicU32 = AtomicU32::new(0);
/// How long a second crashing thread waits for the first one's record, in milliseconds.
const RECORD_WAIT_MS: u32 = 2_000;
/// Signals this soon after a record are taken to be the same crash (std's abort after a
/// stack overflow comes within microseconds).
pub(crate) const SAME_CRASH_MS: u64 = 500;
/// The thread a handler runs on (0 when none does): a crash of the handler itself is
/// passed on at once, and the test proving it allocates nothing asks.
static HANDLER_THREAD: AtomicI32 = AtomicI32::new(0);

thread_local! {
    /// Set by the panic hook once it has reported this thread's panic: the abort that
    /// `panic = "abort"` then raises is the end of that panic, not a crash of its own.
    static PANIC_REPORTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Notes that this thread's panic was reported (by the panic hook).
pub(crate) fn panic_reported() {
    let _ = PANIC_REPORTED.try_with(|p| p.set(true));
}

/// Installs the handlers, once per process; later calls change nothing.
pub(crate) fn install(prepared: Prepared) -> Result<(), String> {
    if PREPARED.set(prepared).is_err() {
        return Ok(());
    }
    let mut previous = [empty_action(); SIGNALS.len()];
    for (i, signal) in SIGNALS.iter().enumerate() {
        // SAFETY: reads the current action into a valid, owned `sigaction`.
        if unsafe { libc::sigaction(*signal, std::ptr::null(), &mut previous[i]) } != 0 {
            return Err(format!("could not read the action of signal {signal}"));
        }
    }
    // The handler reads these; they are set before it can run.
    let _ = PREVIOUS.set(previous);
    ensure_alternate_stack();
    // libgcc's first unwind resolves its calls into the C library lazily, which saves
    // every vector register on the stack (kilobytes with AVX-512): done here, so that a
    // handler that falls back to libgcc on a thread's small alternate stack does not.
    backtrace::trace(|_| false);
    let mut action = empty_action();
    action.sa_sigaction = handle as extern "C" fn(c_int, *mut siginfo_t, *mut c_void) as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    for signal in SIGNALS {
        // SAFETY: installs a handler that only does async-signal-safe work (this module).
        if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
            return Err(format!("could not install a handler for signal {signal}"));
        }
    }
    super::survived::watch();
    Ok(())
}

fn empty_action() -> libc::sigaction {
    // SAFETY: `sigaction` is plain data for which all-zeroes is a valid value (SIG_DFL,
    // no flags, an empty mask).
    unsafe { std::mem::zeroed() }
}

/// Gives the calling thread an alternate signal stack large enough to unwind on, unless
/// it already has one that is (std gives threads it spawns one of a few pages).
fn ensure_alternate_stack() {
    let mut current: libc::stack_t = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: 0, ss_size: 0 };
    // SAFETY: reads this thread's alternate stack into a valid `stack_t`.
    if unsafe { libc::sigaltstack(std::ptr::null(), &mut current) } != 0 {
        return;
    }
    if current.ss_flags & libc::SS_DISABLE == 0 && current.ss_size >= ALT_STACK_BYTES {
        return;
    }
    // Leaked on purpose: the thread may crash at any time until it ends. One per thread
    // that installs handlers (once per process).
    let stack: &'static mut [u8] = Box::leak(vec![0u8; ALT_STACK_BYTES].into_boxed_slice());
    let new = libc::stack_t { ss_sp: stack.as_mut_ptr().cast(), ss_flags: 0, ss_size: stack.len() };
    // SAFETY: the stack is valid memory for the life of the process.
    unsafe { libc::sigaltstack(&new, std::ptr::null_mut()) };
}

extern "C" fn handle(signal: c_int, info: *mut siginfo_t, context: *mut c_void) {
    let first = !HANDLING.swap(true, Ordering::SeqCst);
    let recorded_at = RECORDED_AT.load(Ordering::SeqCst);
    let same_crash = recorded_at != 0 && now_ms().saturating_sub(recorded_at) < SAME_CRASH_MS;
    if first && same_crash {
        HANDLING.store(false, Ordering::SeqCst);
    } else if first {
        // SAFETY: `gettid` has no preconditions and is async-signal-safe.
        HANDLER_THREAD.store(unsafe { libc::gettid() }, Ordering::SeqCst);
        // The abort after a panic the hook reported is that panic's end.
        let after_reported_panic = signal == libc::SIGABRT
            && std::thread::panicking()
            && PANIC_REPORTED.try_with(|p| p.get()).unwrap_or(false);
        if let (false, Some(prepared)) = (after_reported_panic, PREPARED.get()) {
            let mut call = RecordCall { prepared, signal, info, context, frames: 0, fd: -1 };
            // The record is opened and its head and signal written before the walk: a
            // fault while walking a corrupt stack still leaves a record.
            on_handler_stack(prepared, start_record, &mut call);
            // SAFETY: as for `record`; this thread holds `HANDLING`.
            call.frames = unsafe { walk_frames(context) };
            on_handler_stack(prepared, finish_record, &mut call);
            tell_the_watch(signal);
        }
        HANDLER_THREAD.store(0, Ordering::SeqCst);
        RECORDED_AT.store(now_ms().max(1), Ordering::SeqCst);
        HANDLING.store(false, Ordering::SeqCst);
    } else {
        // Another thread is writing the record: passing this signal on now would end the
        // process (the default action kills every thread) before that record is whole.
        wait_for_the_record();
    }
    // SAFETY: as for `record`.
    unsafe { pass_on(signal, info, context) };
}

/// What a record is written of, in two steps around the walk.
struct RecordCall {
    prepared: &'static Prepared,
    signal: c_int,
    info: *mut siginfo_t,
    context: *mut c_void,
    /// Addresses walked into `FRAMES`.
    frames: usize,
    /// The record's descriptor once opened (-1: none).
    fd: c_int,
}

/// Runs `step` with `call` on the handler's own stack (the thread's alternate stack may
/// be std's few pages).
fn on_handler_stack(prepared: &Prepared, step: extern "C" fn(*mut c_void), call: &mut RecordCall) {
    // SAFETY: the handler's stack is this thread's alone (it holds `HANDLING`), 16-byte
    // aligned and mapped for the life of the process; `step` takes the pointer as its
    // `RecordCall`, which outlives the call, and cannot unwind.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    unsafe {
        crate::stacktrace::call_on_stack(prepared.stack_top, step, (call as *mut RecordCall).cast::<c_void>())
    };
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    {
        let _ = prepared;
        step((call as *mut RecordCall).cast::<c_void>());
    }
}

/// Opens the record and writes its head and the signal.
extern "C" fn start_record(call: *mut c_void) {
    // SAFETY: `handle` passes its `RecordCall`, with the kernel's `info` and `context`.
    unsafe {
        let call = &mut *call.cast::<RecordCall>();
        call.fd = record_head(call.prepared, call.signal, call.info, call.context);
    }
}

/// Writes the rest of the record (the stack, the thread, the scope) and closes it.
extern "C" fn finish_record(call: *mut c_void) {
    // SAFETY: `handle` passes its `RecordCall`, whose `fd` `start_record` opened.
    unsafe {
        let call = &*call.cast::<RecordCall>();
        if call.fd >= 0 {
            record_rest(call.fd, call.frames);
        }
    }
}

/// Tells the thread that tells survived signals from crashes (`survived`) that a record
/// was written for `signal`.
fn tell_the_watch(signal: c_int) {
    let fd = super::survived::told_fd();
    if fd >= 0 {
        let byte = signal as u8;
        // SAFETY: `write` of one byte from a valid address; async-signal-safe. A full
        // pipe (a storm of survived signals) loses the byte, harmlessly.
        unsafe { libc::write(fd, (&raw const byte).cast(), 1) };
    }
}

/// The path of the last record written, if any (for `survived`).
pub(crate) fn last_record() -> Option<std::path::PathBuf> {
    let prepared = PREPARED.get()?;
    let bytes: Vec<u8> = prepared.path.iter().map(|b| b.load(Ordering::Relaxed)).take_while(|b| *b != 0).collect();
    (bytes.len() > prepared.dir_len).then(|| std::path::PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

/// Puts our handler back for `signal` (after a signal the process survived, handed on by
/// putting the previous handler back); what was there before stays the one it chains to.
pub(crate) fn rearm(signal: c_int) {
    if !SIGNALS.contains(&signal) {
        return;
    }
    let mut action = empty_action();
    action.sa_sigaction = handle as extern "C" fn(c_int, *mut siginfo_t, *mut c_void) as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: installs the handler of this module, as `install` does.
    unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) };
}

/// Waits, up to [`RECORD_WAIT_MS`], until the first crashing thread's record is written.
fn wait_for_the_record() {
    // SAFETY: `gettid` has no preconditions and is async-signal-safe.
    if HANDLER_THREAD.load(Ordering::SeqCst) == unsafe { libc::gettid() } {
        return; // the handler itself crashed: nothing more will be written
    }
    let pause = libc::timespec { tv_sec: 0, tv_nsec: 1_000_000 };
    for _ in 0..RECORD_WAIT_MS {
        if !HANDLING.load(Ordering::SeqCst) {
            return;
        }
        // SAFETY: `nanosleep` with a valid `timespec` is async-signal-safe.
        unsafe { libc::nanosleep(&pause, std::ptr::null_mut()) };
    }
}

/// The program counter, stack pointer and frame pointer where the signal stopped the
/// thread.
///
/// # Safety
/// `context` must be the `ucontext_t` the kernel passed to the handler.
unsafe fn registers(context: *mut c_void) -> (usize, usize, usize) {
    let context = context.cast::<libc::ucontext_t>();
    if context.is_null() {
        return (0, 0, 0);
    }
    #[cfg(target_arch = "x86_64")]
    {
        let registers = &(*context).uc_mcontext.gregs;
        let register = |r: c_int| registers[r as usize] as usize;
        (register(libc::REG_RIP), register(libc::REG_RSP), register(libc::REG_RBP))
    }
    #[cfg(target_arch = "aarch64")]
    {
        let registers = &(*context).uc_mcontext;
        (registers.pc as usize, registers.sp as usize, registers.regs[29] as usize)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        (0, 0, 0)
    }
}

/// A writer of the record open at `fd`: a short write is retried, an error ends the
/// record there.
fn record_writer(fd: c_int) -> SignalWriter<impl FnMut(&[u8])> {
    SignalWriter::new(move |bytes: &[u8]| {
        let mut rest = bytes;
        while !rest.is_empty() {
            // SAFETY: writes from a valid slice to a descriptor this handler opened.
            let written = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
            if written <= 0 {
                break;
            }
            rest = &rest[written as usize..];
        }
    })
}

/// Opens a record file and writes its head and the crash; its descriptor, or -1.
///
/// # Safety
/// `info` and `context` must be what the kernel passed to the handler, and the caller
/// must hold `HANDLING`.
unsafe fn record_head(prepared: &Prepared, signal: c_int, info: *mut siginfo_t, context: *mut c_void) -> c_int {
    let fd = open_record(prepared);
    if fd < 0 {
        return fd;
    }
    let (_, sp, _) = registers(context);
    let (code, address) = if info.is_null() { (0, 0) } else { ((*info).si_code, (*info).si_addr() as usize) };
    let mut writer = record_writer(fd);
    writer.bytes(&prepared.head);
    writer.crash(signal, code, address, sp, now_ms());
    // On disk before the walk begins.
    writer.flush();
    fd
}

/// Writes the `frames` addresses [`walk_frames`] left in [`FRAMES`], then the thread and
/// the scope, ends the record and closes it.
///
/// # Safety
/// `fd` must be the record [`record_head`] opened, and the caller must hold `HANDLING`.
unsafe fn record_rest(fd: c_int, frames: usize) {
    let mut writer = record_writer(fd);
    // The stack before the optional parts: a record cut short keeps what matters most.
    // SAFETY: only the thread holding `HANDLING` runs this.
    let ips = &*FRAMES.0.get();
    writer.ips(&ips[..frames]);
    writer.thread_name(read_thread_name);
    crate::capture::crash_scope(&mut |scope| writer.scope(scope));
    writer.end();
    libc::close(fd);
}

/// Walks the stack from where the signal stopped the thread into [`FRAMES`]; how many
/// addresses. Run on the thread's own (alternate) stack: libgcc, when the walk from the
/// registers is not ready, unwinds through the kernel's signal frame, which only this
/// stack has.
///
/// # Safety
/// `context` must be what the kernel passed to the handler, and the caller must hold
/// `HANDLING`.
unsafe fn walk_frames(context: *mut c_void) -> usize {
    let (pc, sp, bp) = registers(context);
    // SAFETY: only the thread holding `HANDLING` gets here.
    let ips = &mut *FRAMES.0.get();
    let mut count = crate::stacktrace::walk_stopped(pc, sp, bp, ips).unwrap_or(0);
    if count == 0 {
        // Else from here, with libgcc (more stack): the frames above the thread's are
        // this handler's and the kernel's trampoline.
        let mut reached = pc == 0;
        backtrace::trace_unsynchronized(|frame| {
            let ip = frame.ip() as usize;
            if !reached && (ip == pc || ip == pc + 1) {
                reached = true;
            }
            if reached && count < MAX_FRAMES {
                ips[count] = ip;
                count += 1;
            }
            count < MAX_FRAMES
        });
    }
    if count == 0 && pc != 0 {
        // The unwinder did not get past the trampoline: the faulting address alone.
        ips[0] = pc;
        count = 1;
    }
    count
}

/// Names and creates this crash's record file; its descriptor, or -1.
#[inline(never)]
fn open_record(prepared: &Prepared) -> c_int {
    let name = &prepared.path[prepared.dir_len..];
    let mut len = 0;
    let mut writer = SignalWriter::new(|bytes: &[u8]| {
        for (slot, byte) in name.iter().skip(len).zip(bytes) {
            slot.store(*byte, Ordering::Relaxed);
        }
        len += bytes.len();
    });
    for dir in &prepared.missing {
        // SAFETY: `mkdir` on a NUL-terminated path is async-signal-safe; one that exists
        // already fails harmlessly.
        unsafe { libc::mkdir(dir.as_ptr(), 0o700) };
    }
    // SAFETY: `getpid` has no preconditions and is async-signal-safe.
    let pid = unsafe { libc::getpid() } as u32;
    writer.file_name(pid, now_ms(), RECORDS.fetch_add(1, Ordering::SeqCst));
    if len > name.len() {
        return -1;
    }
    // SAFETY: `AtomicU8` has `u8`'s layout, and the path ends with the NUL just written.
    unsafe {
        libc::open(
            prepared.path.as_ptr().cast(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0o600,
        )
    }
}

/// The current time in milliseconds since the Unix epoch (`clock_gettime` is safe here).
fn now_ms() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: writes into a valid `timespec`.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut now) };
    (now.tv_sec as u64).saturating_mul(1000) + (now.tv_nsec as u64) / 1_000_000
}

/// Reads this thread's name into `buffer`; its length. The main thread is `main`, as
/// std names it (the kernel gives it the program's name); others' names are read from
/// `/proc/thread-self/comm`.
fn read_thread_name(buffer: &mut [u8]) -> usize {
    // SAFETY: `gettid`, `getpid`, and `open`, `read` and `close` on a NUL-terminated
    // path and a valid buffer, are all async-signal-safe.
    unsafe {
        if libc::gettid() == libc::getpid() {
            let main = b"main";
            let len = main.len().min(buffer.len());
            buffer[..len].copy_from_slice(&main[..len]);
            return len;
        }
        let fd = libc::open(c"/proc/thread-self/comm".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return 0;
        }
        let read = libc::read(fd, buffer.as_mut_ptr().cast(), buffer.len());
        libc::close(fd);
        let read = usize::try_from(read).unwrap_or(0);
        // Without the newline the kernel ends it with.
        buffer[..read].iter().position(|b| *b == b'\n').unwrap_or(read)
    }
}

/// Hands the signal to what was there before, so the process ends as it would have.
///
/// # Safety
/// `info` and `context` must be what the kernel passed to the handler.
unsafe fn pass_on(signal: c_int, info: *mut siginfo_t, context: *mut c_void) {
    let Some(i) = SIGNALS.iter().position(|s| *s == signal) else { return };
    let Some(previous) = PREVIOUS.get().map(|all| all[i]) else { return };
    libc::sigaction(signal, &previous, std::ptr::null_mut());
    let default = previous.sa_sigaction == libc::SIG_DFL;
    // A fault stops the thread at the faulting instruction: returning runs it again, and
    // the action now in place (the previous one) handles it with the real details. A
    // signal that was sent (`raise`, `abort`, `kill`) or a trap that has already moved
    // past its instruction must be given on explicitly.
    let sent = info.is_null() || (*info).si_code <= 0 || signal == libc::SIGTRAP || signal == libc::SIGABRT;
    if !sent {
        return;
    }
    if default {
        // Blocked while this handler runs: delivered, and fatal, when it returns.
        libc::raise(signal);
    } else if previous.sa_sigaction != libc::SIG_IGN {
        if previous.sa_flags & libc::SA_SIGINFO != 0 {
            let handler: extern "C" fn(c_int, *mut siginfo_t, *mut c_void) = std::mem::transmute(previous.sa_sigaction);
            handler(signal, info, context);
        } else {
            let handler: extern "C" fn(c_int) = std::mem::transmute(previous.sa_sigaction);
            handler(signal);
        }
    }
}

/// Whether a handler is running on this thread (for the test allocator that proves it
/// allocates nothing).
#[cfg(feature = "testing")]
pub(crate) fn in_handler() -> bool {
    let thread = HANDLER_THREAD.load(Ordering::SeqCst);
    // SAFETY: `gettid` has no preconditions.
    thread != 0 && thread == unsafe { libc::gettid() }
}
