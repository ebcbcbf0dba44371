//! `cargo xtask browser`: the inbox page as a person sees it, in headless Chromium driven
//! through chromedriver's WebDriver API. It checks the groups and their counts, an
//! event's stack with its in-project frames marked and their code shown, that an event
//! arriving while the page is open appears, and that nothing a report carries runs as
//! script. A screenshot is kept in `target/browser/inbox.png`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (or `CHROMIUM` and `CHROMEDRIVER`
//! set to the programs). Without them the check is skipped with a message, unless `CI`
//! is set: then it fails.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bugsnag_core::{Client, Options};
use serde_json::{json, Value};

use bugsnag_inbox::{self as inbox, Store};

const WAIT: Duration = Duration::from_secs(20);

/// What a report must never do to the page: each string would change the title or add
/// an element if it were not escaped.
const HOSTILE: &str =
    "<img src=x onerror=\"document.title='pwned'\"><script>document.title='pwned'</script><b id=injected>";

#[derive(Debug)]
struct InboxCheckError;

impl std::fmt::Display for InboxCheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("order 7 has no lines")
    }
}
impl std::error::Error for InboxCheckError {}

/// Runs the check; see the module's documentation.
pub(crate) fn check(root: &Path, target: &Path) -> Result<(), String> {
    let Some((chromium, chromedriver)) = find_programs()? else { return Ok(()) };
    eprintln!("$ browser check: the inbox page in {}", chromium.display());
    let dir = target.join("browser");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("could not create {}: {e}", dir.display()))?;

    let (collector, _inbox) = inbox::start(SocketAddr::from(([127, 0, 0, 1], 0)), Store::in_memory(), false)?;
    let client = Client::new(collector.configuration().project_root(root).app_version("1.2.3"));
    client.add_feature_flag("new-checkout", Some("variant-b"));
    for _ in 0..2 {
        report_order_error(&client);
    }
    let hostile =
        Options::new().context(HOSTILE).error_class(HOSTILE).add_metadata_tab(HOSTILE, json!({ HOSTILE: HOSTILE }));
    client.notify_message_with(HOSTILE, hostile);
    // The same error with no frame in project: grouped by its class alone.
    let elsewhere = Client::new(collector.configuration().project_root(&dir));
    elsewhere.notify_with(&InboxCheckError, Options::new().context("no in-project frame"));
    if !client.flush(WAIT) || !elsewhere.flush(WAIT) {
        return Err("the inbox did not receive the reports".into());
    }

    let driver = Driver::start(&chromedriver, &chromium, &dir)?;
    driver.call("POST", "url", json!({ "url": collector.url() }))?;
    let groups = driver.eval(
        "return [...document.querySelectorAll('#groups tr.group')].map(r => ({text: r.innerText, count: r.querySelector('.count').innerText}))",
    )?;
    let groups = groups.as_array().cloned().unwrap_or_default();
    let text = |g: &Value| g["text"].as_str().unwrap_or_default().to_owned();
    let by_frame = format!(
        "top in-project frame of the innermost exception: {}::InboxCheckError at {}:{}",
        module_path!(),
        file!(),
        REPORT_LINE
    );
    let ours = groups.iter().find(|g| text(g).contains(&by_frame));
    let by_class =
        groups.iter().find(|g| text(g).contains("error class only:") && text(g).contains("no in-project frame"));
    if groups.len() != 3 || ours.map(|g| g["count"].as_str()) != Some(Some("2")) || by_class.is_none() {
        return Err(format!(
            "expected 3 groups: InboxCheckError with 2 events, grouped by \"{by_frame}\", and once by its class alone; the page shows {groups:#?}"
        ));
    }
    assert_not_injected(&driver)?;

    // Open the group grouped by its frame as a person would, by its link (the group by
    // class alone names InboxCheckError too, and either may be listed first).
    driver.eval(&format!(
        "[...document.querySelectorAll('#groups tr.group')].find(r => r.innerText.includes({})).querySelector('a').click()",
        Value::String(by_frame.clone())
    ))?;
    let frames = driver.wait_for(
        "return location.search.startsWith('?event=') && document.readyState === 'complete' && \
         [...document.querySelectorAll('section.event li.frame.in-project')].map(f => ({text: f.innerText, marked: !!f.querySelector('pre.code mark')}))",
        |frames| frames.as_array().is_some_and(|f| !f.is_empty()),
    )?;
    let frame = &frames[0];
    let text = frame["text"].as_str().unwrap_or_default();
    if !text.contains("in project") || !text.contains("xtask/src/browser.rs") || frame["marked"] != true {
        return Err(format!(
            "the event's first frame should be in-project, in xtask/src/browser.rs, with its line marked: {frames:#}"
        ));
    }

    // An event that arrives while the page is open appears without a reload.
    client.notify_message_with("sent after the page opened", Options::new().error_class("ArrivedWhileOpen"));
    if !client.flush(WAIT) {
        return Err("the inbox did not receive the report sent while the page was open".into());
    }
    driver
        .wait_for("return document.querySelector('#groups').innerText.includes('ArrivedWhileOpen')", |v| v == true)?;
    assert_not_injected(&driver)?;

    let screenshot = driver.call("GET", "screenshot", Value::Null)?;
    let png = base64::engine::general_purpose::STANDARD
        .decode(screenshot.as_str().unwrap_or_default())
        .map_err(|e| format!("the screenshot is not base64: {e}"))?;
    let path = dir.join("inbox.png");
    std::fs::write(&path, png).map_err(|e| format!("could not write {}: {e}", path.display()))?;
    eprintln!(
        "browser check passed: 3 groups with their grouping reasons, in-project frames marked, live update, nothing injected; {}",
        path.display()
    );
    Ok(())
}

/// The line of the report below: what its group is keyed by.
const REPORT_LINE: u32 = line!() + 3;

fn report_order_error(client: &Client) {
    client.notify_with(&InboxCheckError, Options::new().context("GET /orders/{id}"));
}

fn assert_not_injected(driver: &Driver) -> Result<(), String> {
    let found = driver.eval(
        "return {title: document.title, injected: document.querySelectorAll('img, #injected, script:not([data-inbox])').length}",
    )?;
    if found != json!({"title": "Bugsnag inbox", "injected": 0}) {
        return Err(format!("a report's text became part of the page: {found}"));
    }
    Ok(())
}

/// Chromium and chromedriver, or `None` (with a message) when they are missing outside CI.
fn find_programs() -> Result<Option<(PathBuf, PathBuf)>, String> {
    let find = |var: &str, name: &str| {
        std::env::var_os(var).map(PathBuf::from).or_else(|| {
            let paths = std::env::var_os("PATH")?;
            std::env::split_paths(&paths).map(|dir| dir.join(name)).find(|p| p.is_file())
        })
    };
    match (find("CHROMIUM", "chromium"), find("CHROMEDRIVER", "chromedriver")) {
        (Some(chromium), Some(driver)) => Ok(Some((chromium, driver))),
        _ if std::env::var_os("CI").is_some() => {
            Err("the browser check needs chromium and chromedriver: apt-get install chromium chromium-driver".into())
        }
        _ => {
            eprintln!(
                "SKIPPED the browser check: no chromium or chromedriver (apt-get install chromium chromium-driver)"
            );
            Ok(None)
        }
    }
}

/// A chromedriver process with one browser session; both end when dropped.
struct Driver {
    process: Child,
    http: reqwest::blocking::Client,
    session: String,
}

impl Driver {
    fn start(chromedriver: &Path, chromium: &Path, dir: &Path) -> Result<Self, String> {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let process = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", chromedriver.display()))?;
        let http = reqwest::blocking::Client::builder().no_proxy().timeout(WAIT).build().map_err(|e| e.to_string())?;
        let mut driver = Self { process, http, session: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + WAIT;
        while driver.call("GET", "status", Value::Null).map_or(true, |v| v["ready"] != true) {
            if Instant::now() > deadline {
                return Err("chromedriver did not become ready".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // The flags a root process in a closed network needs (no sandbox, no calls home).
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1400",
        ];
        let mut args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", dir.join("profile").display()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        }}});
        let created = driver.call("POST", "session", capabilities)?;
        let id = created["sessionId"].as_str().ok_or(format!("chromedriver gave no session: {created}"))?;
        driver.session = format!("{}/session/{id}", driver.session);
        Ok(driver)
    }

    /// A WebDriver command (`url`, `execute/sync`; "" for the session itself) on the
    /// session, or on chromedriver before the session exists; returns its `value`.
    fn call(&self, method: &str, command: &str, body: Value) -> Result<Value, String> {
        let url = if command.is_empty() { self.session.clone() } else { format!("{}/{command}", self.session) };
        let request = match method {
            "GET" => self.http.get(&url),
            "DELETE" => self.http.delete(&url),
            _ => self.http.post(&url).json(&body),
        };
        let response = request.send().map_err(|e| format!("{method} {url}: {e}"))?;
        let status = response.status();
        let answer: Value = response.json().map_err(|e| format!("{method} {url}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{method} {url}: {status}: {}", answer["value"]));
        }
        Ok(answer["value"].clone())
    }

    /// Runs a script in the page and returns what it returns.
    fn eval(&self, script: &str) -> Result<Value, String> {
        self.call("POST", "execute/sync", json!({"script": script, "args": []}))
    }

    /// Runs `script` until `done` accepts what it returns, for up to 20 s.
    fn wait_for(&self, script: &str, done: impl Fn(&Value) -> bool) -> Result<Value, String> {
        let deadline = Instant::now() + WAIT;
        loop {
            // A navigation under way makes a script fail; try again.
            let value = self.eval(script).unwrap_or(Value::Null);
            if done(&value) {
                return Ok(value);
            }
            if Instant::now() > deadline {
                return Err(format!("waited {WAIT:?} for the page: `{script}` last returned {value}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.call("DELETE", "", Value::Null);
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}
