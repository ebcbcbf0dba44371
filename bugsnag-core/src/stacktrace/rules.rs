//! The frame rules: which frames of a resolved trace are sent, and how.

use std::path::PathBuf;

use std::sync::Arc;

use super::resolver::Resolver;
use super::{RawFrame, SentFrame, Stackframe};

/// The notifier's own crates. Only these: a user's crate may be named `bugsnag_…` too.
const NOTIFIER: &[&str] =
    &["bugsnag_core", "bugsnag_tower", "bugsnag_actix", "bugsnag_rocket", "bugsnag_worker", "bugsnag_lambda"];

/// Path prefixes of frames that belong to the standard library's panic machinery or the
/// capture itself (besides the notifier's); they are skipped at the top of a trace.
const MACHINERY: &[&str] = &[
    "backtrace::",
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

/// Crates of async runtimes, servers and middleware: their frames below the outermost
/// in-project frame (the executor polling a handler's future) are dropped.
const RUNTIME: &[&str] = &[
    "tokio",
    "hyper",
    "hyper_util",
    "h2",
    "tower",
    "tower_http",
    "tower_layer",
    "tower_service",
    "axum",
    "axum_core",
    "actix_web",
    "actix_http",
    "actix_server",
    "actix_rt",
    "actix_service",
    "actix_utils",
    "actix_router",
    "rocket",
    "rocket_http",
    "tonic",
    "futures",
    "futures_util",
    "futures_core",
    "futures_executor",
    "async_std",
    "async_task",
    "smol",
    "apalis",
    "apalis_core",
    "pin_project_lite",
    "std",
    "core",
    "alloc",
    "test",
    "<unknown>",
];

/// The standard library's marker below which frames belong to the panic machinery.
const TOP_MARKER: &str = "__rust_end_short_backtrace";
/// The standard library's marker above which frames belong to the program.
const BOTTOM_MARKER: &str = "__rust_begin_short_backtrace";
/// Traces deeper than this keep their first frames only.
const MAX_FRAMES: usize = 200;
/// What the configuration says about frames.
#[derive(Debug, Clone)]
pub(crate) struct FrameRules {
    /// Tells these rules apart from another client's in the symbols thread's caches.
    pub(crate) id: u64,
    /// Set: frames under it are in-project (the seed's rule); unset: the build decides
    /// (see `build_facts`).
    pub(crate) project_root: Option<PathBuf>,
    pub(crate) project_packages: Vec<String>,
    pub(crate) exclude_modules: Vec<String>,
    pub(crate) send_code: bool,
}

impl FrameRules {
    /// Rules with an id of their own.
    pub(crate) fn new(
        project_root: Option<PathBuf>,
        project_packages: Vec<String>,
        exclude_modules: Vec<String>,
        send_code: bool,
    ) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self { id, project_root, project_packages, exclude_modules, send_code }
    }
}

/// Whether a frame is an async runtime's, a server's or the C runtime's: by the crate
/// its name says, or, when the name is bare (line tables only), by its file.
fn is_runtime(frame: &Stackframe) -> bool {
    let method = frame.method.as_str();
    if RUNTIME.contains(&crate_of(method)) || is_notifier(crate_of(method)) {
        return true;
    }
    if frame.file.starts_with("/rustc/") || is_notifier_file(&frame.file) {
        return true;
    }
    match registry_package(&frame.file) {
        Some(package) => RUNTIME.contains(&package.as_ref()),
        None => !method.contains("::") && frame.file == "<unknown>",
    }
}

/// The crate of a file from cargo's registry: `tokio` for
/// `…/registry/src/index.crates.io-…/tokio-1.54.1/src/…`.
fn registry_package(file: &str) -> Option<std::borrow::Cow<'_, str>> {
    let in_registry = file.split_once("/registry/src/")?.1;
    let package = in_registry.split('/').nth(1)?;
    let name = package.rsplit_once('-').map_or(package, |(name, _version)| name);
    Some(if name.contains('-') { name.replace('-', "_").into() } else { name.into() })
}

fn is_machinery(method: &str) -> bool {
    let path = method.trim_start_matches('<');
    MACHINERY.iter().any(|prefix| path.starts_with(prefix)) || is_notifier(crate_of(method))
}

/// Whether a crate is machinery: [`is_machinery`] of a path in it.
fn is_machinery_crate(krate: &str) -> bool {
    MACHINERY.iter().any(|prefix| match prefix.strip_suffix("::") {
        Some(name) => krate == name,
        None => krate.starts_with(prefix),
    }) || is_notifier(krate)
}

/// Whether a source file belongs to the standard library or to a machinery crate from
/// the registry: a macro of `tracing` or `log` expands into a closure whose location is
/// the macro's file, and that frame says nothing about the caller.
fn is_machinery_file(file: &std::path::Path) -> bool {
    let file = file.to_string_lossy();
    if file.starts_with("/rustc/") {
        return true;
    }
    registry_package(&file).is_some_and(|name| is_machinery_crate(&name)) || is_notifier_file(&file)
}

/// Whether a frame converts one error into another (a `From` or `Into` impl, which `?`
/// calls): in an origin, the code that made the error is the caller of these.
fn is_conversion(frame: &RawFrame) -> bool {
    frame.method.as_deref().is_some_and(|method| {
        method.starts_with('<')
            && (method.contains(" as core::convert::From<") || method.contains(" as core::convert::Into<"))
    })
}

/// Whether a frame belongs to the machinery rather than to the code that reported.
fn is_machinery_frame(frame: &RawFrame) -> bool {
    // An address kept for later symbolication is nobody's machinery yet.
    frame.address.is_none()
        && (frame.method.as_deref().is_none_or(is_machinery) || frame.file.as_deref().is_some_and(is_machinery_file))
}

/// The crate a demangled path belongs to: `my_app` for `<my_app::Foo as Bar>::baz`, and
/// the trait's crate when the type is a bare generic (`axum` for `<F as axum::Handler>`).
fn crate_of(method: &str) -> &str {
    let path = method.trim_start_matches('<');
    let path = match path.split_once(" as ") {
        Some((self_type, rest)) if !self_type.contains("::") => rest,
        _ => path,
    };
    path.split("::").next().unwrap_or(path)
}

/// The notifier's own crates: never in-project, wherever their files are, and their log
/// records are never reports.
pub(crate) fn is_notifier(krate: &str) -> bool {
    NOTIFIER.contains(&krate)
}

/// A file of the notifier's own crates, from the registry or from a checkout of this
/// repository (where bare names, as line tables give them, say nothing of the crate).
fn is_notifier_file(file: &str) -> bool {
    /// The source directories of [`NOTIFIER`], as a checkout lays them out.
    const DIRS: &[&str] = &[
        "bugsnag-core/src/",
        "bugsnag-tower/src/",
        "bugsnag-actix/src/",
        "bugsnag-rocket/src/",
        "bugsnag-worker/src/",
        "bugsnag-lambda/src/",
    ];
    // Checked once a frame of every new call site: without allocating.
    registry_package(file).is_some_and(|p| is_notifier(&p))
        || (file.contains("bugsnag-")
            && DIRS.iter().any(|dir| file.match_indices(dir).any(|(at, _)| at == 0 || file[..at].ends_with('/'))))
}

impl FrameRules {
    /// The frame of a call site `#[track_caller]` gave (an origin's, when its stack is not
    /// known): its file is as rustc was given it, relative for the workspace's sources.
    pub(crate) fn call_site(&self, location: &std::panic::Location<'_>, resolver: &mut Resolver) -> Stackframe {
        let file = PathBuf::from(location.file());
        let raw = RawFrame {
            workspace_file: file.is_relative().then(|| file.clone()),
            file: Some(match &self.project_root {
                Some(root) if file.is_relative() => root.join(&file),
                _ => file,
            }),
            line: Some(location.line()),
            column: Some(location.column()),
            ..RawFrame::default()
        };
        self.frame(raw, resolver)
    }

    /// The frames sent of a resolved stack; for an `origin` (a stack captured where an
    /// error was converted), the conversions above the code that made it are skipped.
    pub(super) fn apply(&self, mut raw: Vec<RawFrame>, resolver: &mut Resolver, origin: bool) -> Vec<Arc<SentFrame>> {
        fn name(f: &RawFrame) -> &str {
            f.method.as_deref().unwrap_or_default()
        }
        if let Some(bottom) = raw.iter().position(|f| name(f).contains(BOTTOM_MARKER)) {
            raw.truncate(bottom);
        }
        let after_marker = raw.iter().position(|f| name(f).contains(TOP_MARKER)).map_or(0, |i| i + 1);
        let skipped = |f: &RawFrame| is_machinery_frame(f) || (origin && is_conversion(f));
        let first_caller = raw[after_marker..].iter().position(|f| !skipped(f)).map_or(raw.len(), |i| i + after_marker);
        // The allocation-failure handler is machinery, but it says what happened: the
        // frame of it (the highest) stays, on top.
        let oom = raw[..first_caller].iter().rposition(|f| name(f).contains("handle_alloc_error"));
        let kept = oom.map(|i| raw[i].clone());
        raw.drain(..first_caller);
        raw.splice(0..0, kept);
        let mut frames: Vec<Arc<SentFrame>> = raw
            .into_iter()
            .filter(|f| {
                let method = f.method.as_deref().unwrap_or_default();
                !self.exclude_modules.iter().any(|m| method.trim_start_matches('<').starts_with(m.as_str()))
            })
            .take(MAX_FRAMES)
            .map(|f| resolver.frame(self, f))
            .collect();
        // The executor, server and middleware below the outermost in-project frame say
        // nothing about the error (an axum handler's panic had ~50 such frames).
        if let Some(outermost) = frames.iter().rposition(|f| f.in_project) {
            while frames.len() > outermost + 1 && frames.last().is_some_and(|f| is_runtime(f)) {
                frames.pop();
            }
        }
        frames
    }

    /// The frame sent for a resolved one (see [`Resolver::frame`], which caches it).
    pub(super) fn frame(&self, raw: RawFrame, resolver: &mut Resolver) -> Stackframe {
        let method = raw.method.unwrap_or_else(|| "<unknown>".to_owned());
        // Where the frame's file is shown from, and whether that makes it the project's.
        let (shown, in_tree) = match (&self.project_root, &raw.file) {
            (Some(root), Some(file)) => {
                let dependency = {
                    let f = file.to_string_lossy();
                    f.contains("/.cargo/registry/") || f.contains("/.cargo/git/") || f.starts_with("/rustc/")
                };
                match file.strip_prefix(root) {
                    Ok(relative) => (Some(relative.to_path_buf()), !dependency),
                    Err(_) => (None, false),
                }
            }
            (None, Some(_)) => (raw.workspace_file.clone(), raw.workspace_file.is_some()),
            (_, None) => (None, false),
        };
        let krate = crate_of(&method);
        // Without a file (a release build without debug information) the crate decides.
        let main_crate = raw.file.is_none() && resolver.main_crate() == Some(krate);
        let notifier =
            is_notifier(krate) || raw.file.as_deref().is_some_and(|f| is_notifier_file(&f.to_string_lossy()));
        let in_project = !notifier && (in_tree || main_crate || self.project_packages.iter().any(|p| krate == p));
        let line_number = raw.line.unwrap_or(0);
        let code = match (&raw.file, self.send_code && in_project) {
            (Some(file), true) if line_number > 0 => resolver.snippet(file, shown.as_deref(), line_number),
            _ => None,
        };
        let file = match (shown, &raw.file) {
            (Some(relative), _) => relative.to_string_lossy().into_owned(),
            (None, Some(file)) => file.to_string_lossy().into_owned(),
            (None, None) => "<unknown>".to_owned(),
        };
        let hex = |n: u64| format!("0x{n:x}");
        let address = raw.address;
        Stackframe {
            file,
            line_number,
            column_number: raw.column,
            method,
            in_project,
            code,
            frame_address: address.as_ref().map(|a| hex(a.frame)),
            load_address: address.as_ref().and_then(|a| a.load).map(hex),
            code_identifier: address.and_then(|a| a.code_identifier),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(method: &str) -> RawFrame {
        RawFrame { method: Some(method.into()), line: Some(1), ..RawFrame::default() }
    }

    fn rules() -> FrameRules {
        FrameRules {
            id: 0,
            project_root: Some(PathBuf::from("/srv/app")),
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
            &mut Resolver::with_main_crate("my_bin"),
            false,
        );
        let methods: Vec<_> = frames.iter().map(|f| f.method.as_str()).collect();
        assert_eq!(methods, ["my_app::handler"]);
        assert!(frames[0].in_project, "project_packages marks the crate in-project");
    }

    #[test]
    fn the_notifier_is_its_own_crates_not_every_crate_named_bugsnag() {
        let mut user = raw("bugsnag_dashboard::sync::run");
        user.file = Some(PathBuf::from("/srv/app/src/sync.rs"));
        let frames = rules().apply(
            vec![raw("bugsnag_lambda::service::call"), raw("bugsnag_core::client::notify"), user],
            &mut Resolver::with_main_crate("my_bin"),
            false,
        );
        let methods: Vec<_> = frames.iter().map(|f| (f.method.as_str(), f.in_project)).collect();
        assert_eq!(methods, [("bugsnag_dashboard::sync::run", true)]);
    }

    #[test]
    fn closures_expanded_from_logging_macros_are_skipped() {
        let mut closure = raw("my_app::charge::{{closure}}");
        closure.file = Some(PathBuf::from(
            "/root/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tracing-0.1.44/src/macros.rs",
        ));
        let mut caller = raw("my_app::charge");
        caller.file = Some(PathBuf::from("/srv/app/src/charge.rs"));
        let frames = rules().apply(
            vec![raw("tracing_core::event::Event::dispatch"), closure, caller],
            &mut Resolver::with_main_crate("my_bin"),
            false,
        );
        assert_eq!(frames[0].method, "my_app::charge");
        assert_eq!(frames[0].file, "src/charge.rs");
    }

    #[test]
    fn runtime_frames_below_the_outermost_in_project_frame_are_dropped() {
        let frames = rules().apply(
            vec![
                raw("serde_json::de::from_str"),
                raw("my_app::handler::{{closure}}"),
                raw("<core::pin::Pin<P> as core::future::future::Future>::poll"),
                raw("my_app::middleware::{{closure}}"),
                raw("axum::routing::route::Route::call"),
                raw("<bugsnag_tower::future::ResponseFuture<F> as core::future::future::Future>::poll"),
                raw("hyper::proto::h1::dispatch::Dispatcher::poll"),
                raw("tokio::runtime::task::harness::poll"),
                raw("start_thread"),
            ],
            &mut Resolver::with_main_crate("my_bin"),
            false,
        );
        let methods: Vec<_> = frames.iter().map(|f| f.method.as_str()).collect();
        assert_eq!(
            methods,
            [
                "serde_json::de::from_str",
                "my_app::handler::{{closure}}",
                "<core::pin::Pin<P> as core::future::future::Future>::poll",
                "my_app::middleware::{{closure}}"
            ]
        );
    }

    #[test]
    fn without_files_the_main_crate_is_in_project() {
        let frames = rules().apply(
            vec![raw("my_bin::work"), raw("other::lib"), raw("my_bin::main")],
            &mut Resolver::with_main_crate("my_bin"),
            false,
        );
        let in_project: Vec<_> = frames.iter().map(|f| (f.method.as_str(), f.in_project)).collect();
        assert_eq!(in_project, [("my_bin::work", true), ("other::lib", false), ("my_bin::main", true)]);
        assert_eq!(frames[0].file, "<unknown>");
    }

    #[test]
    fn files_under_the_root_are_relative_and_in_project() {
        let mut frame = raw("other::f");
        frame.file = Some(PathBuf::from("/srv/app/src/main.rs"));
        let frames = rules().apply(vec![frame], &mut Resolver::with_main_crate("my_bin"), false);
        assert_eq!(frames[0].file, "src/main.rs");
        assert!(frames[0].in_project);
    }
}
