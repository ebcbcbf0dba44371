//! [`Settings`]: the options every adapter shares.

use std::sync::Arc;

use crate::client::Client;

/// The options of one adapter (a layer, a middleware, a fairing, a job hook), with one
/// meaning in every adapter. Cheap to clone; a `const` with the defaults is possible, so
/// that `App::new().wrap(Bugsnag)` needs no constructor call. No option can panic.
#[derive(Clone)]
pub struct Settings {
    pub(super) framework: &'static str,
    pub(super) runtime_versions: &'static [(&'static str, &'static str)],
    /// Whether each unit of work is a session (with `auto_capture_sessions`).
    pub(super) sessions: bool,
    /// `None` until an option is changed from its default.
    options: Option<Arc<Options>>,
}

type StatusFilter = Arc<dyn Fn(u16) -> bool + Send + Sync>;

#[derive(Clone, Default)]
struct Options {
    client: Option<Client>,
    report_status: Option<StatusFilter>,
    report_responses_without_error: bool,
    trust_forwarded_headers: bool,
    /// Lower-cased, as `http` header names are.
    drop_headers: Vec<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let options = self.options.as_deref();
        f.debug_struct("Settings")
            .field("framework", &self.framework)
            .field("sessions", &self.sessions)
            .field("client", &options.and_then(|o| o.client.as_ref()))
            .field("report_responses_without_error", &self.reports_responses_without_error())
            .field("trust_forwarded_headers", &self.trusts_forwarded_headers())
            .field("drop_headers", &options.map(|o| &o.drop_headers))
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// The defaults of an adapter for `framework` (named in `severityReason`), whose
    /// events carry `runtime_versions` in `device.runtimeVersions`: the process-wide
    /// client, a session per unit of work, 5xx reported, forwarding headers not trusted,
    /// no header dropped.
    pub const fn new(framework: &'static str, runtime_versions: &'static [(&'static str, &'static str)]) -> Self {
        Self { framework, runtime_versions, sessions: true, options: None }
    }

    /// Whether each unit of work starts a session when `auto_capture_sessions` is on
    /// (on by default: a request is one; job hooks turn it off, as the Python notifier's
    /// Celery integration starts none).
    pub const fn sessions(mut self, on: bool) -> Self {
        self.sessions = on;
        self
    }

    fn options_mut(&mut self) -> &mut Options {
        Arc::make_mut(self.options.get_or_insert_with(Arc::default))
    }

    /// Reports to `client` instead of the process-wide client (`bugsnag_core::configure`),
    /// which is left alone: tests run side by side this way. (`with_client` names the
    /// adapters' constructors that take a client: `BugsnagLayer::with_client(client)`.)
    pub fn reporting_to(mut self, client: Client) -> Self {
        self.options_mut().client = Some(client);
        self
    }

    /// Which response statuses are reported when the handler returned an error, or
    /// with [`report_responses_without_error`](Self::report_responses_without_error), at
    /// all (5xx by default).
    pub fn report_status(mut self, report: impl Fn(u16) -> bool + Send + Sync + 'static) -> Self {
        self.options_mut().report_status = Some(Arc::new(report));
        self
    }

    /// Also reports responses of a reported status that carry no error (errorClass
    /// `HTTP 503` and so on). Off by default.
    pub fn report_responses_without_error(mut self, report: bool) -> Self {
        self.options_mut().report_responses_without_error = report;
        self
    }

    /// Reads the client IP from `X-Forwarded-For`, `Forwarded` or `X-Real-IP`. Only
    /// turn this on behind a proxy that sets them: clients can forge them.
    pub fn trust_forwarded_headers(mut self, trust: bool) -> Self {
        self.options_mut().trust_forwarded_headers = trust;
        self
    }

    /// Headers never sent, whatever `params_filters` says (names in any case).
    pub fn drop_headers<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, names: I) -> Self {
        let names = names.into_iter().map(|n| n.as_ref().trim().to_ascii_lowercase());
        self.options_mut().drop_headers.extend(names.filter(|n| !n.is_empty()));
        self
    }

    /// The framework named in `severityReason.attributes.framework`, for an adapter that
    /// serves several (the tower layer serves axum, tonic and hyper).
    pub fn framework(mut self, name: &'static str) -> Self {
        self.framework = name;
        self
    }

    /// The framework named in reports.
    pub fn framework_name(&self) -> &'static str {
        self.framework
    }

    /// The explicit client, else the process-wide one.
    pub fn client(&self) -> Option<Client> {
        self.options.as_ref().and_then(|o| o.client.clone()).or_else(crate::global::client)
    }

    /// Whether a response of `status` is one to report.
    pub fn reports_status(&self, status: u16) -> bool {
        match self.options.as_ref().and_then(|o| o.report_status.as_ref()) {
            Some(report) => crate::limits::guarded(|| report(status)).unwrap_or(false),
            None => (500..600).contains(&status),
        }
    }

    /// Whether responses of a reported status are reported without an error.
    pub fn reports_responses_without_error(&self) -> bool {
        self.options.as_ref().is_some_and(|o| o.report_responses_without_error)
    }

    /// Whether the client IP is read from forwarding headers.
    pub fn trusts_forwarded_headers(&self) -> bool {
        self.options.as_ref().is_some_and(|o| o.trust_forwarded_headers)
    }

    /// Whether the header `name` (lower case, as `http` gives it) is never sent.
    pub fn drops_header(&self, name: &str) -> bool {
        self.options.as_ref().is_some_and(|o| o.drop_headers.iter().any(|d| d == name))
    }
}
