//! A local Bugsnag endpoint with a web page, for looking at the reports of a service
//! under development without a Bugsnag account: the `bugsnag-inbox` program (install it
//! with `cargo install --path inbox` from a checkout of this repository, and run it from
//! anywhere), also `cargo xtask inbox` inside the checkout.
//!
//! It is the notifier's test [`Collector`] (every payload schema-checked) with an
//! [`Observer`] that keeps payloads in a [`Store`] and serves the page:
//! - `GET /`: the groups, and the latest event; `GET /?event=N`: event `N`;
//! - `GET /count`: how many payloads arrived (the page polls it to refresh itself);
//! - `GET /events.json`: every event received, newest first, one JSON object each (the
//!   event as sent, with `receivedAt` in milliseconds and `grouping`, the reason it is
//!   grouped as it is).

mod event_view;
mod html;
mod page;
mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use bugsnag_core::testing::{Collector, Observer, Page, Received};

use page::View;
use store::Report;
pub use store::Store;

/// The address the inbox listens on unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9339";

/// The inbox's state, shared with the collector's threads.
#[derive(Debug)]
pub struct Inbox {
    store: Mutex<Store>,
    /// Known once the collector listens (the port may be chosen by the system).
    url: OnceLock<String>,
    /// Print a line per event received (the interactive command does; the demo prints
    /// its own summary).
    echo: bool,
}

impl Inbox {
    fn url(&self) -> &str {
        self.url.get().map_or("", String::as_str)
    }

    /// The page as a file that needs no server.
    pub fn snapshot(&self) -> String {
        page::render(&self.store.lock().unwrap(), &View::Snapshot, self.url())
    }
}

impl Observer for Inbox {
    fn received(&self, request: &Received) {
        let report = Report::arrived(request.path.clone(), request.body.clone(), request.schema_errors.clone());
        if self.echo {
            for event in report.body["events"].as_array().into_iter().flatten() {
                let exception = &event["exceptions"][0];
                println!(
                    "received {}: {} ({})",
                    exception["errorClass"].as_str().unwrap_or("-"),
                    exception["message"].as_str().unwrap_or_default(),
                    event["context"].as_str().unwrap_or("no context"),
                );
            }
            if !report.schema_errors.is_empty() {
                println!("  that payload breaks the API schema: {}", report.schema_errors.join("; "));
            }
        }
        self.store.lock().unwrap().add(report);
    }

    fn page(&self, path_and_query: &str) -> Option<Page> {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let store = self.store.lock().unwrap();
        match path {
            "/" => {
                let selected = query.split('&').find_map(|pair| pair.strip_prefix("event=")?.parse().ok());
                let body = page::render(&store, &View::Live { selected }, self.url());
                Some(Page { content_type: "text/html; charset=utf-8", body })
            }
            "/count" => Some(Page { content_type: "text/plain", body: store.reports().len().to_string() }),
            "/events.json" => Some(Page { content_type: "application/json", body: store.events_json() }),
            _ => None,
        }
    }
}

/// Starts an inbox on `addr` keeping payloads in `store`; `echo` prints a line per event.
pub fn start(addr: SocketAddr, store: Store, echo: bool) -> Result<(Collector, Arc<Inbox>), String> {
    let inbox = Arc::new(Inbox { store: Mutex::new(store), url: OnceLock::new(), echo });
    let collector = Collector::start_with(addr, Some(inbox.clone())).map_err(|e| {
        format!("could not listen on {addr}: {e} (is another inbox running? choose another with --addr)")
    })?;
    let _ = inbox.url.set(collector.url().to_owned());
    Ok((collector, inbox))
}

/// What `bugsnag-inbox --help` prints.
pub const USAGE: &str = "\
bugsnag-inbox: a local Bugsnag endpoint with a web page, for a service under development

usage: bugsnag-inbox [--addr HOST:PORT] [--store FILE] [--clear]

  --addr HOST:PORT   where to listen (default 127.0.0.1:9339)
  --store FILE       where payloads are kept across restarts (default: the cache
                     directory's bugsnag-inbox/received.jsonl, as the start line says)
  --clear            start with an empty store
  --help             this text

It prints the BUGSNAG_* environment to start your service with. Open its address in a
browser: events grouped as Bugsnag groups them, each group saying why. GET /events.json
gives every event received, newest first.";

/// `bugsnag-inbox [--addr HOST:PORT] [--store FILE] [--clear]`: runs until stopped,
/// keeping payloads in `store_path` unless `--store` names another file.
pub fn run(args: &[String], store_path: PathBuf) -> Result<(), String> {
    let mut addr = DEFAULT_ADDR.to_owned();
    let mut store_path = store_path;
    let mut clear = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs HOST:PORT")?.clone(),
            "--store" => store_path = PathBuf::from(args.next().ok_or("--store needs a file")?),
            "--clear" => clear = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown option {other}\n\n{USAGE}")),
        }
    }
    let addr: SocketAddr =
        addr.parse().map_err(|e| format!("--addr {addr}: {e} (expected HOST:PORT, such as {DEFAULT_ADDR})"))?;
    if clear {
        let _ = std::fs::remove_file(&store_path);
    }
    let store = Store::open(&store_path)?;
    let kept = store.reports().len();
    let (collector, _inbox) = start(addr, store, true)?;
    let url = collector.url();
    println!("Bugsnag inbox: {url}");
    println!("  {kept} payloads kept from earlier runs in {} (--clear to start empty)", store_path.display());
    println!("Point a service at it (any 32-hex-digit key will do; the inbox takes every key):");
    println!(
        "  BUGSNAG_API_KEY={} BUGSNAG_ENDPOINT={url}/notify BUGSNAG_SESSION_ENDPOINT={url}/sessions cargo run",
        bugsnag_core::testing::API_KEY
    );
    println!("Stop with Ctrl-C.");
    loop {
        std::thread::park();
    }
}

#[cfg(test)]
mod tests;
