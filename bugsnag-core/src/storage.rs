//! Where the process-wide client keeps files: events it could not send before the
//! process ended, and records of crashes without a panic. Both wait in one directory per
//! program, `$XDG_CACHE_HOME/bugsnag/<program>/` (or `~/.cache/bugsnag/<program>/`, or,
//! without a writable home, as on AWS Lambda, `/tmp/bugsnag/<program>/`), unless
//! `outbox_dir` names another. Nothing is created until something is written there.
//!
//! A process *claims* a file there by renaming it to `<name>.claimed-<owner>`, where the
//! owner names its pid namespace, pid and start time: a rename succeeds for one process
//! only, and a process in the same namespace sees at once that a claim's owner died (or
//! that its pid was reused); otherwise the claim must have gone five minutes without the
//! heartbeat its owner gives every file it holds.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// What a file's name gets when a process claims it: `<name>.claimed-<owner>`.
pub(crate) const CLAIMED: &str = ".claimed-";
/// A claim whose owner gave no heartbeat for this long is taken over.
const STALE_CLAIM: Duration = Duration::from_secs(300);

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

/// This process as a claim owner: `<pid namespace>.<pid>.<start time>`.
pub(crate) fn owner() -> &'static str {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER.get_or_init(|| {
        let pid = std::process::id();
        format!("{}.{pid}.{}", pid_namespace().unwrap_or(0), start_time(pid).unwrap_or(0))
    })
}

/// Whether the owner of a claim is gone: dead (seen from the same pid namespace), or
/// silent for longer than [`STALE_CLAIM`].
fn owner_gone(claim_owner: &str, path: &Path) -> bool {
    let mut parts = claim_owner.split('.').map(|p| p.parse::<u64>().ok());
    if let (Some(Some(ns)), Some(Some(pid)), Some(Some(start))) = (parts.next(), parts.next(), parts.next()) {
        if ns != 0 && Some(ns) == pid_namespace() {
            let pid = u32::try_from(pid).unwrap_or(0);
            if start_time(pid) != Some(start) {
                return true;
            }
        }
    }
    let age = fs::metadata(path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    age.is_some_and(|age| age > STALE_CLAIM)
}

pub(crate) fn pid_namespace() -> Option<u64> {
    let link = fs::read_link("/proc/self/ns/pid").ok()?;
    let text = link.to_str()?;
    text.trim_start_matches("pid:[").trim_end_matches(']').parse().ok()
}

/// A process's start time in clock ticks since boot (`/proc/<pid>/stat`, field 22).
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; fields resume after the last ')'.
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// `<name>` of a claimed or unclaimed file name.
pub(crate) fn unclaimed_name(name: &str) -> &str {
    name.split_once(CLAIMED).map_or(name, |(original, _)| original)
}

/// Claims the file at `path` for this process when it is unclaimed or its claim's owner
/// is gone; its claimed path, or `None` (already this process's, another's live claim,
/// or another process claimed it first).
pub(crate) fn claim(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let mine = format!("{CLAIMED}{}", owner());
    if let Some((_, claim_owner)) = name.split_once(CLAIMED) {
        if name.ends_with(&mine) || !owner_gone(claim_owner, path) {
            return None;
        }
    }
    let claimed = path.with_file_name(format!("{}{mine}", unclaimed_name(name)));
    fs::rename(path, &claimed).ok()?;
    Some(claimed)
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
