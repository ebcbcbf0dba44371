//! A plain Rust program reporting to Bugsnag: a handled chained error, a report with
//! metadata and a user, and a panic in a worker thread.
//!
//! Configure it with `BUGSNAG_*` variables; `cargo xtask demo` points it at a local
//! collector: `BUGSNAG_API_KEY=... BUGSNAG_ENDPOINT=http://127.0.0.1:PORT/notify`.

use std::fmt;

use bugsnag::{Configuration, Options, Severity, User};
use serde_json::json;

/// The error this program's "business logic" returns.
#[derive(Debug)]
struct ConfigError {
    path: &'static str,
    source: std::num::ParseIntError,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "could not read {}", self.path)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

fn load_port() -> Result<u16, ConfigError> {
    "eighty".parse().map_err(|source| ConfigError { path: "settings.toml", source })
}

fn main() {
    let _bugsnag = bugsnag::configure(Configuration::from_env().app_version("1.0.0").app_type("cli"));
    // A flag every event of this process carries.
    bugsnag::add_feature_flag("fast-import", None);

    // A handled error with its cause: two exceptions, severity warning.
    if let Err(err) = load_port() {
        bugsnag::notify(&err);
    }

    // Context, user and a metadata tab for what follows, then a report with options.
    bugsnag::configure_request(|scope| {
        scope.set_context("nightly-import");
        scope.set_user(User::id("bob-hoskins").with_name("Bob Hoskins"));
    });
    bugsnag::add_metadata_tab("account", json!({"name": "ACME Inc.", "password": "never sent"}));
    bugsnag::notify_message_with(
        "import skipped 3 rows",
        Options::new()
            .error_class("ImportWarning")
            .severity(Severity::Info)
            .add_metadata_tab("import", json!({"rows": 3})),
    );

    // A panic in a worker thread: reported by the panic hook before the thread ends.
    let worker = std::thread::Builder::new().name("importer".into()).spawn(|| {
        let rows: Vec<u32> = Vec::new();
        let _first = rows[0];
    });
    let _ = worker.expect("spawn the importer").join();
}
