//! Reading the `BUGSNAG_*` environment variables.

use std::path::PathBuf;
use std::time::Duration;

use super::api_key::{ApiKey, KeySource};
use super::Configuration;

impl Configuration {
    /// Defaults overlaid with the `BUGSNAG_*` environment variables that are set:
    /// `BUGSNAG_API_KEY`, `BUGSNAG_RELEASE_STAGE`, `BUGSNAG_NOTIFY_RELEASE_STAGES`
    /// (comma-separated), `BUGSNAG_APP_VERSION`, `BUGSNAG_APP_TYPE`, `BUGSNAG_ENDPOINT`,
    /// `BUGSNAG_SESSION_ENDPOINT`, `BUGSNAG_HOSTNAME`, `BUGSNAG_PROJECT_ROOT`,
    /// `BUGSNAG_PROXY_HOST`, `BUGSNAG_PARAMS_FILTERS` (comma-separated, added to the
    /// defaults), `BUGSNAG_IGNORE_CLASSES` (comma-separated), `BUGSNAG_OUTBOX_DIR`,
    /// `BUGSNAG_SHUTDOWN_TIMEOUT` (seconds, such as `5` or `0.5`), and the switches
    /// `BUGSNAG_AUTO_NOTIFY`, `BUGSNAG_SEND_CODE`, `BUGSNAG_AUTO_CAPTURE_SESSIONS`,
    /// `BUGSNAG_ASYNCHRONOUS`, `BUGSNAG_DEBUG`, `BUGSNAG_NATIVE_CRASHES`, `BUGSNAG_OUTBOX`
    /// (`true`/`false`/`1`/`0`).
    pub fn from_env() -> Self {
        Self::default().with_env()
    }

    /// Overlays the `BUGSNAG_*` environment variables that are set onto this
    /// configuration: how a configuration read from a file (which sees no environment)
    /// picks them up. Values from the environment win.
    ///
    /// ```no_run
    /// let from_file: bugsnag_core::Configuration = serde_json::from_str(r#"{"app_version": "2.5.1"}"#).unwrap();
    /// let config = from_file.with_env(); // BUGSNAG_API_KEY and the others apply
    /// ```
    pub fn with_env(self) -> Self {
        self.with_env_from(|name| std::env::var(name).ok())
    }

    /// Overlays values read by `lookup` (an environment) onto this configuration; the
    /// testable core of [`Configuration::with_env`].
    pub fn with_env_from(mut self, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(&format!("BUGSNAG_{name}")).filter(|v| !v.trim().is_empty());
        let list = |v: String| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect::<Vec<_>>();
        let flag = |name: &str, current: bool| match get(name).as_deref().map(str::trim) {
            Some("1" | "true" | "TRUE" | "yes") => true,
            Some("0" | "false" | "FALSE" | "no") => false,
            Some(other) => {
                tracing::warn!(target: "bugsnag_core", "BUGSNAG_{name}={other:?} is not a boolean; keeping {current}");
                current
            }
            None => current,
        };
        let from_env = get("API_KEY").map(|key| ApiKey { key, source: KeySource::Environment });
        self.api_key = from_env.or(self.api_key);
        self.release_stage = get("RELEASE_STAGE").unwrap_or(self.release_stage);
        self.notify_release_stages = get("NOTIFY_RELEASE_STAGES").map(list).or(self.notify_release_stages);
        self.app_version = get("APP_VERSION").or(self.app_version);
        self.app_type = get("APP_TYPE").or(self.app_type);
        self.endpoint = get("ENDPOINT").unwrap_or(self.endpoint);
        self.session_endpoint = get("SESSION_ENDPOINT").unwrap_or(self.session_endpoint);
        self.hostname = get("HOSTNAME").or(self.hostname);
        self.project_root = get("PROJECT_ROOT").map(PathBuf::from).or(self.project_root);
        self.proxy_host = get("PROXY_HOST").or(self.proxy_host);
        if let Some(extra) = get("PARAMS_FILTERS") {
            self.params_filters.extend(list(extra));
        }
        if let Some(classes) = get("IGNORE_CLASSES") {
            self.ignore_classes.extend(list(classes));
        }
        self.auto_notify = flag("AUTO_NOTIFY", self.auto_notify);
        self.send_code = flag("SEND_CODE", self.send_code);
        self.auto_capture_sessions = flag("AUTO_CAPTURE_SESSIONS", self.auto_capture_sessions);
        self.asynchronous = flag("ASYNCHRONOUS", self.asynchronous);
        self.debug = flag("DEBUG", self.debug);
        self.native_crashes = flag("NATIVE_CRASHES", self.native_crashes);
        self.outbox_dir = get("OUTBOX_DIR").map(PathBuf::from).or(self.outbox_dir);
        self.outbox = flag("OUTBOX", self.outbox);
        if let Some(text) = get("SHUTDOWN_TIMEOUT") {
            match text.trim().parse::<f64>().ok().and_then(|s| Duration::try_from_secs_f64(s).ok()) {
                Some(timeout) => self.shutdown_timeout = timeout,
                None => {
                    tracing::warn!(target: "bugsnag_core", "BUGSNAG_SHUTDOWN_TIMEOUT={text:?} is not a number of seconds; keeping {:?}", self.shutdown_timeout)
                }
            }
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overlays_defaults() {
        let env = |name: &str| match name {
            "BUGSNAG_API_KEY" => Some("0123456789abcdef0123456789abcdef".to_owned()),
            "BUGSNAG_NOTIFY_RELEASE_STAGES" => Some("production, staging".to_owned()),
            "BUGSNAG_PARAMS_FILTERS" => Some("ssn".to_owned()),
            "BUGSNAG_SEND_CODE" => Some("0".to_owned()),
            "BUGSNAG_SHUTDOWN_TIMEOUT" => Some("7.5".to_owned()),
            "BUGSNAG_OUTBOX_DIR" => Some("/var/spool/app-bugsnag".to_owned()),
            _ => None,
        };
        let config = Configuration::default().with_env_from(env);
        assert_eq!(config.shutdown_timeout, Duration::from_millis(7500));
        assert_eq!(config.outbox_dir.as_deref(), Some(std::path::Path::new("/var/spool/app-bugsnag")));
        let unreadable =
            Configuration::default().with_env_from(|n| (n == "BUGSNAG_SHUTDOWN_TIMEOUT").then(|| "soon".into()));
        assert_eq!(unreadable.shutdown_timeout, Duration::from_secs(2), "kept, with a warning");
        let key = config.api_key.as_ref().map(|k| (k.key.as_str(), k.source));
        assert_eq!(key, Some(("0123456789abcdef0123456789abcdef", KeySource::Environment)));
        assert!(!format!("{config:?}").contains("0123456789abcdef"), "Debug never shows the key");
        assert_eq!(config.notify_release_stages, Some(vec!["production".into(), "staging".into()]));
        assert_eq!(config.params_filters, ["ssn"]);
        assert!(!config.send_code);
    }
}
