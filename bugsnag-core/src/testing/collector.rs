//! [`Collector`]: the loopback Bugsnag endpoint, its scripted [`Reply`]s, what it
//! [`Received`], and the [`Observer`] tools hook into it.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::Value;

use crate::config::Configuration;

use super::{assert_valid, schema_errors, API_KEY};

/// How the collector answers one request.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    delay: Duration,
    retry_after: Option<String>,
    drop_connection: bool,
}

impl Reply {
    /// Answers with `status`.
    pub fn status(status: u16) -> Self {
        Self { status, delay: Duration::ZERO, retry_after: None, drop_connection: false }
    }
    /// Closes the connection without answering.
    pub fn drop_connection() -> Self {
        Self { drop_connection: true, ..Self::status(200) }
    }
    /// Never answers within any sane timeout.
    pub fn hang() -> Self {
        Self::status(200).delay(Duration::from_secs(3600))
    }
    /// Waits before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
    /// Adds a `Retry-After` header.
    pub fn retry_after(mut self, value: impl Into<String>) -> Self {
        self.retry_after = Some(value.into());
        self
    }
}

/// One request the collector received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request path, such as `/notify` or `/sessions`.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The parsed body (`Value::Null` if it was not JSON).
    pub body: Value,
    /// The body's size in bytes.
    pub size: usize,
    /// The status the collector answered with (0 for a dropped connection).
    pub status: u16,
    /// Where the body breaks the API schema, or its `Bugsnag-Integrity` header does not
    /// match it; empty when valid.
    pub schema_errors: Vec<String>,
    /// When the request arrived.
    pub received_at: Instant,
    /// The body as received, by a collector that does not validate: parsed only when
    /// the requests are read, so that parsing does not slow the endpoint down.
    unparsed: Option<Bytes>,
}

impl Received {
    /// This request with its body parsed, if the collector left it for later.
    fn parsed(mut self) -> Self {
        if let Some(raw) = self.unparsed.take() {
            self.body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        }
        self
    }
}

/// Copies of `received`, bodies parsed, after asserting that each validates.
fn read(received: &[Received]) -> Vec<Received> {
    let requests: Vec<Received> = received.iter().cloned().map(Received::parsed).collect();
    assert_valid(&requests);
    requests
}

/// What a tool built on a [`Collector`] does with the requests it gets: sees each payload
/// as it arrives, and answers `GET` requests with pages of its own.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use bugsnag_core::testing::{Collector, Observer, Page, Received};
///
/// #[derive(Default)]
/// struct Counter(AtomicUsize);
///
/// impl Observer for Counter {
///     fn received(&self, _: &Received) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
///     fn page(&self, path_and_query: &str) -> Option<Page> {
///         let body = self.0.load(Ordering::Relaxed).to_string();
///         (path_and_query == "/count").then(|| Page { content_type: "text/plain", body })
///     }
/// }
///
/// let counter = Arc::new(Counter::default());
/// let collector = Collector::start_with(([127, 0, 0, 1], 0).into(), Some(counter.clone())).unwrap();
/// # let _ = collector;
/// ```
pub trait Observer: Send + Sync + 'static {
    /// Called with each request the collector records, as it arrives.
    fn received(&self, request: &Received);
    /// Answers `GET path_and_query` (such as `/?event=3`); `None` answers 404.
    fn page(&self, path_and_query: &str) -> Option<Page>;
}

/// A page an [`Observer`] serves.
#[derive(Debug, Clone)]
pub struct Page {
    /// The `Content-Type`, such as `text/html; charset=utf-8`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

#[derive(Default)]
struct State {
    received: Mutex<Vec<Received>>,
    arrived: Condvar,
    script: Mutex<VecDeque<Reply>>,
    path_scripts: Mutex<BTreeMap<String, VecDeque<Reply>>>,
    default_reply: Mutex<Option<Reply>>,
    refused_messages: Mutex<Vec<String>>,
    observer: Option<Arc<dyn Observer>>,
    /// Off only for throughput benchmarks: the schema check is slower than the notifier.
    validate: bool,
}

/// A loopback Bugsnag endpoint. Stops when dropped.
pub struct Collector {
    url: String,
    state: Arc<State>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector").field("url", &self.url).field("requests", &self.requests().len()).finish()
    }
}

impl Collector {
    /// Starts a collector on its own thread; it answers 200 unless scripted otherwise.
    pub fn start() -> Self {
        Self::start_with(SocketAddr::from(([127, 0, 0, 1], 0)), None).expect("bind a loopback port")
    }

    /// Starts a collector listening on `addr`, with an [`Observer`] that sees every
    /// request and answers `GET` requests (which are then not recorded).
    pub fn start_with(addr: SocketAddr, observer: Option<Arc<dyn Observer>>) -> std::io::Result<Self> {
        Self::serve_on(addr, State { observer, validate: true, ..State::default() })
    }

    /// A collector that does not check payloads against the schemas, for throughput
    /// benchmarks (validating a payload takes longer than the notifier takes to send
    /// it). Tests use [`start`](Self::start).
    pub fn start_unvalidated() -> Self {
        Self::serve_on(SocketAddr::from(([127, 0, 0, 1], 0)), State::default()).expect("bind a loopback port")
    }

    fn serve_on(addr: SocketAddr, state: State) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(state);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let served = state.clone();
        std::thread::Builder::new()
            .name("bugsnag-collector".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("collector runtime");
                runtime.block_on(serve(listener, served, stopped));
                runtime.shutdown_background();
            })
            .expect("collector thread");
        Ok(Self { url, state, _stop: stop })
    }

    /// The base URL, such as `http://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A configuration that sends events to `/notify` and sessions to `/sessions` here.
    pub fn configuration(&self) -> Configuration {
        Configuration::default()
            .api_key(API_KEY)
            .endpoint(format!("{}/notify", self.url))
            .session_endpoint(format!("{}/sessions", self.url))
            .delivery_timeout(Duration::from_secs(5))
    }

    /// Answers the next requests with these replies, in order, then with 200 again.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// Answers the next requests to `path` (such as `/sessions`) with these replies, in
    /// order, before any reply given to [`script`](Self::script).
    pub fn script_path(&self, path: &str, replies: impl IntoIterator<Item = Reply>) {
        self.state.path_scripts.lock().unwrap().entry(path.to_owned()).or_default().extend(replies);
    }

    /// Answers with `reply` once the scripts are used up (200 otherwise), such as a
    /// delay that every request waits.
    pub fn answer_by_default(&self, reply: Reply) {
        *self.state.default_reply.lock().unwrap() = Some(reply);
    }

    /// Answers 400 to every event payload that holds an event whose outermost message
    /// is `message`: an event the API refuses, whatever else its payload carries (a
    /// collector from [`start_unvalidated`](Self::start_unvalidated) reads no payload,
    /// so refuses none).
    pub fn refuse_events_with(&self, message: &str) {
        self.state.refused_messages.lock().unwrap().push(message.to_owned());
    }

    /// Every request received so far, after asserting that each validates against the
    /// API schemas (as every method that hands out payloads does).
    pub fn requests(&self) -> Vec<Received> {
        read(&self.state.received.lock().unwrap())
    }

    /// Waits until `count` requests have arrived or `timeout` passes; returns them all,
    /// schema-checked.
    pub fn wait_for_requests(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        let mut received = self.state.received.lock().unwrap();
        while received.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            received = self.state.arrived.wait_timeout(received, left).unwrap().0;
        }
        read(&received)
    }

    /// Waits until the events received so far satisfy `done`, or `timeout` passes;
    /// returns them (schema-checked, as [`events`](Self::events) does). A condition to
    /// wait on instead of a sleep.
    ///
    /// ```no_run
    /// # let collector = bugsnag_core::testing::Collector::start();
    /// let events = collector.wait_for(std::time::Duration::from_secs(10), |events| events.len() >= 3);
    /// assert_eq!(events.len(), 3);
    /// ```
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut received = self.state.received.lock().unwrap();
        loop {
            let events = events_of(&read(&received));
            let left = deadline.saturating_duration_since(Instant::now());
            if done(&events) || left.is_zero() {
                return events;
            }
            received = self.state.arrived.wait_timeout(received, left).unwrap().0;
        }
    }

    /// Requests answered with a 2xx status (what a real endpoint accepted), schema-checked.
    pub fn accepted(&self) -> Vec<Received> {
        self.requests().into_iter().filter(|r| (200..300).contains(&r.status)).collect()
    }

    /// Sessions started, summed over every session payload received (all schema-checked).
    pub fn sessions_started(&self) -> u64 {
        self.requests()
            .iter()
            .filter(|r| r.path.ends_with("/sessions"))
            .flat_map(|r| r.body["sessionCounts"].as_array().cloned().unwrap_or_default())
            .filter_map(|count| count["sessionsStarted"].as_u64())
            .sum()
    }

    /// Panics if any byte received (headers or bodies) holds `planted-`, the mark of
    /// [`PLANTED_HEADERS`](super::PLANTED_HEADERS), [`PLANTED_QUERY`](super::PLANTED_QUERY) and [`get_with_planted_secrets`](super::get_with_planted_secrets).
    pub fn assert_no_planted_secret(&self) {
        for request in self.requests() {
            let body = serde_json::to_string(&request.body).unwrap_or_default();
            let headers = format!("{:?}", request.headers);
            for (place, text) in [("body", &body), ("headers", &headers)] {
                if let Some(at) = text.find("planted-") {
                    let start = text[..at].char_indices().rev().nth(120).map_or(0, |(i, _)| i);
                    let end = text[at..].char_indices().nth(60).map_or(text.len(), |(i, _)| at + i);
                    panic!("a planted secret reached the collector's {place}: …{}…", &text[start..end]);
                }
            }
        }
    }

    /// The message of each event's outermost error, sorted (events may arrive in any
    /// order), after the same schema check as [`events`](Self::events).
    pub fn messages(&self) -> Vec<String> {
        let mut messages: Vec<String> = self
            .events()
            .iter()
            .map(|e| e["exceptions"][0]["message"].as_str().unwrap_or_default().to_owned())
            .collect();
        messages.sort();
        messages
    }

    /// The events of every `/notify` payload received, after asserting that every
    /// payload received (events and sessions) validates against the API schemas.
    pub fn events(&self) -> Vec<Value> {
        events_of(&self.requests())
    }
}

/// The events of the `/notify` payloads among `requests`.
fn events_of(requests: &[Received]) -> Vec<Value> {
    requests
        .iter()
        .filter(|r| r.path.ends_with("/notify"))
        .flat_map(|r| r.body["events"].as_array().cloned().unwrap_or_default())
        .collect()
}

async fn serve(listener: std::net::TcpListener, state: Arc<State>, mut stopped: tokio::sync::oneshot::Receiver<()>) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted { Ok((stream, _)) => stream, Err(_) => continue },
            _ = &mut stopped => return,
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| handle(request, state.clone()));
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

#[derive(Debug)]
struct Dropped;
impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by script")
    }
}
impl std::error::Error for Dropped {}

async fn handle(request: Request<Incoming>, state: Arc<State>) -> Result<Response<Full<Bytes>>, Dropped> {
    let received_at = Instant::now();
    if let (Some(observer), &hyper::Method::GET) = (&state.observer, request.method()) {
        let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
        return Ok(match observer.page(target) {
            Some(page) => {
                let mut response = Response::new(Full::new(Bytes::from(page.body)));
                response
                    .headers_mut()
                    .insert(hyper::header::CONTENT_TYPE, page.content_type.parse().expect("a MIME type"));
                response
            }
            None => {
                let mut response = Response::new(Full::new(Bytes::from_static(b"not found")));
                *response.status_mut() = StatusCode::NOT_FOUND;
                response
            }
        });
    }
    let path = request.uri().path().to_owned();
    let headers: BTreeMap<String, String> = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let bytes = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let (body, unparsed) = match state.validate {
        true => (serde_json::from_slice(&bytes).unwrap_or(Value::Null), None),
        false => (Value::Null, Some(bytes.clone())),
    };
    let mut schema_errors = match (&body, state.validate) {
        (_, false) => Vec::new(),
        (Value::Null, true) => vec!["body is not JSON".to_owned()],
        (_, true) => schema_errors(&path, &body),
    };
    // Bugsnag's own harness (maze-runner) refuses a request whose integrity header is
    // missing or does not match its exact body.
    let integrity = headers.get("bugsnag-integrity");
    if state.validate && integrity != Some(&crate::model::integrity_of(&bytes)) {
        schema_errors.push(format!("Bugsnag-Integrity is {integrity:?}, not the sha1 of the body"));
    }
    let refused = {
        let refused = state.refused_messages.lock().unwrap();
        let events = body["events"].as_array().map(Vec::as_slice).unwrap_or_default();
        events.iter().any(|e| refused.iter().any(|m| e["exceptions"][0]["message"] == m.as_str()))
    };
    let for_path = state.path_scripts.lock().unwrap().get_mut(&path).and_then(VecDeque::pop_front);
    let reply = match for_path.or_else(|| state.script.lock().unwrap().pop_front()) {
        _ if refused => Reply::status(400),
        Some(reply) => reply,
        None => state.default_reply.lock().unwrap().clone().unwrap_or_else(|| Reply::status(200)),
    };
    let status = if reply.drop_connection { 0 } else { reply.status };
    let received = Received { path, headers, body, size: bytes.len(), status, schema_errors, received_at, unparsed };
    if let Some(observer) = &state.observer {
        observer.received(&received);
    }
    state.received.lock().unwrap().push(received);
    state.arrived.notify_all();
    // Even a zero sleep waits for the timer's next 1 ms tick; only sleep when scripted.
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    if reply.drop_connection {
        return Err(Dropped);
    }
    let mut response = Response::new(Full::new(Bytes::from_static(b"OK")));
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
    if let Some(retry_after) = reply.retry_after.and_then(|v| v.parse().ok()) {
        response.headers_mut().insert("retry-after", retry_after);
    }
    Ok(response)
}
