//! Where the process-wide client keeps files: events it could not send before the
//! process ended, and records of crashes without a panic. Both wait in one directory per
//! program, `$XDG_CACHE_HOME/bugsnag/<program>/` (or `~/.cache/bugsnag/<program>/`, or,
//! without a writable home, as on AWS Lambda, `$TMPDIR/bugsnag-<uid>/<program>/`), unless
//! `outbox_dir` names another. Nothing is created until something is written there.
//!
//! What is kept there is private (events carry users, request headers and metadata):
//! directories the notifier makes are `0700` and files `0600`, whatever the umask; a
//! directory of the path that exists already is used only when it is a real directory
//! (not a symbolic link) owned by this user and writable by nobody else, else the next
//! candidate is tried, with one log line. Files are created `O_CREAT|O_EXCL|O_NOFOLLOW`
//! (a planted link is never followed) and read `O_NOFOLLOW|O_NONBLOCK`, as regular files
//! only (see [`create_private`] and [`open_private`]).
//!
//! A process *claims* a file there by renaming it to `<name>.claimed-<owner>`, where the
//! owner names its pid namespace, pid and start time: a rename succeeds for one process
//! only, and a process in the same namespace sees at once that a claim's owner died (or
//! that its pid was reused); otherwise the claim must have gone five minutes without the
//! heartbeat its owner gives every file it holds.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

/// What a file's name gets when a process claims it: `<name>.claimed-<owner>`.
pub(crate) const CLAIMED: &str = ".claimed-";
/// A claim whose owner gave no heartbeat for this long is taken over.
const STALE_CLAIM: Duration = Duration::from_secs(300);

/// The program's own directory: the first of the candidates whose existing part is this
/// user's and private, and that is writable or could be created. Not created here.
pub(crate) fn program_dir() -> Option<PathBuf> {
    let program = std::env::current_exe().ok()?.file_stem()?.to_string_lossy().into_owned();
    // Empty or relative values count as unset (the XDG base directory specification).
    let absolute = |var: &str| std::env::var_os(var).map(PathBuf::from).filter(|p| p.is_absolute());
    let cache = absolute("XDG_CACHE_HOME").or_else(|| absolute("HOME").map(|home| home.join(".cache")));
    // Per user: another user's directory of the same name must not stand in the way.
    let temp = std::env::temp_dir().join(format!("bugsnag-{}", effective_uid()));
    cache.map(|base| base.join("bugsnag")).into_iter().chain([temp]).map(|base| base.join(&program)).find(|d| {
        // The program's directory and its parent (`bugsnag/` or `bugsnag-<uid>/`).
        match private_or_absent(d, 2) {
            Ok(()) => can_hold_files(d),
            Err(why) => {
                crate::diagnostics::warn_once(&format!("Bugsnag does not keep files in {}: {why}", d.display()));
                false
            }
        }
    })
}

/// Whether files can be written in `dir`, or in it once created: its nearest existing
/// ancestor (or itself) takes a file. Finding out creates no directory, and follows no
/// link planted where its probe file would be.
pub(crate) fn can_hold_files(dir: &Path) -> bool {
    let Some(existing) = dir.ancestors().find(|d| d.exists()) else { return false };
    // Writable? Permission bits do not say (root, read-only mounts): a file does.
    let probe = existing.join(format!(".bugsnag-probe-{}-{}", std::process::id(), uuid::Uuid::new_v4()));
    let writable = create_private(&probe).is_ok();
    if writable {
        let _ = fs::remove_file(probe);
    }
    writable && existing.is_dir()
}

/// Checks the directories the notifier would own: `dir` and its `levels - 1` nearest
/// ancestors. Each that exists must be a real directory of this user's that nobody else
/// can write to. The ancestors it only lives in (a home, `/tmp`) are not checked.
pub(crate) fn private_or_absent(dir: &Path, levels: usize) -> Result<(), String> {
    for owned in dir.ancestors().take(levels) {
        let Ok(meta) = fs::symlink_metadata(owned) else { continue };
        check_private(owned, &meta)?;
    }
    Ok(())
}

#[cfg(unix)]
fn check_private(path: &Path, meta: &fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if meta.file_type().is_symlink() {
        return Err(format!("{} is a symbolic link", path.display()));
    }
    if !meta.is_dir() {
        return Err(format!("{} is not a directory", path.display()));
    }
    if meta.uid() != effective_uid() {
        return Err(format!(
            "{} belongs to user {}, not to this process's user {}",
            path.display(),
            meta.uid(),
            effective_uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!("{} is writable by others (mode {:o})", path.display(), meta.mode() & 0o777));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path, _: &fs::Metadata) -> Result<(), String> {
    Ok(())
}

/// This process's effective user id.
#[cfg(unix)]
#[allow(unsafe_code)]
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid takes nothing, touches no memory of ours and cannot fail.
    unsafe { libc::geteuid() }
}

/// No user ids here; only used to name the temporary directory.
#[cfg(not(unix))]
pub(crate) fn effective_uid() -> u32 {
    0
}

/// The directories `dir` needs created, outermost first.
pub(crate) fn missing_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut missing: Vec<PathBuf> = dir.ancestors().take_while(|d| !d.exists()).map(Path::to_path_buf).collect();
    missing.reverse();
    missing
}

/// Makes `dir` and its missing ancestors, each `0700` whatever the umask.
pub(crate) fn create_private_dirs(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates a new file at `path`, `0600` whatever the umask; fails if anything exists
/// there (a link planted in its place is not followed).
pub(crate) fn create_private(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    options.open(path)
}

/// Opens a kept file to read or touch it: not through a link, without waiting on a FIFO,
/// and only if it is a regular file.
pub(crate) fn open_private(path: &Path, write: bool) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.read(!write).write(write);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
    );
    let file = options.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok(file)
}

/// Reads a kept file whole (see [`open_private`]).
pub(crate) fn read_private(path: &Path) -> io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    open_private(path, false)?.read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Said once when no directory can keep anything (a read-only root filesystem without a
/// writable home or temporary directory, as Kubernetes' `readOnlyRootFilesystem` makes).
pub(crate) const NOTHING_KEPT: &str = "no directory can keep what Bugsnag could not send or crash records (not the outbox_dir, the cache directory under HOME, nor the temporary directory): events unsent at exit and crashes without a panic will be lost; set BUGSNAG_OUTBOX_DIR to a writable directory (in Kubernetes, an emptyDir volume)";

/// What a kept file says of the API key it was kept under: enough to tell keys apart,
/// nothing to use one.
pub(crate) fn key_digest(api_key: &str) -> String {
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(format!("bugsnag kept key {api_key}").as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
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
