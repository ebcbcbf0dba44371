//! The Bugsnag middleware in a real actix-web server on a loopback socket, called with a
//! real HTTP client; events are read back from a loopback Collector.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use bugsnag_actix::Bugsnag;
use bugsnag_core::testing::{self, Collector};
use bugsnag_core::{Client, Configuration, User};
use serde_json::{json, Value};

#[inline(never)]
async fn explode(path: web::Path<u32>) -> HttpResponse {
    actix_web::rt::task::yield_now().await;
    panic!("user {} exploded", path.into_inner());
}

async fn save() -> Result<HttpResponse, actix_web::Error> {
    Err(actix_web::error::ErrorServiceUnavailable("storage offline"))
}

async fn missing() -> Result<HttpResponse, actix_web::Error> {
    Err(actix_web::error::ErrorNotFound("no such order"))
}

static BOTH: std::sync::LazyLock<testing::Rendezvous> = std::sync::LazyLock::new(|| testing::Rendezvous::new(2));

async fn work(name: web::Path<String>, client: web::Data<Client>) -> HttpResponse {
    let name = name.into_inner();
    bugsnag_core::configure_request(|s| s.set_user(User::id(name.clone())));
    if matches!(name.as_str(), "a" | "b") {
        // The isolation test's two requests are in flight at once, users set, before
        // either goes on.
        BOTH.meet().await;
    }
    bugsnag_core::add_metadata_tab("job", json!({ "name": name }));
    client.notify(&std::io::Error::other(format!("{name} failed")));
    HttpResponse::Ok().finish()
}

#[derive(Debug, thiserror::Error)]
enum AppErrorKind {
    #[error("storage failed")]
    Io(#[from] std::io::Error),
}

bugsnag_core::traced_error!(
    struct AppError(AppErrorKind);
);

impl actix_web::ResponseError for AppError {}

static ORDER_LINE: AtomicU32 = AtomicU32::new(0);
static CUSTOMER_LINE: AtomicU32 = AtomicU32::new(0);

#[inline(never)]
fn load_order() -> Result<String, AppError> {
    ORDER_LINE.store(line!() + 1, Ordering::Relaxed);
    let text = std::fs::read_to_string("/no/such/order")?;
    Ok(text)
}

#[inline(never)]
fn load_customer() -> Result<String, AppError> {
    CUSTOMER_LINE.store(line!() + 1, Ordering::Relaxed);
    let text = std::fs::read_to_string("/no/such/customer")?;
    Ok(text)
}

async fn order() -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().body(load_order()?))
}

async fn customer() -> Result<HttpResponse, AppError> {
    Ok(HttpResponse::Ok().body(load_customer()?))
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
        Server { url: serve(client.clone()), collector, client }
    }

    async fn get(&self, path: &str) -> reqwest::StatusCode {
        reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .header("Authorization", "Bearer secret")
            .send()
            .await
            .unwrap()
            .status()
    }

    async fn events(&self) -> Vec<Value> {
        let client = self.client.clone();
        let flushed = actix_web::rt::task::spawn_blocking(move || client.flush(Duration::from_secs(20)));
        assert!(flushed.await.unwrap());
        self.collector.events()
    }
}

/// Serves the app on a loopback port, reporting to `client`; its URL.
fn serve(client: Client) -> String {
    let app_client = client;
    let server = HttpServer::new(move || {
        App::new()
            .wrap(Bugsnag::with_client(app_client.clone()))
            .app_data(web::Data::new(app_client.clone()))
            .route("/users/{id}", web::get().to(explode))
            .route("/save", web::get().to(save))
            .route("/orders/{id}", web::get().to(missing))
            .route("/work/{name}", web::get().to(work))
            .route("/ok", web::get().to(|| async { "ok" }))
            .route("/order", web::get().to(order))
            .route("/customer", web::get().to(customer))
    })
    .workers(2)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    actix_web::rt::spawn(server.run());
    url
}

#[actix_web::test]
async fn a_panicking_handler_answers_500_and_is_reported_once() {
    let server = Server::start().await;
    assert_eq!(server.get("/users/42?token=t").await, 500);
    assert_eq!(server.get("/ok").await, 200, "the server keeps serving");
    let events = server.events().await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(
        event["severityReason"],
        json!({"type": "unhandledExceptionMiddleware", "attributes": {"framework": "actix-web"}})
    );
    assert_eq!(event["exceptions"][0]["message"], "user 42 exploded");
    let top = &event["exceptions"][0]["stacktrace"][0];
    assert!(top["method"].as_str().unwrap().starts_with("server::explode"), "{top:#}");
    assert_eq!(event["context"], "GET /users/{id}");
    assert_eq!(event["user"]["id"], "127.0.0.1");
    assert_eq!(event["request"]["clientIp"], "127.0.0.1");
    assert_eq!(event["request"]["headers"]["authorization"], "[FILTERED]");
    assert!(event["request"]["url"].as_str().unwrap().ends_with("/users/42?token=[FILTERED]"));
    assert_eq!(
        event["device"]["runtimeVersions"]["actix-web"],
        testing::dependency_version("bugsnag-actix", "actix-web")
    );
    assert_eq!(event["breadcrumbs"][0]["type"], "navigation");
}

#[actix_web::test]
async fn returned_5xx_errors_are_reported_and_404s_are_not() {
    let server = Server::start().await;
    assert_eq!(server.get("/save").await, 503);
    assert_eq!(server.get("/orders/7").await, 404);
    let events = server.events().await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["exceptions"][0]["message"], "storage offline");
    assert_eq!(events[0]["severityReason"]["type"], "unhandledErrorMiddleware");
    assert_eq!(events[0]["metaData"]["response"]["status"], 503);
    assert_eq!(events[0]["context"], "GET /save");
}

#[actix_web::test]
async fn concurrent_requests_keep_their_own_context_and_quiet_ones_count_sessions() {
    let server = Server::start().await;
    let (a, b) = tokio::join!(server.get("/work/a"), server.get("/work/b"));
    assert_eq!((a, b), (reqwest::StatusCode::OK, reqwest::StatusCode::OK));
    let mut events = server.events().await;
    assert_eq!(events.len(), 2, "{events:#?}");
    // Ordered by what each handler reported, then each must carry its own request's user.
    events.sort_by_key(|e| e["exceptions"][0]["message"].as_str().unwrap_or_default().to_owned());
    for (event, name) in events.iter().zip(["a", "b"]) {
        assert_eq!(event["exceptions"][0]["message"], format!("{name} failed"));
        assert_eq!(event["user"]["id"], name, "the user set by this request, not the other's");
        assert_eq!(event["metaData"]["job"]["name"], name);
        assert_eq!(event["context"], "GET /work/{name}");
    }
    let sessions = server.collector.sessions_started();
    assert_eq!(sessions, 2);
}

#[actix_web::test]
async fn planted_secrets_never_reach_the_collector() {
    use bugsnag_core::testing::{get_with_planted_secrets, PLANTED_QUERY};
    let server = Server::start().await;
    let addr: std::net::SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
    let path = format!("/users/7?{PLANTED_QUERY}");
    let status = actix_web::rt::task::spawn_blocking(move || get_with_planted_secrets(addr, &path)).await.unwrap();
    assert_eq!(status, 500);
    let events = server.events().await;
    assert_eq!(events.len(), 1);
    server.collector.assert_no_planted_secret();
    let request = &events[0]["request"];
    assert_eq!(request["headers"]["referer"], "not a url ?password=[FILTERED]&page=1");
    assert_eq!(events[0]["breadcrumbs"][0]["metaData"]["from"], "not a url ?password=[FILTERED]&page=1");
    assert!(request["url"].as_str().unwrap().ends_with("/users/7?page=2&token=[FILTERED]"), "{request:#}");
}

#[actix_web::test]
async fn a_traceparent_links_the_requests_events_to_the_callers_trace_and_a_malformed_one_is_ignored() {
    let server = Server::start().await;
    let get = |path: &str, traceparent: &str| {
        reqwest::Client::new().get(format!("{}{path}", server.url)).header("traceparent", traceparent).send()
    };
    // A handled notify in the handler, and a panic the middleware reports.
    assert_eq!(get("/work/linked", testing::TRACEPARENT).await.unwrap().status(), 200);
    assert_eq!(get("/users/7", testing::TRACEPARENT).await.unwrap().status(), 500);
    for bad in testing::MALFORMED_TRACEPARENTS {
        assert_eq!(get("/work/unlinked", bad).await.unwrap().status(), 200, "{bad:?}");
    }
    let events = server.events().await;
    assert_eq!(events.len(), 2 + testing::MALFORMED_TRACEPARENTS.len(), "every request was reported");
    assert_eq!(testing::assert_linked_to_traceparent(&events), 2);
}

/// A `traced_error!` type returned through `?` as a `ResponseError`: each report starts
/// at the line that failed, not at this middleware.
#[actix_web::test]
async fn returned_errors_start_where_they_were_made() {
    let server = Server::start().await;
    for path in ["/order", "/customer"] {
        assert_eq!(server.get(path).await, 500);
    }
    let events = server.events().await;
    assert_eq!(events.len(), 2, "{events:#?}");
    let by_context = |context: &str| -> &Value { events.iter().find(|e| e["context"] == context).unwrap() };
    let order = by_context("GET /order");
    assert_eq!(order["exceptions"][0]["errorClass"], "server::AppErrorKind::Io");
    // The chain a ResponseError has no way to give: read through its Debug.
    assert_eq!(order["exceptions"][1]["errorClass"], "std::io::Error", "{order:#}");
    assert_eq!(order["unhandled"], true);
    testing::assert_origin(order, "load_order", ORDER_LINE.load(Ordering::Relaxed));
    testing::assert_origin(by_context("GET /customer"), "load_customer", CUSTOMER_LINE.load(Ordering::Relaxed));
}

/// The service deployed: copied out of the workspace, started in `/` without a home
/// directory. Each returned error groups at the `?` that made it: two call sites, two
/// groups, each hit twice.
#[actix_web::test]
async fn deployed_from_root_returned_errors_group_at_the_line_that_failed() {
    if testing::is_deployed() {
        let server = Server {
            url: String::new(),
            collector: Collector::start(),
            client: Client::new(Configuration::from_env()),
        };
        let server = Server { url: serve(server.client.clone()), ..server };
        for path in ["/order", "/customer", "/order", "/customer"] {
            assert_eq!(server.get(path).await, 500);
        }
        let client = server.client.clone();
        assert!(actix_web::rt::task::spawn_blocking(move || client.flush(Duration::from_secs(20))).await.unwrap());
        return;
    }
    let _ = (load_order(), load_customer());
    let sites = [(file!(), ORDER_LINE.load(Ordering::Relaxed)), (file!(), CUSTOMER_LINE.load(Ordering::Relaxed))];
    actix_web::rt::task::spawn_blocking(move || {
        testing::assert_deployed_groups("deployed_from_root_returned_errors_group_at_the_line_that_failed", 4, &sites)
    })
    .await
    .unwrap();
}
