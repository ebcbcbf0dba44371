//! The on-disk outbox: payloads that could not be sent (retries exhausted, or still
//! queued when the shutdown flush timed out) are kept here and re-sent on the next start.
//!
//! Each payload is one file, `<nanoseconds>-<uuid>.json`: a header line (`kind`, API key)
//! then the body. Files are written to a temporary name and renamed, so a reader never
//! sees half a file. A process claims a file by renaming it to `<name>.claimed-<pid>`
//! before sending it; a rename succeeds for one process only, so two processes sharing
//! the directory never send a file twice. Claims older than [`STALE_CLAIM`] (their process
//! died mid-send) are taken over. The directory is bounded in files and bytes, oldest
//! dropped first; unreadable files are set aside as `.corrupt` with a log line.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{Kind, Outgoing};

/// A claim this old belongs to a process that died while sending.
const STALE_CLAIM: Duration = Duration::from_secs(600);

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    kind: Kind,
    api_key: String,
}

/// A payload read back from the outbox, claimed by this process.
pub(crate) struct Claimed {
    pub(crate) path: PathBuf,
    pub(crate) outgoing: Outgoing,
}

#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    dir: PathBuf,
    max_files: usize,
    max_bytes: u64,
}

impl Outbox {
    pub(crate) fn new(dir: PathBuf, max_files: usize, max_bytes: u64) -> io::Result<Self> {
        fs::create_dir_all(&dir)?;
        Ok(Self { dir, max_files, max_bytes })
    }

    /// Writes a payload atomically, then drops the oldest files past the bounds.
    pub(crate) fn write(&self, outgoing: &Outgoing) -> io::Result<()> {
        let header = Header { kind: outgoing.kind, api_key: outgoing.api_key.clone() };
        let mut text = serde_json::to_vec(&header).map_err(io::Error::other)?;
        text.push(b'\n');
        text.extend_from_slice(&outgoing.body);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        let id = uuid::Uuid::new_v4();
        let temp = self.dir.join(format!(".tmp-{id}"));
        fs::write(&temp, &text)?;
        fs::rename(&temp, self.dir.join(format!("{nanos:024}-{id}.json")))?;
        self.enforce_bounds();
        Ok(())
    }

    /// Pending files, oldest first, with their sizes.
    fn pending(&self) -> Vec<(PathBuf, u64)> {
        let Ok(entries) = fs::read_dir(&self.dir) else { return Vec::new() };
        let mut files: Vec<(PathBuf, u64)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .map(|e| (e.path(), e.metadata().map(|m| m.len()).unwrap_or(0)))
            .collect();
        files.sort();
        files
    }

    fn enforce_bounds(&self) {
        let files = self.pending();
        let mut count = files.len();
        let mut bytes: u64 = files.iter().map(|(_, size)| size).sum();
        for (path, size) in files {
            if count <= self.max_files && bytes <= self.max_bytes {
                break;
            }
            if fs::remove_file(&path).is_ok() {
                tracing::warn!(target: "bugsnag_core", "Bugsnag outbox full; dropped its oldest payload {}", path.display());
            }
            count -= 1;
            bytes = bytes.saturating_sub(size);
        }
    }

    /// Claims every pending payload (and every stale claim) for this process.
    pub(crate) fn claim_all(&self) -> Vec<Claimed> {
        self.release_stale_claims();
        let mut claimed = Vec::new();
        for (path, _) in self.pending() {
            let claim = path.with_extension(format!("json.claimed-{}", std::process::id()));
            if fs::rename(&path, &claim).is_err() {
                continue; // another process claimed it first
            }
            match read(&claim) {
                Some(outgoing) => claimed.push(Claimed { path: claim, outgoing }),
                None => {
                    tracing::warn!(target: "bugsnag_core", "skipping corrupt Bugsnag outbox file {}", path.display());
                    let _ = fs::rename(&claim, path.with_extension("corrupt"));
                }
            }
        }
        claimed
    }

    fn release_stale_claims(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((original, _pid)) = name.split_once(".claimed-") else { continue };
            let age = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
            if age.is_some_and(|age| age > STALE_CLAIM) {
                let _ = fs::rename(entry.path(), self.dir.join(original));
            }
        }
    }

    /// Forgets a claimed file once its payload was sent or given up on.
    pub(crate) fn remove(path: &Path) {
        let _ = fs::remove_file(path);
    }
}

fn read(path: &Path) -> Option<Outgoing> {
    let text = fs::read(path).ok()?;
    let newline = text.iter().position(|b| *b == b'\n')?;
    let header: Header = serde_json::from_slice(&text[..newline]).ok()?;
    let body = text[newline + 1..].to_vec();
    serde_json::from_slice::<serde::de::IgnoredAny>(&body).ok()?;
    Some(Outgoing { kind: header.kind, api_key: header.api_key, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(n: usize) -> Outgoing {
        Outgoing { kind: Kind::Event, api_key: "k".into(), body: format!("{{\"n\":{n}}}").into_bytes() }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bugsnag-outbox-{name}-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn payloads_round_trip_once_and_bounds_drop_the_oldest() {
        let dir = temp_dir("bounds");
        let outbox = Outbox::new(dir.clone(), 3, 1 << 20).unwrap();
        for n in 0..5 {
            outbox.write(&outgoing(n)).unwrap();
        }
        let claimed = outbox.claim_all();
        let bodies: Vec<String> = claimed.iter().map(|c| String::from_utf8(c.outgoing.body.clone()).unwrap()).collect();
        assert_eq!(bodies, [r#"{"n":2}"#, r#"{"n":3}"#, r#"{"n":4}"#]);
        assert!(outbox.claim_all().is_empty(), "a claimed file is not claimed twice");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_files_are_set_aside() {
        let dir = temp_dir("corrupt");
        let outbox = Outbox::new(dir.clone(), 10, 1 << 20).unwrap();
        fs::write(dir.join("000-bad.json"), b"not a payload").unwrap();
        outbox.write(&outgoing(1)).unwrap();
        assert_eq!(outbox.claim_all().len(), 1);
        assert!(dir.join("000-bad.corrupt").exists());
        fs::remove_dir_all(dir).unwrap();
    }
}
