//! For the build scripts of the Bugsnag adapters: the exact version of a framework the
//! adapter is being built against, for `device.runtimeVersions` (the Python notifier
//! sends `django 4.2.7`, not `django 4`).
//!
//! A build script cannot ask cargo which version a dependency resolved to, so this reads
//! the `Cargo.lock` of the build: the first one found above the build's output directory
//! (the default `target/` of a workspace) or above the package being built (a path
//! dependency inside the workspace). When none is found (a target directory outside
//! the workspace), or it lists no version that meets the adapter's requirement, the
//! requirement itself is used (`0.8` for axum), which is what the adapter knows for sure.
#![warn(missing_docs)]

use std::path::{Path, PathBuf};

/// Sets the compile-time environment variable `env` (read with `env!`) to the version of
/// `package` in the build's `Cargo.lock` that starts with `requirement` (such as `"0.8"`
/// or `"4"`), else to `requirement`, and has cargo rebuild when the lock file changes.
pub fn emit_version(env: &str, package: &str, requirement: &str) {
    let lock = lock_file();
    if let Some(lock) = &lock {
        println!("cargo:rerun-if-changed={}", lock.display());
    }
    let text = lock.and_then(|path| std::fs::read_to_string(path).ok()).unwrap_or_default();
    let version = locked_version(&text, package, requirement).unwrap_or_else(|| requirement.to_owned());
    println!("cargo:rustc-env={env}={version}");
}

fn lock_file() -> Option<PathBuf> {
    let starts = ["OUT_DIR", "CARGO_MANIFEST_DIR"].map(|var| std::env::var_os(var).map(PathBuf::from));
    starts
        .into_iter()
        .flatten()
        .find_map(|start| start.ancestors().map(|dir| dir.join("Cargo.lock")).find(|lock| Path::is_file(lock)))
}

/// The highest version of `package` in a `Cargo.lock` text that meets `requirement`
/// (the same leading components).
fn locked_version(lock: &str, package: &str, requirement: &str) -> Option<String> {
    let mut found: Vec<Vec<u64>> = Vec::new();
    let mut name = None;
    for line in lock.lines().map(str::trim) {
        if line == "[[package]]" {
            name = None;
        } else if let Some(value) = quoted(line, "name") {
            name = Some(value);
        } else if let (Some(version), Some(current)) = (quoted(line, "version"), name) {
            if current == package && meets(version, requirement) {
                found.extend(numbers(version));
            }
        }
    }
    let best = found.into_iter().max()?;
    Some(best.iter().map(u64::to_string).collect::<Vec<_>>().join("."))
}

fn quoted<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let value = line.strip_prefix(key)?.trim_start().strip_prefix('=')?.trim();
    value.strip_prefix('"')?.strip_suffix('"')
}

fn numbers(version: &str) -> Option<Vec<u64>> {
    // Pre-release and build metadata are not compared; `1.0.0-rc.1` counts as `1.0.0`.
    let core = version.split(['-', '+']).next()?;
    core.split('.').map(|n| n.parse().ok()).collect()
}

fn meets(version: &str, requirement: &str) -> bool {
    let (Some(version), Some(required)) = (numbers(version), numbers(requirement)) else { return false };
    version.len() >= required.len() && version.iter().zip(&required).all(|(v, r)| v == r)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"
[[package]]
name = "axum"
version = "0.7.9"

[[package]]
name = "axum"
version = "0.8.4"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "axum-core"
version = "0.8.9"

[[package]]
name = "actix-web"
version = "4.11.0"
"#;

    #[test]
    fn picks_the_version_that_meets_the_requirement() {
        assert_eq!(locked_version(LOCK, "axum", "0.8").as_deref(), Some("0.8.4"));
        assert_eq!(locked_version(LOCK, "axum", "0.7").as_deref(), Some("0.7.9"));
        assert_eq!(locked_version(LOCK, "actix-web", "4").as_deref(), Some("4.11.0"));
        assert_eq!(locked_version(LOCK, "axum", "0.9"), None);
        assert_eq!(locked_version(LOCK, "rocket", "0.5"), None);
    }
}
