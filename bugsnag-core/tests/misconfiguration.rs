//! A misconfigured notifier is silent, so each misconfiguration must reach the user: on
//! standard error when no `tracing` subscriber is set (each case runs in a child
//! process, as a new program would). And `debug` shows what happens to every report.

use std::process::Command;

use bugsnag_core::testing::Collector;
use bugsnag_core::{Client, Configuration};

const CHILD: &str = "BUGSNAG_MISCONFIGURED_CHILD";

/// The parts children play; a no-op in the test suite itself.
#[test]
fn child() {
    let Ok(part) = std::env::var(CHILD) else { return };
    let url = std::env::var("COLLECTOR_URL").unwrap_or_default();
    match part.as_str() {
        "placeholder" => drop(Client::new(Configuration::from_env().api_key("YOUR_API_KEY_HERE"))),
        "placeholder in the environment" => drop(Client::new(Configuration::from_env())),
        "no key" => drop(Client::new(Configuration::default())),
        "deserialized" => {
            let config: Configuration = serde_json::from_str(r#"{"app_version": "1.0"}"#).unwrap();
            drop(Client::new(config));
        }
        "bad endpoint" => drop(Client::new(Configuration::from_env().endpoint("ftp://nowhere"))),
        "callback first" => bugsnag_core::before_notify(|_| bugsnag_core::Decision::Send),
        "project root" => drop(Client::new(Configuration::from_env().project_root("/path/to/your/app"))),
        "no frame under root" => {
            // A directory that exists, but holds none of this program's code (not the
            // temporary directory itself: a checkout may live under it).
            let root = std::env::temp_dir().join(format!("bugsnag-empty-root-{}", std::process::id()));
            std::fs::create_dir_all(&root).unwrap();
            let config = Configuration::from_env()
                .endpoint(format!("{url}/notify"))
                .session_endpoint(format!("{url}/sessions"))
                .project_root(&root);
            let client = Client::new(config);
            client.notify_message("where is my code");
            assert!(client.flush(std::time::Duration::from_secs(10)));
        }
        "debug" => {
            let config = Configuration::from_env()
                .endpoint(format!("{url}/notify"))
                .session_endpoint(format!("{url}/sessions"))
                .debug(true);
            let client = Client::new(config);
            client.notify_message("traced");
            assert!(client.flush(std::time::Duration::from_secs(10)));
        }
        "no scheme" => {
            let host = url.trim_start_matches("http://");
            let config = Configuration::from_env()
                .endpoint(format!("{host}/notify"))
                .session_endpoint(format!("{host}/sessions"));
            let client = Client::new(config);
            assert!(client.notify_message("sent without a scheme").is_queued());
            assert!(client.flush(std::time::Duration::from_secs(10)));
        }
        "guard dropped" => {
            let config =
                Configuration::from_env().endpoint(format!("{url}/notify")).session_endpoint(format!("{url}/sessions"));
            #[allow(clippy::let_underscore_must_use)]
            let _ = bugsnag_core::configure(config);
            let outcome = bugsnag_core::notify_message("after the guard");
            assert_eq!(outcome, bugsnag_core::Outcome::Dropped(bugsnag_core::DropReason::ShutDown));
            bugsnag_core::notify_message("told once");
        }
        "unsent at shutdown" | "unsent at shutdown, outbox" => {
            let mut config = Configuration::from_env()
                .endpoint(format!("{url}/notify"))
                .session_endpoint(format!("{url}/sessions"))
                .shutdown_timeout(std::time::Duration::from_millis(300));
            // The process-wide client always has an outbox (its program's directory by
            // default); a client of one's own has one only when given.
            if let Ok(dir) = std::env::var("OUTBOX_DIR") {
                config = config.outbox_dir(dir);
            }
            let client = Client::new(config);
            for n in 0..3 {
                assert!(client.notify_message(format!("stuck {n}")).is_queued());
            }
            let _ = client.shutdown(std::time::Duration::from_millis(300));
        }
        other => panic!("unknown part {other}"),
    }
}

fn stderr_of(part: &str, env: &[(&str, &str)]) -> String {
    // A cache of its own: what one part's shutdown keeps is not another part's to send.
    let cache = std::env::temp_dir().join(format!("bugsnag-misconfiguration-{}", uuid::Uuid::new_v4()));
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, part)
        .env("XDG_CACHE_HOME", &cache)
        .env_remove("BUGSNAG_API_KEY")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(cache);
    assert!(output.status.success(), "{part}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn each_misconfiguration_is_told_on_stderr_without_a_subscriber() {
    let key = [("BUGSNAG_API_KEY", bugsnag_core::testing::API_KEY)];
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let placeholder = [("BUGSNAG_API_KEY", "YOUR_API_KEY")];
    let cases: [Case<'_>; 7] = [
        ("placeholder", &key, "placeholder copied from documentation, and it is set over BUGSNAG_API_KEY"),
        (
            "placeholder in the environment",
            &placeholder,
            "BUGSNAG_API_KEY holds a placeholder copied from documentation",
        ),
        ("no key", &[], "no Bugsnag API key is configured (set BUGSNAG_API_KEY)"),
        ("deserialized", &key, "BUGSNAG_API_KEY is set, but this Configuration never read the environment"),
        ("bad endpoint", &key, "the endpoint \"ftp://nowhere\" is not an http(s) URL"),
        ("callback first", &[], "before_notify was called before bugsnag_core::configure"),
        ("project root", &key, "project_root /path/to/your/app is not a directory"),
    ];
    for (part, env, expected) in cases {
        let stderr = stderr_of(part, env);
        let line = stderr.lines().find(|l| l.starts_with("[bugsnag] ")).unwrap_or_else(|| panic!("{part}: {stderr}"));
        assert!(line.contains(expected), "{part}: {line}");
        assert!(!stderr.contains(bugsnag_core::testing::API_KEY), "the key itself is never printed");
        assert!(!stderr.contains("YOUR_API_KEY"), "nor a placeholder");
    }
}

#[test]
fn a_report_with_no_frame_under_the_project_root_is_told() {
    let collector = Collector::start();
    let stderr = stderr_of(
        "no frame under root",
        &[("BUGSNAG_API_KEY", bugsnag_core::testing::API_KEY), ("COLLECTOR_URL", collector.url())],
    );
    assert!(stderr.contains("[bugsnag] no frame of this Bugsnag report is under project_root"), "{stderr}");
    assert_eq!(collector.events().len(), 1, "the report is still sent");
}

#[test]
fn debug_tells_what_happened_to_each_report() {
    let collector = Collector::start();
    let stderr =
        stderr_of("debug", &[("BUGSNAG_API_KEY", bugsnag_core::testing::API_KEY), ("COLLECTOR_URL", collector.url())]);
    assert!(stderr.contains("[bugsnag debug] notify: Queued"), "{stderr}");
    assert!(stderr.contains("[bugsnag debug] Event payload of"), "{stderr}");
    assert!(stderr.contains("Delivered"), "{stderr}");
    assert_eq!(collector.events().len(), 1);
}

#[test]
fn an_endpoint_without_a_scheme_is_told_and_a_local_one_gets_http() {
    let collector = Collector::start();
    let stderr = stderr_of(
        "no scheme",
        &[("BUGSNAG_API_KEY", bugsnag_core::testing::API_KEY), ("COLLECTOR_URL", collector.url())],
    );
    let expected = format!("has no scheme; using {}/notify", collector.url());
    assert!(stderr.lines().any(|l| l.starts_with("[bugsnag] ") && l.contains(&expected)), "{stderr}");
    assert_eq!(collector.messages(), ["sent without a scheme"]);
}

#[test]
fn a_report_after_the_guard_was_dropped_is_refused_and_told_once() {
    let collector = Collector::start();
    let stderr = stderr_of(
        "guard dropped",
        &[("BUGSNAG_API_KEY", bugsnag_core::testing::API_KEY), ("COLLECTOR_URL", collector.url())],
    );
    let told: Vec<&str> =
        stderr.lines().filter(|l| l.contains("guard returned by bugsnag_core::configure was dropped")).collect();
    assert_eq!(told.len(), 1, "{stderr}");
    assert!(told[0].contains("keep the guard in a named binding"), "{}", told[0]);
    assert!(collector.events().is_empty(), "nothing is sent after the guard is gone");
}

#[test]
fn what_a_shutdown_leaves_unsent_is_told_with_where_it_went() {
    for (part, expected) in [
        ("unsent at shutdown", "3 events were still unsent when the shutdown timeout (300ms) ran out and are lost if the process ends now (set outbox_dir"),
        ("unsent at shutdown, outbox", "3 events were still unsent when the shutdown timeout (300ms) ran out; they were written to the outbox"),
    ] {
        let collector = Collector::start();
        collector.script(std::iter::repeat_n(bugsnag_core::testing::Reply::hang(), 10));
        let outbox = std::env::temp_dir().join(format!("bugsnag-unsent-{}", std::process::id()));
        let mut env = vec![("BUGSNAG_API_KEY", bugsnag_core::testing::API_KEY), ("COLLECTOR_URL", collector.url())];
        if part.ends_with("outbox") {
            env.push(("OUTBOX_DIR", outbox.to_str().unwrap()));
        }
        let stderr = stderr_of(part, &env);
        let kept = bugsnag_core::testing::events_in_outbox(&outbox);
        let _ = std::fs::remove_dir_all(&outbox);
        assert_eq!(kept, if part.ends_with("outbox") { 3 } else { 0 }, "{part}: the events are in the outbox");
        let line = stderr.lines().find(|l| l.starts_with("[bugsnag] Bugsnag shutdown:")).unwrap_or_else(|| panic!("{part}: {stderr}"));
        assert!(line.contains(expected), "{part}: {line}");
    }
}
