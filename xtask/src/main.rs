//! Project automation, run as `cargo xtask <command>`:
//!
//! - `ci`: formatting, lints and every test of the workspace (what `.ci/run` runs).
//! - `demo`: starts a local inbox, runs the example programs against it and shows what
//!   it received (also kept in `target/demo/`: the payloads and a snapshot of the page).
//! - `inbox`: a local Bugsnag endpoint with a web page showing what it received.
//! - `browser`: the inbox page checked in headless Chromium (part of `ci`).
//! - `crash`: a `panic = "abort"` release build crashed for real (part of `ci`).
//! - `api [--bless]`: the public API compared with the summary in `api/` (part of `ci`;
//!   `--bless` writes it after an intended change).
//! - `snippets`: every README snippet built as a package of its own with its row's
//!   dependencies alone (part of `ci`).
//! - `readmes [--bless]`: each crate's README made from its manifest (checked by `ci`;
//!   `--bless` writes them).
//! - `bench`: the criterion benchmarks; figures go in `BENCHMARKS.md`.
//! - `compare`: this notifier and sentry 0.49 side by side, each in its own process
//!   (`compare/sentry`, outside the workspace so that sentry stays out of `ci`'s build).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod api;
mod browser;
mod crash;
mod demo;
mod readmes;
mod snippets;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("demo") => target_dir().and_then(|target| demo::run(&workspace_root(), &target)),
        Some("inbox") => target_dir().and_then(|target| bugsnag_inbox::run(&args[1..], target.join("inbox/received.jsonl"))),
        Some("browser") => target_dir().and_then(|target| browser::check(&workspace_root(), &target)),
        Some("crash") => target_dir().and_then(|target| crash::check(&workspace_root(), &target)),
        Some("api") => target_dir().and_then(|target| {
            let bless = args.iter().any(|a| a == "--bless");
            cargo_with_env(&["doc", "--workspace", "--no-deps", "--all-features"], &[("RUSTDOCFLAGS", "-D warnings")])?;
            api::check(&workspace_root(), &target, bless)
        }),
        Some("snippets") => target_dir().and_then(|target| snippets::check(&workspace_root(), &target)),
        Some("readmes") => readmes::check(&workspace_root(), args.iter().any(|a| a == "--bless")),
        Some("bench") => cargo(&["bench", "--workspace", "--all-features"]),
        Some("compare") => target_dir().and_then(|target| {
            let target = target.join("compare");
            let target = target.to_str().ok_or("the target directory's path is not UTF-8")?;
            let manifest = workspace_root().join("compare/sentry/Cargo.toml");
            let manifest = manifest.to_str().ok_or("the workspace's path is not UTF-8")?;
            cargo_with_env(&["run", "--release", "--manifest-path", manifest], &[("CARGO_TARGET_DIR", target)])
        }),
        _ => Err("usage: cargo xtask ci | demo | inbox [--addr HOST:PORT] [--store FILE] [--clear] | browser | crash | snippets | readmes [--bless] | api [--bless] | bench | compare"
            .to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--", "--check"])?;
    cargo(&["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"])?;
    // Feature-gated code must also be clean when its feature is off, and each crate must
    // build with its own default features alone, as a project depending on it builds it.
    cargo(&["clippy", "--package", "bugsnag-core", "--no-default-features", "--", "-D", "warnings"])?;
    for adapter in ["bugsnag", "bugsnag-tower", "bugsnag-actix", "bugsnag-rocket", "bugsnag-worker", "bugsnag-lambda"] {
        cargo(&["clippy", "--package", adapter, "--", "-D", "warnings"])?;
    }
    cargo(&["test", "--workspace", "--all-features", "--no-fail-fast"])?;
    // Broken intra-doc links and undocumented items fail like any lint.
    cargo_with_env(&["doc", "--workspace", "--no-deps", "--all-features"], &[("RUSTDOCFLAGS", "-D warnings")])?;
    let target = target_dir()?;
    readmes::check(&workspace_root(), false)?;
    api::check(&workspace_root(), &target, false)?;
    snippets::check(&workspace_root(), &target)?;
    crash::check(&workspace_root(), &target)?;
    browser::check(&workspace_root(), &target)
}

/// Runs cargo in the workspace root, failing on a non-zero exit.
pub(crate) fn cargo(args: &[&str]) -> Result<(), String> {
    cargo_with_env(args, &[])
}

/// [`cargo`] with environment variables set.
fn cargo_with_env(args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .envs(env.iter().copied())
        .args(args)
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    status.success().then_some(()).ok_or_else(|| format!("cargo {} failed ({status})", args.join(" ")))
}

/// The workspace's target directory as cargo sees it (`CARGO_TARGET_DIR`,
/// `build.target-dir` or `target/`).
fn target_dir() -> Result<PathBuf, String> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(workspace_root())
        .output()
        .map_err(|e| format!("could not run cargo metadata: {e}"))?;
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("cargo metadata printed no JSON: {e}"))?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata gave no target directory".into())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}
