//! The symbols thread's resolution state: symbols by instruction pointer, frames as sent
//! by return address, and source files for `code` snippets. All are caches, bounded, so
//! an error storm from the same few call sites costs one symbol lookup per site, not per
//! event, and a new call site builds only its new frames.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::symbolizer::{build_id, LoadedModule, Symbolizer};
use super::{FrameAddress, FrameRules, Frames, OriginStack, RawFrame, RecordedFrame, SentFrame};

/// Lines of code sent either side of a frame's line.
const CODE_CONTEXT: usize = 3;
/// Characters kept of each line of code.
const CODE_LINE_MAX: usize = 200;

/// Instruction pointers remembered; past this the cache starts again.
const SYMBOL_CACHE_ENTRIES: usize = 4096;
/// Files kept in memory; past this the cache starts again.
const SOURCE_CACHE_FILES: usize = 128;

/// Frames remembered as sent, per frame rules; past this the cache starts again.
const FRAME_CACHE_ENTRIES: usize = 1024;

/// Resolved symbols, whole stacks and source files, owned by the symbols thread.
#[derive(Default)]
pub(crate) struct Resolver {
    symbols: HashMap<usize, Arc<[RawFrame]>>,
    /// Frames as sent, by rules, return address and inline depth: a new stack shares
    /// most of its frames with stacks seen before (its callers, the runtime).
    built: HashMap<(u64, usize, usize), Arc<SentFrame>>,
    /// Build-ids of the files crash records name, as they are on disk now.
    build_ids: HashMap<PathBuf, Option<String>>,
    symbolizer: Symbolizer,
    files: HashMap<PathBuf, Option<Arc<[String]>>>,
    /// The crate of the program's `main`, once read.
    main_crate: Option<Option<String>>,
}

impl Resolver {
    /// The frames of a stack of return addresses under `rules`, shared with every other
    /// stack of the same addresses; for an `origin`, the conversions (`From`, `?`) above
    /// the code that made the error are skipped too.
    pub(crate) fn stack(&mut self, rules: &FrameRules, ips: Vec<usize>, origin: bool) -> Arc<Frames> {
        if let Some(frames) = super::known::get(rules.id, origin, &ips) {
            return frames;
        }
        let raw = self.frames(&ips);
        let frames = Arc::new(Frames::new(rules.apply(raw, self, origin)));
        super::known::insert(rules.id, origin, ips, frames.clone());
        frames
    }

    /// The frame sent for `raw` under `rules`, built once per return address.
    pub(crate) fn frame(&mut self, rules: &FrameRules, raw: RawFrame) -> Arc<SentFrame> {
        let Some((ip, depth)) = raw.symbol else { return SentFrame::new(rules.frame(raw, self)) };
        let key = (rules.id, ip, depth);
        if let Some(frame) = self.built.get(&key) {
            return frame.clone();
        }
        if self.built.len() >= FRAME_CACHE_ENTRIES {
            self.built.clear();
        }
        let frame = SentFrame::new(rules.frame(raw, self));
        self.built.insert(key, frame.clone());
        frame
    }

    /// The frames of an origin. Its call site stands in for the first frame's file and
    /// line when debug information gives none (a release build without it).
    pub(crate) fn origin(&mut self, rules: &FrameRules, origin: &OriginStack) -> Arc<Frames> {
        let frames = self.stack(rules, origin.ips().to_vec(), true);
        let location = origin.location;
        let Some(first) = frames.shared().first().map(|f| &***f) else { return frames };
        if !needs_call_site(first, location) {
            return frames;
        }
        let site = rules.call_site(location, self);
        let mut top = first.clone();
        top.file = site.file;
        top.line_number = site.line_number;
        top.column_number = site.column_number;
        top.in_project |= site.in_project;
        let below = frames.shared()[1..].iter().cloned();
        Arc::new(Frames::new(std::iter::once(SentFrame::new(top)).chain(below).collect()))
    }

    /// The crate of the program's `main`: from the symbol table of the running
    /// executable, else from its name.
    pub(crate) fn main_crate(&mut self) -> Option<&str> {
        if self.main_crate.is_none() {
            let exe: std::rc::Rc<Path> = Path::new("/proc/self/exe").into();
            let from_symbols = self.symbolizer.facts(&exe).main_crate.clone();
            self.main_crate = Some(from_symbols.or_else(super::build_facts::main_crate_by_name));
        }
        self.main_crate.as_ref().and_then(Option::as_deref)
    }

    /// The facts of the running executable's build (for frames read from text).
    #[cfg(feature = "anyhow")]
    pub(crate) fn main_facts(&mut self) -> std::rc::Rc<super::build_facts::BuildFacts> {
        self.symbolizer.facts(&Path::new("/proc/self/exe").into())
    }

    #[cfg(test)]
    pub(crate) fn with_main_crate(name: &str) -> Self {
        Self { main_crate: Some(Some(name.to_owned())), ..Self::default() }
    }

    /// The frames of a crash record's stack: resolved in their modules' files when those
    /// are the very builds that crashed (same build-id), else kept as addresses with their
    /// module's load address and build-id, so that nothing is lost after a redeploy.
    pub(crate) fn recorded(&mut self, frames: &[RecordedFrame]) -> Vec<RawFrame> {
        let mut out = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            let resolved = frame.module.as_ref().filter(|m| self.same_build(m)).map(|module| {
                // The first address is where the program stopped; the others are return
                // addresses, just after their calls.
                let probe = if i == 0 { frame.ip } else { frame.ip.saturating_sub(1) };
                self.symbolizer.resolve_in(&module.path, probe.wrapping_sub(module.bias))
            });
            match resolved {
                Some(symbols) if !symbols.is_empty() => out.extend(symbols),
                _ => out.push(RawFrame {
                    address: Some(FrameAddress {
                        frame: frame.ip,
                        load: frame.module.as_ref().map(|m| m.start),
                        code_identifier: frame.module.as_ref().and_then(|m| m.build_id.clone()),
                    }),
                    ..RawFrame::default()
                }),
            }
        }
        out
    }

    fn same_build(&mut self, module: &LoadedModule) -> bool {
        let now = self.build_ids.entry(module.path.clone()).or_insert_with(|| build_id(&module.path));
        module.build_id.is_some() && *now == module.build_id
    }

    /// The frames of return addresses, one per (possibly inlined) symbol.
    pub(crate) fn frames(&mut self, ips: &[usize]) -> Vec<RawFrame> {
        if self.symbols.len() >= SYMBOL_CACHE_ENTRIES {
            self.symbols.clear();
        }
        let mut out = Vec::new();
        for &ip in ips {
            let symbolizer = &mut self.symbolizer;
            let symbols = self.symbols.entry(ip).or_insert_with(|| resolve(symbolizer, ip));
            out.extend(
                symbols.iter().enumerate().map(|(depth, f)| RawFrame { symbol: Some((ip, depth)), ..f.clone() }),
            );
        }
        out
    }

    /// Up to [`CODE_CONTEXT`] lines either side of `line` of `file`, or of the file at
    /// `shown` (its path relative to the workspace) under the working directory, for a
    /// binary run beside a copy of its sources.
    pub(crate) fn snippet(&mut self, file: &Path, shown: Option<&Path>, line: u32) -> Option<Map<String, Value>> {
        if self.files.len() >= SOURCE_CACHE_FILES && !self.files.contains_key(file) {
            self.files.clear();
        }
        let lines = self
            .files
            .entry(file.to_path_buf())
            .or_insert_with(|| {
                let here = shown.and_then(|s| std::env::current_dir().ok().map(|dir| dir.join(s)));
                let text =
                    [Some(file.to_path_buf()), here].into_iter().flatten().find_map(|path| read_source(&path))?;
                Some(text.lines().map(|l| l.chars().take(CODE_LINE_MAX).collect()).collect())
            })
            .clone()?;
        let line = line as usize;
        if line == 0 || line > lines.len() {
            return None;
        }
        let first = line.saturating_sub(CODE_CONTEXT).max(1);
        let last = (line + CODE_CONTEXT).min(lines.len());
        Some((first..=last).map(|n| (n.to_string(), Value::String(lines[n - 1].clone()))).collect())
    }
}

/// Whether the first frame of an origin's stack takes its file and line from the
/// origin's call site: debug information gave it none.
pub(crate) fn needs_call_site(first: &super::Stackframe, location: &std::panic::Location<'_>) -> bool {
    first.line_number == 0 && super::is_program_location(location)
}

/// A source file's text: a regular file only (never a FIFO that would block), of a
/// size a source file has.
fn read_source(path: &Path) -> Option<String> {
    use std::io::Read;
    const MAX_SOURCE: u64 = 8 * 1024 * 1024;
    let file = super::mapped::open_regular(path).ok()?;
    let mut text = String::new();
    file.take(MAX_SOURCE).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Resolves one instruction pointer into its symbols (several when inlined).
fn resolve(symbolizer: &mut Symbolizer, ip: usize) -> Arc<[RawFrame]> {
    let mut symbols = symbolizer.resolve(ip);
    if symbols.is_empty() {
        symbols.push(RawFrame::default());
    }
    symbols.into()
}

/// A symbol as the full format prints it, `0x55d1c0 - my_app::load::h0123456789abcdef`,
/// without its address and hash.
#[cfg(feature = "anyhow")]
fn symbol_name(text: &str) -> &str {
    let name = match text.split_once(" - ") {
        Some((address, name)) if address.starts_with("0x") => name,
        _ => text,
    };
    match name.rsplit_once("::") {
        Some((path, hash))
            if hash.len() == 17 && hash.starts_with('h') && hash[1..].bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            path
        }
        _ => name,
    }
}

/// A path from backtrace text; std prints some relative to the current directory.
#[cfg(feature = "anyhow")]
fn absolute(file: &str) -> PathBuf {
    let path = Path::new(file);
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let relative = path.strip_prefix(".").unwrap_or(path);
    std::env::current_dir().map_or_else(|_| relative.to_path_buf(), |dir| dir.join(relative))
}

/// Parses the text of a `std::backtrace::Backtrace` (as `anyhow` captures them) into
/// frames: `  N: path::to::function` lines, each followed by `at file:line:column`.
#[cfg(feature = "anyhow")]
pub(crate) fn parse_std_backtrace(text: &str) -> Vec<RawFrame> {
    let mut frames: Vec<RawFrame> = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(location) = line.strip_prefix("at ") {
            let mut parts = location.rsplitn(3, ':');
            let (column, line_no, file) = (parts.next(), parts.next(), parts.next());
            if let (Some(frame), Some(file)) = (frames.last_mut(), file) {
                frame.file = Some(absolute(file));
                frame.line = line_no.and_then(|l| l.parse().ok());
                frame.column = column.and_then(|c| c.parse().ok());
            }
        } else if let Some((index, method)) = line.split_once(": ") {
            if index.chars().all(|c| c.is_ascii_digit()) {
                let method = symbol_name(method.trim());
                frames.push(RawFrame { method: Some(method.to_owned()), ..RawFrame::default() });
            }
        }
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "anyhow")]
    #[test]
    fn std_backtrace_text_is_parsed() {
        let text =
            "   0:     0x55d1c0a1 - my_app::load::h0123456789abcdef\n             at ./src/lib.rs:10:5\n   1: main\n";
        let frames = parse_std_backtrace(text);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].method.as_deref(), Some("my_app::load"));
        assert_eq!(frames[0].file.as_deref(), Some(std::env::current_dir().unwrap().join("src/lib.rs").as_path()));
        assert_eq!((frames[0].line, frames[0].column), (Some(10), Some(5)));
    }
}
