//! [`BugsnagTracingLayer`]: `tracing` events as reports and breadcrumbs.

use std::error::Error;
use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record as SpanRecord};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, Registry, SpanRef};

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
    span_fields: bool,
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
        layer.settings.set_client(client);
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

    /// Records the fields of every span, and gives each event made inside spans a `spans`
    /// metaData tab: each current span's fields under its name, outermost first, filtered
    /// by `params_filters` as all metadata is. Off by default (it keeps a copy of every
    /// span's fields). Events reported with `notify` inside the spans get the tab too when
    /// the subscriber is a `tracing_subscriber::Registry` with layers, the usual set-up.
    ///
    /// ```
    /// use tracing_subscriber::prelude::*;
    /// use bugsnag_core::logging::BugsnagTracingLayer;
    ///
    /// tracing_subscriber::registry().with(BugsnagTracingLayer::new().span_fields(true)).init();
    ///
    /// let _span = tracing::info_span!("checkout", order_id = 42).entered();
    /// tracing::error!("payment failed"); // metaData.spans.checkout.order_id = 42
    /// ```
    pub fn span_fields(mut self, record: bool) -> Self {
        self.span_fields = record;
        if record {
            crate::capture::span_context::read_span_fields_with(current_span_fields);
        }
        self
    }
}

/// The fields a span was made with or given later.
struct SpanFields(Map<String, Value>);

/// The `spans` tab of `span` and the spans around it, if any of them recorded fields.
fn spans_tab<'a, R: LookupSpan<'a>>(span: SpanRef<'a, R>) -> Option<Value> {
    let mut tab = Map::new();
    for span in span.scope().from_root() {
        if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
            if !fields.is_empty() {
                tab.insert(span.name().to_owned(), Value::Object(fields.clone()));
            }
        }
    }
    (!tab.is_empty()).then_some(Value::Object(tab))
}

/// The `spans` tab of the current span, for events made with `notify` (the bridge's own
/// reports read it from their context instead: inside a subscriber's callback, the
/// current dispatcher is out of reach).
fn current_span_fields() -> Option<Value> {
    tracing::dispatcher::get_default(|dispatch| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let current = dispatch.current_span();
        spans_tab(registry.span(current.id()?)?)
    })
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
        if self.span_fields {
            record.spans = ctx.event_span(event).and_then(spans_tab);
        }
        self.settings.handle(record);
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.span_fields {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields(Map::new());
        attrs.record(&mut Fields(&mut fields));
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &SpanRecord<'_>, ctx: Context<'_, S>) {
        if !self.span_fields {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            values.record(&mut Fields(fields));
        }
    }
}

/// Where a visitor puts the fields it reads: a record being reported, or a span's own.
trait FieldSink {
    fn field(&mut self, name: &str, value: Value);
    fn error(&mut self, name: &str, error: &(dyn Error + 'static));
}

impl FieldSink for Record {
    fn field(&mut self, name: &str, value: Value) {
        Record::field(self, name, value);
    }
    fn error(&mut self, name: &str, error: &(dyn Error + 'static)) {
        Record::error(self, name, error);
    }
}

impl FieldSink for SpanFields {
    fn field(&mut self, name: &str, value: Value) {
        self.0.insert(name.to_owned(), value);
    }
    fn error(&mut self, name: &str, error: &(dyn Error + 'static)) {
        self.0.insert(name.to_owned(), Value::String(crate::limits::display(&error)));
    }
}

struct Fields<'a, T>(&'a mut T);

impl<T: FieldSink> Visit for Fields<'_, T> {
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
