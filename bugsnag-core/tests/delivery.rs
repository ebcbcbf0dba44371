//! Fault injection: each row of the retry matrix, Retry-After, dropped connections, a
//! hanging endpoint, the outbox across restarts, payload trimming and an error storm,
//! all against a real loopback Collector.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bugsnag_core::testing::{closed_endpoint, Collector, Reply};
use bugsnag_core::{Client, Configuration, DropReason, Options, Outcome};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

/// Fast retries so the matrix runs in milliseconds.
fn fast(config: Configuration) -> Configuration {
    config.retry_initial_backoff(Duration::from_millis(10)).retry_max_backoff(Duration::from_millis(50))
}

fn message(client: &Client, text: &str) -> Outcome {
    client.notify_message(text)
}

/// What the delivery thread logs (it is not the test's thread, so a global subscriber).
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || Writer(sink.clone())).finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        logs
    })
    .clone()
}

struct Writer(Arc<Mutex<Vec<u8>>>);
impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logged() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bugsnag-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn server_errors_are_retried_until_accepted_and_arrive_once() {
    let collector = Collector::start();
    collector.script([Reply::status(500), Reply::status(500)]);
    let client = Client::new(fast(collector.configuration()));
    assert!(message(&client, "retry me").is_queued());
    assert!(client.flush(WAIT));
    assert_eq!(collector.requests().len(), 3);
    let accepted = collector.accepted();
    assert_eq!(accepted.len(), 1, "delivered exactly once");
    assert_eq!(accepted[0].body["events"][0]["exceptions"][0]["message"], "retry me");
    let stats = client.stats();
    assert_eq!((stats.delivered, stats.retried, stats.dropped()), (1, 2, 0));
    collector.events(); // all three attempts were schema-valid
}

#[test]
fn retries_are_counted_in_events_like_everything_else() {
    let collector = Collector::start();
    // Slow failures: while the first request fails, the others wait and go as a batch.
    collector.script((0..4).map(|_| Reply::status(500).delay(Duration::from_millis(100))));
    let client = Client::new(fast(collector.configuration()).max_in_flight(1));
    for n in 0..20 {
        assert!(message(&client, &format!("event {n}")).is_queued());
    }
    assert!(client.flush(WAIT));
    let requests = collector.requests();
    let events_in = |r: &bugsnag_core::testing::Received| r.body["events"].as_array().map_or(0, Vec::len) as u64;
    let failed: u64 = requests.iter().filter(|r| r.status == 500).map(events_in).sum();
    assert!(requests.iter().any(|r| events_in(r) > 1), "some requests were batches: {}", requests.len());
    let stats = client.stats();
    assert_eq!((stats.delivered, stats.dropped()), (20, 0));
    assert_eq!(stats.retried, failed, "each event of each failed request was sent again");
    collector.events();
}

#[test]
fn client_errors_are_never_retried() {
    logs();
    for status in [400, 401, 403] {
        let collector = Collector::start();
        collector.script([Reply::status(status)]);
        let client = Client::new(fast(collector.configuration()));
        let _ = message(&client, "refused");
        assert!(client.flush(WAIT));
        assert_eq!(collector.requests().len(), 1, "status {status}");
        assert_eq!(client.stats().dropped_rejected, 1);
    }
    assert!(logged().contains("refused a Event payload with 401"), "{}", logged());
}

#[test]
fn timeouts_and_too_many_requests_are_retried() {
    let collector = Collector::start();
    collector.script([Reply::status(408), Reply::status(429), Reply::status(503)]);
    let client = Client::new(fast(collector.configuration()));
    let _ = message(&client, "eventually");
    assert!(client.flush(WAIT));
    assert_eq!(collector.requests().len(), 4);
    assert_eq!(collector.accepted().len(), 1);
}

#[test]
fn retry_after_is_honoured() {
    let collector = Collector::start();
    collector.script([Reply::status(429).retry_after("1")]);
    let client = Client::new(fast(collector.configuration()));
    let _ = message(&client, "later");
    assert!(client.flush(WAIT));
    let requests = collector.requests();
    assert_eq!(requests.len(), 2);
    let gap = requests[1].received_at - requests[0].received_at;
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
}

#[test]
fn a_connection_dropped_mid_request_is_retried() {
    let collector = Collector::start();
    collector.script([Reply::drop_connection()]);
    let client = Client::new(fast(collector.configuration()));
    let _ = message(&client, "dropped once");
    assert!(client.flush(WAIT));
    assert_eq!(collector.requests().len(), 2);
    assert_eq!(collector.accepted().len(), 1);
}

#[test]
fn without_an_outbox_exhausted_retries_are_dropped_and_counted() {
    let client = Client::new(fast(
        Configuration::default().api_key(bugsnag_core::testing::API_KEY).endpoint(closed_endpoint()).max_retries(2),
    ));
    let _ = message(&client, "lost");
    assert!(client.flush(WAIT));
    let stats = client.stats();
    assert_eq!((stats.retried, stats.dropped_undeliverable), (2, 1));
}

#[test]
fn an_outage_loses_nothing_with_an_outbox_and_a_restart() {
    logs();
    let dir = temp_dir("outage");
    let config = |endpoint: String| {
        fast(Configuration::default().api_key(bugsnag_core::testing::API_KEY).endpoint(endpoint))
            .session_endpoint("http://127.0.0.1:9/sessions")
            .max_retries(1)
            .outbox_dir(&dir)
    };
    // First run: the endpoint is down for the whole run.
    let down = Client::new(config(closed_endpoint()));
    for n in 0..5 {
        assert!(message(&down, &format!("event {n}")).is_queued());
    }
    assert!(down.shutdown(WAIT));
    assert_eq!(down.stats().persisted, 5);
    drop(down);

    // A file another process left half-written by hand must not stop the start.
    std::fs::write(dir.join("000000000000000000000000-corrupt.json"), b"{not json").unwrap();

    // Second run: the endpoint is up; every event arrives exactly once.
    let collector = Collector::start();
    let up = Client::new(config(format!("{}/notify", collector.url())));
    assert!(up.flush(WAIT));
    let mut messages: Vec<String> =
        collector.events().iter().map(|e| e["exceptions"][0]["message"].as_str().unwrap().to_owned()).collect();
    messages.sort();
    assert_eq!(messages, (0..5).map(|n| format!("event {n}")).collect::<Vec<_>>());
    assert!(dir.join("000000000000000000000000-corrupt.json.corrupt").exists());
    assert!(logged().contains("skipping corrupt Bugsnag outbox file"));

    // A third start finds nothing left to send.
    let again = Client::new(config(format!("{}/notify", collector.url())));
    assert!(again.flush(WAIT));
    assert_eq!(collector.events().len(), 5);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn events_still_queued_when_shutdown_times_out_go_to_the_outbox() {
    let dir = temp_dir("shutdown");
    let hanging = Collector::start();
    hanging.script((0..10).map(|_| Reply::hang()));
    let client = Client::new(hanging.configuration().max_in_flight(1).outbox_dir(&dir));
    for n in 0..3 {
        let _ = message(&client, &format!("pending {n}"));
    }
    assert!(client.shutdown(Duration::from_millis(200)), "everything was persisted");
    assert_eq!(client.stats().persisted, 3);

    let collector = Collector::start();
    let restarted = Client::new(collector.configuration().outbox_dir(&dir));
    assert!(restarted.flush(WAIT));
    assert_eq!(collector.events().len(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Loads the debug information: stacks resolve at once from then on, so what a shutdown
/// keeps is batches of resolved events.
fn warm_up() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let _ = message(&client, "warm-up");
    assert!(client.flush(WAIT));
}

#[test]
fn the_outbox_is_bounded_in_events_and_counts_what_it_drops() {
    warm_up();
    let dir = temp_dir("outbox-bound");
    let hanging = Collector::start();
    hanging.answer_by_default(Reply::hang());
    let client = Client::new(hanging.configuration().max_in_flight(1).outbox_dir(&dir).outbox_max_events(20));
    for n in 0..50 {
        let _ = message(&client, &format!("kept {n}"));
    }
    assert!(client.shutdown(Duration::from_millis(300)));
    let kept = bugsnag_core::testing::events_in_outbox(&dir) as u64;
    let stats = client.stats();
    assert!(kept <= 20, "{kept} events kept");
    assert!(stats.dropped_outbox_full > 0, "{stats:?}");
    assert_eq!(kept + stats.dropped_outbox_full, 50, "every event kept or counted: {stats:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_shutdown_line_counts_replayed_batches_in_events() {
    logs();
    let dir = temp_dir("unsent-count");
    warm_up();
    let hanging = Collector::start();
    hanging.answer_by_default(Reply::hang());
    let first = Client::new(hanging.configuration().max_in_flight(1).outbox_dir(&dir));
    for n in 0..50 {
        let _ = message(&first, &format!("kept {n}"));
    }
    // Timeouts no other test uses: each shutdown's line is told apart by its own.
    assert!(first.shutdown(Duration::from_millis(303)));
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(bugsnag_core::testing::events_in_outbox(&dir), 50);
    assert!(files < 50, "batches: {files} files");
    // The next start cannot send them either (the endpoint still hangs): it says 50.
    let second = Client::new(hanging.configuration().outbox_dir(&dir));
    let before = logged().len();
    assert!(second.shutdown(Duration::from_millis(307)));
    let told = logged();
    let shutdown_lines = |text: &str, timeout: &str| -> Vec<String> {
        text.lines().filter(|l| l.contains("Bugsnag shutdown") && l.contains(timeout)).map(str::to_owned).collect()
    };
    let first_lines = shutdown_lines(&told[..before], "303ms");
    assert_eq!(first_lines.len(), 1, "{first_lines:#?}");
    assert!(first_lines[0].contains("50 events were still unsent"), "{first_lines:#?}");
    // Logged after the second shutdown began: exactly its own line, saying 50 events.
    let second_lines = shutdown_lines(&told[before..], "307ms");
    assert_eq!(second_lines.len(), 1, "{second_lines:#?}");
    assert!(second_lines[0].contains("50 events were still unsent"), "{second_lines:#?}");
    assert_eq!(bugsnag_core::testing::events_in_outbox(&dir), 50, "all kept again");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn oversized_payloads_are_trimmed_below_the_limit_and_say_so() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let huge = "x".repeat(3 * 1024 * 1024);
    client.notify_with(
        &std::io::Error::other("big"),
        Options::new().add_metadata_tab("upload", json!({ "body": huge, "name": "report.csv" })),
    );
    assert!(client.flush(WAIT));
    let request = &collector.requests()[0];
    assert!(request.size < 1_000_000, "{} bytes", request.size);
    let event = &collector.events()[0];
    assert_eq!(event["metaData"]["upload"]["name"], "report.csv");
    assert!(event["metaData"]["upload"]["body"].as_str().unwrap().len() < 2048);
    assert_eq!(event["metaData"]["notifier"]["trimmed"], json!(["long metaData strings truncated"]));
}

#[test]
fn an_error_storm_with_the_endpoint_down_never_blocks() {
    // Without the per-error budget, which would hold most of these back first.
    let client = Client::new(fast(
        Configuration::default()
            .api_key(bugsnag_core::testing::API_KEY)
            .endpoint(closed_endpoint())
            .queue_capacity(64)
            .without_error_budget(),
    ));
    let outcomes: Vec<Outcome> = (0..10_000).map(|n| message(&client, &format!("storm {n}"))).collect();
    let full = outcomes.iter().filter(|o| **o == Outcome::Dropped(DropReason::QueueFull)).count();
    assert!(full > 9_000, "the bounded queue sheds load: {full} dropped");
    let stats = client.stats();
    assert_eq!(stats.queued + stats.dropped_queue_full, 10_000);
    assert!(!client.flush(Duration::from_millis(100)), "the endpoint is down: nothing is done");
}

/// Every request carries `Bugsnag-Integrity: sha1 <hex of its body>`, which the Collector
/// checks on every request of every test; here, that the check passes the notifier's and
/// a correct one, and fails a missing or forged one.
#[test]
fn the_integrity_header_is_the_sha1_of_the_exact_body_and_a_forged_one_is_caught() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    assert_eq!(client.notify_message("signed"), Outcome::Queued);
    assert!(client.flush(WAIT));
    let sent = collector.requests();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].headers["bugsnag-integrity"].starts_with("sha1 "));

    // The same payload, posted again as bytes of its own with each kind of header.
    let body = serde_json::to_vec(&sent[0].body).unwrap();
    let digest = {
        use sha1::Digest;
        format!("sha1 {:x}", sha1::Sha1::digest(&body))
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for (integrity, valid) in
        [(None, false), (Some("sha1 0000000000000000000000000000000000000000"), false), (Some(digest.as_str()), true)]
    {
        let collector = Collector::start();
        let mut request = reqwest::Client::new()
            .post(format!("{}/notify", collector.url()))
            .header("Content-Type", "application/json")
            .body(body.clone());
        if let Some(value) = integrity {
            request = request.header("Bugsnag-Integrity", value);
        }
        runtime.block_on(request.send()).unwrap();
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| collector.requests()));
        assert_eq!(read.is_ok(), valid, "{integrity:?}");
    }
}
