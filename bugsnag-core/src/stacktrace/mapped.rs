//! Object files mapped rather than copied: a program's debug information is often a
//! hundred megabytes, of which a report reads a few pages. Mapped pages are the file's,
//! shared with the page cache and given back under pressure; copied ones would be the
//! process's own memory.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A regular file mapped read-only.
pub(crate) struct Mapped(memmap2::Mmap);

impl Mapped {
    /// Maps the regular file at `path`: anything else (a FIFO, a device a crash record
    /// or a planted file names) is refused before it is read, so it cannot block the
    /// symbols thread.
    pub(crate) fn open(path: &Path) -> io::Result<Self> {
        let file = open_regular(path)?;
        // SAFETY: the mapping is private and read-only, and nothing here writes to the
        // file. What the type cannot promise is that no other process truncates the file
        // while it is mapped (reads past its new end would fault): these are the
        // program's own object and debug files, which deploys replace (a new inode)
        // rather than rewrite in place, as the kernel refuses to open a running
        // executable for writing; addr2line's loader, used beside this, maps them the
        // same way.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Self(map))
    }

    /// Gives back the pages read so far: a pass over the whole file (every unit's
    /// header) would otherwise keep all it touched resident until the mapping is
    /// dropped. Later reads fault them in again, from the page cache.
    #[cfg(unix)]
    pub(crate) fn release(&self) {
        // SAFETY: the mapping is read-only and of a file: dropping its pages loses
        // nothing (a read maps them again, with the file's content), and no reference
        // into it is invalidated.
        let _ = unsafe { self.0.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
    }

    #[cfg(not(unix))]
    pub(crate) fn release(&self) {}
}

/// The regular file at `path` mapped for the rest of the process's life: mapped once
/// (whoever asks), so that what is read from it can be kept without a lifetime. These
/// are the program's own object and debug files, which the process keeps using.
pub(crate) fn for_process(path: &Path) -> io::Result<&'static Mapped> {
    static MAPPED: Mutex<Vec<(PathBuf, &'static Mapped)>> = Mutex::new(Vec::new());
    let mut mapped = MAPPED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, known)) = mapped.iter().find(|(known, _)| known == path) {
        return Ok(known);
    }
    let leaked: &'static Mapped = Box::leak(Box::new(Mapped::open(path)?));
    mapped.push((path.to_path_buf(), leaked));
    Ok(leaked)
}

impl Deref for Mapped {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// Opens `path` for reading without blocking (a FIFO would wait for a writer) and
/// checks, on the open descriptor, that it is a regular file.
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok(file)
}
