//! What the inbox received: every payload in memory and, one JSON object per line, in a
//! file, so that a restart keeps them. Events are numbered in the order they arrived and
//! grouped as Bugsnag groups them by default: by the grouping hash when the event has
//! one, else by the innermost exception's class and the file and line of its top
//! in-project frame, else by that class alone (see `Grouping`). The context does not
//! split a group.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use bugsnag_core::testing::{schema_errors, Grouping};
use serde_json::{json, Value};

/// One payload, as received.
#[derive(Debug)]
pub(crate) struct Report {
    /// The request path, such as `/notify` or `/sessions`.
    pub path: String,
    /// When it arrived, in milliseconds since the Unix epoch.
    pub received_ms: i64,
    pub body: Value,
    /// Where it breaks the API schema; shown on the page, never a reason to drop it.
    pub schema_errors: Vec<String>,
}

impl Report {
    /// A payload arriving now, already checked by the collector.
    pub fn arrived(path: String, body: Value, schema_errors: Vec<String>) -> Self {
        let received_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        Self { path, received_ms, body, schema_errors }
    }

    /// A payload an earlier run kept, checked again (the schemas may have changed).
    fn kept(path: String, received_ms: i64, body: Value) -> Self {
        let schema_errors =
            if body.is_null() { vec!["body is not JSON".to_owned()] } else { schema_errors(&path, &body) };
        Self { path, received_ms, body, schema_errors }
    }

    /// Session payloads, by path or, for a session endpoint set without a path, by body.
    pub fn is_sessions(&self) -> bool {
        self.path.ends_with("/sessions") || self.body.get("sessionCounts").is_some()
    }
}

/// One event of a `/notify` payload.
pub(crate) struct Event<'a> {
    /// Its number: its position among all events received.
    pub id: usize,
    pub value: &'a Value,
    pub report: &'a Report,
}

impl Event<'_> {
    /// The outermost error's class, as Bugsnag shows it.
    pub fn class(&self) -> &str {
        self.value["exceptions"][0]["errorClass"].as_str().unwrap_or("(no error class)")
    }
    pub fn message(&self) -> &str {
        self.value["exceptions"][0]["message"].as_str().unwrap_or_default()
    }
    pub fn context(&self) -> &str {
        self.value["context"].as_str().unwrap_or_default()
    }
    pub fn unhandled(&self) -> bool {
        self.value["unhandled"] == true
    }

    /// What Bugsnag groups the event by.
    pub fn grouping(&self) -> Grouping {
        Grouping::of(self.value)
    }
}

/// Events of one error, as Bugsnag groups them.
pub(crate) struct Group<'a> {
    /// Oldest first.
    pub events: Vec<Event<'a>>,
}

impl<'a> Group<'a> {
    /// What the group's events share.
    pub fn grouping(&self) -> Grouping {
        self.events[0].grouping()
    }
    pub fn latest(&self) -> &Event<'a> {
        self.events.last().expect("a group has an event")
    }
    pub fn first_seen(&self) -> i64 {
        self.events[0].report.received_ms
    }
    pub fn last_seen(&self) -> i64 {
        self.latest().report.received_ms
    }
}

/// Every payload received, and the file that keeps them.
#[derive(Debug)]
pub struct Store {
    reports: Vec<Report>,
    file: Option<(PathBuf, File)>,
}

impl Store {
    /// A store that keeps nothing on disk.
    pub fn in_memory() -> Self {
        Self { reports: Vec::new(), file: None }
    }

    /// Opens `path`, reading what an earlier run kept there; lines that are not a stored
    /// payload are skipped with a warning rather than ending the inbox.
    pub fn open(path: &Path) -> Result<Self, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("could not create {}: {e}", dir.display()))?;
        }
        let kept = std::fs::read(path).unwrap_or_default();
        let mut reports = Vec::new();
        for (number, line) in kept.split(|b| *b == b'\n').enumerate().filter(|(_, l)| !l.is_empty()) {
            let parsed = serde_json::from_slice::<Value>(line).ok();
            match parsed.as_ref().and_then(|v| Some((v["path"].as_str()?, v["receivedAt"].as_i64()?))) {
                Some((stored_path, received_ms)) => {
                    let body = parsed.as_ref().map_or(Value::Null, |v| v["body"].clone());
                    reports.push(Report::kept(stored_path.to_owned(), received_ms, body));
                }
                None => eprintln!("inbox: skipped line {} of {}: not a stored payload", number + 1, path.display()),
            }
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| format!("could not open {}: {e}", path.display()))?;
        // A line cut short by a crash must not swallow the next one.
        if kept.last().is_some_and(|b| *b != b'\n') {
            writeln!(file).map_err(|e| format!("could not write to {}: {e}", path.display()))?;
        }
        Ok(Self { reports, file: Some((path.to_owned(), file)) })
    }

    /// Keeps a payload: in memory always, and in the file unless writing fails (then
    /// with a log line: the page still shows it).
    pub(crate) fn add(&mut self, report: Report) {
        if let Some((path, file)) = &mut self.file {
            let line = json!({"path": report.path, "receivedAt": report.received_ms, "body": report.body});
            if let Err(e) = writeln!(file, "{line}") {
                eprintln!("inbox: could not keep a payload in {}: {e}", path.display());
            }
        }
        self.reports.push(report);
    }

    pub(crate) fn reports(&self) -> &[Report] {
        &self.reports
    }

    /// Every event, in the order they arrived.
    pub(crate) fn events(&self) -> Vec<Event<'_>> {
        let notify = self.reports.iter().filter(|r| !r.is_sessions());
        let values = notify.flat_map(|report| {
            report.body["events"].as_array().into_iter().flatten().map(move |value| (value, report))
        });
        values.enumerate().map(|(id, (value, report))| Event { id, value, report }).collect()
    }

    /// Events grouped as Bugsnag groups them, the group seen last first.
    pub(crate) fn groups(&self) -> Vec<Group<'_>> {
        let mut index: HashMap<Grouping, usize> = HashMap::new();
        let mut groups: Vec<Group<'_>> = Vec::new();
        for event in self.events() {
            let key = event.grouping();
            let at = *index.entry(key).or_insert_with(|| {
                groups.push(Group { events: Vec::new() });
                groups.len() - 1
            });
            groups[at].events.push(event);
        }
        groups.sort_by_key(|g| std::cmp::Reverse(g.latest().id));
        groups
    }

    /// Every event, newest first, as a JSON array: each event as sent, with `receivedAt`
    /// and `grouping` (why it is grouped as it is).
    pub(crate) fn events_json(&self) -> String {
        let events: Vec<Value> = self
            .events()
            .iter()
            .rev()
            .map(|event| {
                let mut value = event.value.clone();
                if let Some(object) = value.as_object_mut() {
                    object.insert("receivedAt".into(), json!(event.report.received_ms));
                    object.insert("grouping".into(), json!(event.grouping().to_string()));
                }
                value
            })
            .collect();
        Value::Array(events).to_string()
    }

    /// Sessions started, summed over every session payload.
    pub(crate) fn sessions_started(&self) -> u64 {
        let counts = self.reports.iter().filter(|r| r.is_sessions());
        let counts = counts.flat_map(|r| r.body["sessionCounts"].as_array().into_iter().flatten());
        counts.filter_map(|c| c["sessionsStarted"].as_u64()).sum()
    }
}
