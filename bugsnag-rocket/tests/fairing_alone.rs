//! `rocket::build().attach(BugsnagFairing)` as the design card writes it, with the
//! process-wide client: wrapped routes report panics with their request; a route that
//! is not wrapped gets one warning at launch, and its panic is still reported by the
//! panic hook, without the request. (A test binary of its own: it sets the global client
//! and the `log` logger.)

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bugsnag_core::testing::Collector;
use bugsnag_rocket::{catch_panics, BugsnagFairing};

#[rocket::get("/users/<id>")]
fn wrapped(id: u32) -> &'static str {
    panic!("user {id} exploded");
}

#[rocket::get("/boom")]
fn unwrapped() -> &'static str {
    panic!("unwrapped route exploded");
}

#[rocket::get("/ok")]
fn ok() -> &'static str {
    "ok"
}

struct Capture(Arc<Mutex<Vec<String>>>);
impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.target() == "bugsnag_rocket" {
            self.0.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unit_fairing_reports_with_the_global_client_and_warns_about_unwrapped_routes() {
    let warnings = Arc::new(Mutex::new(Vec::new()));
    log::set_boxed_logger(Box::new(Capture(warnings.clone()))).expect("this binary's only logger");
    log::set_max_level(log::LevelFilter::Warn);
    let collector = Collector::start();
    // An outbox of its own, not one shared with earlier runs of this test.
    let outbox = std::env::temp_dir().join(format!("bugsnag-{}-{}", module_path!(), std::process::id()));
    let guard = bugsnag_core::configure(collector.configuration().outbox_dir(&outbox));

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = rocket::Config {
        port,
        address: std::net::Ipv4Addr::LOCALHOST.into(),
        log_level: rocket::config::LogLevel::Off,
        shutdown: rocket::config::Shutdown { ctrlc: false, ..Default::default() },
        ..rocket::Config::debug_default()
    };
    let rocket = rocket::custom(config)
        .attach(BugsnagFairing)
        .mount("/", catch_panics(rocket::routes![wrapped, ok]))
        .mount("/raw", rocket::routes![unwrapped]);
    tokio::spawn(rocket.launch());
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{url}/ok")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(reqwest::get(format!("{url}/users/7")).await.unwrap().status(), 500);
    assert_eq!(reqwest::get(format!("{url}/raw/boom")).await.unwrap().status(), 500);
    assert!(tokio::task::spawn_blocking(move || guard.client().flush(Duration::from_secs(20))).await.unwrap());

    let events = collector.events();
    assert_eq!(events.len(), 2, "{events:#?}");
    let with_request = events.iter().find(|e| e["exceptions"][0]["message"] == "user 7 exploded").unwrap();
    assert_eq!(with_request["context"], "GET /users/<id>");
    assert_eq!(with_request["severityReason"]["attributes"]["framework"], "Rocket");
    let bare = events.iter().find(|e| e["exceptions"][0]["message"] == "unwrapped route exploded").unwrap();
    assert_eq!(bare["severityReason"]["type"], "unhandledPanic");
    assert!(bare.get("request").is_none());

    let warnings = warnings.lock().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("GET /raw/boom"), "{}", warnings[0]);
}
