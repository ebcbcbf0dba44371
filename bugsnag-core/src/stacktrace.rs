//! Stack traces: captured unresolved on the caller (instruction pointers only, a few
//! microseconds), resolved into the API's frames on the delivery thread.
//!
//! Frame rules: the notifier's own frames and the panic machinery above the caller are
//! removed so that the first frame is the code that called `notify` (or panicked); frames
//! below `main` or a thread's entry point are removed; `method` is demangled without the
//! hash; `file` is made relative to `project_root`; `inProject` and `code` are set from
//! `project_root` and `project_packages`; frames under `exclude_modules` are dropped.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

/// Path prefixes of frames that belong to the notifier, the standard library's panic
/// machinery or the capture itself; they are skipped at the top of a trace.
const MACHINERY: &[&str] = &[
    "backtrace::",
    "bugsnag_core::",
    "bugsnag_tower::",
    "bugsnag_actix::",
    "bugsnag_rocket::",
    "bugsnag_worker::",
    "std::",
    "core::",
    "alloc::",
    "anyhow::",
    "log::",
    "tracing::",
    "tracing_core::",
    "tracing_subscriber::",
    "rust_begin_unwind",
    "__rust",
    "_Unwind",
];

/// The standard library's marker below which frames belong to the panic machinery.
const TOP_MARKER: &str = "__rust_end_short_backtrace";
/// The standard library's marker above which frames belong to the program.
const BOTTOM_MARKER: &str = "__rust_begin_short_backtrace";
/// Traces deeper than this keep their first frames only.
const MAX_FRAMES: usize = 200;
/// Lines of code sent either side of a frame's line.
const CODE_CONTEXT: usize = 3;
/// Characters kept of each line of code.
const CODE_LINE_MAX: usize = 200;

/// One frame of a stack trace, as the API expects it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stackframe {
    /// Source file, relative to `project_root` when under it.
    pub file: String,
    /// Line in `file`.
    pub line_number: u32,
    /// Column in `file`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column_number: Option<u32>,
    /// Demangled function path, without the hash.
    pub method: String,
    /// Whether the frame is the application's own code.
    pub in_project: bool,
    /// Line number to source line, up to 3 lines either side of `line_number`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<Map<String, Value>>,
}

/// A frame with its symbol resolved but no report rules applied yet.
#[derive(Debug, Clone)]
pub(crate) struct RawFrame {
    pub(crate) method: Option<String>,
    pub(crate) file: Option<PathBuf>,
    pub(crate) line: Option<u32>,
    pub(crate) column: Option<u32>,
}

/// The stack trace of an [`Exception`](crate::Exception): unresolved until the delivery
/// thread turns it into [`Stackframe`]s.
#[derive(Clone)]
pub struct Stacktrace(Repr);

#[derive(Clone)]
enum Repr {
    Empty,
    Unresolved(backtrace::Backtrace),
    #[cfg(feature = "anyhow")]
    Raw(Vec<RawFrame>),
    Frames(Vec<Stackframe>),
}

impl Stacktrace {
    /// No frames (causes in an error chain).
    pub fn empty() -> Self {
        Self(Repr::Empty)
    }

    /// Captures the current stack without resolving symbols.
    pub fn capture() -> Self {
        Self(Repr::Unresolved(backtrace::Backtrace::new_unresolved()))
    }

    /// Frames already turned into the API's shape.
    pub fn from_frames(frames: Vec<Stackframe>) -> Self {
        Self(Repr::Frames(frames))
    }

    #[cfg(feature = "anyhow")]
    pub(crate) fn from_raw(frames: Vec<RawFrame>) -> Self {
        Self(Repr::Raw(frames))
    }

    /// The resolved frames, once the delivery thread has resolved them.
    pub fn frames(&self) -> Option<&[Stackframe]> {
        match &self.0 {
            Repr::Frames(frames) => Some(frames),
            Repr::Empty => Some(&[]),
            _ => None,
        }
    }

    pub(crate) fn frames_mut(&mut self) -> std::slice::IterMut<'_, Stackframe> {
        match &mut self.0 {
            Repr::Frames(frames) => frames.iter_mut(),
            _ => [].iter_mut(),
        }
    }

    /// Keeps the first `n` resolved frames.
    pub(crate) fn truncate(&mut self, n: usize) {
        if let Repr::Frames(frames) = &mut self.0 {
            frames.truncate(n);
        }
    }

    /// Resolves symbols and applies the frame rules. Slow the first time (it reads debug
    /// information), so only the delivery thread calls it.
    pub(crate) fn resolve(&mut self, rules: &FrameRules, sources: &mut SourceCache) {
        let raw = match std::mem::replace(&mut self.0, Repr::Empty) {
            Repr::Unresolved(mut bt) => {
                bt.resolve();
                raw_frames(&bt)
            }
            #[cfg(feature = "anyhow")]
            Repr::Raw(raw) => raw,
            done => {
                self.0 = done;
                return;
            }
        };
        self.0 = Repr::Frames(rules.apply(raw, sources));
    }
}

impl fmt::Debug for Stacktrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Empty => f.write_str("Stacktrace([])"),
            Repr::Frames(frames) => f.debug_tuple("Stacktrace").field(frames).finish(),
            _ => f.write_str("Stacktrace(<unresolved>)"),
        }
    }
}

impl Serialize for Stacktrace {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // An unresolved trace is never sent: the delivery thread resolves every one first.
        let frames = self.frames().unwrap_or(&[]);
        let mut seq = serializer.serialize_seq(Some(frames.len()))?;
        for frame in frames {
            seq.serialize_element(frame)?;
        }
        seq.end()
    }
}

/// Flattens a resolved backtrace, one frame per (possibly inlined) symbol.
fn raw_frames(bt: &backtrace::Backtrace) -> Vec<RawFrame> {
    let mut out = Vec::new();
    for frame in bt.frames() {
        if frame.symbols().is_empty() {
            out.push(RawFrame { method: None, file: None, line: None, column: None });
        }
        for symbol in frame.symbols() {
            out.push(RawFrame {
                // `{:#}` demangles without the trailing hash.
                method: symbol.name().map(|name| format!("{name:#}")),
                file: symbol.filename().map(Path::to_path_buf),
                line: symbol.lineno(),
                column: symbol.colno(),
            });
        }
    }
    out
}

/// What the configuration says about frames.
#[derive(Debug, Clone)]
pub(crate) struct FrameRules {
    pub(crate) project_root: PathBuf,
    pub(crate) project_packages: Vec<String>,
    pub(crate) exclude_modules: Vec<String>,
    pub(crate) send_code: bool,
}

fn is_machinery(method: &str) -> bool {
    let path = method.trim_start_matches('<');
    MACHINERY.iter().any(|prefix| path.starts_with(prefix))
}

/// The crate a demangled path belongs to: `my_app` for `<my_app::Foo as Bar>::baz`.
fn crate_of(method: &str) -> &str {
    let path = method.trim_start_matches('<');
    path.split("::").next().unwrap_or(path)
}

impl FrameRules {
    fn apply(&self, mut raw: Vec<RawFrame>, sources: &mut SourceCache) -> Vec<Stackframe> {
        let name = |f: &RawFrame| f.method.clone().unwrap_or_default();
        if let Some(bottom) = raw.iter().position(|f| name(f).contains(BOTTOM_MARKER)) {
            raw.truncate(bottom);
        }
        let after_marker = raw.iter().position(|f| name(f).contains(TOP_MARKER)).map_or(0, |i| i + 1);
        let first_caller = raw[after_marker..]
            .iter()
            .position(|f| f.method.as_deref().is_some_and(|m| !is_machinery(m)))
            .map_or(raw.len(), |i| i + after_marker);
        raw.drain(..first_caller);
        raw.into_iter()
            .filter(|f| {
                let method = f.method.as_deref().unwrap_or_default();
                !self.exclude_modules.iter().any(|m| method.trim_start_matches('<').starts_with(m.as_str()))
            })
            .take(MAX_FRAMES)
            .map(|f| self.frame(f, sources))
            .collect()
    }

    fn frame(&self, raw: RawFrame, sources: &mut SourceCache) -> Stackframe {
        let method = raw.method.unwrap_or_else(|| "<unknown>".to_owned());
        let under_root = raw.file.as_deref().and_then(|f| f.strip_prefix(&self.project_root).ok());
        let dependency = raw.file.as_deref().is_some_and(|f| {
            let f = f.to_string_lossy();
            f.contains("/.cargo/registry/") || f.contains("/.cargo/git/") || f.starts_with("/rustc/")
        });
        let in_project = (under_root.is_some() && !dependency)
            || self.project_packages.iter().any(|p| crate_of(&method) == p.as_str());
        let line_number = raw.line.unwrap_or(0);
        let code = match (&raw.file, self.send_code && in_project) {
            (Some(file), true) if line_number > 0 => sources.snippet(file, line_number),
            _ => None,
        };
        let file = match (under_root, &raw.file) {
            (Some(relative), _) => relative.to_string_lossy().into_owned(),
            (None, Some(file)) => file.to_string_lossy().into_owned(),
            (None, None) => "<unknown>".to_owned(),
        };
        Stackframe { file, line_number, column_number: raw.column, method, in_project, code }
    }
}

/// Source files read for `code` snippets, kept for the life of the delivery thread.
#[derive(Default)]
pub(crate) struct SourceCache {
    files: HashMap<PathBuf, Option<Arc<[String]>>>,
}

/// Files kept in memory; past this the cache starts again, so it never grows unbounded.
const SOURCE_CACHE_FILES: usize = 128;

impl SourceCache {
    fn snippet(&mut self, file: &Path, line: u32) -> Option<Map<String, Value>> {
        if self.files.len() >= SOURCE_CACHE_FILES && !self.files.contains_key(file) {
            self.files.clear();
        }
        let lines = self
            .files
            .entry(file.to_path_buf())
            .or_insert_with(|| {
                let text = std::fs::read_to_string(file).ok()?;
                Some(text.lines().map(|l| l.chars().take(CODE_LINE_MAX).collect()).collect())
            })
            .clone()?;
        let line = line as usize;
        if line > lines.len() {
            return None;
        }
        let first = line.saturating_sub(CODE_CONTEXT).max(1);
        let last = (line + CODE_CONTEXT).min(lines.len());
        Some((first..=last).map(|n| (n.to_string(), Value::String(lines[n - 1].clone()))).collect())
    }
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
                frame.file = Some(PathBuf::from(file));
                frame.line = line_no.and_then(|l| l.parse().ok());
                frame.column = column.and_then(|c| c.parse().ok());
            }
        } else if let Some((index, method)) = line.split_once(": ") {
            if index.chars().all(|c| c.is_ascii_digit()) {
                frames.push(RawFrame { method: Some(method.to_owned()), file: None, line: None, column: None });
            }
        }
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(method: &str) -> RawFrame {
        RawFrame { method: Some(method.into()), file: None, line: Some(1), column: None }
    }

    fn rules() -> FrameRules {
        FrameRules {
            project_root: PathBuf::from("/srv/app"),
            project_packages: vec!["my_app".into()],
            exclude_modules: vec!["my_app::logging".into()],
            send_code: false,
        }
    }

    #[test]
    fn panic_machinery_and_runtime_frames_are_removed() {
        let frames = rules().apply(
            vec![
                raw("backtrace::backtrace::trace"),
                raw("bugsnag_core::panic::hook"),
                raw("<alloc::boxed::Box<F,A> as core::ops::function::Fn<Args>>::call"),
                raw("std::panicking::rust_panic_with_hook"),
                raw("std::sys::backtrace::__rust_end_short_backtrace"),
                raw("core::panicking::panic_fmt"),
                raw("core::option::expect_failed"),
                raw("my_app::logging::report"),
                raw("my_app::handler"),
                raw("std::sys::backtrace::__rust_begin_short_backtrace"),
                raw("std::rt::lang_start"),
            ],
            &mut SourceCache::default(),
        );
        let methods: Vec<_> = frames.iter().map(|f| f.method.as_str()).collect();
        assert_eq!(methods, ["my_app::handler"]);
        assert!(frames[0].in_project, "project_packages marks the crate in-project");
    }

    #[test]
    fn files_under_the_root_are_relative_and_in_project() {
        let mut frame = raw("other::f");
        frame.file = Some(PathBuf::from("/srv/app/src/main.rs"));
        let frames = rules().apply(vec![frame], &mut SourceCache::default());
        assert_eq!(frames[0].file, "src/main.rs");
        assert!(frames[0].in_project);
    }

    #[cfg(feature = "anyhow")]
    #[test]
    fn std_backtrace_text_is_parsed() {
        let text = "   0: my_app::load\n             at ./src/lib.rs:10:5\n   1: main\n";
        let frames = parse_std_backtrace(text);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].method.as_deref(), Some("my_app::load"));
        assert_eq!(frames[0].file.as_deref(), Some(Path::new("./src/lib.rs")));
        assert_eq!((frames[0].line, frames[0].column), (Some(10), Some(5)));
    }
}
