//! Handled errors, end to end: each test sends real HTTP to a loopback Collector and
//! asserts on the JSON that arrived (every payload is schema-checked by `events()`).

use std::error::Error;
use std::fmt;
use std::time::{Duration, Instant};

use bugsnag_core::testing::{Collector, Reply, API_KEY};
use bugsnag_core::{Client, Decision, DropReason, Options, Outcome, Severity, User};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug)]
struct Layer {
    name: &'static str,
    source: Option<Box<Layer>>,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed", self.name)
    }
}

impl Error for Layer {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

#[derive(Debug)]
struct CheckoutError(Layer);

impl fmt::Display for CheckoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("checkout failed")
    }
}

impl Error for CheckoutError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

fn chained() -> CheckoutError {
    CheckoutError(Layer { name: "payment", source: Some(Box::new(Layer { name: "socket", source: None })) })
}

fn send_one(collector: &Collector, client: &Client, f: impl FnOnce(&Client) -> Outcome) -> Value {
    assert_eq!(f(client), Outcome::Queued);
    assert!(client.flush(WAIT), "delivery did not finish");
    let events = collector.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    events.into_iter().next().unwrap()
}

#[inline(never)]
fn report_checkout_failure(client: &Client) -> Outcome {
    client.notify(&chained())
}

#[test]
fn chained_error_arrives_outermost_first_with_caller_frame_and_code() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration().app_version("2.5.1"));
    let event = send_one(&collector, &client, report_checkout_failure);

    let exceptions = event["exceptions"].as_array().unwrap();
    let summary: Vec<(&str, &str)> =
        exceptions.iter().map(|e| (e["errorClass"].as_str().unwrap(), e["message"].as_str().unwrap())).collect();
    assert_eq!(
        summary,
        [("notify::CheckoutError", "checkout failed"), ("Layer", "payment failed"), ("Layer", "socket failed")]
    );
    let top = &exceptions[0]["stacktrace"][0];
    assert_eq!(top["method"], "notify::report_checkout_failure", "first frame: {top:#}");
    assert_eq!(top["file"], file!());
    assert_eq!(top["inProject"], true);
    let line = top["lineNumber"].as_u64().unwrap();
    let code = top["code"].as_object().expect("in-project frames carry code");
    assert!(code[&line.to_string()].as_str().unwrap().contains("client.notify(&chained())"), "{code:#?}");
    assert!(code.len() <= 7 && code.contains_key(&(line - 3).to_string()));
    // The cause has no origin: it carries the event's stack, so that the dashboard, which
    // groups by the innermost exception, groups it by this call site.
    assert_eq!(exceptions[1]["stacktrace"], exceptions[0]["stacktrace"]);

    assert_eq!(event["severity"], "warning");
    assert_eq!(event["unhandled"], false);
    assert_eq!(event["severityReason"], json!({"type": "handledError"}));
    assert_eq!(event["app"]["version"], "2.5.1");
    assert_eq!(event["app"]["releaseStage"], "production");
    assert!(event["device"]["runtimeVersions"]["rustc"].is_string());

    let request = &collector.requests()[0];
    assert_eq!(request.path, "/notify");
    assert_eq!(request.headers["bugsnag-api-key"], API_KEY);
    assert_eq!(request.headers["bugsnag-payload-version"], "4.0");
    assert_eq!(request.headers["content-type"], "application/json");
    assert!(request.headers["bugsnag-sent-at"].ends_with('Z'));
    assert_eq!(request.body["payloadVersion"], "4.0");
    assert_eq!(request.body["apiKey"], API_KEY);
}

#[test]
fn per_call_options_override_and_set_user_specified_severity() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let options = Options::new()
        .severity(Severity::Info)
        .context("sign_up")
        .user(User::id("bob").with_email("bob@example.com"))
        .add_metadata_tab("account", json!({"premium": true}))
        .grouping_hash("sign_up|Timeout");
    let event = send_one(&collector, &client, |c| c.notify_with(&chained(), options));
    assert_eq!(event["severity"], "info");
    assert_eq!(event["severityReason"]["type"], "userSpecifiedSeverity");
    assert_eq!(event["context"], "sign_up");
    assert_eq!(event["user"], json!({"id": "bob", "email": "bob@example.com"}));
    assert_eq!(event["metaData"]["account"], json!({"premium": true}));
    assert_eq!(event["groupingHash"], "sign_up|Timeout");
}

#[test]
fn params_filters_redact_nested_objects_and_arrays() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let meta = json!({
        "Password": "hunter2",
        "profile": {"password_confirmation": "x", "Cookie": "c", "authorization": "Bearer t", "name": "Ann"},
        "grants": [{"refresh_TOKEN": "r", "kind": "oauth"}],
        "client_secret": "s"
    });
    let event =
        send_one(&collector, &client, |c| c.notify_with(&chained(), Options::new().add_metadata_tab("account", meta)));
    assert_eq!(
        event["metaData"]["account"],
        json!({
            "Password": "[FILTERED]",
            "profile": {"password_confirmation": "[FILTERED]", "Cookie": "[FILTERED]", "authorization": "[FILTERED]", "name": "Ann"},
            "grants": [{"refresh_TOKEN": "[FILTERED]", "kind": "oauth"}],
            "client_secret": "[FILTERED]"
        })
    );
}

#[test]
fn custom_params_filters_add_to_the_defaults_and_replacing_them_is_explicit() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration().params_filters(["iban"]));
    let meta = json!({"iban": "DE89", "password": "hunter2", "name": "Ann"});
    let event = send_one(&collector, &client, |c| {
        c.notify_with(&chained(), Options::new().add_metadata_tab("m", meta.clone()))
    });
    assert_eq!(event["metaData"]["m"], json!({"iban": "[FILTERED]", "password": "[FILTERED]", "name": "Ann"}));

    let collector = Collector::start();
    let client = Client::new(collector.configuration().without_default_params_filters().params_filters(["iban"]));
    let event =
        send_one(&collector, &client, |c| c.notify_with(&chained(), Options::new().add_metadata_tab("m", meta)));
    assert_eq!(event["metaData"]["m"], json!({"iban": "[FILTERED]", "password": "hunter2", "name": "Ann"}));
}

#[test]
fn ignore_classes_match_any_error_of_the_chain() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration().ignore_classes(["Layer"]));
    assert_eq!(client.notify(&chained()), Outcome::Dropped(DropReason::IgnoredClass));
    let parse_error = "x".parse::<u8>().unwrap_err();
    assert_eq!(client.notify(&parse_error), Outcome::Queued);
    assert!(client.flush(WAIT));
    let events = collector.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["exceptions"][0]["errorClass"], "std::num::ParseIntError");
}

#[test]
fn notify_release_stages_gate_sending() {
    let collector = Collector::start();
    let staging = Client::new(collector.configuration().release_stage("staging").notify_release_stages(["production"]));
    assert_eq!(staging.notify(&chained()), Outcome::Dropped(DropReason::ReleaseStage));
    let production = Client::new(collector.configuration().notify_release_stages(["production"]));
    assert_eq!(production.notify(&chained()), Outcome::Queued);
    assert!(production.flush(WAIT));
    assert!(staging.flush(WAIT));
    assert_eq!(collector.events().len(), 1);
}

#[test]
fn callbacks_can_drop_events_or_change_them() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    client.before_notify(|event| if event.message() == "noise" { Decision::Drop } else { Decision::Send });
    client.before_notify(|event| {
        event.severity = Severity::Error;
        event.user = Some(User::id("from-callback"));
        event.add_metadata_tab("account", json!({"paying": true}));
        Decision::Send
    });
    assert_eq!(client.notify_message("noise"), Outcome::Dropped(DropReason::Callback));
    let event =
        send_one(&collector, &client, |c| c.notify_message_with("signal", Options::new().error_class("Signal")));
    assert_eq!(event["exceptions"][0]["errorClass"], "Signal");
    assert_eq!(event["severity"], "error");
    assert_eq!(event["severityReason"]["type"], "userCallbackSetSeverity");
    assert_eq!(event["user"]["id"], "from-callback");
    assert_eq!(event["metaData"]["account"]["paying"], true);
}

/// Callbacks given to the configuration run on the first report, before the client's
/// own, in the order given.
#[test]
fn callbacks_in_the_configuration_run_from_the_first_report() {
    let collector = Collector::start();
    let config = collector
        .configuration()
        .before_notify(|event| if event.message() == "noise" { Decision::Drop } else { Decision::Send })
        .before_notify(|event| {
            event.add_metadata_tab("order", json!({"first": "configuration"}));
            Decision::Send
        });
    let client = Client::new(config);
    client.before_notify(|event| {
        event.add_metadata_tab("order", json!({"then": "client"}));
        Decision::Send
    });
    assert_eq!(client.notify_message("noise"), Outcome::Dropped(DropReason::Callback));
    let event = send_one(&collector, &client, |c| c.notify_message("signal"));
    assert_eq!(event["metaData"]["order"], json!({"first": "configuration", "then": "client"}));
}

#[test]
fn a_panicking_callback_is_skipped_and_the_event_still_sent() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    client.before_notify(|_| panic!("callback bug"));
    let event = send_one(&collector, &client, |c| c.notify_message("still sent"));
    assert_eq!(event["exceptions"][0]["message"], "still sent");
}

#[test]
fn per_call_api_key_is_sent_in_the_header() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let other = "fedcba9876543210fedcba9876543210";
    send_one(&collector, &client, |c| c.notify_with(&chained(), Options::new().api_key(other)));
    let request = &collector.requests()[0];
    assert_eq!(request.headers["bugsnag-api-key"], other);
    assert_eq!(request.body["apiKey"], other);
}

#[inline(never)]
fn load_settings() -> anyhow::Error {
    anyhow::Error::new("x".parse::<u8>().unwrap_err()).context("loading settings")
}

#[test]
fn anyhow_errors_keep_their_chain_and_their_backtrace_given_or_borrowed() {
    // anyhow captures a backtrace when this is set (read once, before its first error).
    std::env::set_var("RUST_LIB_BACKTRACE", "1");
    let borrowed = load_settings();
    let calls: [&dyn Fn(&Client) -> Outcome; 2] =
        [&|c| c.notify_anyhow(&borrowed), &|c| c.notify_anyhow(load_settings())];
    for call in calls {
        let collector = Collector::start();
        let event = send_one(&collector, &Client::new(collector.configuration()), call);
        let messages: Vec<&str> =
            event["exceptions"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap()).collect();
        assert_eq!(messages, ["loading settings", "invalid digit found in string"]);
        // The context layer reads as a bare `Error`: named after the root cause instead.
        assert_eq!(event["exceptions"][0]["errorClass"], "std::num::ParseIntError");
        assert_eq!(event["exceptions"][1]["errorClass"], "std::num::ParseIntError");
        // The stack is where the error was made, not where it was reported.
        let top = &event["exceptions"][0]["stacktrace"][0];
        assert_eq!(top["method"], "notify::load_settings", "{top:#}");
        assert_eq!(top["file"], file!());
    }
}

/// The part a child process plays in the test below: the first report of an anyhow
/// error with a captured backtrace in a fresh process (given, borrowed, or as a plain
/// `dyn Error`); prints how long it took.
#[test]
fn anyhow_child() {
    if std::env::var("BUGSNAG_ANYHOW_CHILD").is_err() {
        return;
    }
    std::env::set_var("RUST_LIB_BACKTRACE", "1");
    let client = Client::new(Collector::start().configuration());
    let err = load_settings();
    let before = page_faults();
    let outcome = match std::env::var("BUGSNAG_ANYHOW_CHILD").as_deref() {
        Ok("borrowed") => client.notify_anyhow(&err),
        Ok("dyn") => client.notify(&*err),
        _ => client.notify_anyhow(err),
    };
    println!("notify_anyhow faulted {} pages", page_faults() - before);
    assert_eq!(outcome, Outcome::Queued);
}

/// Page faults of this thread so far (Linux): loading debug information touches tens
/// of thousands of pages, which a report that leaves resolution to other threads does
/// not. A count, not a time, so a busy machine does not change it.
fn page_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // After the command name in parentheses: state is field 3, minflt 10, majflt 12.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    field(10) + field(12)
}

#[test]
fn an_anyhow_error_given_or_as_dyn_error_is_symbolized_off_the_callers_thread() {
    // In a fresh process, std has not loaded debug information yet: a caller that made it
    // resolve the backtrace (by reading it, or anyhow's `Debug` text, which ends with it)
    // would wait for that load, 0.1 s and more for a test binary.
    for part in ["given", "dyn", "borrowed"] {
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "anyhow_child", "--nocapture", "--test-threads=1"])
            .env("BUGSNAG_ANYHOW_CHILD", part)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
        let faults: u64 = stdout
            .split("notify_anyhow faulted ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("the child printed no count: {stdout}"));
        println!("{part}: {faults} page faults");
        if part == "borrowed" {
            // The control: a borrowed error's backtrace is read on the caller, as documented.
            assert!(faults >= 2_000, "the measure sees debug information being loaded: {faults} faults");
        } else {
            assert!(
                faults < 2_000,
                "{part}: the report touched {faults} pages on the caller: debug information was loaded"
            );
        }
    }
}

#[test]
fn synchronous_mode_delivers_before_notify_returns() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration().asynchronous(false));
    assert_eq!(client.notify(&chained()), Outcome::Queued);
    assert_eq!(collector.requests().len(), 1, "delivered before notify returned");
}

#[test]
fn a_hanging_endpoint_never_blocks_notify_and_flush_keeps_its_timeout() {
    let collector = Collector::start();
    collector.script([Reply::hang()]);
    // Delivery would wait an hour: a flush that waited for it would never come back in
    // this test's time (that notify never waits is `never_waits.rs`'s to prove).
    let client = Client::new(collector.configuration().delivery_timeout(Duration::from_secs(3600)));
    assert_eq!(client.notify(&chained()), Outcome::Queued);
    let (done, finished) = std::sync::mpsc::channel();
    let flushing = client.clone();
    std::thread::spawn(move || {
        let started = Instant::now();
        let flushed = flushing.flush(Duration::from_millis(200));
        let _ = done.send((flushed, started.elapsed()));
    });
    let (flushed, took) = finished.recv_timeout(Duration::from_secs(20)).expect("flush came back");
    assert!(!flushed, "nothing can be delivered");
    assert!(took >= Duration::from_millis(200), "flush waited its timeout: {took:?}");
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() {
    let collector = Collector::start();
    collector.script((0..8).map(|_| Reply::hang()));
    let client = Client::new(collector.configuration().queue_capacity(2));
    let outcomes: Vec<Outcome> = (0..50).map(|_| client.notify_message("storm")).collect();
    assert!(outcomes.contains(&Outcome::Dropped(DropReason::QueueFull)));
    let stats = client.stats();
    assert_eq!(stats.queued + stats.dropped_queue_full, 50);
}

#[test]
fn an_empty_filter_from_a_configuration_file_turns_no_filtering_off() {
    let collector = Collector::start();
    let from_file: bugsnag_core::Configuration = serde_json::from_value(json!({
        "api_key": API_KEY,
        "endpoint": format!("{}/notify", collector.url()),
        "session_endpoint": format!("{}/sessions", collector.url()),
        "params_filters": [""],
    }))
    .unwrap();
    let client = Client::new(from_file);
    let meta = json!({"password": "hunter2", "name": "Ann"});
    let event =
        send_one(&collector, &client, |c| c.notify_with(&chained(), Options::new().add_metadata_tab("m", meta)));
    assert_eq!(event["metaData"]["m"], json!({"password": "[FILTERED]", "name": "Ann"}));
}

/// What `stats()` says right after a report, and once a flush settled it: in flight, then
/// delivered. (The reply is held back, so the report cannot be delivered before the
/// first look.)
#[test]
fn stats_say_what_is_in_flight_until_a_flush_settles_it() {
    let collector = Collector::start();
    collector.script([bugsnag_core::testing::Reply::status(200).delay(Duration::from_millis(500))]);
    let client = Client::new(collector.configuration().auto_capture_sessions(false));
    assert_eq!(client.notify_message("on its way"), Outcome::Queued);
    let now = client.stats();
    assert_eq!((now.queued, now.in_flight, now.delivered), (1, 1, 0), "{now:?}");
    assert!(client.flush(WAIT));
    let settled = client.stats();
    assert_eq!((settled.queued, settled.in_flight, settled.delivered, settled.dropped()), (1, 0, 1, 0), "{settled:?}");
    assert_eq!(collector.events().len(), 1);
}
