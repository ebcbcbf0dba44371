//! The `bugsnag-inbox` program as a user runs it after `cargo install --path inbox`: the
//! same binary, started in a fresh directory outside this repository with nothing but
//! its own cache. A report sent to it shows on its page and is kept in its store.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bugsnag_core::{Client, Configuration};

/// Kills the inbox however the test ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_installed_inbox_runs_from_a_fresh_directory() {
    let fresh = std::env::temp_dir().join(format!("bugsnag-inbox-anywhere-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fresh);
    std::fs::create_dir_all(fresh.join("project")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_bugsnag-inbox"))
        .args(["--addr", "127.0.0.1:0"])
        .current_dir(fresh.join("project"))
        .env("XDG_CACHE_HOME", fresh.join("cache"))
        .env_remove("CARGO_MANIFEST_DIR")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut inbox = Running(child);
    let mut lines = BufReader::new(inbox.0.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first.strip_prefix("Bugsnag inbox: ").unwrap_or_else(|| panic!("{first}")).to_owned();

    let config = Configuration::default()
        .api_key(bugsnag_core::testing::API_KEY)
        .endpoint(format!("{url}/notify"))
        .session_endpoint(format!("{url}/sessions"))
        .auto_capture_sessions(false);
    let client = Client::new(config);
    client.notify(&std::io::Error::other("seen in the inbox"));
    assert!(client.flush(Duration::from_secs(20)));
    let received = lines.map_while(Result::ok).find(|l| l.starts_with("received"));
    assert!(received.as_deref().is_some_and(|l| l.contains("seen in the inbox")), "{received:?}");

    let http = reqwest::blocking::Client::builder().no_proxy().build().unwrap();
    let page = http.get(&url).send().unwrap().text().unwrap();
    assert!(page.contains("seen in the inbox"), "the page shows it");
    let store = std::fs::read_to_string(fresh.join("cache/bugsnag-inbox/received.jsonl")).unwrap();
    assert!(store.contains("seen in the inbox"), "kept in its store");
    drop(inbox);
    let _ = std::fs::remove_dir_all(&fresh);
}

#[test]
fn help_prints_the_usage() {
    let output = Command::new(env!("CARGO_BIN_EXE_bugsnag-inbox")).arg("--help").output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("bugsnag-inbox: ") && text.contains("--addr HOST:PORT"), "{text}");
    assert!(text.contains("/events.json"), "{text}");
}
