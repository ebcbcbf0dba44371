//! Returned errors through a real axum server start at the line that failed, not at the
//! `IntoResponse` that reported them: the service is written the usual way (a
//! `thiserror` enum, `?` a few calls deep, `ErrorReport` in `IntoResponse`) plus one
//! `traced_error!`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bugsnag_core::testing::{self, assert_origin, first_in_project_frame, Collector};
use bugsnag_core::{Client, Configuration, InCurrentScope};
use bugsnag_tower::{BugsnagLayer, ErrorReport};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
enum AppErrorKind {
    #[error("storage failed")]
    Io(#[from] std::io::Error),
    #[error("bad number")]
    Parse(#[from] std::num::ParseIntError),
}

bugsnag_core::traced_error!(
    struct AppError(AppErrorKind);
);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::INTERNAL_SERVER_ERROR, "sorry").into_response();
        response.extensions_mut().insert(ErrorReport::new(self));
        response
    }
}

/// Where each failure was made, as the handlers saw it.
static ORDER_LINE: AtomicU32 = AtomicU32::new(0);
static CUSTOMER_LINE: AtomicU32 = AtomicU32::new(0);
static QUANTITY_LINE: AtomicU32 = AtomicU32::new(0);
static TASK_LINE: AtomicU32 = AtomicU32::new(0);

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

#[inline(never)]
fn parse_quantity(text: &str) -> Result<u32, AppError> {
    QUANTITY_LINE.store(line!() + 1, Ordering::Relaxed);
    let quantity = text.parse::<u32>()?;
    Ok(quantity)
}

async fn order() -> Result<String, AppError> {
    let order = load_order()?;
    Ok(order)
}

async fn customer() -> Result<String, AppError> {
    let customer = load_customer()?;
    Ok(customer)
}

async fn quantity() -> Result<String, AppError> {
    Ok(parse_quantity("forty-two")?.to_string())
}

async fn anyhow_route() -> Response {
    let err = anyhow::Error::from(load_order().unwrap_err()).context("checkout failed");
    let mut response = (StatusCode::INTERNAL_SERVER_ERROR, "sorry").into_response();
    response.extensions_mut().insert(ErrorReport::anyhow(err));
    response
}

#[inline(never)]
async fn refresh_in_background() -> Result<u32, AppError> {
    tokio::task::yield_now().await;
    TASK_LINE.store(line!() + 1, Ordering::Relaxed);
    let count = "many".parse::<u32>()?;
    Ok(count)
}

async fn spawned() -> Result<String, AppError> {
    let count = tokio::spawn(refresh_in_background().in_current_scope()).await.expect("the task ran")?;
    Ok(count.to_string())
}

async fn start() -> (String, Collector, Client) {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    (serve(client.clone()).await, collector, client)
}

/// Serves the app on a loopback port, reporting to `client`; its URL.
async fn serve(client: Client) -> String {
    let app = Router::new()
        .route("/order", get(order))
        .route("/customer", get(customer))
        .route("/quantity", get(quantity))
        .route("/anyhow", get(anyhow_route))
        .route("/spawned", get(spawned))
        .layer(BugsnagLayer::with_client(client));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    url
}

async fn events_of(collector: &Collector, client: &Client, count: usize) -> Vec<Value> {
    let client = client.clone();
    assert!(tokio::task::spawn_blocking(move || client.flush(Duration::from_secs(20))).await.unwrap());
    let events = collector.events();
    assert_eq!(events.len(), count, "{events:#?}");
    events
}

fn by_context<'a>(events: &'a [Value], context: &str) -> &'a Value {
    events.iter().find(|e| e["context"] == context).unwrap_or_else(|| panic!("no event for {context}: {events:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returned_errors_start_where_they_were_made() {
    let (url, collector, client) = start().await;
    let http = reqwest::Client::new();
    for path in ["/order", "/customer", "/quantity", "/order"] {
        assert_eq!(http.get(format!("{url}{path}")).send().await.unwrap().status(), 500);
    }
    let events = events_of(&collector, &client, 4).await;

    let order = by_context(&events, "GET /order");
    assert_origin(order, "load_order", ORDER_LINE.load(Ordering::Relaxed));
    assert_eq!(order["unhandled"], true);
    assert_eq!(order["severityReason"]["type"], "unhandledErrorMiddleware");
    assert_origin(by_context(&events, "GET /customer"), "load_customer", CUSTOMER_LINE.load(Ordering::Relaxed));
    assert_origin(by_context(&events, "GET /quantity"), "parse_quantity", QUANTITY_LINE.load(Ordering::Relaxed));
    // Two io errors from two call sites: two first frames (two groups); one call site
    // hit twice: one.
    let firsts: Vec<String> = events.iter().map(|e| first_in_project_frame(e)["method"].to_string()).collect();
    let mut distinct = firsts.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "{firsts:?}");
    for event in &events {
        let methods = event["exceptions"][0]["stacktrace"].to_string();
        assert!(!methods.contains("into_response"), "the reporting site is not in the stack: {methods}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anyhow_error_and_a_spawned_tasks_error_keep_their_origins() {
    let (url, collector, client) = start().await;
    let http = reqwest::Client::new();
    for path in ["/anyhow", "/spawned"] {
        assert_eq!(http.get(format!("{url}{path}")).send().await.unwrap().status(), 500);
    }
    let events = events_of(&collector, &client, 2).await;
    let anyhow = by_context(&events, "GET /anyhow");
    assert_eq!(anyhow["exceptions"][0]["message"], "checkout failed");
    assert_eq!(anyhow["unhandled"], true, "reported by the layer, as any returned error");
    assert_eq!(anyhow["metaData"]["response"]["status"], 500);
    assert_origin(anyhow, "load_order", ORDER_LINE.load(Ordering::Relaxed));
    assert_origin(by_context(&events, "GET /spawned"), "refresh_in_background", TASK_LINE.load(Ordering::Relaxed));
}

/// The service deployed: copied out of the workspace, started in `/` without a home
/// directory. Each returned error groups at the `?` that made it: two call sites, two
/// groups, each hit twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_from_root_returned_errors_group_at_the_line_that_failed() {
    if testing::is_deployed() {
        let client = Client::new(Configuration::from_env());
        let url = serve(client.clone()).await;
        for path in ["/order", "/customer", "/order", "/customer"] {
            assert_eq!(reqwest::get(format!("{url}{path}")).await.unwrap().status(), 500);
        }
        assert!(tokio::task::spawn_blocking(move || client.flush(Duration::from_secs(20))).await.unwrap());
        return;
    }
    let _ = (load_order(), load_customer());
    let sites = [(file!(), ORDER_LINE.load(Ordering::Relaxed)), (file!(), CUSTOMER_LINE.load(Ordering::Relaxed))];
    tokio::task::spawn_blocking(move || {
        testing::assert_deployed_groups("deployed_from_root_returned_errors_group_at_the_line_that_failed", 4, &sites)
    })
    .await
    .unwrap();
}
