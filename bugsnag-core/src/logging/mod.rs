//! Bridges from Rust's logging crates, the counterpart of the Python notifier's `BugsnagHandler`:
//! log records at or above a level (ERROR by default) become reports, lower ones (INFO
//! and up by default) become `log` breadcrumbs.
//!
//! - [`BugsnagTracingLayer`] (feature `tracing`): a `tracing_subscriber::Layer`.
//! - [`BugsnagLogger`] (feature `log`): a `log::Log`, alone or wrapping another logger.
//!
//! A report carries severity from the level (error, warning, info), severityReason `log`
//! with `attributes.level`, the message, the record's fields in a metaData tab
//! (`extra data`, the Python notifier's name) or in the tabs the bridges' `extra_fields` choose,
//! and, when a field holds a `dyn Error`, that error's chain as its exceptions instead of
//! a synthetic `Log<LEVEL>` class. The notifier's own records, and anything logged on its
//! delivery thread (its HTTP client's), are never reported, so there is no feedback loop.
//! `tower-http`'s `TraceLayer` failure records (target `tower_http::trace`) are
//! breadcrumbs only: `BugsnagLayer` reports those failures itself, once.

#[cfg(feature = "log")]
mod log_bridge;
#[cfg(feature = "tracing")]
mod tracing_layer;

use std::error::Error;

use serde_json::{Map, Value};

use crate::capture::error_chain::ChainOrigins;
use crate::capture::error_chain::{self, Link};
use crate::capture::error_class::FALLBACK_CLASS;
use crate::capture::{Options, Origin, Scope};
use crate::client::Client;
use crate::model::{Breadcrumb, BreadcrumbType, Severity, SeverityReason};

#[cfg(feature = "log")]
pub use log_bridge::BugsnagLogger;
#[cfg(feature = "tracing")]
pub use tracing_layer::BugsnagTracingLayer;

/// The metaData tab that holds a record's fields unless mapped elsewhere.
pub const EXTRA_DATA_TAB: &str = "extra data";

/// A log level, common to `log` and `tracing`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LogLevel {
    /// Finest detail.
    Trace,
    /// Debugging information.
    Debug,
    /// Normal operation.
    Info,
    /// Something unexpected.
    Warn,
    /// A failure.
    Error,
}

impl LogLevel {
    fn name(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }

    /// The Python notifier's mapping: error, warning, and info for everything lower.
    fn severity(self) -> Severity {
        match self {
            LogLevel::Error => Severity::Error,
            LogLevel::Warn => Severity::Warning,
            _ => Severity::Info,
        }
    }
}

/// What a bridge reports and how; shared by both bridges' builders.
#[derive(Clone, Debug)]
pub(crate) struct LogSettings {
    client: Option<Client>,
    report_level: LogLevel,
    breadcrumb_level: Option<LogLevel>,
    extra_fields: Vec<(String, Vec<String>)>,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            client: None,
            report_level: LogLevel::Error,
            breadcrumb_level: Some(LogLevel::Info),
            extra_fields: Vec::new(),
        }
    }
}

impl LogSettings {
    /// Records at or above `level` are reported (ERROR by default).
    pub fn report_level(&mut self, level: LogLevel) {
        self.report_level = level;
    }

    /// Records at or above `level` and below the report level become breadcrumbs (INFO
    /// by default; `None` turns them off).
    pub fn breadcrumb_level(&mut self, level: Option<LogLevel>) {
        self.breadcrumb_level = level;
    }

    /// Puts the fields named in `fields` in the metaData tab `tab` instead of `extra data`
    /// (the Python notifier's `extra_fields={"tab": ["field"]}`); absent fields are ignored.
    pub fn extra_fields(&mut self, tab: impl Into<String>, fields: impl IntoIterator<Item = impl Into<String>>) {
        self.extra_fields.push((tab.into(), fields.into_iter().map(Into::into).collect()));
    }

    /// Reports to `client` instead of the process-wide client.
    pub fn set_client(&mut self, client: Client) {
        self.client = Some(client);
    }

    fn enabled(&self, level: LogLevel) -> bool {
        level >= self.report_level || self.breadcrumb_level.is_some_and(|b| level >= b)
    }
}

/// Targets whose error records echo a failure the framework adapters report themselves:
/// `tower-http`'s `TraceLayer` logs every failed response at ERROR ("response failed")
/// from outside the handler, with no error and no in-project frame. Such records leave a
/// breadcrumb but are never reports, so a failure is reported once, by the adapter.
const FAILURE_ECHOES: &[&str] = &["tower_http::trace"];

fn echoes_a_failure(target: &str) -> bool {
    FAILURE_ECHOES.iter().any(|echo| target.starts_with(echo))
}

/// Whether a record comes from the notifier itself: its own targets, or anything on its
/// delivery thread (the HTTP client's logs), which would otherwise loop.
fn is_own(target: &str) -> bool {
    crate::stacktrace::is_notifier(target.split("::").next().unwrap_or(target))
        || std::thread::current().name() == Some(crate::delivery::THREAD_NAME)
        || crate::reentry::is_quiet()
}

/// One log record, as either bridge reads it.
pub(crate) struct Record {
    pub(crate) level: LogLevel,
    pub(crate) target: String,
    pub(crate) message: String,
    pub(crate) fields: Map<String, Value>,
    /// `(errorClass, message)` of a `dyn Error` field and each of its causes.
    pub(crate) error: Option<Vec<Link>>,
    /// Where that error was made, when it carried an origin.
    pub(crate) origin: Option<Origin>,
    /// Where the record was made, for the context (tracing's span path).
    pub(crate) context: Option<String>,
    /// The logging call's file and line, which with the errorClass is what the
    /// per-error budget groups by.
    pub(crate) site: Option<u64>,
    /// The `spans` tab: fields of the spans the record was made in, when recorded.
    pub(crate) spans: Option<Value>,
}

impl Record {
    pub(crate) fn new(level: LogLevel, target: &str) -> Self {
        Self {
            level,
            target: target.to_owned(),
            message: String::new(),
            fields: Map::new(),
            error: None,
            origin: None,
            context: None,
            site: None,
            spans: None,
        }
    }

    /// Records where the logging call was made.
    pub(crate) fn at(&mut self, file: Option<&str>, line: Option<u32>) {
        if let Some(file) = file {
            self.site = Some(crate::capture::site_of(file, line.unwrap_or(0), 0));
        }
    }

    /// Records a field, or the message, or an error's chain.
    pub(crate) fn field(&mut self, name: &str, value: Value) {
        if name == "message" {
            self.message = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.fields.insert(name.to_owned(), value);
        }
    }

    pub(crate) fn error(&mut self, name: &str, error: &(dyn Error + 'static)) {
        let message = crate::limits::display(&error);
        self.fields.insert(name.to_owned(), Value::String(message));
        if self.error.is_none() {
            let origins = ChainOrigins::of(error);
            self.origin = origins.deepest().cloned();
            self.error = Some(error_chain::read_dyn(error, &origins));
        }
    }
}

impl LogSettings {
    /// Reports the record, leaves it as a breadcrumb, or ignores it.
    pub(crate) fn handle(&self, record: Record) {
        if is_own(&record.target) {
            return;
        }
        let Some(client) = self.client.clone().or_else(crate::global::client) else { return };
        if record.level >= self.report_level && !echoes_a_failure(&record.target) {
            self.report(&client, record);
        } else if self.breadcrumb_level.is_some_and(|b| record.level >= b) {
            // The level is always there, fields or not, as the Python notifier sends it.
            let mut details =
                self.tabs(record.fields).remove(EXTRA_DATA_TAB).unwrap_or_else(|| Value::Object(Map::new()));
            if let Value::Object(map) = &mut details {
                map.insert("level".into(), record.level.name().into());
                map.insert("target".into(), record.target.into());
            }
            client
                .leave_breadcrumb_in(&Scope::current(), Breadcrumb::new(record.message, BreadcrumbType::Log, details));
        }
    }

    fn report(&self, client: &Client, record: Record) {
        let level = record.level;
        let mut options = Options::new().severity(level.severity()).reason(SeverityReason::log(level.name()));
        options.site = record.site;
        if let Some(origin) = &record.origin {
            options = options.origin(origin);
        }
        if let Some(context) = record.context {
            options = options.fallback_context(context);
        }
        let mut fields = record.fields;
        // The Python notifier's logging handler takes `groupingHash` from the record.
        for name in ["groupingHash", "grouping_hash"] {
            match fields.remove(name) {
                Some(Value::String(hash)) => options = options.grouping_hash(hash),
                Some(other) if !other.is_null() => options = options.grouping_hash(other.to_string()),
                _ => {}
            }
        }
        if let Some(spans) = record.spans {
            options = options.add_metadata_tab(crate::capture::span_context::SPANS_TAB, spans);
        }
        let mut tabs = self.tabs(fields);
        let extra = tabs.entry(EXTRA_DATA_TAB.to_owned()).or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(extra) = extra {
            extra.insert("target".into(), record.target.into());
            if record.error.is_some() && !record.message.is_empty() {
                extra.insert("message".into(), record.message.clone().into());
            }
        }
        for (tab, value) in tabs {
            options = options.add_metadata_tab(tab, value);
        }
        let chain = record.error.unwrap_or_else(|| {
            let message = if record.message.is_empty() { FALLBACK_CLASS.to_owned() } else { record.message };
            vec![Link::new(format!("Log{}", level.name()), message)]
        });
        client.notify_chain(chain, options);
    }

    /// Splits fields into the `extra_fields` tabs and `extra data`.
    fn tabs(&self, mut fields: Map<String, Value>) -> Map<String, Value> {
        let mut tabs = Map::new();
        for (tab, names) in &self.extra_fields {
            let picked: Map<String, Value> =
                names.iter().filter_map(|n| fields.remove(n).map(|v| (n.clone(), v))).collect();
            if !picked.is_empty() {
                tabs.insert(tab.clone(), Value::Object(picked));
            }
        }
        if !fields.is_empty() {
            tabs.insert(EXTRA_DATA_TAB.to_owned(), Value::Object(fields));
        }
        tabs
    }
}
