//! What Bugsnag's dashboard groups an event by, computed from the payload as it arrived.

use std::fmt;

use serde_json::Value;

/// How Bugsnag groups an event by default (docs.bugsnag.com/product/error-grouping):
/// by its grouping hash when it has one, else by the error class and the file and line
/// of the top in-project stack frame of the INNERMOST exception (the last of
/// `exceptions`), else, with no in-project frame there, by that class alone.
///
/// ```
/// use bugsnag_core::testing::Grouping;
/// use serde_json::json;
///
/// let event = json!({"exceptions": [
///     {"errorClass": "shop::OrderError", "message": "", "stacktrace": []},
///     {"errorClass": "std::io::Error", "message": "", "stacktrace": [
///         {"file": "src/orders.rs", "lineNumber": 42, "method": "shop::load", "inProject": true}]},
/// ]});
/// let grouping = Grouping::of(&event);
/// assert_eq!(grouping, Grouping::TopFrame { class: "std::io::Error".into(), file: "src/orders.rs".into(), line: 42 });
/// assert_eq!(grouping.to_string(), "top in-project frame of the innermost exception: std::io::Error at src/orders.rs:42");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Grouping {
    /// The event's `groupingHash`.
    Hash(String),
    /// The innermost exception's class and its top in-project frame.
    TopFrame {
        /// The innermost exception's errorClass.
        class: String,
        /// The frame's file.
        file: String,
        /// The frame's line.
        line: u64,
    },
    /// The innermost exception's class alone: it has no in-project frame.
    Class(String),
}

impl Grouping {
    /// How `event` (one element of a payload's `events`) is grouped.
    pub fn of(event: &Value) -> Self {
        if let Some(hash) = event["groupingHash"].as_str() {
            return Self::Hash(hash.to_owned());
        }
        let innermost = event["exceptions"].as_array().and_then(|e| e.last()).unwrap_or(&Value::Null);
        let class = innermost["errorClass"].as_str().unwrap_or_default().to_owned();
        let frames = innermost["stacktrace"].as_array().map(Vec::as_slice).unwrap_or_default();
        match frames.iter().find(|f| f["inProject"] == true) {
            Some(frame) => Self::TopFrame {
                class,
                file: frame["file"].as_str().unwrap_or_default().to_owned(),
                line: frame["lineNumber"].as_u64().unwrap_or_default(),
            },
            None => Self::Class(class),
        }
    }

    /// Whether the group is keyed by a frame of the program (a hash or a top frame).
    pub fn has_frame(&self) -> bool {
        matches!(self, Self::TopFrame { .. })
    }
}

/// The grouping reason, as the inbox shows it.
impl fmt::Display for Grouping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hash(hash) => write!(f, "grouping hash: {hash}"),
            Self::TopFrame { class, file, line } => {
                write!(f, "top in-project frame of the innermost exception: {class} at {file}:{line}")
            }
            Self::Class(class) => write!(f, "error class only: {class} has no in-project frame"),
        }
    }
}

/// Asserts that an event is grouped by its innermost exception's top in-project frame, at
/// `line` of a file whose path ends with `file` (`src/orders.rs`), and returns its
/// grouping.
pub fn assert_grouped_at(event: &Value, file: &str, line: u32) -> Grouping {
    let grouping = Grouping::of(event);
    match &grouping {
        Grouping::TopFrame { file: top, line: at, .. } if top.ends_with(file) && *at == u64::from(line) => {}
        other => panic!("grouped by {other}, not by {file}:{line}: {:#}", event["exceptions"]),
    }
    grouping
}

/// Asserts that `events` fall in exactly one group per call site of `sites` (each a file
/// path's end, such as `src/orders.rs`, and a line), every one keyed by its innermost
/// exception's top in-project frame there: distinct call sites give distinct groups, one
/// call site hit again gives the same.
pub fn assert_groups(events: &[Value], sites: &[(&str, u32)]) {
    let mut seen: Vec<Grouping> = Vec::new();
    for event in events {
        let grouping = Grouping::of(event);
        let at_a_site = matches!(&grouping, Grouping::TopFrame { file, line, .. }
            if sites.iter().any(|(f, l)| file.ends_with(f) && *line == u64::from(*l)));
        assert!(at_a_site, "grouped by {grouping}, at none of {sites:?}: {:#}", event["exceptions"]);
        if !seen.contains(&grouping) {
            seen.push(grouping);
        }
    }
    let mut distinct = sites.to_vec();
    distinct.sort();
    distinct.dedup();
    assert_eq!(seen.len(), distinct.len(), "one group per call site: {seen:#?}");
}
