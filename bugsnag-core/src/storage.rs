//! Where the process-wide client keeps files: events it could not send before the
//! process ended, and records of crashes without a panic. Both wait in one directory per
//! program, `$XDG_CACHE_HOME/bugsnag/<program>/` (or `~/.cache/bugsnag/<program>/`, or,
//! without a writable home, as on AWS Lambda, `/tmp/bugsnag/<program>/`), unless
//! `outbox_dir` names another. Nothing is created until something is written there.

use std::path::{Path, PathBuf};

/// The program's own directory: the first of the candidates that exists and is
/// writable, or could be created. Not created here.
pub(crate) fn program_dir() -> Option<PathBuf> {
    let program = std::env::current_exe().ok()?.file_stem()?.to_string_lossy().into_owned();
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")));
    cache
        .into_iter()
        .chain([std::env::temp_dir()])
        .map(|base| base.join("bugsnag").join(&program))
        .find(|d| can_hold_files(d))
}

/// Whether files can be written in `dir`, or in it once created: its nearest existing
/// ancestor (or itself) takes a file. Finding out creates no directory.
pub(crate) fn can_hold_files(dir: &Path) -> bool {
    let Some(existing) = dir.ancestors().find(|d| d.exists()) else { return false };
    // Writable? Permission bits do not say (root, read-only mounts): a file does.
    let probe = existing.join(format!(".bugsnag-probe-{}", std::process::id()));
    let writable = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(probe);
    writable && existing.is_dir()
}

/// The directories `dir` needs created, outermost first.
pub(crate) fn missing_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut missing: Vec<PathBuf> = dir.ancestors().take_while(|d| !d.exists()).map(Path::to_path_buf).collect();
    missing.reverse();
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_that_could_be_made_is_not_made() {
        let base = std::env::temp_dir().join(format!("bugsnag-storage-{}", uuid::Uuid::new_v4()));
        let dir = base.join("bugsnag").join("app");
        assert!(can_hold_files(&dir));
        assert!(!base.exists(), "finding out created nothing");
        assert_eq!(missing_dirs(&dir), [base.clone(), base.join("bugsnag"), dir.clone()]);
        let file = std::env::temp_dir().join(format!("bugsnag-storage-file-{}", uuid::Uuid::new_v4()));
        std::fs::write(&file, b"").unwrap();
        assert!(!can_hold_files(&file.join("under-a-file")), "a file is no directory");
        std::fs::remove_file(file).unwrap();
    }
}
