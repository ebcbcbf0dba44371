//! Stack traces: captured unresolved on the caller (instruction pointers only, a few
//! microseconds), resolved into the API's frames off the caller, by the process's one
//! symbols thread (`service`), which loads the program's debug information once for
//! every client.
//!
//! Frame rules: the notifier's own frames and the panic machinery above the caller are
//! removed so that the first frame is the code that called `notify` (or panicked); frames
//! below `main` or a thread's entry point are removed; `method` is demangled without the
//! hash; `file` is made relative to `project_root`; `inProject` and `code` are set from
//! `project_root` and `project_packages`; frames under `exclude_modules` are dropped.

mod build_facts;
mod frames;
mod known;
mod mapped;
mod resolver;
mod rules;
mod service;
mod symbolizer;
mod units;
mod walk;

use std::fmt;
use std::panic::Location;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde::ser::{SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use frames::{Frames, SentFrame};
use resolver::Resolver;
#[cfg(any(feature = "log", feature = "tracing"))]
pub(crate) use rules::is_notifier;
pub(crate) use rules::FrameRules;
pub(crate) use symbolizer::{loaded_modules, LoadedModule};

/// One address of a crashed program's stack, with the module it was in.
#[derive(Debug, Clone)]
pub(crate) struct RecordedFrame {
    pub(crate) ip: u64,
    pub(crate) module: Option<LoadedModule>,
}
pub(crate) use service::{resolve, start_service};
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub(crate) use walk::call_on_stack;
pub(crate) use walk::walk_stopped;

/// Whether a location is the program's, not the standard library's (where a conversion
/// called through `map_err` is located).
pub(crate) fn is_program_location(location: &Location<'_>) -> bool {
    let file = location.file();
    !(file.starts_with("/rustc/") || file.starts_with("library/") || file.contains("/rustlib/src/rust/library/"))
}

/// Frames a capture keeps: the frame rules send at most 200.
const CAPTURE_FRAMES: usize = 256;
/// Frames an origin keeps: the failing call and its callers up to a handler, with room
/// for the runtime below (which the frame rules drop).
const ORIGIN_FRAMES: usize = 64;

/// Where an error was made: the stack then, unresolved, in one fixed-size allocation,
/// and the call site `#[track_caller]` gave.
pub(crate) struct OriginStack {
    pub(crate) location: &'static Location<'static>,
    /// When: of several origins in one error, the first made is where it failed.
    pub(crate) made: Instant,
    len: usize,
    ips: [usize; ORIGIN_FRAMES],
}

impl OriginStack {
    /// The calling thread's stack now.
    pub(crate) fn capture(location: &'static Location<'static>) -> Arc<Self> {
        let mut ips = [0; ORIGIN_FRAMES];
        let len = walk::walk(&mut ips);
        Arc::new(Self { location, made: Instant::now(), len, ips })
    }

    /// Return addresses, innermost first.
    pub(crate) fn ips(&self) -> &[usize] {
        &self.ips[..self.len]
    }
}

/// One frame of a stack trace, as the API expects it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
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
    /// For a frame not resolved here (a crash recorded by another build): its address,
    /// as `0x` hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame_address: Option<String>,
    /// The load address of the frame's module, as `0x` hex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_address: Option<String>,
    /// The build-id of the frame's module.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_identifier: Option<String>,
}

impl Stackframe {
    /// A frame at `file`:`line_number` in `method`, not in-project, without code.
    pub fn new(file: impl Into<String>, line_number: u32, method: impl Into<String>) -> Self {
        Self { file: file.into(), line_number, method: method.into(), ..Self::default() }
    }
}

/// A frame with its symbol resolved but no report rules applied yet.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawFrame {
    pub(crate) method: Option<String>,
    pub(crate) file: Option<PathBuf>,
    pub(crate) line: Option<u32>,
    pub(crate) column: Option<u32>,
    /// `file` relative to the workspace root it was built in, when the build says it is
    /// one of the workspace's own sources (see `build_facts`).
    pub(crate) workspace_file: Option<PathBuf>,
    /// For a frame that could not be resolved (a crash recorded by another build): its
    /// address, its module's load address and build-id, for symbolication elsewhere.
    pub(crate) address: Option<FrameAddress>,
    /// The return address it was resolved from, and its depth among the functions
    /// inlined there: what the frame built from it is cached by.
    pub(crate) symbol: Option<(usize, usize)>,
}

/// Where a frame that could not be resolved was: enough to resolve it against the
/// build's debug information later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrameAddress {
    pub(crate) frame: u64,
    pub(crate) load: Option<u64>,
    pub(crate) code_identifier: Option<String>,
}

/// The stack trace of an [`Exception`](crate::Exception): unresolved until the delivery
/// thread turns it into [`Stackframe`]s.
#[derive(Clone)]
pub struct Stacktrace(Repr);

#[derive(Clone)]
enum Repr {
    Empty,
    /// Return addresses, innermost first.
    Unresolved(Vec<usize>),
    /// Where an error was made; conversions above the code that made it are skipped.
    Origin(Arc<OriginStack>),
    /// The call site of an origin made before any client could send (so without a
    /// stack), above the stack where it was reported.
    Below(&'static Location<'static>, Box<Stacktrace>),
    #[cfg(feature = "anyhow")]
    Raw(Vec<RawFrame>),
    /// An `anyhow::Error` whose captured backtrace is read when resolving, and the stack
    /// where it was reported, in case that backtrace yields no frames.
    #[cfg(feature = "anyhow")]
    Anyhow(std::sync::Arc<anyhow::Error>, Box<Stacktrace>),
    /// Shared: the symbols thread hands the same frames to every event from one stack.
    Frames(Arc<Frames>),
    /// Addresses a crash record kept, each with the module it was in when the program
    /// crashed (an earlier run, maybe another build).
    Recorded(Vec<RecordedFrame>),
}

impl Stacktrace {
    /// No frames (causes in an error chain).
    pub fn empty() -> Self {
        Self(Repr::Empty)
    }

    /// Captures the current stack without resolving symbols.
    pub fn capture() -> Self {
        // On the stack during the walk, which may hold the backtrace crate's process-wide
        // lock: nothing is allocated or freed under it (a thread held up in the allocator
        // would hold up every other capture); then one allocation of the right size.
        let mut ips = [0; CAPTURE_FRAMES];
        let len = walk::walk(&mut ips);
        Self(Repr::Unresolved(ips[..len].to_vec()))
    }

    /// The stack of an origin.
    pub(crate) fn origin(origin: Arc<OriginStack>) -> Self {
        Self(Repr::Origin(origin))
    }

    /// `stack` below a frame at `location`: where an error was made, when only its call
    /// site is known.
    pub(crate) fn below(location: &'static Location<'static>, stack: Stacktrace) -> Self {
        Self(Repr::Below(location, Box::new(stack)))
    }

    /// The stack a crash record kept.
    pub(crate) fn recorded(frames: Vec<RecordedFrame>) -> Self {
        Self(Repr::Recorded(frames))
    }

    /// The return addresses of a stack not resolved yet, to keep it for a later start
    /// of the same build; `None` for one held in a form only this process reads (a
    /// backtrace read from text, a crash recorded by an earlier run) or resolved already.
    /// An origin's stack keeps its addresses, not that it is one.
    pub(crate) fn addresses(&self) -> Option<Vec<u64>> {
        let ips: &[usize] = match &self.0 {
            Repr::Empty => &[],
            Repr::Unresolved(ips) => ips,
            Repr::Origin(origin) => origin.ips(),
            #[cfg(feature = "anyhow")]
            Repr::Anyhow(_, here) => return here.addresses(),
            Repr::Below(_, here) => return here.addresses(),
            _ => return None,
        };
        Some(ips.iter().map(|&ip| ip as u64).collect())
    }

    /// Resolves this trace if its stack was resolved before, under `rules`, without the
    /// symbols thread.
    fn resolve_known(&mut self, rules: &FrameRules) {
        let known = match &self.0 {
            Repr::Unresolved(ips) => known::get(rules.id, false, ips),
            Repr::Origin(origin) => known::get(rules.id, true, origin.ips()).filter(|frames| {
                frames.shared().first().is_none_or(|first| !resolver::needs_call_site(first, origin.location))
            }),
            _ => None,
        };
        if let Some(frames) = known {
            self.0 = Repr::Frames(frames);
        }
    }

    /// Whether resolving would change anything.
    fn is_resolved(&self) -> bool {
        matches!(self.0, Repr::Empty | Repr::Frames(_))
    }

    /// Frames already turned into the API's shape.
    pub fn from_frames(frames: Vec<Stackframe>) -> Self {
        Self(Repr::Frames(Arc::new(frames.into())))
    }

    /// The frames of a captured std backtrace, read now (std resolves its symbols), or
    /// `here` when its text yields no frames (an unknown format).
    #[cfg(feature = "anyhow")]
    pub(crate) fn from_std_backtrace(backtrace: &std::backtrace::Backtrace, here: Stacktrace) -> Self {
        let raw = resolver::parse_std_backtrace(&format!("{backtrace:#}"));
        if raw.is_empty() {
            here
        } else {
            Self(Repr::Raw(raw))
        }
    }

    /// The backtrace `error` captured, read on the delivery thread; `here` if it has none.
    #[cfg(feature = "anyhow")]
    pub(crate) fn from_anyhow(error: std::sync::Arc<anyhow::Error>, here: Stacktrace) -> Self {
        Self(Repr::Anyhow(error, Box::new(here)))
    }

    /// The resolved frames without copying them: what the delivery thread reads of each
    /// event (`frames` copies a shared stack's frames into one slice).
    pub(crate) fn sent_frames(&self) -> Option<Vec<&Stackframe>> {
        match &self.0 {
            Repr::Frames(frames) => Some(frames.shared().iter().map(|f| &***f).collect()),
            Repr::Empty => Some(Vec::new()),
            _ => None,
        }
    }

    /// The resolved frames, once the delivery thread has resolved them.
    pub fn frames(&self) -> Option<&[Stackframe]> {
        match &self.0 {
            Repr::Frames(frames) => Some(frames.plain()),
            Repr::Empty => Some(&[]),
            _ => None,
        }
    }

    /// Resolves symbols and applies the frame rules. Slow the first time (it reads debug
    /// information), so only the symbols thread calls it.
    fn resolve_with(&mut self, rules: &FrameRules, resolver: &mut Resolver) {
        let (raw, origin) = match std::mem::replace(&mut self.0, Repr::Empty) {
            Repr::Unresolved(ips) => {
                // Every event from one call site has the same stack: resolved once.
                self.0 = Repr::Frames(resolver.stack(rules, ips, false));
                return;
            }
            Repr::Origin(origin) => {
                self.0 = Repr::Frames(resolver.origin(rules, &origin));
                return;
            }
            Repr::Below(location, mut here) => {
                here.resolve_with(rules, resolver);
                let mut frames = vec![SentFrame::new(rules.call_site(location, resolver))];
                if let Repr::Frames(below) = &here.0 {
                    frames.extend(below.shared().iter().cloned());
                }
                self.0 = Repr::Frames(Arc::new(Frames::new(frames)));
                return;
            }
            Repr::Recorded(frames) => (resolver.recorded(&frames), false),
            // A backtrace anyhow captured where the error was made: an origin.
            #[cfg(feature = "anyhow")]
            Repr::Raw(mut raw) => {
                let facts = resolver.main_facts();
                for frame in &mut raw {
                    frame.workspace_file = frame.file.as_deref().and_then(|file| facts.workspace_file(file));
                }
                (raw, true)
            }
            #[cfg(feature = "anyhow")]
            Repr::Anyhow(error, here) => {
                *self = Self::from_std_backtrace(error.backtrace(), *here);
                return self.resolve_with(rules, resolver);
            }
            done => {
                self.0 = done;
                return;
            }
        };
        self.0 = Repr::Frames(Arc::new(Frames::new(rules.apply(raw, resolver, origin))));
    }
}

impl fmt::Debug for Stacktrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Empty => f.write_str("Stacktrace([])"),
            Repr::Frames(frames) => f.debug_tuple("Stacktrace").field(&frames.plain()).finish(),
            _ => f.write_str("Stacktrace(<unresolved>)"),
        }
    }
}

impl Serialize for Stacktrace {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Frames(frames) => frames.serialize(serializer),
            // An unresolved trace is never sent: the delivery thread resolves every one
            // first.
            _ => serializer.serialize_seq(Some(0))?.end(),
        }
    }
}
