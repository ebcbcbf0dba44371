//! What the notifier keeps on disk is private, tried as a careful operator would on a
//! shared host: a real program (this binary, run again as a child) keeps an event it
//! could not send, under `umask 022` and `umask 000`, with a cache directory, and without
//! a writable home (the temporary directory's fallback). Directories it makes are `0700`,
//! files `0600`; a directory another user made in its way is not used (run as a second
//! real user with `setpriv`, when the tests run as root); a link planted where a kept
//! file would be is never followed; and a file kept under another API key is never sent.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use bugsnag_core::testing::{closed_endpoint, events_in_outbox, Collector, API_KEY};
use bugsnag_core::Configuration;

const CHILD: &str = "BUGSNAG_PRIVATE_CHILD";
const OTHER_KEY: &str = "fedcba9876543210fedcba9876543210";
/// The user the other user's steps run as.
const NOBODY: u32 = 65534;

/// The parts children play; a no-op in the test suite itself.
#[test]
fn child() {
    let Ok(part) = std::env::var(CHILD) else { return };
    let guard = bugsnag_core::configure(Configuration::from_env().auto_capture_sessions(false));
    match part.as_str() {
        "keep" => {
            bugsnag_core::notify_message("kept for later");
        }
        "send" => assert!(guard.client().flush(Duration::from_secs(20))),
        other => panic!("unknown part {other}"),
    }
}

/// A fresh directory of the test's.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bugsnag-private-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `part` under `umask`, with `env`; its output (asserted successful).
fn run(part: &str, umask: &str, endpoint: &str, key: &str, env: &[(&str, &Path)]) -> Output {
    let exe = std::env::current_exe().unwrap();
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" --exact child --nocapture --test-threads=1"))
        .arg(&exe)
        .env(CHILD, part)
        .env("BUGSNAG_API_KEY", key)
        .env("BUGSNAG_ENDPOINT", endpoint)
        .env("BUGSNAG_SESSION_ENDPOINT", endpoint)
        .env("BUGSNAG_SHUTDOWN_TIMEOUT", "0")
        .env_remove("BUGSNAG_OUTBOX_DIR")
        // Empty counts as unset (the XDG specification): the home's cache is used.
        .env("XDG_CACHE_HOME", "")
        .env_remove("HOME");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{part}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The program's directory name under a base directory.
fn program() -> String {
    std::env::current_exe().unwrap().file_stem().unwrap().to_string_lossy().into_owned()
}

/// Every directory and file under `root` (itself included): path, mode, owner.
fn tree(root: &Path) -> Vec<(PathBuf, u32, u32, bool)> {
    let mut out = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            todo.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        }
        out.push((path, meta.permissions().mode() & 0o777, meta.uid(), meta.is_dir()));
    }
    out
}

fn my_uid() -> u32 {
    std::fs::metadata("/proc/self").unwrap().uid()
}

#[test]
fn kept_files_are_private_whatever_the_umask() {
    for umask in ["022", "000"] {
        let home = scratch(&format!("home-{umask}"));
        run("keep", umask, &closed_endpoint(), API_KEY, &[("HOME", &home)]);
        let ours = home.join(".cache");
        let dir = ours.join("bugsnag").join(program());
        assert!(events_in_outbox(&dir) >= 1, "umask {umask}: the event was kept in {}", dir.display());
        for (path, mode, owner, is_dir) in tree(&ours) {
            let expected = if is_dir { 0o700 } else { 0o600 };
            assert_eq!(mode, expected, "umask {umask}: {} is {mode:o}", path.display());
            assert_eq!(owner, my_uid(), "{}", path.display());
        }
        // The key is kept nowhere on disk: a digest tells keys apart.
        for (path, _, _, is_dir) in tree(&dir) {
            if !is_dir {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                assert!(!text.contains(API_KEY), "{} holds the API key", path.display());
            }
        }
        let _ = std::fs::remove_dir_all(home);
    }
}

#[test]
fn a_file_kept_under_another_key_is_never_sent() {
    let home = scratch("keys");
    run("keep", "022", &closed_endpoint(), OTHER_KEY, &[("HOME", &home)]);
    let dir = home.join(".cache/bugsnag").join(program());
    assert_eq!(events_in_outbox(&dir), 1);
    // Another project's program of the same name: nothing of the other's is sent.
    let collector = Collector::start();
    run("send", "022", &format!("{}/notify", collector.url()), API_KEY, &[("HOME", &home)]);
    assert!(collector.events().is_empty(), "{:#?}", collector.events());
    assert_eq!(events_in_outbox(&dir), 1, "left for a run with its key");
    // The program it belongs to sends it.
    run("send", "022", &format!("{}/notify", collector.url()), OTHER_KEY, &[("HOME", &home)]);
    let events = collector.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["exceptions"][0]["message"], "kept for later");
    assert_eq!(collector.requests()[0].body["apiKey"], OTHER_KEY, "the key is put back when it is sent");
    let _ = std::fs::remove_dir_all(home);
}

#[test]
fn a_link_planted_as_a_kept_file_is_never_followed() {
    let home = scratch("links");
    let dir = home.join(".cache/bugsnag").join(program());
    std::fs::create_dir_all(&dir).unwrap();
    for d in [home.join(".cache"), home.join(".cache/bugsnag"), dir.clone()] {
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let secret = home.join("secret.txt");
    std::fs::write(&secret, "{\"kind\":\"event\",\"key\":\"x\"}\n{\"events\":[]}").unwrap();
    let planted = dir.join("000000000000000000000001-00000000-0000-0000-0000-000000000000-1.json");
    std::os::unix::fs::symlink(&secret, &planted).unwrap();
    let before = std::fs::read(&secret).unwrap();
    let collector = Collector::start();
    run("send", "022", &format!("{}/notify", collector.url()), API_KEY, &[("HOME", &home)]);
    assert!(collector.events().is_empty());
    assert_eq!(std::fs::read(&secret).unwrap(), before, "the link's target is untouched");
    assert!(std::fs::symlink_metadata(&planted).unwrap().file_type().is_symlink(), "the link is left as it was");
    let _ = std::fs::remove_dir_all(home);
}

/// Runs `script` (sh) as the other user.
fn as_nobody(script: &str) {
    let status = Command::new("setpriv")
        .args(["--reuid", &NOBODY.to_string(), "--regid", &NOBODY.to_string(), "--clear-groups", "sh", "-c", script])
        .status()
        .expect("setpriv (util-linux)");
    assert!(status.success(), "as nobody: {script}");
}

#[test]
fn a_directory_another_user_made_in_the_way_is_never_used() {
    if my_uid() != 0 {
        eprintln!("SKIPPED: running as a second user needs root (setpriv); the tests run as {}", my_uid());
        return;
    }
    // No writable home: the temporary directory's per-user fallback.
    let tmp = scratch("tmp");
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let ours = tmp.join(format!("bugsnag-{}", my_uid()));
    let theirs = ours.join(program());
    // The other user makes our directory first, open to all, and the old shared name.
    as_nobody(&format!(
        "mkdir -p '{}' && chmod 777 '{}' '{}' && mkdir -m 755 '{}'",
        theirs.display(),
        theirs.display(),
        ours.display(),
        tmp.join("bugsnag").display()
    ));
    // A home nothing can be written under, even by root: a file.
    let unusable = tmp.join("home-is-a-file");
    std::fs::write(&unusable, "").unwrap();
    let output = run("keep", "022", &closed_endpoint(), API_KEY, &[("HOME", &unusable), ("TMPDIR", &tmp)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Bugsnag does not keep files in") && stderr.contains(&format!("belongs to user {NOBODY}")),
        "told once: {stderr}"
    );
    assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0, "nothing of ours in their directory");
    assert_eq!(std::fs::read_dir(tmp.join("bugsnag")).unwrap().count(), 0);

    // Without the squatter, the fallback is ours and private.
    std::fs::remove_dir_all(&ours).unwrap();
    run("keep", "022", &closed_endpoint(), API_KEY, &[("HOME", &unusable), ("TMPDIR", &tmp)]);
    assert!(events_in_outbox(&theirs) >= 1, "kept in {}", theirs.display());
    for (path, mode, owner, is_dir) in tree(&ours) {
        assert_eq!((mode, owner), (if is_dir { 0o700 } else { 0o600 }, 0), "{}", path.display());
    }
    let _ = std::fs::remove_dir_all(tmp);
}

/// A read-only root filesystem with no writable home or temporary directory (Kubernetes'
/// `readOnlyRootFilesystem`): nothing can be kept, and that is said once, at start.
#[test]
fn with_nowhere_to_keep_anything_it_is_said_once() {
    let dir = scratch("nowhere");
    let (home, tmp) = (dir.join("home-is-a-file"), dir.join("tmp-is-a-file"));
    std::fs::write(&home, "").unwrap();
    std::fs::write(&tmp, "").unwrap();
    let output = run("keep", "022", &closed_endpoint(), API_KEY, &[("HOME", &home), ("TMPDIR", &tmp)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("no directory can keep what Bugsnag could not send").count(), 1, "{stderr}");
    assert!(stderr.contains("BUGSNAG_OUTBOX_DIR"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
