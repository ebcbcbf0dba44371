//! The stack walk behind every capture: return addresses of the calling thread, into a
//! buffer the caller owns.
//!
//! `backtrace::trace` (libgcc's unwinder) reads and interprets the DWARF unwind rules of
//! every frame anew: 3–5 µs for a 20-frame stack on this project's machines, too much
//! for an origin captured at every `?`. On Linux x86-64 the walk is framehop's instead:
//! it keeps the rule of each return address in a per-thread cache, so a stack walked
//! before (every call site an application has, after its first few errors) costs about
//! a tenth of that, with no lock shared between threads. Its index of the program's
//! unwind tables is built once per process, off the callers, by the symbols thread;
//! until it is ready, and wherever the walk cannot vouch for its result (a stack it
//! cannot read, a frame it cannot unwind), `backtrace::trace` does the walk.
//!
//! Reading registers and stack memory needs `unsafe`; each block says why it is sound.
#![allow(unsafe_code)]

/// Walks the calling thread's stack, innermost frame first, into `buf`; returns how many
/// addresses were written.
#[inline(never)]
pub(crate) fn walk(buf: &mut [usize]) -> usize {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    if let Some(n) = native::walk(buf) {
        return n;
    }
    walk_with_backtrace(buf)
}

/// The walk through `backtrace::trace` (libgcc's unwinder, under the crate's lock).
fn walk_with_backtrace(buf: &mut [usize]) -> usize {
    let mut n = 0;
    backtrace::trace(|frame| {
        if let Some(slot) = buf.get_mut(n) {
            *slot = frame.ip() as usize;
            n += 1;
        }
        n < buf.len()
    });
    n
}

/// Builds the index of the unwind tables of the modules loaded now (a few milliseconds),
/// after which [`walk`] no longer takes libgcc's path. The symbols thread calls it.
pub(crate) fn prepare() {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    native::prepare();
}

/// Runs `f(arg)` on another stack whose top is `top`, then comes back: for the crash
/// handler, which may be on std's few pages of alternate signal stack.
///
/// # Safety
/// `top` must be 16-byte aligned, the top of memory mapped for the life of the process
/// and used by nothing else while `f` runs; `f` must not unwind, and `arg` be what `f`
/// expects.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(crate) unsafe fn call_on_stack(top: usize, f: extern "C" fn(*mut std::ffi::c_void), arg: *mut std::ffi::c_void) {
    // SAFETY: as the caller promises; r12 is callee-saved, so after the call it still
    // holds this stack's pointer, which it restores.
    unsafe {
        std::arch::asm!(
            "mov r12, rsp",
            "mov rsp, {top}",
            "call {f}",
            "mov rsp, r12",
            top = in(reg) top,
            f = in(reg) f,
            in("rdi") arg,
            out("r12") _,
            clobber_abi("C"),
        );
    }
}

/// Walks the stack of a thread stopped by a signal, from the registers its context
/// holds, into `buf`; for the crash handler. Allocates nothing, takes no lock that
/// anything else holds, needs little stack (a thread's alternate signal stack is std's
/// 8 KiB), and reads memory through a system call, so a corrupt stack cannot fault it.
/// `None` where it cannot (the index is not ready, another crash is being walked, not
/// Linux x86-64): the handler then unwinds itself with libgcc.
#[allow(unused_variables)]
pub(crate) fn walk_stopped(pc: usize, sp: usize, bp: usize, buf: &mut [usize]) -> Option<usize> {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    return native::walk_stopped(pc as u64, sp as u64, bp as u64, buf);
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    None
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod native {
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;
    use std::ffi::c_void;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Mutex, OnceLock};

    use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
    use framehop::{ExplicitModuleSectionInfo, Module, MustNotAllocateDuringUnwind, Unwinder};
    use object::{Object, ObjectSection};

    use crate::stacktrace::loaded_modules;

    /// The same modules' unwind tables, for two kinds of walk.
    struct Unwinders {
        /// A pipe a stopped walk reads the crashed stack through (see `read_word`).
        reads: Option<[libc::c_int; 2]>,
        /// Callers' walks: a small per-thread cache, which may allocate as it fills.
        callers: UnwinderX86_64<&'static [u8]>,
        /// Crashed threads' walks, with one cache made beforehand: nothing allocated.
        stopped: UnwinderX86_64<&'static [u8], MustNotAllocateDuringUnwind>,
        stopped_cache: Mutex<CacheX86_64<MustNotAllocateDuringUnwind>>,
        /// The top of a stack of its own for that walk (16-byte aligned): it needs more
        /// than the alternate signal stack std gives each thread (8 KiB, some of which
        /// the kernel's signal frame takes).
        stopped_stack_top: usize,
        stopped_stack_in_use: AtomicBool,
    }

    const STOPPED_STACK_BYTES: usize = 256 * 1024;

    static UNWINDERS: OnceLock<Unwinders> = OnceLock::new();

    thread_local! {
        /// Unwind rules by address, this thread's own: no lock, no sharing.
        static CACHE: RefCell<Option<Box<CacheX86_64>>> = const { RefCell::new(None) };
        /// This thread's stack, `(lowest, highest)` address; `(0, 0)` until read, `(1, 1)`
        /// when it cannot be.
        static STACK: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }

    pub(super) fn prepare() {
        UNWINDERS.get_or_init(|| {
            // One module per file, spanning its executable mappings.
            let mut files: BTreeMap<PathBuf, (u64, u64, u64)> = BTreeMap::new();
            for m in loaded_modules() {
                // The image loaded: the file at its path may be a newer build now.
                let span = files.entry(m.image.unwrap_or(m.path)).or_insert((m.start, m.end, m.bias));
                span.0 = span.0.min(m.start);
                span.1 = span.1.max(m.end);
            }
            let mut callers = UnwinderX86_64::new();
            let mut stopped = UnwinderX86_64::new();
            for (path, (start, end, bias)) in files {
                if let Some(info) = unwind_sections(&path) {
                    let module = Module::new(path.display().to_string(), start..end, bias, info);
                    stopped.add_module(module.clone());
                    callers.add_module(module);
                }
            }
            let stack: &'static mut [u8] = Box::leak(vec![0u8; STOPPED_STACK_BYTES].into_boxed_slice());
            let stopped_stack_top = (stack.as_mut_ptr() as usize + stack.len()) & !15;
            let mut pipe = [-1; 2];
            // SAFETY: `pipe2` writes two descriptors into the array it is given.
            let piped = unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } == 0;
            Unwinders {
                reads: piped.then_some(pipe),
                callers,
                stopped,
                stopped_cache: Mutex::new(CacheX86_64::new_in()),
                stopped_stack_top,
                stopped_stack_in_use: AtomicBool::new(false),
            }
        });
    }

    /// A file's `.eh_frame` and `.eh_frame_hdr`, in the file mapped for the process (as
    /// symbols read it): their pages are the page cache's, read as walks need them, and
    /// not copied into this process's memory (once per walker).
    fn unwind_sections(path: &std::path::Path) -> Option<ExplicitModuleSectionInfo<&'static [u8]>> {
        let data: &'static [u8] = crate::stacktrace::mapped::for_process(path).ok()?;
        let elf = object::File::parse(data).ok()?;
        let section = |name: &str| {
            let section = elf.section_by_name(name)?;
            let data: &'static [u8] = section.data().ok()?;
            Some((section.address()..section.address() + section.size(), data))
        };
        let (eh_frame_svma, eh_frame) = section(".eh_frame")?;
        let hdr = section(".eh_frame_hdr");
        let text_svma = elf.section_by_name(".text").map(|s| s.address()..s.address() + s.size());
        Some(ExplicitModuleSectionInfo {
            base_svma: 0,
            text_svma,
            eh_frame_svma: Some(eh_frame_svma),
            eh_frame: Some(eh_frame),
            eh_frame_hdr_svma: hdr.as_ref().map(|(range, _)| range.clone()),
            eh_frame_hdr: hdr.map(|(_, data)| data),
            ..Default::default()
        })
    }

    /// This thread's stack bounds, read once per thread.
    fn stack() -> Option<(u64, u64)> {
        let bounds = STACK.try_with(|stack| {
            if stack.get() == (0, 0) {
                stack.set(read_stack_bounds().unwrap_or((1, 1)));
            }
            stack.get()
        });
        bounds.ok().filter(|&(low, high)| low < high)
    }

    fn read_stack_bounds() -> Option<(u64, u64)> {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_attr_t>::uninit();
        let (mut addr, mut size) = (std::ptr::null_mut(), 0usize);
        // SAFETY: `pthread_getattr_np` initialises `attr` when it returns 0, and only
        // then is it read and destroyed (once); `addr` and `size` are plain outputs.
        unsafe {
            if libc::pthread_getattr_np(libc::pthread_self(), attr.as_mut_ptr()) != 0 {
                return None;
            }
            let got = libc::pthread_attr_getstack(attr.as_ptr(), &mut addr, &mut size);
            libc::pthread_attr_destroy(attr.as_mut_ptr());
            (got == 0).then(|| (addr as u64, addr as u64 + size as u64))
        }
    }

    /// The walk through framehop, or `None` when it is not ready or could not vouch for
    /// the result (then the caller walks with libgcc).
    #[inline(never)]
    pub(super) fn walk(buf: &mut [usize]) -> Option<usize> {
        let unwinder = &UNWINDERS.get()?.callers;
        let (low, high) = stack()?;
        let (pc, sp, bp): (u64, u64, u64);
        // SAFETY: copies three registers into outputs; touches no memory, stack or flags.
        unsafe {
            std::arch::asm!(
                "lea {pc}, [rip]",
                "mov {sp}, rsp",
                "mov {bp}, rbp",
                pc = out(reg) pc,
                sp = out(reg) sp,
                bp = out(reg) bp,
                options(nomem, nostack, preserves_flags),
            );
        }
        // On another stack (a signal's alternate stack, a coroutine's), nothing is known
        // to be readable.
        if !(low..high).contains(&sp) {
            return None;
        }
        let mut read_stack = |address: u64| {
            if address < sp || !address.is_multiple_of(8) || address.checked_add(8).is_none_or(|end| end > high) {
                return Err(());
            }
            // SAFETY: an aligned word of this thread's own stack between its current
            // frame and its top: mapped, readable, and not written while this runs.
            Ok(unsafe { std::ptr::read_volatile(address as *const u64) })
        };
        let walked = CACHE.try_with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            let cache = cache.get_or_insert_with(|| Box::new(CacheX86_64::new()));
            let regs = UnwindRegsX86_64::new(pc, sp, bp);
            let mut frames = unwinder.iter_frames(pc, regs, &mut **cache, &mut read_stack);
            let mut n = 0;
            loop {
                match frames.next() {
                    Ok(Some(frame)) if n < buf.len() => {
                        buf[n] = frame.address() as usize;
                        n += 1;
                    }
                    // The buffer is full, or the stack's root was reached.
                    Ok(_) => return Some(n),
                    Err(_) => return None,
                }
            }
        });
        walked.ok().flatten()
    }

    /// What [`walk_stopped`] hands the walk it runs on its own stack, and gets back.
    struct StoppedWalk<'a> {
        unwinders: &'a Unwinders,
        regs: (u64, u64, u64),
        buf: &'a mut [usize],
        walked: Option<usize>,
    }

    pub(super) fn walk_stopped(pc: u64, sp: u64, bp: u64, buf: &mut [usize]) -> Option<usize> {
        let unwinders = UNWINDERS.get()?;
        // Taken by nothing but another crashed thread's walk.
        if unwinders.stopped_stack_in_use.swap(true, Ordering::Acquire) {
            return None;
        }
        let mut walk = StoppedWalk { unwinders, regs: (pc, sp, bp), buf, walked: None };
        // SAFETY: the stack is this walk's alone (the flag above), 16-byte aligned, and
        // mapped for the life of the process; `walk_on_own_stack` takes the pointer it is
        // given as its `StoppedWalk`, which outlives the call, and does not unwind.
        unsafe {
            super::call_on_stack(unwinders.stopped_stack_top, walk_on_own_stack, (&raw mut walk).cast::<c_void>());
        }
        unwinders.stopped_stack_in_use.store(false, Ordering::Release);
        walk.walked
    }

    extern "C" fn walk_on_own_stack(walk: *mut c_void) {
        // SAFETY: `walk_stopped` passes its `StoppedWalk`, which nothing else touches
        // while this runs.
        let walk = unsafe { &mut *walk.cast::<StoppedWalk<'_>>() };
        let Ok(mut cache) = walk.unwinders.stopped_cache.try_lock() else { return };
        let (pc, sp, bp) = walk.regs;
        let mut read = read_word;
        let mut frames =
            walk.unwinders.stopped.iter_frames(pc, UnwindRegsX86_64::new(pc, sp, bp), &mut *cache, &mut read);
        let mut n = 0;
        walk.walked = loop {
            match frames.next() {
                Ok(Some(frame)) if n < walk.buf.len() => {
                    walk.buf[n] = frame.address() as usize;
                    n += 1;
                }
                Ok(_) => break Some(n),
                // A corrupt frame ends the stack there; without even the first two
                // frames, libgcc may do better.
                Err(_) => break (n >= 2).then_some(n),
            }
        };
    }

    /// A word of this process's memory, or an error where none is readable: a system
    /// call fails with `EFAULT` where a load would fault. The word goes through a pipe
    /// (`write` from it, `read` it back): two calls that every seccomp profile allows,
    /// where `process_vm_readv` is denied by older container defaults (failing with
    /// `EPERM`, or killing the process).
    fn read_word(address: u64) -> Result<u64, ()> {
        if !address.is_multiple_of(8) {
            return Err(());
        }
        let mut word = 0u64;
        let Some([read_end, write_end]) = UNWINDERS.get().and_then(|u| u.reads) else { return Err(()) };
        // SAFETY: `write` reads the 8 bytes at `address` itself, failing with `EFAULT`
        // rather than faulting where they are not mapped; `read` writes at most the 8
        // bytes of `word`. Both are async-signal-safe; only the thread holding the
        // stopped walk uses the pipe, which is empty between two reads.
        unsafe {
            if libc::write(write_end, address as *const c_void, 8) != 8 {
                return Err(());
            }
            if libc::read(read_end, (&raw mut word).cast(), 8) != 8 {
                return Err(());
            }
        }
        Ok(word)
    }
}

#[cfg(all(test, target_os = "linux", target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The callers framehop finds are libgcc's, frame for frame, on the thread the test
    /// harness started and on one started here.
    #[test]
    fn framehop_walks_the_same_callers_as_libgcc() {
        prepare();
        let check = || {
            let (mut fast, mut slow) = ([0; 128], [0; 128]);
            let fast_len = native::walk(&mut fast).expect("framehop vouches for this thread's stack");
            let slow_len = walk_with_backtrace(&mut slow);
            // The first frames are each walker's own, then this closure's two calls; the
            // callers of this closure, down to the thread's root, must agree.
            let callers = &fast[2..fast_len];
            assert!(callers.len() >= 3, "{fast_len} frames");
            let slow = &slow[..slow_len];
            let at = slow.iter().position(|ip| *ip == callers[0]).expect("the caller is on libgcc's stack");
            let slow_callers: Vec<usize> = slow[at..].iter().copied().filter(|ip| *ip != 0).collect();
            assert_eq!(callers, &slow_callers[..]);
        };
        check();
        std::thread::spawn(check).join().unwrap();
    }
}
