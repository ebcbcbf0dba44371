//! The fairing, the route wrapper and the responder in a real Rocket server on a loopback
//! socket, called with a real HTTP client; events are read back from a Collector.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bugsnag_core::testing::{self, Collector};
use bugsnag_core::{Client, Configuration};
use bugsnag_rocket::{catch_panics, BugsnagFairing, Reported};
use serde_json::{json, Value};

#[inline(never)]
#[rocket::get("/users/<id>")]
fn explode(id: u32) -> &'static str {
    panic!("user {id} exploded");
}

#[derive(Debug, rocket::Responder)]
#[response(status = 503)]
struct StorageError(String);

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "storage failed: {}", self.0)
    }
}

impl std::error::Error for StorageError {}

#[rocket::get("/save")]
fn save() -> Result<&'static str, Reported<StorageError>> {
    Err(StorageError("disk full".into()).into())
}

static BOTH: std::sync::LazyLock<testing::Rendezvous> = std::sync::LazyLock::new(|| testing::Rendezvous::new(2));

#[rocket::get("/work/<name>")]
async fn work(name: &str, client: &rocket::State<Client>) -> &'static str {
    bugsnag_core::add_metadata_tab("job", json!({ "name": name }));
    if matches!(name, "a" | "b") {
        // The isolation test's two requests are in flight at once, tabs set, before
        // either goes on.
        BOTH.meet().await;
    }
    client.notify(&std::io::Error::other(format!("{name} failed")));
    "done"
}

#[rocket::get("/ok")]
fn ok() -> &'static str {
    "ok"
}

#[derive(Debug, thiserror::Error)]
enum AppErrorKind {
    #[error("storage failed")]
    Io(#[from] std::io::Error),
}

bugsnag_core::traced_error!(
    struct AppError(AppErrorKind);
);

impl<'r> rocket::response::Responder<'r, 'static> for AppError {
    fn respond_to(self, _: &'r rocket::Request<'_>) -> rocket::response::Result<'static> {
        Err(rocket::http::Status::InternalServerError)
    }
}

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

#[rocket::get("/orders/save")]
#[inline(never)]
fn save_order() -> Result<String, Reported<StorageError>> {
    SAVE_LINE.store(line!() + 1, Ordering::Relaxed);
    let saved = write_order()?;
    Ok(saved)
}

#[rocket::get("/orders/load")]
fn load() -> Result<String, Reported<AppError>> {
    Ok(load_order()?)
}

struct Server {
    url: String,
    collector: Collector,
    client: Client,
}

impl Server {
    async fn start() -> Server {
        let collector = Collector::start();
        let client = Client::new(collector.configuration());
        Server { url: serve(client.clone()).await, collector, client }
    }
}

/// Serves the app on a loopback port, reporting to `client`, once it answers; its URL.
async fn serve(client: Client) -> String {
    // A free port: Rocket 0.5 reports the configured port, not the bound one.
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
        .manage(client.clone())
        .mount("/", catch_panics(rocket::routes![explode, save, work, ok, save_order, load]));
    tokio::spawn(rocket.launch());
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{url}/ok")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    url
}

impl Server {
    async fn get(&self, path: &str) -> u16 {
        reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .header("Cookie", "session=abc")
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn events(&self) -> Vec<Value> {
        let client = self.client.clone();
        assert!(tokio::task::spawn_blocking(move || client.flush(Duration::from_secs(20))).await.unwrap());
        self.collector.events()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_500_and_is_reported_once() {
    let server = Server::start().await;
    assert_eq!(server.get("/users/42?token=t").await, 500);
    assert_eq!(server.get("/ok").await, 200, "the server keeps serving");
    let events = server.events().await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(
        event["severityReason"],
        json!({"type": "unhandledExceptionMiddleware", "attributes": {"framework": "Rocket"}})
    );
    assert_eq!(event["exceptions"][0]["message"], "user 42 exploded");
    let top = &event["exceptions"][0]["stacktrace"][0];
    assert!(top["method"].as_str().unwrap().starts_with("server::explode"), "{top:#}");
    assert_eq!(event["context"], "GET /users/<id>");
    assert_eq!(event["user"]["id"], "127.0.0.1");
    assert_eq!(event["request"]["headers"]["cookie"], "[FILTERED]");
    assert!(event["request"]["url"].as_str().unwrap().ends_with("/users/42?token=[FILTERED]"));
    assert_eq!(event["device"]["runtimeVersions"]["Rocket"], testing::dependency_version("bugsnag-rocket", "rocket"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returned_errors_wrapped_in_reported_are_reported_and_404s_are_not() {
    let server = Server::start().await;
    assert_eq!(server.get("/save").await, 503);
    assert_eq!(server.get("/nowhere").await, 404);
    let events = server.events().await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event["exceptions"][0]["errorClass"], "server::StorageError");
    assert_eq!(event["exceptions"][0]["message"], "storage failed: disk full");
    assert_eq!(event["severityReason"]["type"], "unhandledErrorMiddleware");
    assert_eq!(event["context"], "GET /save");
    let top = &event["exceptions"][0]["stacktrace"][0];
    assert!(top["method"].as_str().unwrap().starts_with("server::save"), "{top:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_inside_handlers_attaches_to_the_request_and_sessions_are_counted() {
    let server = Server::start().await;
    let (a, b) = tokio::join!(server.get("/work/a"), server.get("/work/b"));
    assert_eq!((a, b), (200, 200));
    let mut events = server.events().await;
    events.sort_by_key(|e| e["metaData"]["job"]["name"].as_str().unwrap_or_default().to_owned());
    assert_eq!(events.len(), 2);
    for (event, name) in events.iter().zip(["a", "b"]) {
        assert_eq!(event["exceptions"][0]["message"], format!("{name} failed"));
        assert_eq!(event["metaData"]["job"]["name"], name);
        assert_eq!(event["context"], "GET /work/<name>");
        assert_eq!(event["session"]["events"]["handled"], 1);
    }
    let sessions = server.collector.sessions_started();
    assert!(sessions >= 2, "the two work requests, and the readiness probes: {sessions}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_never_reach_the_collector() {
    use bugsnag_core::testing::{get_with_planted_secrets, PLANTED_QUERY};
    let server = Server::start().await;
    let addr: std::net::SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
    let path = format!("/users/7?{PLANTED_QUERY}");
    let status = tokio::task::spawn_blocking(move || get_with_planted_secrets(addr, &path)).await.unwrap();
    assert_eq!(status, 500);
    let events = server.events().await;
    assert_eq!(events.len(), 1);
    server.collector.assert_no_planted_secret();
    let request = &events[0]["request"];
    assert_eq!(request["headers"]["referer"], "not a url ?password=[FILTERED]&page=1");
    assert_eq!(events[0]["breadcrumbs"][0]["metaData"]["from"], "not a url ?password=[FILTERED]&page=1");
    assert!(request["url"].as_str().unwrap().contains("page=2&token=[FILTERED]"), "{request:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traceparent_links_the_requests_events_to_the_callers_trace_and_a_malformed_one_is_ignored() {
    let server = Server::start().await;
    let get = |path: &str, traceparent: &str| {
        reqwest::Client::new().get(format!("{}{path}", server.url)).header("traceparent", traceparent).send()
    };
    // A handled notify in the handler, and a panic the fairing reports.
    assert_eq!(get("/work/linked", testing::TRACEPARENT).await.unwrap().status(), 200);
    assert_eq!(get("/users/7", testing::TRACEPARENT).await.unwrap().status(), 500);
    for bad in testing::MALFORMED_TRACEPARENTS {
        assert_eq!(get("/work/unlinked", bad).await.unwrap().status(), 200, "{bad:?}");
    }
    let events = server.events().await;
    assert_eq!(events.len(), 2 + testing::MALFORMED_TRACEPARENTS.len(), "every request was reported");
    assert_eq!(testing::assert_linked_to_traceparent(&events), 2);
}

/// Returned errors start at the line that failed: the `?` that wrapped them in
/// `Reported`, or, earlier, the origin the error itself carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returned_errors_start_where_they_were_made() {
    let server = Server::start().await;
    // StorageError answers 503, AppError 500: both statuses the fairing reports.
    for (path, status) in [("/orders/save", 503), ("/orders/load", 500)] {
        assert_eq!(server.get(path).await, status, "{path}");
    }
    let events = server.events().await;
    assert_eq!(events.len(), 2, "{events:#?}");
    let by_context = |context: &str| -> &Value { events.iter().find(|e| e["context"] == context).unwrap() };
    testing::assert_origin(by_context("GET /orders/save"), "save_order", SAVE_LINE.load(Ordering::Relaxed));
    testing::assert_origin(by_context("GET /orders/load"), "load_order", LOAD_LINE.load(Ordering::Relaxed));
}

/// The service deployed: copied out of the workspace, started in `/` without a home
/// directory. Each returned error groups at the `?` that made it: two call sites, two
/// groups, each hit twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_from_root_returned_errors_group_at_the_line_that_failed() {
    if testing::is_deployed() {
        let client = Client::new(Configuration::from_env());
        let url = serve(client.clone()).await;
        for path in ["/orders/save", "/orders/load", "/orders/save", "/orders/load"] {
            assert!(reqwest::get(format!("{url}{path}")).await.unwrap().status().is_server_error());
        }
        assert!(tokio::task::spawn_blocking(move || client.flush(Duration::from_secs(20))).await.unwrap());
        return;
    }
    let _ = (save_order(), load_order());
    let sites = [(file!(), SAVE_LINE.load(Ordering::Relaxed)), (file!(), LOAD_LINE.load(Ordering::Relaxed))];
    tokio::task::spawn_blocking(move || {
        testing::assert_deployed_groups("deployed_from_root_returned_errors_group_at_the_line_that_failed", 4, &sites)
    })
    .await
    .unwrap();
}
