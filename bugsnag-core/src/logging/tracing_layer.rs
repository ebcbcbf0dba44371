//! [`BugsnagTracingLayer`]: `tracing` events as reports and breadcrumbs.

use std::error::Error;
use std::fmt;

use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::{LogLevel, LogSettings, Record};
use crate::client::Client;

/// A `tracing_subscriber::Layer` that reports events at or above ERROR (by default) and
/// leaves INFO and WARN events as breadcrumbs.
///
/// ```
/// use tracing_subscriber::prelude::*;
/// use bugsnag_core::logging::BugsnagTracingLayer;
///
/// tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer())
///     .with(BugsnagTracingLayer::new().extra_fields("order", ["order_id"]))
///     .init();
///
/// tracing::info!("cache warmed"); // a breadcrumb
/// tracing::error!(order_id = 42, "payment failed"); // a report, order_id in the "order" tab
/// let err = std::io::Error::other("card declined");
/// tracing::error!(error = &err as &dyn std::error::Error, "payment failed"); // err's chain
/// ```
#[derive(Clone, Debug, Default)]
pub struct BugsnagTracingLayer {
    settings: LogSettings,
}

fn level(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        Level::TRACE => LogLevel::Trace,
    }
}

impl BugsnagTracingLayer {
    /// A layer reporting to the process-wide client.
    pub fn new() -> Self {
        Self::default()
    }

    /// A layer reporting to `client`.
    pub fn with_client(client: Client) -> Self {
        let mut layer = Self::default();
        layer.settings.client(client);
        layer
    }

    /// Events at or above `level` are reported (ERROR by default).
    pub fn report_level(mut self, level: Level) -> Self {
        self.settings.report_level(self::level(&level));
        self
    }

    /// Events at or above `level`, below the report level, become breadcrumbs (INFO by
    /// default; `None` for none).
    pub fn breadcrumb_level(mut self, level: Option<Level>) -> Self {
        self.settings.breadcrumb_level(level.as_ref().map(self::level));
        self
    }

    /// Puts the named fields in the metaData tab `tab` (the Python notifier's `extra_fields`).
    pub fn extra_fields(mut self, tab: impl Into<String>, fields: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.settings.extra_fields(tab, fields);
        self
    }
}

impl<S> tracing_subscriber::Layer<S> for BugsnagTracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let level = level(metadata.level());
        if !self.settings.enabled(level) {
            return;
        }
        let mut record = Record::new(level, metadata.target());
        record.at(metadata.file(), metadata.line());
        event.record(&mut Fields(&mut record));
        record.context = ctx.event_scope(event).map(|scope| {
            let names: Vec<&str> = scope.from_root().map(|span| span.name()).collect();
            names.join(" > ")
        });
        self.settings.handle(record);
    }
}

struct Fields<'a>(&'a mut Record);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.field(field.name(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.field(field.name(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.field(field.name(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.field(field.name(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.field(field.name(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.field(field.name(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        self.0.error(field.name(), value);
    }
}
