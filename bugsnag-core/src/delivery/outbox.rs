//! The on-disk outbox: payloads that could not be sent yet are kept here and sent on the
//! next start.
//!
//! Each payload is one file, `<nanoseconds>-<uuid>.json`: a header line (`kind`, and a
//! digest of the API key: the key itself is kept nowhere on disk, and an event payload's
//! `apiKey` is left empty) then the body; or, for an event kept before its stack was
//! resolved, a header saying so (`unresolved`) then the [`Unresolved`] event. Only files
//! kept under the running configuration's key are sent (programs of one name built from
//! different projects share a directory); others are left for a run that has their key.
//! Files are private (`storage`: `0600`, created `O_EXCL|O_NOFOLLOW`, read as regular
//! files only). Files are written to a temporary name
//! and renamed, so a reader never sees half a file. A process *claims* a file as
//! `storage` says, so two processes sharing the directory never send a file twice, and
//! a dead process's claims are taken over. A payload waiting for a retry is held the same
//! way: written straight to a claimed name, so it is on disk while it waits. A file's age
//! plays no part, so an old payload is claimed like a new one.
//!
//! The directory is bounded in events and bytes, oldest dropped first (each file's name
//! says how many events it holds, `<nanoseconds>-<uuid>-<events>.json`, so counting
//! reads no file) and counted in `Stats::dropped_outbox_full`; only regular files are
//! read, and unreadable ones are set aside as `.corrupt` with a log line.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::unresolved::Unresolved;
use super::Counters;
use crate::model::{Kind, Outgoing};
use crate::storage::{self, key_digest, owner, unclaimed_name, CLAIMED};

/// How often an owner refreshes the files it holds.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(30);

/// Leftovers of a write cut short (`.tmp-*`) or of a probe, older than this, are removed.
const STALE_TEMP: Duration = Duration::from_secs(3600);
/// Files set aside as corrupt that are kept, newest first; older ones are removed.
const KEPT_CORRUPT: usize = 16;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    kind: Kind,
    /// [`key_digest`] of the API key the payload is for.
    #[serde(default)]
    key: String,
    /// The API key itself, in files of earlier versions.
    #[serde(default, skip_serializing)]
    api_key: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    unresolved: bool,
}

impl Header {
    fn new(kind: Kind, api_key: &str, unresolved: bool) -> Self {
        Self { kind, key: key_digest(api_key), api_key: None, unresolved }
    }

    /// Whether the payload was kept under `api_key`.
    fn is_for(&self, api_key: &str) -> bool {
        match &self.api_key {
            Some(kept) => kept == api_key,
            None => self.key == key_digest(api_key),
        }
    }
}

/// A payload file this process holds (claimed, or written while it waits for a retry).
#[derive(Debug)]
pub(crate) struct Held(PathBuf);

impl Held {
    /// A file beside the payloads that this process claimed (a crash record): removed
    /// once its event is sent, given back (its claim undone) if the event is kept.
    pub(crate) fn claimed(path: PathBuf) -> Self {
        Self(path)
    }
}

/// A file read back from the outbox, claimed by this process.
pub(crate) struct Claimed {
    pub(crate) held: Held,
    pub(crate) content: Content,
}

/// What an outbox file holds.
pub(crate) enum Content {
    /// A payload ready to send.
    Payload(Outgoing),
    /// One event whose stacks are still to be resolved, and its API key.
    Unresolved(String, Unresolved),
}

pub(crate) struct Outbox {
    dir: PathBuf,
    max_events: u64,
    max_bytes: u64,
    held: Mutex<HashSet<PathBuf>>,
    counters: Arc<Counters>,
    /// The running configuration's API key: kept files are sent under it.
    api_key: String,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Outbox {
    /// An outbox in `dir`, made when the first file is written, sending what earlier runs
    /// kept under `api_key`.
    pub(crate) fn new(
        dir: PathBuf,
        max_events: u64,
        max_bytes: u64,
        counters: Arc<Counters>,
        api_key: String,
    ) -> io::Result<Self> {
        storage::private_or_absent(&dir, 1).map_err(io::Error::other)?;
        if !storage::can_hold_files(&dir) {
            return Err(io::Error::other("no file can be written there"));
        }
        Ok(Self { dir, max_events, max_bytes, held: Mutex::default(), counters, api_key })
    }

    /// Writes a payload for any process to send, then drops the oldest files past the bounds.
    pub(crate) fn write(&self, outgoing: &Outgoing) -> io::Result<()> {
        self.write_as(outgoing, "")?;
        self.enforce_bounds();
        Ok(())
    }

    /// Writes an event whose stacks are still to be resolved, for any process to send.
    pub(crate) fn write_unresolved(&self, api_key: &str, event: &Unresolved) -> io::Result<()> {
        let header = Header::new(Kind::Event, api_key, true);
        let body = serde_json::to_vec(event).map_err(io::Error::other)?;
        self.write_file(&header, &body, 1, "")?;
        self.enforce_bounds();
        Ok(())
    }

    /// Writes a payload already claimed by this process: it is on disk while this process
    /// retries it, and sent by the next start if this process dies.
    pub(crate) fn hold(&self, outgoing: &Outgoing) -> io::Result<Held> {
        let path = self.write_as(outgoing, &format!("{CLAIMED}{}", owner()))?;
        self.held_set().insert(path.clone());
        self.enforce_bounds();
        Ok(Held(path))
    }

    fn write_as(&self, outgoing: &Outgoing, suffix: &str) -> io::Result<PathBuf> {
        let header = Header::new(outgoing.kind, &outgoing.api_key, false);
        self.write_file(&header, &keyless(outgoing), outgoing.count, suffix)
    }

    fn write_file(&self, header: &Header, body: &[u8], events: u64, suffix: &str) -> io::Result<PathBuf> {
        let temp = self.write_temp(header, body)?;
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        let id = uuid::Uuid::new_v4();
        let path = self.dir.join(format!("{nanos:024}-{id}-{events}.json{suffix}"));
        fs::rename(&temp, &path)?;
        Ok(path)
    }

    /// The header line and the body in a temporary file (the directory made if need be),
    /// to be renamed into place.
    fn write_temp(&self, header: &Header, body: &[u8]) -> io::Result<PathBuf> {
        let mut text = serde_json::to_vec(header).map_err(io::Error::other)?;
        text.push(b'\n');
        text.extend_from_slice(body);
        let temp = self.dir.join(format!(".tmp-{}", uuid::Uuid::new_v4()));
        let write = || -> io::Result<()> {
            use std::io::Write;
            storage::create_private(&temp)?.write_all(&text)
        };
        if let Err(e) = write() {
            if e.kind() != io::ErrorKind::NotFound {
                let _ = fs::remove_file(&temp);
                return Err(e);
            }
            storage::create_private_dirs(&self.dir)?;
            write()?;
        }
        Ok(temp)
    }

    /// Replaces what a held file holds with `outgoing` (fewer events of it), at once: a
    /// reader sees the old payload or the new one, never both nor half.
    pub(crate) fn rewrite(&self, held: &mut Held, outgoing: &Outgoing) -> io::Result<()> {
        let header = Header::new(outgoing.kind, &outgoing.api_key, false);
        let temp = self.write_temp(&header, &keyless(outgoing))?;
        fs::rename(&temp, &held.0)?;
        // Then the name says how many events it holds now.
        let name = held.0.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let original = unclaimed_name(&name);
        let claim = &name[original.len()..];
        let Some((stem, _)) = original.trim_end_matches(".json").rsplit_once('-') else { return Ok(()) };
        let renamed = held.0.with_file_name(format!("{stem}-{}.json{claim}", outgoing.count));
        fs::rename(&held.0, &renamed)?;
        let mut set = self.held_set();
        set.remove(&held.0);
        set.insert(renamed.clone());
        held.0 = renamed;
        Ok(())
    }

    /// Gives a held payload back to the outbox, for the next start to send.
    pub(crate) fn release(&self, held: Held) -> io::Result<()> {
        self.held_set().remove(&held.0);
        fs::rename(&held.0, unclaimed(&held.0))
    }

    /// Forgets a held payload once it was sent or refused for good.
    pub(crate) fn remove(&self, held: Held) {
        self.held_set().remove(&held.0);
        let _ = fs::remove_file(&held.0);
    }

    /// Refreshes the modified time of every file this process holds, so that no other
    /// process takes them over while this one is alive.
    pub(crate) fn heartbeat(&self) {
        let held: Vec<PathBuf> = self.held_set().iter().cloned().collect();
        for path in held {
            let _ = storage::open_private(&path, true).and_then(|f| f.set_modified(SystemTime::now()));
        }
    }

    fn held_set(&self) -> std::sync::MutexGuard<'_, HashSet<PathBuf>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Files (regular files only), oldest first, with their sizes and whether unclaimed.
    fn files(&self) -> Vec<(PathBuf, u64)> {
        let Ok(entries) = fs::read_dir(&self.dir) else { return Vec::new() };
        let mut files: Vec<(PathBuf, u64)> = entries
            .filter_map(Result::ok)
            // A FIFO or device named *.json would block a read forever.
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".json") || n.contains(".json.claimed-")))
            .map(|e| (e.path(), e.metadata().map(|m| m.len()).unwrap_or(0)))
            .collect();
        files.sort();
        files
    }

    /// Drops the oldest files until the outbox is within its bounds, counting their events.
    fn enforce_bounds(&self) {
        let files = self.files();
        let mut events: u64 = files.iter().map(|(path, _)| events_in(path)).sum();
        let mut bytes: u64 = files.iter().map(|(_, size)| size).sum();
        for (path, size) in files {
            if events <= self.max_events && bytes <= self.max_bytes {
                break;
            }
            let dropped = events_in(&path);
            if fs::remove_file(&path).is_ok() {
                self.held_set().remove(&path);
                super::add(&self.counters.dropped_outbox_full, dropped);
                tracing::warn!(target: "bugsnag_core", "Bugsnag outbox full; dropped its oldest payload ({dropped} events) {}", path.display());
            }
            events = events.saturating_sub(dropped);
            bytes = bytes.saturating_sub(size);
        }
    }

    /// Claims every pending payload kept under this configuration's key, and every such
    /// claim whose owner is gone, for this process; removes stale leftovers first.
    pub(crate) fn claim_all(&self) -> Vec<Claimed> {
        self.clean_leftovers();
        let mut claimed = Vec::new();
        for (path, _) in self.files() {
            let Some(claim) = storage::claim(&path) else { continue };
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            // The claim is as fresh as the claiming: its age is ours, not the payload's.
            let _ = storage::open_private(&claim, true).and_then(|f| f.set_modified(SystemTime::now()));
            match read(&claim, &self.api_key) {
                Some(Read::For(content)) => {
                    self.held_set().insert(claim.clone());
                    claimed.push(Claimed { held: Held(claim), content });
                }
                Some(Read::OtherKey) => {
                    // Another project's (or key's): left for a run that has its key.
                    let _ = fs::rename(&claim, unclaimed(&claim));
                }
                None => {
                    tracing::warn!(target: "bugsnag_core", "skipping corrupt Bugsnag outbox file {}", path.display());
                    let _ = fs::rename(&claim, claim.with_file_name(format!("{}.corrupt", unclaimed_name(name))));
                }
            }
        }
        claimed
    }
}

impl Outbox {
    /// Removes what writes cut short left (`.tmp-*`, probes) once older than
    /// [`STALE_TEMP`], and all but the newest [`KEPT_CORRUPT`] files set aside as corrupt.
    fn clean_leftovers(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        let mut corrupt = Vec::new();
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = entry.path().symlink_metadata() else { continue };
            let age = meta.modified().ok().and_then(|t| t.elapsed().ok()).unwrap_or_default();
            if (name.starts_with(".tmp-") || name.starts_with(".bugsnag-probe-")) && age > STALE_TEMP {
                let _ = fs::remove_file(entry.path());
            } else if name.ends_with(".corrupt") {
                corrupt.push((age, entry.path()));
            }
        }
        corrupt.sort();
        for (_, path) in corrupt.into_iter().skip(KEPT_CORRUPT) {
            let _ = fs::remove_file(path);
        }
    }
}

/// An event payload's body with an empty `apiKey`: the key is not kept on disk (the
/// header has its digest), and is put back when the payload is sent again.
fn keyless(outgoing: &Outgoing) -> bytes::Bytes {
    with_key(outgoing, "")
}

/// `outgoing`'s body with `api_key` as its `apiKey` (event payloads; session payloads
/// carry none).
fn with_key(outgoing: &Outgoing, api_key: &str) -> bytes::Bytes {
    if outgoing.kind != Kind::Event {
        return outgoing.body.clone();
    }
    let events = super::batch::events(&outgoing.body);
    let events: Vec<&[u8]> = events.iter().map(Vec::as_slice).collect();
    match super::batch::payload(api_key, &events) {
        Some(rebuilt) if !events.is_empty() => rebuilt.body,
        _ => outgoing.body.clone(),
    }
}

/// Events a payload file holds, from its name (files of older versions: 1).
fn events_in(path: &Path) -> u64 {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let stem = unclaimed_name(name).trim_end_matches(".json");
    stem.rsplit_once('-').and_then(|(_, n)| n.parse().ok()).filter(|n| *n <= 10_000).unwrap_or(1)
}

fn unclaimed(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    path.with_file_name(unclaimed_name(name))
}

/// What reading a kept file found.
enum Read {
    /// A payload for this configuration's key.
    For(Content),
    /// One kept under another key.
    OtherKey,
}

fn read(path: &Path, api_key: &str) -> Option<Read> {
    let text = storage::read_private(path).ok()?;
    let newline = text.iter().position(|b| *b == b'\n')?;
    let header: Header = serde_json::from_slice(&text[..newline]).ok()?;
    if !header.is_for(api_key) {
        return Some(Read::OtherKey);
    }
    let body = text[newline + 1..].to_vec();
    if header.unresolved {
        let event = serde_json::from_slice(&body).ok()?;
        return Some(Read::For(Content::Unresolved(api_key.to_owned(), event)));
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(&body).ok()?;
    let count = match header.kind {
        Kind::Event => super::batch::count(&body),
        Kind::Sessions => 1,
    };
    let kept = Outgoing { kind: header.kind, api_key: api_key.to_owned(), body: body.into(), count };
    let body = with_key(&kept, api_key);
    Some(Read::For(Content::Payload(Outgoing { body, ..kept })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::pid_namespace;

    fn outgoing(n: usize) -> Outgoing {
        Outgoing {
            kind: Kind::Event,
            api_key: "k".into(),
            body: format!("{{\"n\":{n}}}").into_bytes().into(),
            count: 1,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("bugsnag-outbox-{name}-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn bodies(claimed: &[Claimed]) -> Vec<String> {
        let body = |c: &Claimed| match &c.content {
            Content::Payload(outgoing) => String::from_utf8(outgoing.body.to_vec()).unwrap(),
            Content::Unresolved(..) => "unresolved".to_owned(),
        };
        claimed.iter().map(body).collect()
    }

    #[test]
    fn payloads_round_trip_once_and_bounds_drop_the_oldest() {
        let dir = temp_dir("bounds");
        let outbox = Outbox::new(dir.clone(), 3, 1 << 20, Arc::default(), "k".into()).unwrap();
        for n in 0..5 {
            outbox.write(&outgoing(n)).unwrap();
        }
        let claimed = outbox.claim_all();
        assert_eq!(bodies(&claimed), [r#"{"n":2}"#, r#"{"n":3}"#, r#"{"n":4}"#]);
        assert!(outbox.claim_all().is_empty(), "a claimed file is not claimed twice");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn corrupt_files_and_fifos_are_set_aside_without_blocking() {
        let dir = temp_dir("corrupt");
        let outbox = Outbox::new(dir.clone(), 10, 1 << 20, Arc::default(), "k".into()).unwrap();
        fs::write(dir.join("000-bad.json"), b"not a payload").unwrap();
        let fifo = std::process::Command::new("mkfifo").arg(dir.join("001-fifo.json")).status();
        outbox.write(&outgoing(1)).unwrap();
        assert_eq!(outbox.claim_all().len(), 1);
        assert!(dir.join("000-bad.json.corrupt").exists());
        if fifo.is_ok_and(|s| s.success()) {
            assert!(dir.join("001-fifo.json").exists(), "a FIFO is left alone");
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_old_payload_is_claimed_by_one_outbox_only() {
        let dir = temp_dir("old");
        let first = Outbox::new(dir.clone(), 100, 1 << 20, Arc::default(), "k".into()).unwrap();
        for n in 0..20 {
            first.write(&outgoing(n)).unwrap();
        }
        // Written an hour ago: only a claim's owner, never a payload's age, makes it stale.
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        for (path, _) in first.files() {
            fs::File::options().write(true).open(&path).unwrap().set_modified(hour_ago).unwrap();
        }
        let claimed = first.claim_all();
        assert_eq!(claimed.len(), 20);
        let second = Outbox::new(dir.clone(), 100, 1 << 20, Arc::default(), "k".into()).unwrap();
        assert!(second.claim_all().is_empty(), "live claims are not taken over");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn claims_of_a_dead_owner_are_taken_over_and_released_files_come_back() {
        let dir = temp_dir("dead");
        let outbox = Outbox::new(dir.clone(), 100, 1 << 20, Arc::default(), "k".into()).unwrap();
        let held = outbox.hold(&outgoing(7)).unwrap();
        let name = held.0.file_name().unwrap().to_str().unwrap().to_owned();
        // Same namespace, a pid that is not running.
        let dead = format!("{}.{}.1", pid_namespace().unwrap_or(0), u32::MAX - 1);
        fs::rename(&held.0, dir.join(name.replace(owner(), &dead))).unwrap();
        let claimed = outbox.claim_all();
        // Where a pid namespace can be read (Linux always), a dead owner's claim is taken.
        let readable = pid_namespace().is_some();
        assert!(readable || !cfg!(target_os = "linux"), "Linux has /proc/self/ns/pid");
        if !readable {
            eprintln!("SKIPPED: no pid namespace on this platform, a claim's owner cannot be told dead");
            fs::remove_dir_all(dir).unwrap();
            return;
        }
        assert_eq!(bodies(&claimed), [r#"{"n":7}"#]);
        let again = claimed.into_iter().next().unwrap();
        outbox.release(again.held).unwrap();
        assert_eq!(bodies(&outbox.claim_all()), [r#"{"n":7}"#], "a released payload is pending again");
        fs::remove_dir_all(dir).unwrap();
    }
}
