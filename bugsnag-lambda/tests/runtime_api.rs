//! A real `lambda_runtime` function (this test binary, run again as a child process)
//! against a loopback Runtime API that freezes it (SIGSTOP) the moment it asks for its
//! next invocation, as Lambda does, and kills it (SIGKILL) at a deadline: what the
//! collector holds while the function is frozen is all Lambda would have let out.

use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bugsnag_core::testing::{self, assert_origin, Collector, API_KEY};
use bugsnag_lambda::testing::{Invocation, RuntimeApi, FUNCTION_ARN};
use bugsnag_lambda::BugsnagLambdaLayer;
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::{json, Value};
use tower::ServiceBuilder;

const CHILD: &str = "BUGSNAG_LAMBDA_CHILD";
const XRAY: &str = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

#[derive(Debug, thiserror::Error)]
enum PaymentErrorKind {
    #[error("the card was declined")]
    Declined(#[from] std::io::Error),
}

bugsnag_core::traced_error!(
    struct PaymentError(PaymentErrorKind);
);

#[inline(never)]
fn charge() -> Result<(), PaymentError> {
    let _receipt = std::fs::read("/no/such/receipt")?;
    Ok(())
}

#[inline(never)]
fn refund() -> Result<(), PaymentError> {
    let _ledger = std::fs::read("/no/such/ledger")?;
    Ok(())
}

/// The line of this file that holds `text`: where an error is made.
fn line_of(text: &str) -> u32 {
    let line = include_str!("runtime_api.rs").lines().position(|l| l.contains(text));
    line.expect("the failing line") as u32 + 1
}

async fn handler(event: LambdaEvent<Value>) -> Result<Value, lambda_runtime::Error> {
    match event.payload["action"].as_str().unwrap_or_default() {
        "handled" => {
            bugsnag_core::notify(&std::io::Error::other("receipt printer offline"));
        }
        "error" | "error-again" => charge()?,
        "refund" | "refund-again" => refund()?,
        "io" => drop(std::fs::read("/no/such/file")?),
        "panic" => panic!("the basket was empty"),
        "timeout" => tokio::time::sleep(Duration::from_secs(60)).await,
        _ => {}
    }
    Ok(json!({ "done": true }))
}

/// The function, as the child process runs it.
#[test]
fn child() {
    if std::env::var(CHILD).is_err() {
        return;
    }
    let _bugsnag = bugsnag_core::configure(bugsnag_core::Configuration::from_env());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    // The warning leaves the notifier two seconds to deliver it before the 6 s deadline.
    let layer = BugsnagLambdaLayer::new().timeout_warning(Duration::from_secs(2));
    let function = ServiceBuilder::new().layer(layer).service(service_fn(handler));
    let _ = runtime.block_on(lambda_runtime::run(function));
}

/// An invocation's request id, and the events and session starts the collector held
/// while the function was frozen after it.
type Frozen = (String, Vec<Value>, u64);

fn invocation(action: &str, deadline_in: Duration) -> Invocation {
    Invocation {
        request_id: format!("req-{action}"),
        event: json!({ "action": action, "password": "planted-password", "items": [1, 2] }),
        deadline_in,
        trace_id: Some(XRAY.to_owned()),
        kill_at_deadline: action == "timeout",
    }
}

/// Runs the function as Lambda does: a binary named `bootstrap` outside the workspace
/// (here started in `/`), no home directory, only a temporary one writable.
fn run_function(api: &RuntimeApi, collector: &Collector, tmp: &std::path::Path) -> Child {
    let bootstrap = tmp.join("bootstrap");
    std::fs::copy(std::env::current_exe().unwrap(), &bootstrap).unwrap();
    let child = Command::new(&bootstrap)
        .current_dir("/")
        .env_remove("HOME")
        .env_remove("XDG_CACHE_HOME")
        .env("TMPDIR", tmp)
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .envs(api.environment())
        .env("BUGSNAG_API_KEY", API_KEY)
        .env("BUGSNAG_ENDPOINT", format!("{}/notify", collector.url()))
        .env("BUGSNAG_SESSION_ENDPOINT", format!("{}/sessions", collector.url()))
        .env_remove("BUGSNAG_PROJECT_ROOT")
        .spawn()
        .unwrap();
    api.set_function(child.id());
    child
}

/// Waits for the child to end (killed at the timeout's deadline), within `limit`.
fn wait_for_end(child: &mut Child, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if child.try_wait().unwrap().is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    false
}

#[test]
fn every_event_is_delivered_before_the_function_asks_for_more_and_a_timeout_is_told_before_it_dies() {
    let collector = Arc::new(Collector::start());
    // What the collector held while the function was frozen after each invocation.
    let frozen: Arc<Mutex<Vec<Frozen>>> = Arc::default();
    let on_freeze = {
        let (collector, frozen) = (collector.clone(), frozen.clone());
        Box::new(move |request_id: &str| {
            let held = (request_id.to_owned(), collector.events(), collector.sessions_started());
            frozen.lock().unwrap().push(held);
        })
    };
    let normal = Duration::from_secs(30);
    let api = RuntimeApi::start(
        vec![
            invocation("ok", normal),
            invocation("ok-again", normal),
            invocation("handled", normal),
            invocation("error", normal),
            invocation("refund", normal),
            invocation("error-again", normal),
            invocation("refund-again", normal),
            invocation("io", normal),
            invocation("panic", normal),
            invocation("timeout", Duration::from_secs(6)),
        ],
        on_freeze,
    );
    let tmp = std::env::temp_dir().join(format!("bugsnag-lambda-tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let mut child = run_function(&api, &collector, &tmp);
    assert!(wait_for_end(&mut child, Duration::from_secs(60)), "the function was killed at its deadline");
    // Without a home, the crash records wait under the temporary directory.
    let records = std::fs::read_dir(&tmp).unwrap().filter(|e| e.as_ref().unwrap().file_name() != "bootstrap").count();
    assert_eq!(records, 1, "a crash-record directory under TMPDIR");
    let _ = std::fs::remove_dir_all(&tmp);

    let answers = api.wait_for_answers(9, Duration::ZERO);
    let kinds: Vec<(&str, &str)> = answers.iter().map(|a| (a.request_id.as_str(), a.kind.as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("req-ok", "response"),
            ("req-ok-again", "response"),
            ("req-handled", "response"),
            ("req-error", "error"),
            ("req-refund", "error"),
            ("req-error-again", "error"),
            ("req-refund-again", "error"),
            ("req-io", "error"),
            ("req-panic", "error")
        ]
    );

    let frozen = frozen.lock().unwrap().clone();
    let at_freeze = |request_id: &str| -> Vec<Value> {
        let (_, events, _) = frozen.iter().find(|(id, ..)| id == request_id).expect("the function asked for more");
        events.iter().filter(|e| e["metaData"]["AWS Lambda Context"]["aws_request_id"] == request_id).cloned().collect()
    };
    let sessions_at_freeze = |request_id: &str| frozen.iter().find(|(id, ..)| id == request_id).map(|(.., n)| *n);
    assert!(at_freeze("req-ok").is_empty(), "an invocation that reported nothing sends no event");
    // Session counts leave before the freeze (the timer that sends them does not run in a
    // frozen sandbox), batched: none were sent yet after the first invocation, so it sent
    // its own; the next, within session_publish_interval (30 s), adds no round trip.
    assert_eq!(sessions_at_freeze("req-ok"), Some(1), "the first invocation's session was sent before the freeze");
    assert_eq!(sessions_at_freeze("req-ok-again"), Some(1), "a quiet invocation does not send its session at once");
    assert_eq!(
        sessions_at_freeze("req-handled"),
        Some(3),
        "an invocation that reports sends the counts with its event"
    );

    let handled = at_freeze("req-handled");
    assert_eq!(handled.len(), 1, "delivered before the freeze");
    let event = &handled[0];
    assert_eq!(event["exceptions"][0]["message"], "receipt printer offline");
    assert_eq!(event["unhandled"], false);
    assert_eq!(event["context"], "checkout");
    assert_eq!(
        event["metaData"]["AWS Lambda Context"],
        json!({
            "function_name": "checkout", "function_version": "7", "invoked_function_arn": FUNCTION_ARN,
            "memory_limit_in_mb": 256, "aws_request_id": "req-handled",
            "log_group_name": "/aws/lambda/checkout", "log_stream_name": "2026/12/06/[7]0123456789abcdef"
        })
    );
    assert_eq!(
        event["metaData"]["AWS Lambda Event"],
        json!({ "action": "handled", "password": "[FILTERED]", "items": [1, 2] })
    );
    assert_eq!(
        event["correlation"],
        json!({ "traceId": "5759e988bd862e3fe1be46a994272793", "spanId": "53995c3f42cd8ad8" })
    );
    assert_eq!(event["device"]["runtimeVersions"]["lambda_runtime"].as_str().map(|v| v.starts_with("1.")), Some(true));

    let error = at_freeze("req-error");
    assert_eq!(error.len(), 1, "delivered before the freeze");
    assert_eq!(error[0]["unhandled"], true);
    assert_eq!(
        error[0]["severityReason"],
        json!({ "type": "unhandledErrorMiddleware", "attributes": { "framework": "aws-lambda" } })
    );
    assert_eq!(error[0]["exceptions"][0]["message"], "the card was declined");
    assert_origin(&error[0], "charge", line_of("read(\"/no/such/receipt\")?"));
    // Started from `/` as a binary of another name: each returned error groups at the
    // line that failed; two call sites, two groups.
    let returned: Vec<Value> = ["req-error", "req-refund", "req-error-again", "req-refund-again"]
        .iter()
        .flat_map(|id| at_freeze(id))
        .collect();
    assert_eq!(returned.len(), 4, "{returned:#?}");
    let sites = [(file!(), line_of("read(\"/no/such/receipt\")?")), (file!(), line_of("read(\"/no/such/ledger\")?"))];
    testing::assert_groups(&returned, &sites);
    // An io::Error returned as it is: named by its type, not by its Debug form's variant.
    let io = at_freeze("req-io");
    assert_eq!(io.len(), 1, "delivered before the freeze");
    assert_eq!(io[0]["exceptions"][0]["errorClass"], "std::io::Error", "{:#}", io[0]["exceptions"]);

    let panic = at_freeze("req-panic");
    assert_eq!(panic.len(), 1, "delivered before the freeze");
    assert_eq!(panic[0]["exceptions"][0]["errorClass"], "panic");
    assert_eq!(panic[0]["exceptions"][0]["message"], "the basket was empty");
    assert_eq!(panic[0]["severityReason"]["type"], "unhandledExceptionMiddleware");

    // Killed at its deadline: the warning had arrived before.
    let events = collector.events();
    let warning: Vec<&Value> =
        events.iter().filter(|e| e["exceptions"][0]["errorClass"] == "LambdaTimeoutApproaching").collect();
    assert_eq!(warning.len(), 1, "{events:#?}");
    assert_eq!(warning[0]["metaData"]["AWS Lambda Context"]["aws_request_id"], "req-timeout");
    assert_eq!(warning[0]["severity"], "warning");
    let message = warning[0]["exceptions"][0]["message"].as_str().unwrap();
    assert!(message.contains("will time out in"), "{message}");
}
