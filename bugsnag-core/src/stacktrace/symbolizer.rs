//! Symbol resolution that shares no lock with capture.
//!
//! `backtrace::resolve` and `backtrace::trace` take one process-wide lock, so a caller
//! capturing a stack waited while the delivery thread resolved one (3–4 ms for a new
//! call site). Here the delivery thread reads the process's object files itself: the
//! executable mappings from `/proc/self/maps`, each file's load bias from its program
//! headers, and its symbols and line tables a compilation unit at a time (`units`),
//! cached per file. Where `/proc/self/maps` does not exist (not Linux), it falls back to
//! `backtrace::resolve`, lock and all.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use object::read::elf::{FileHeader, ProgramHeader};

use super::build_facts::{debug_file, BuildFacts};
use super::units::ObjectSymbols;
use super::RawFrame;

/// Bytes read from the start of an object file to find its program headers.
const HEADER_BYTES: u64 = 64 * 1024;

/// One executable mapping of an object file.
struct Module {
    start: u64,
    end: u64,
    /// The file's path, as the program loaded it.
    path: Rc<Path>,
    /// Where its image is read: `path`, or, once a deploy replaced or removed the file,
    /// the mapping itself (`/proc/self/map_files/…`, or `/proc/self/exe`).
    image: Rc<Path>,
    /// Runtime address minus the address the file states (its load bias).
    bias: u64,
}

/// Resolves instruction pointers of this process into frames, with its own caches.
#[derive(Default)]
pub(crate) struct Symbolizer {
    modules: Vec<Module>,
    /// Whether `/proc/self/maps` was readable the last time it was read.
    has_maps: Option<bool>,
    loaders: HashMap<Rc<Path>, Option<Rc<ObjectSymbols>>>,
    /// What each file's build says about its frames, read with its loader.
    facts: HashMap<Rc<Path>, Rc<BuildFacts>>,
    /// Each file's first segment address, read once: maps are read again on every miss.
    segments: HashMap<PathBuf, Option<u64>>,
}

impl Symbolizer {
    /// The frames of one instruction pointer (several when calls were inlined),
    /// innermost first.
    pub(crate) fn resolve(&mut self, ip: usize) -> Vec<RawFrame> {
        // A return address points after the call; look up the call itself.
        let probe = ip.saturating_sub(1) as u64;
        if self.module(probe).is_none() {
            self.read_maps(); // a library loaded since the last read
        }
        if self.has_maps == Some(false) {
            return backtrace_resolve(ip);
        }
        let Some((path, svma)) = self.module(probe).map(|m| (m.image.clone(), probe.wrapping_sub(m.bias))) else {
            return Vec::new();
        };
        self.resolve_in(&path, svma)
    }

    /// The frames of the address `svma` as the object file at `path` states it (for a
    /// crash recorded by an earlier run of the program).
    pub(crate) fn resolve_in(&mut self, path: &Path, svma: u64) -> Vec<RawFrame> {
        let path: Rc<Path> = match self.loaders.get_key_value(path) {
            Some((known, _)) => known.clone(),
            None => Rc::from(path),
        };
        // The build's facts first: read through a mapping of their own, dropped before
        // the loader maps the file, so that the pages the two read are not resident at once.
        let facts = self.facts(&path);
        let Some(loader) = self.loader(&path) else { return Vec::new() };
        let frames: Vec<RawFrame> = loader
            .frames(svma)
            .into_iter()
            .map(|frame| {
                let file = frame.file.map(PathBuf::from);
                RawFrame {
                    method: frame.method.as_deref().map(demangle),
                    workspace_file: file.as_deref().and_then(|f| facts.workspace_file(f)),
                    file,
                    line: frame.line,
                    column: frame.column,
                    ..RawFrame::default()
                }
            })
            .collect();
        // The symbol table names the function the address is in with its full path;
        // DWARF may not (`debug = "line-tables-only"` keeps bare names such as `poll`).
        let symbol = loader.symbol(svma).map(demangle);
        let mut frames = frames;
        match frames.last_mut() {
            None => frames.extend(symbol.map(|name| RawFrame { method: Some(name), ..RawFrame::default() })),
            Some(outer) if !outer.method.as_deref().is_some_and(|m| m.contains("::")) => {
                outer.method = symbol.or(outer.method.take());
            }
            Some(_) => {}
        }
        frames
    }

    fn module(&self, address: u64) -> Option<&Module> {
        self.modules.iter().find(|m| (m.start..m.end).contains(&address))
    }

    /// What the build of the file at `path` says of its frames (read once).
    pub(crate) fn facts(&mut self, path: &Rc<Path>) -> Rc<BuildFacts> {
        self.facts.entry(path.clone()).or_insert_with(|| Rc::new(BuildFacts::read(path, &debug_file(path)))).clone()
    }

    fn loader(&mut self, path: &Rc<Path>) -> Option<Rc<ObjectSymbols>> {
        self.loaders
            .entry(path.clone())
            // A file that is not regular (a FIFO a crash record names) is never opened.
            .or_insert_with(|| {
                match super::mapped::open_regular(path)
                    .and_then(|_| ObjectSymbols::load(&debug_file(path)).map_err(std::io::Error::other))
                {
                    Ok(loader) => Some(Rc::new(loader)),
                    Err(e) => {
                        tracing::debug!(target: "bugsnag_core", "no symbols from {}: {e}", path.display());
                        None
                    }
                }
            })
            .clone()
    }

    fn read_maps(&mut self) {
        let Ok(text) = std::fs::read_to_string("/proc/self/maps") else {
            self.has_maps = Some(false);
            return;
        };
        self.has_maps = Some(true);
        // The dynamic loader maps segments privately; a shared mapping of the same file is
        // someone reading it (this notifier's symbols, addr2line's), never a module.
        let mappings: Vec<Mapping<'_>> = text.lines().filter_map(Mapping::parse).filter(|m| !m.shared).collect();
        let mut modules = Vec::new();
        for mapping in mappings.iter().filter(|m| m.executable) {
            // The load bias, as the dynamic loader applied it: the address where the
            // file's start is mapped, less the address its first segment states.
            // The nearest below it: the loader maps a file's segments together.
            let Some(base) = mappings
                .iter()
                .filter(|m| m.path == mapping.path && m.offset == 0 && m.start <= mapping.start)
                .max_by_key(|m| m.start)
            else {
                continue;
            };
            // A file a deploy replaced (or removed) since it was loaded: the kernel still
            // maps the old image, which is the one to read.
            let (name, image) = match mapping.path.strip_suffix(" (deleted)") {
                None => (mapping.path, PathBuf::from(mapping.path)),
                Some(name) => match replaced_image(base, name) {
                    Some(image) => (name, image),
                    None => continue,
                },
            };
            let known = |path: &Path, loaders: &HashMap<Rc<Path>, _>| match loaders.get_key_value(path) {
                Some((known, _)) => known.clone(),
                None => Rc::from(path),
            };
            let image = known(&image, &self.loaders);
            let first = self.segments.entry(image.to_path_buf()).or_insert_with(|| first_segment_address(&image));
            let Some(first_vaddr) = *first else { continue };
            let bias = base.start.wrapping_sub(first_vaddr);
            let path = Rc::from(Path::new(name));
            modules.push(Module { start: mapping.start, end: mapping.end, path, image, bias });
        }
        self.modules = modules;
    }
}

/// Where the image of a file that was replaced after it was loaded can still be read: its
/// first mapping through `/proc/self/map_files` (allowed on most kernels), else, for the
/// program itself, `/proc/self/exe` (which always is).
fn replaced_image(base: &Mapping<'_>, name: &str) -> Option<PathBuf> {
    let mapped = PathBuf::from(format!("/proc/self/map_files/{:x}-{:x}", base.start, base.end));
    if super::mapped::open_regular(&mapped).is_ok() {
        return Some(mapped);
    }
    let exe = std::fs::read_link("/proc/self/exe").ok()?;
    let exe = exe.to_str()?;
    (exe.strip_suffix(" (deleted)") == Some(name)).then(|| PathBuf::from("/proc/self/exe"))
}

/// One line of `/proc/self/maps` that maps a file.
struct Mapping<'a> {
    start: u64,
    end: u64,
    offset: u64,
    executable: bool,
    /// Mapped `MAP_SHARED` (`s` in its permissions).
    shared: bool,
    path: &'a str,
}

impl<'a> Mapping<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        let mut fields = line.splitn(6, ' ');
        let (range, perms, offset) = (fields.next()?, fields.next()?, fields.next()?);
        let path = fields.nth(2)?.trim_start();
        if !path.starts_with('/') {
            return None;
        }
        let (start, end) = range.split_once('-')?;
        Some(Self {
            start: u64::from_str_radix(start, 16).ok()?,
            end: u64::from_str_radix(end, 16).ok()?,
            offset: u64::from_str_radix(offset, 16).ok()?,
            executable: perms.contains('x'),
            shared: perms.ends_with('s'),
            path,
        })
    }
}

/// The address the first loadable segment of an ELF file states, less its file offset.
fn first_segment_address(path: &Path) -> Option<u64> {
    let head = read_head(path)?;
    let data = head.as_slice();
    match object::FileKind::parse(data).ok()? {
        object::FileKind::Elf64 => first_segment::<object::elf::FileHeader64<object::Endianness>>(data),
        object::FileKind::Elf32 => first_segment::<object::elf::FileHeader32<object::Endianness>>(data),
        _ => None,
    }
}

/// The first bytes of a file, where ELF headers and notes are.
fn read_head(path: &Path) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    // A regular file only: a module path a kept file names may be a planted FIFO.
    super::mapped::open_regular(path).ok()?.take(HEADER_BYTES).read_to_end(&mut head).ok()?;
    Some(head)
}

/// The GNU build-id of an ELF file, as lower-case hex: what tells two builds apart.
pub(crate) fn build_id(path: &Path) -> Option<String> {
    let head = read_head(path)?;
    let data = head.as_slice();
    let id = match object::FileKind::parse(data).ok()? {
        object::FileKind::Elf64 => note_build_id::<object::elf::FileHeader64<object::Endianness>>(data),
        object::FileKind::Elf32 => note_build_id::<object::elf::FileHeader32<object::Endianness>>(data),
        _ => None,
    }?;
    Some(id.iter().map(|b| format!("{b:02x}")).collect())
}

fn note_build_id<H: FileHeader<Endian = object::Endianness>>(data: &[u8]) -> Option<Vec<u8>> {
    let header = H::parse(data).ok()?;
    let endian = header.endian().ok()?;
    for segment in header.program_headers(endian, data).ok()? {
        let Ok(Some(mut notes)) = segment.notes(endian, data) else { continue };
        while let Ok(Some(note)) = notes.next() {
            if note.name() == object::elf::ELF_NOTE_GNU && note.n_type(endian) == object::elf::NT_GNU_BUILD_ID {
                return Some(note.desc().to_vec());
            }
        }
    }
    None
}

/// One executable mapping of the running process, as a crash record keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct LoadedModule {
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// Runtime address minus the address the file states.
    pub(crate) bias: u64,
    pub(crate) path: PathBuf,
    pub(crate) build_id: Option<String>,
    /// Where the image loaded can be read now: `path`, unless a deploy replaced the file
    /// since (then the mapping itself). Of this process only: not kept.
    #[serde(skip)]
    pub(crate) image: Option<PathBuf>,
}

/// The executable mappings of this process now, with their files' build-ids.
pub(crate) fn loaded_modules() -> Vec<LoadedModule> {
    let mut symbolizer = Symbolizer::default();
    symbolizer.read_maps();
    let mut ids: HashMap<PathBuf, Option<String>> = HashMap::new();
    symbolizer
        .modules
        .iter()
        .map(|m| LoadedModule {
            start: m.start,
            end: m.end,
            bias: m.bias,
            path: m.path.to_path_buf(),
            // Read from the image loaded, which a deploy may have replaced on disk since.
            build_id: ids.entry(m.image.to_path_buf()).or_insert_with(|| build_id(&m.image)).clone(),
            image: (m.image != m.path).then(|| m.image.to_path_buf()),
        })
        .collect()
}

fn first_segment<H: FileHeader<Endian = object::Endianness>>(data: &[u8]) -> Option<u64> {
    let header = H::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let segment =
        header.program_headers(endian, data).ok()?.iter().find(|p| p.p_type(endian) == object::elf::PT_LOAD)?;
    let vaddr: u64 = segment.p_vaddr(endian).into();
    Some(vaddr.wrapping_sub(segment.p_offset(endian).into()))
}

/// A symbol's demangled name without its hash (`my_app::load`), or the name as given.
pub(crate) fn demangle(name: &str) -> String {
    match rustc_demangle::try_demangle(name) {
        Ok(demangled) => format!("{demangled:#}"),
        Err(_) => name.to_owned(),
    }
}

/// Resolution through the `backtrace` crate, for platforms without `/proc/self/maps`.
fn backtrace_resolve(ip: usize) -> Vec<RawFrame> {
    let mut frames = Vec::new();
    backtrace::resolve(ip as *mut std::ffi::c_void, |symbol| {
        frames.push(RawFrame {
            method: symbol.name().map(|name| format!("{name:#}")),
            file: symbol.filename().map(Path::to_path_buf),
            line: symbol.lineno(),
            column: symbol.colno(),
            ..RawFrame::default()
        });
    });
    frames
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn resolves_this_function_with_file_and_line_without_backtrace_resolution() {
        let mut symbolizer = Symbolizer::default();
        let bt = backtrace::Backtrace::new_unresolved();
        let frames: Vec<RawFrame> = bt.frames().iter().flat_map(|f| symbolizer.resolve(f.ip() as usize)).collect();
        let this = frames
            .iter()
            .find(|f| f.method.as_deref().is_some_and(|m| m.ends_with("without_backtrace_resolution")))
            .unwrap_or_else(|| panic!("this test's frame is resolved: {frames:#?}"));
        assert!(this.file.as_ref().is_some_and(|f| f.ends_with("stacktrace/symbolizer.rs")), "{this:?}");
        assert!(this.line.is_some_and(|l| l > 0));
        assert_eq!(symbolizer.has_maps, Some(true));
    }

    /// A kept event names its modules by path; a FIFO planted there must not block the
    /// symbols thread (opening one for reading waits for a writer).
    #[test]
    fn a_fifo_named_as_a_module_is_refused_at_once() {
        let fifo = std::env::temp_dir().join(format!("bugsnag-fifo-module-{}", std::process::id()));
        let _ = std::fs::remove_file(&fifo);
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let (done, finished) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            let mut symbolizer = Symbolizer::default();
            let _ = done.send((build_id(&path), symbolizer.resolve_in(&path, 0x1000).len()));
        });
        let result = finished.recv_timeout(std::time::Duration::from_secs(30));
        let _ = std::fs::remove_file(&fifo);
        assert_eq!(result.expect("refused without blocking"), (None, 0));
    }

    /// Reading a module's file maps it whole (this notifier's symbols, addr2line's), often
    /// just below where the loader put it: that mapping must not be taken for the
    /// module's start, or every later address in it resolves wrong.
    #[test]
    fn a_file_mapped_to_be_read_is_not_taken_for_its_module() {
        let before = loaded_modules();
        assert!(before.len() > 1, "the program and its libraries: {before:?}");
        let held: Vec<_> = before.iter().filter_map(|m| super::super::mapped::Mapped::open(&m.path).ok()).collect();
        assert_eq!(held.len(), before.len());
        let biases = |modules: &[LoadedModule]| modules.iter().map(|m| (m.path.clone(), m.bias)).collect::<Vec<_>>();
        assert_eq!(biases(&loaded_modules()), biases(&before));
    }

    #[test]
    fn maps_lines_are_parsed() {
        let line = "55d1c0a00000-55d1c0b00000 r-xp 00001000 fd:01 123 /usr/bin/app";
        let m = Mapping::parse(line).unwrap();
        assert_eq!((m.start, m.end, m.offset, m.path), (0x55d1c0a00000, 0x55d1c0b00000, 0x1000, "/usr/bin/app"));
        assert!(m.executable);
        assert!(Mapping::parse("7ffd1000-7ffd2000 r-xp 00000000 00:00 0 [vdso]").is_none());
        assert!(!Mapping::parse("7ffd1000-7ffd2000 rw-p 00000000 fd:01 1 /usr/lib/x.so").unwrap().executable);
        assert!(Mapping::parse("7ffd1000-7ffd2000 r--s 00000000 fd:01 1 /usr/lib/x.so").unwrap().shared);
    }
}
