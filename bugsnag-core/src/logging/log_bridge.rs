//! [`BugsnagLogger`]: `log` records as reports and breadcrumbs.

use log::kv::{Key, Value as KvValue, VisitSource};
use log::{Level, LevelFilter, Log, Metadata};
use serde_json::Value;

use super::{LogLevel, LogSettings, Record};
use crate::client::Client;

/// A `log::Log` that reports records at or above ERROR (by default) and leaves INFO and
/// WARN records as breadcrumbs; it can wrap another logger, which still sees every record.
///
/// ```no_run
/// use bugsnag_core::logging::BugsnagLogger;
///
/// // Alone:
/// BugsnagLogger::new().init().unwrap();
/// // Or around the logger you already use, which keeps printing as before:
/// # struct EnvLogger;
/// # impl log::Log for EnvLogger {
/// #     fn enabled(&self, _: &log::Metadata<'_>) -> bool { true }
/// #     fn log(&self, _: &log::Record<'_>) {}
/// #     fn flush(&self) {}
/// # }
/// # let my_logger = EnvLogger; // env_logger::Builder::from_default_env().build(), say
/// BugsnagLogger::new().wrap(my_logger).init().unwrap();
///
/// log::error!(order_id = 42; "payment failed");
/// ```
pub struct BugsnagLogger {
    settings: LogSettings,
    inner: Option<Box<dyn Log>>,
}

impl std::fmt::Debug for BugsnagLogger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BugsnagLogger")
            .field("settings", &self.settings)
            .field("wraps_a_logger", &self.inner.is_some())
            .finish()
    }
}

fn level(level: Level) -> LogLevel {
    match level {
        Level::Error => LogLevel::Error,
        Level::Warn => LogLevel::Warn,
        Level::Info => LogLevel::Info,
        Level::Debug => LogLevel::Debug,
        Level::Trace => LogLevel::Trace,
    }
}

impl Default for BugsnagLogger {
    fn default() -> Self {
        Self::new()
    }
}

impl BugsnagLogger {
    /// A logger reporting to the process-wide client.
    pub fn new() -> Self {
        Self { settings: LogSettings::default(), inner: None }
    }

    /// A logger reporting to `client`.
    pub fn with_client(client: Client) -> Self {
        let mut logger = Self::new();
        logger.settings.set_client(client);
        logger
    }

    /// Passes every record on to `inner` as well (such as `env_logger`'s logger).
    pub fn wrap(mut self, inner: impl Log + 'static) -> Self {
        self.inner = Some(Box::new(inner));
        self
    }

    /// Records at or above `level` are reported (ERROR by default).
    pub fn report_level(mut self, level: Level) -> Self {
        self.settings.report_level(self::level(level));
        self
    }

    /// Records at or above `level`, below the report level, become breadcrumbs (INFO by
    /// default; `None` for none).
    pub fn breadcrumb_level(mut self, level: Option<Level>) -> Self {
        self.settings.breadcrumb_level(level.map(self::level));
        self
    }

    /// Puts the named key-values in the metaData tab `tab` (the Python notifier's `extra_fields`).
    pub fn extra_fields(mut self, tab: impl Into<String>, fields: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.settings.extra_fields(tab, fields);
        self
    }

    /// Installs this logger as the `log` crate's logger. Alone, it lets through the levels
    /// it reports or keeps as breadcrumbs; wrapping another logger, it lets every level
    /// through, since only that logger knows its own filter (call `log::set_max_level`
    /// afterwards to narrow it).
    pub fn init(self) -> Result<(), log::SetLoggerError> {
        let max = if self.inner.is_some() { LevelFilter::Trace } else { self.own_filter() };
        log::set_boxed_logger(Box::new(self))?;
        log::set_max_level(max);
        Ok(())
    }

    fn own_filter(&self) -> LevelFilter {
        [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error]
            .into_iter()
            .find(|l| self.settings.enabled(level(*l)))
            .map_or(LevelFilter::Off, |l| l.to_level_filter())
    }
}

impl Log for BugsnagLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.settings.enabled(level(metadata.level())) || self.inner.as_ref().is_some_and(|l| l.enabled(metadata))
    }

    fn log(&self, record: &log::Record<'_>) {
        if let Some(inner) = &self.inner {
            inner.log(record);
        }
        let level = level(record.level());
        if !self.settings.enabled(level) {
            return;
        }
        let mut report = Record::new(level, record.target());
        report.at(record.file(), record.line());
        report.message = record.args().to_string();
        let _ = record.key_values().visit(&mut Fields(&mut report));
        self.settings.handle(report);
    }

    fn flush(&self) {
        if let Some(inner) = &self.inner {
            inner.flush();
        }
    }
}

struct Fields<'a>(&'a mut Record);

impl<'kvs> VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: KvValue<'kvs>) -> Result<(), log::kv::Error> {
        if let Some(error) = value.to_borrowed_error() {
            self.0.error(key.as_str(), error);
            return Ok(());
        }
        let json = if let Some(b) = value.to_bool() {
            Value::from(b)
        } else if let Some(n) = value.to_i64() {
            Value::from(n)
        } else if let Some(n) = value.to_u64() {
            Value::from(n)
        } else if let Some(n) = value.to_f64() {
            Value::from(n)
        } else {
            Value::String(value.to_string())
        };
        self.0.field(key.as_str(), json);
        Ok(())
    }
}
