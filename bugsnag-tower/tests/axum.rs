//! BugsnagLayer in a real axum server on a loopback socket, called with a real HTTP
//! client; every event is read back from a loopback Collector and schema-checked.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bugsnag_core::testing::{self, Collector};
use bugsnag_core::{Client, InCurrentScope, Options, User};
use bugsnag_tower::{BugsnagLayer, ErrorReport};
use serde_json::{json, Value};

#[derive(Debug)]
struct StorageError(std::io::Error);

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("storage failed")
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl IntoResponse for StorageError {
    fn into_response(self) -> Response {
        let status = if self.0.kind() == std::io::ErrorKind::AlreadyExists {
            StatusCode::CONFLICT
        } else {
            StatusCode::INTERNAL_SERVER_ERROR
        };
        let mut response = (status, "sorry").into_response();
        response.extensions_mut().insert(ErrorReport::new(self));
        response
    }
}

#[inline(never)]
async fn explode(Path(id): Path<u32>) -> &'static str {
    tokio::task::yield_now().await;
    panic!("user {id} exploded");
}

async fn save() -> Result<&'static str, StorageError> {
    Err(StorageError(std::io::Error::other("disk full")))
}

async fn conflict() -> Result<&'static str, StorageError> {
    Err(StorageError(std::io::Error::new(std::io::ErrorKind::AlreadyExists, "exists")))
}

struct Server {
    url: String,
    collector: Collector,
    client: Client,
    http: reqwest::Client,
}

impl Server {
    async fn start(layer: impl FnOnce(Client) -> BugsnagLayer) -> Server {
        let collector = Collector::start();
        let client = Client::new(collector.configuration());
        let app = Router::new()
            .route("/users/{id}", get(explode))
            .route("/save", get(save))
            .route("/conflict", get(conflict))
            .route("/ok", get(|| async { "ok" }))
            .route_service(
                "/sync-panic",
                tower::service_fn(
                    |_req: axum::extract::Request| -> std::future::Ready<Result<Response, std::convert::Infallible>> {
                        panic!("panicked in call")
                    },
                ),
            )
            .layer(layer(client.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
        });
        Server { url, collector, client, http: reqwest::Client::new() }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .header("Authorization", "Bearer secret-token")
            .header("Cookie", "session=abc")
            .header("Referer", "http://example.com/from?token=t")
            .header("X-Request-Id", "req-1")
            .send()
            .await
            .unwrap()
    }

    async fn events(&self) -> Vec<Value> {
        let client = self.client.clone();
        assert!(tokio::task::spawn_blocking(move || client.flush(Duration::from_secs(10))).await.unwrap());
        self.collector.events()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_answers_500_reports_once_and_the_server_keeps_serving() {
    let server = Server::start(BugsnagLayer::with_client).await;
    server.client.install_panic_hook(); // the global hook must not report it a second time

    let response = server.get("/users/42?page=2&access_token=abc").await;
    assert_eq!(response.status(), 500);
    assert_eq!(server.get("/ok").await.status(), 200, "the server keeps serving");

    let events = server.events().await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event["unhandled"], true);
    assert_eq!(event["severity"], "error");
    assert_eq!(
        event["severityReason"],
        json!({"type": "unhandledExceptionMiddleware", "attributes": {"framework": "axum"}})
    );
    assert_eq!(event["exceptions"][0]["errorClass"], "panic");
    assert_eq!(event["exceptions"][0]["message"], "user 42 exploded");
    let top = &event["exceptions"][0]["stacktrace"][0];
    assert!(top["method"].as_str().unwrap().starts_with("axum::explode"), "{top:#}");
    assert_eq!(top["file"], file!());
    assert_eq!(event["context"], "GET /users/{id}");
    assert_eq!(event["user"]["id"], "127.0.0.1");
    let request = &event["request"];
    assert_eq!(request["httpMethod"], "GET");
    assert_eq!(request["clientIp"], "127.0.0.1");
    let url = request["url"].as_str().unwrap();
    assert!(url.starts_with("http://127.0.0.1:") && url.ends_with("/users/42?page=2&access_token=[FILTERED]"), "{url}");
    assert_eq!(request["headers"]["authorization"], "[FILTERED]");
    assert_eq!(request["headers"]["cookie"], "[FILTERED]");
    assert_eq!(request["headers"]["x-request-id"], "req-1");
    assert_eq!(request["referer"], "http://example.com/from?token=[FILTERED]");
    assert_eq!(event["device"]["runtimeVersions"]["axum"], testing::dependency_version("bugsnag-tower", "axum"));
    let navigation = &event["breadcrumbs"][0];
    assert_eq!(navigation["type"], "navigation");
    assert_eq!(navigation["name"], "http request", "as the seed names it");
    assert_eq!(navigation["metaData"]["to"], "/users/42");
    assert_eq!(navigation["metaData"]["from"], "http://example.com/from?token=[FILTERED]");
    // The executor, server and middleware below the handler are dropped.
    let frames = event["exceptions"][0]["stacktrace"].as_array().unwrap();
    assert!(frames.len() <= 20, "{} frames: {frames:#?}", frames.len());
    let size = server.collector.requests().iter().find(|r| r.path == "/notify").unwrap().size;
    assert!(size <= 8 * 1024, "{size} bytes");
    assert_eq!(event["session"]["events"], json!({"handled": 0, "unhandled": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_reports_nothing_sends_no_event_and_counts_one_session() {
    let server = Server::start(BugsnagLayer::with_client).await;
    assert_eq!(server.get("/ok").await.status(), 200);
    assert!(server.events().await.is_empty(), "no event");
    assert_eq!(server.collector.sessions_started(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_the_services_call_is_caught_too() {
    let server = Server::start(BugsnagLayer::with_client).await;
    assert_eq!(server.get("/sync-panic").await.status(), 500);
    assert_eq!(server.get("/ok").await.status(), 200);
    let events = server.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["exceptions"][0]["message"], "panicked in call");
    assert_eq!(events[0]["context"], "GET /sync-panic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returned_errors_are_reported_by_status() {
    let server = Server::start(BugsnagLayer::with_client).await;
    assert_eq!(server.get("/save").await.status(), 500);
    assert_eq!(server.get("/conflict").await.status(), 409);
    assert_eq!(server.get("/nowhere").await.status(), 404);
    let events = server.events().await;
    assert_eq!(events.len(), 1, "only the 500: {events:#?}");
    let event = &events[0];
    assert_eq!(event["exceptions"][0]["errorClass"], "axum::StorageError");
    assert_eq!(event["exceptions"][1]["message"], "disk full");
    assert_eq!(
        event["severityReason"],
        json!({"type": "unhandledErrorMiddleware", "attributes": {"framework": "axum"}})
    );
    assert_eq!(event["metaData"]["response"]["status"], 500);
    assert_eq!(event["context"], "GET /save");
    let top = &event["exceptions"][0]["stacktrace"][0];
    assert!(top["method"].as_str().unwrap().contains("StorageError"), "stack of the ErrorReport: {top:#}");

    let server =
        Server::start(|c| BugsnagLayer::with_client(c).report_status(|s| s.is_server_error() || s == 409)).await;
    assert_eq!(server.get("/conflict").await.status(), 409);
    assert_eq!(server.events().await.len(), 1, "409 reported when configured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_keep_their_own_context() {
    static BOTH: std::sync::LazyLock<testing::Rendezvous> = std::sync::LazyLock::new(|| testing::Rendezvous::new(2));
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let handler = |client: Client| {
        move |Path(name): Path<String>| {
            let client = client.clone();
            async move {
                bugsnag_core::configure_request(|s| s.set_user(User::id(name.clone())));
                // Both requests are in flight, each with its user set, before either goes on.
                BOTH.meet().await;
                bugsnag_core::add_metadata_tab("job", json!({ "name": name }));
                let err = std::io::Error::other(format!("{name} failed"));
                tokio::spawn(async move { client.notify_with(&err, Options::new()) }.in_current_scope())
                    .await
                    .unwrap()
                    .is_queued()
                    .to_string()
            }
        }
    };
    let app = Router::new()
        .route("/work/{name}", get(handler(client.clone())))
        .layer(BugsnagLayer::with_client(client.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let http = reqwest::Client::new();
    let (a, b) = tokio::join!(http.get(format!("{url}/work/a")).send(), http.get(format!("{url}/work/b")).send());
    assert_eq!(a.unwrap().text().await.unwrap(), "true");
    assert_eq!(b.unwrap().text().await.unwrap(), "true");
    assert!(tokio::task::spawn_blocking(move || client.flush(Duration::from_secs(10))).await.unwrap());

    let mut events = collector.events();
    events.sort_by_key(|e| e["user"]["id"].as_str().unwrap_or_default().to_owned());
    assert_eq!(events.len(), 2);
    for (event, name) in events.iter().zip(["a", "b"]) {
        assert_eq!(event["exceptions"][0]["message"], format!("{name} failed"));
        assert_eq!(event["user"]["id"], name);
        assert_eq!(event["metaData"]["job"], json!({ "name": name }));
        assert_eq!(event["context"], "GET /work/{name}");
        assert!(event["request"]["url"].as_str().unwrap().ends_with(&format!("/work/{name}")));
        assert!(event["request"].get("clientIp").is_none(), "no ConnectInfo, no forwarded trust: no IP");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_are_used_only_when_trusted() {
    let server =
        Server::start(|c| BugsnagLayer::with_client(c).trust_forwarded_headers(true).drop_headers(["x-request-id"]))
            .await;
    let response =
        server.http.get(format!("{}/save", server.url)).header("X-Forwarded-For", "203.0.113.9, 10.0.0.1").send().await;
    assert_eq!(response.unwrap().status(), 500);
    let event = &server.events().await[0];
    assert_eq!(event["request"]["clientIp"], "203.0.113.9");
    assert_eq!(event["user"]["id"], "203.0.113.9");
    assert!(event["request"]["headers"].get("x-request-id").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_secrets_never_reach_the_collector() {
    use bugsnag_core::testing::{get_with_planted_secrets, PLANTED_QUERY};
    let server = Server::start(BugsnagLayer::with_client).await;
    let addr: SocketAddr = server.url.trim_start_matches("http://").parse().unwrap();
    let path = format!("/users/7?{PLANTED_QUERY}");
    let status = tokio::task::spawn_blocking(move || get_with_planted_secrets(addr, &path)).await.unwrap();
    assert_eq!(status, 500);
    let events = server.events().await;
    assert_eq!(events.len(), 1);
    server.collector.assert_no_planted_secret();
    let request = &events[0]["request"];
    assert_eq!(request["headers"]["referer"], "not a url ?password=[FILTERED]&page=1");
    assert_eq!(events[0]["breadcrumbs"][0]["metaData"]["from"], "not a url ?password=[FILTERED]&page=1");
    assert_eq!(request["headers"]["x-return-to"], "https://example.com/cb?api_key=[FILTERED]&lang=en");
    assert_eq!(request["headers"]["proxy-authorization"], "[FILTERED]");
    assert!(request["url"].as_str().unwrap().ends_with("/users/7?page=2&token=[FILTERED]"), "{request:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traceparent_links_the_requests_events_to_the_callers_trace_and_a_malformed_one_is_ignored() {
    let server = Server::start(BugsnagLayer::with_client).await;
    let get = |path: &'static str, traceparent: &'static str| {
        server.http.get(format!("{}{path}", server.url)).header("traceparent", traceparent).send()
    };
    // A returned error and a panic, both reported by the layer.
    assert_eq!(get("/save", testing::TRACEPARENT).await.unwrap().status(), 500);
    assert_eq!(get("/users/7", testing::TRACEPARENT).await.unwrap().status(), 500);
    for bad in testing::MALFORMED_TRACEPARENTS {
        assert_eq!(get("/save", bad).await.unwrap().status(), 500, "{bad:?}");
    }
    // Two traceparent headers make the context invalid.
    let twice = server.http.get(format!("{}/save", server.url)).header("traceparent", testing::TRACEPARENT);
    assert_eq!(twice.header("traceparent", testing::TRACEPARENT).send().await.unwrap().status(), 500);
    let events = server.events().await;
    assert_eq!(events.len(), 3 + testing::MALFORMED_TRACEPARENTS.len(), "every request was reported");
    assert_eq!(testing::assert_linked_to_traceparent(&events), 2);
}
