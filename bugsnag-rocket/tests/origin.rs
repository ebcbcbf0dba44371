//! Returned errors through a real Rocket server start at the line that failed: the `?`
//! that wrapped them in `Reported`, or, earlier, the origin the error itself carries.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bugsnag_core::testing::{assert_origin, Collector};
use bugsnag_core::Client;
use bugsnag_rocket::{BugsnagFairing, Reported};
use rocket::http::Status;
use rocket::response::{self, Responder};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
enum AppErrorKind {
    #[error("storage failed")]
    Io(#[from] std::io::Error),
}

bugsnag_core::traced_error!(
    struct AppError(AppErrorKind);
);

impl<'r> Responder<'r, 'static> for AppError {
    fn respond_to(self, _: &'r rocket::Request<'_>) -> response::Result<'static> {
        Err(Status::InternalServerError)
    }
}

/// An error type of the usual kind, with no origin of its own.
#[derive(Debug, rocket::Responder)]
#[response(status = 500)]
struct StorageError(String);

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StorageError {}

static SAVE_LINE: AtomicU32 = AtomicU32::new(0);
static LOAD_LINE: AtomicU32 = AtomicU32::new(0);

#[inline(never)]
fn write_order() -> Result<String, StorageError> {
    Err(StorageError("disk full".into()))
}

#[inline(never)]
fn load_order() -> Result<String, AppError> {
    LOAD_LINE.store(line!() + 1, Ordering::Relaxed);
    let text = std::fs::read_to_string("/no/such/order")?;
    Ok(text)
}

#[rocket::get("/save")]
#[inline(never)]
fn save() -> Result<String, Reported<StorageError>> {
    SAVE_LINE.store(line!() + 1, Ordering::Relaxed);
    let saved = write_order()?;
    Ok(saved)
}

#[rocket::get("/load")]
fn load() -> Result<String, Reported<AppError>> {
    Ok(load_order()?)
}

#[rocket::get("/ok")]
fn ok() -> &'static str {
    "ok"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returned_errors_start_where_they_were_made() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = rocket::Config {
        port,
        address: std::net::Ipv4Addr::LOCALHOST.into(),
        log_level: rocket::config::LogLevel::Off,
        shutdown: rocket::config::Shutdown { ctrlc: false, ..Default::default() },
        ..rocket::Config::debug_default()
    };
    let rocket = rocket::custom(config)
        .attach(BugsnagFairing::with_client(client.clone()))
        .mount("/", rocket::routes![save, load, ok]);
    tokio::spawn(rocket.launch());
    let url = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..200 {
        if reqwest::get(format!("{url}/ok")).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(up, "Rocket did not start");
    for path in ["/save", "/load"] {
        assert_eq!(reqwest::get(format!("{url}{path}")).await.unwrap().status(), 500);
    }
    let flushing = client.clone();
    assert!(tokio::task::spawn_blocking(move || flushing.flush(Duration::from_secs(20))).await.unwrap());
    let events = collector.events();
    assert_eq!(events.len(), 2, "{events:#?}");
    let by_context = |context: &str| -> &Value { events.iter().find(|e| e["context"] == context).unwrap() };
    // Wrapped by the `?` in the handler: that line.
    assert_origin(by_context("GET /save"), "save", SAVE_LINE.load(Ordering::Relaxed));
    // Carrying its own origin, made before the handler's `?`: that one.
    assert_origin(by_context("GET /load"), "load_order", LOAD_LINE.load(Ordering::Relaxed));
}
