//! A loopback emulator of Lambda's Runtime API (feature `testing`), for tests and demos
//! of a real `lambda_runtime` function run as a child process: it hands out invocations,
//! records each answer, and, as Lambda does, freezes the function (`SIGSTOP`) the moment
//! it asks for its next invocation, and kills it (`SIGKILL`) at a deadline.
//!
//! Point the function at it with [`RuntimeApi::environment`]; tell it the function's
//! process with [`RuntimeApi::set_function`]. While the function is frozen, the
//! `on_freeze` callback runs: what a collector holds then is all Lambda would have sent.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::Value;

/// Called with the request id of the invocation just answered, while the function is
/// frozen.
pub type OnFreeze = Box<dyn Fn(&str) + Send + Sync>;

/// One invocation to hand out.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// `Lambda-Runtime-Aws-Request-Id`.
    pub request_id: String,
    /// The event.
    pub event: Value,
    /// The deadline, from when the invocation is handed out.
    pub deadline_in: Duration,
    /// `Lambda-Runtime-Trace-Id` (X-Ray), when there is one.
    pub trace_id: Option<String>,
    /// Whether to kill the function at the deadline, as Lambda does.
    pub kill_at_deadline: bool,
}

/// How the function answered an invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// The invocation's request id.
    pub request_id: String,
    /// `response` or `error`.
    pub kind: String,
    /// The body it posted.
    pub body: Value,
}

/// The invoked function's ARN every invocation carries.
pub const FUNCTION_ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function:checkout";

struct State {
    invocations: Mutex<VecDeque<Invocation>>,
    answers: Mutex<Vec<Answer>>,
    answered: Condvar,
    function: AtomicU32,
    /// An invocation was handed out: the next `next` comes after its answer.
    handed_out: Mutex<Option<String>>,
    on_freeze: OnFreeze,
}

/// The emulator: an HTTP server on `127.0.0.1:0`, on a thread of its own.
pub struct RuntimeApi {
    addr: SocketAddr,
    state: Arc<State>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl RuntimeApi {
    /// Starts the emulator with the invocations to hand out, in order; once they are all
    /// out, a request for the next one waits for ever (the function idles, as on Lambda).
    pub fn start(invocations: Vec<Invocation>, on_freeze: OnFreeze) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(State {
            invocations: Mutex::new(invocations.into()),
            answers: Mutex::default(),
            answered: Condvar::new(),
            function: AtomicU32::new(0),
            handed_out: Mutex::new(None),
            on_freeze,
        });
        let served = state.clone();
        std::thread::Builder::new()
            .name("lambda-runtime-api".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
                runtime.expect("emulator runtime").block_on(serve(listener, served));
            })
            .expect("emulator thread");
        Self { addr, state }
    }

    /// The environment a `lambda_runtime` function reads, pointed at this emulator.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_LAMBDA_RUNTIME_API", self.addr.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", "checkout".into()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "7".into()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/checkout".into()),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/06/[7]0123456789abcdef".into()),
        ]
    }

    /// The function's process, to freeze and kill.
    pub fn set_function(&self, pid: u32) {
        self.state.function.store(pid, Ordering::SeqCst);
    }

    /// Waits until `count` invocations were answered, or `timeout` passes; returns the
    /// answers so far.
    pub fn wait_for_answers(&self, count: usize, timeout: Duration) -> Vec<Answer> {
        let answers = self.state.answers.lock().unwrap();
        let (answers, _) = self.state.answered.wait_timeout_while(answers, timeout, |a| a.len() < count).unwrap();
        answers.clone()
    }
}

fn signal(pid: u32, signal: &str) {
    if pid != 0 {
        let _ = std::process::Command::new("kill").args([signal, &pid.to_string()]).status();
    }
}

async fn serve(listener: std::net::TcpListener, state: Arc<State>) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    while let Ok((stream, _)) = listener.accept().await {
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| answer(request, state.clone()));
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

async fn answer(request: Request<Incoming>, state: Arc<State>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    if path.ends_with("/runtime/invocation/next") {
        return Ok(next(&state).await);
    }
    let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if let ["2018-06-01", "runtime", "invocation", id, kind] = parts.as_slice() {
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let answer = Answer { request_id: (*id).to_owned(), kind: (*kind).to_owned(), body };
        state.answers.lock().unwrap().push(answer);
        state.answered.notify_all();
    }
    Ok(Response::builder().status(202).body(Full::new(Bytes::new())).expect("a response"))
}

/// The next invocation, after freezing the function as Lambda does when it asks.
async fn next(state: &Arc<State>) -> Response<Full<Bytes>> {
    let finished = state.handed_out.lock().unwrap().take();
    if let Some(request_id) = finished {
        let pid = state.function.load(Ordering::SeqCst);
        signal(pid, "-STOP");
        (state.on_freeze)(&request_id);
        signal(pid, "-CONT");
    }
    let Some(invocation) = state.invocations.lock().unwrap().pop_front() else {
        // No more work: the function waits here, as it would on Lambda.
        return std::future::pending().await;
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let deadline = now + invocation.deadline_in;
    *state.handed_out.lock().unwrap() = Some(invocation.request_id.clone());
    if invocation.kill_at_deadline {
        let pid = state.function.load(Ordering::SeqCst);
        tokio::spawn(async move {
            tokio::time::sleep(invocation.deadline_in).await;
            signal(pid, "-KILL");
        });
    }
    let mut response = Response::builder()
        .header("Lambda-Runtime-Aws-Request-Id", &invocation.request_id)
        .header("Lambda-Runtime-Deadline-Ms", deadline.as_millis().to_string())
        .header("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN)
        .header("Content-Type", "application/json");
    if let Some(trace) = &invocation.trace_id {
        response = response.header("Lambda-Runtime-Trace-Id", trace);
    }
    response.body(Full::new(Bytes::from(invocation.event.to_string()))).expect("a response")
}
