//! Returned errors through a real actix-web server start at the line that failed, not
//! where actix turned them into a response: a `thiserror` enum made a `traced_error!`,
//! implementing `ResponseError`, returned through `?`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer, ResponseError};
use bugsnag_actix::Bugsnag;
use bugsnag_core::testing::{assert_origin, Collector};
use bugsnag_core::Client;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
enum AppErrorKind {
    #[error("storage failed")]
    Io(#[from] std::io::Error),
}

bugsnag_core::traced_error!(
    struct AppError(AppErrorKind);
);

impl ResponseError for AppError {}

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

#[actix_web::test]
async fn returned_errors_start_where_they_were_made() {
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    let app_client = client.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(Bugsnag::with_client(app_client.clone()))
            .route("/order", web::get().to(order))
            .route("/customer", web::get().to(customer))
    })
    .workers(2)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .unwrap();
    let url = format!("http://{}", server.addrs()[0]);
    actix_web::rt::spawn(server.run());

    for path in ["/order", "/customer"] {
        assert_eq!(reqwest::get(format!("{url}{path}")).await.unwrap().status(), 500);
    }
    let flushing = client.clone();
    assert!(actix_web::rt::task::spawn_blocking(move || flushing.flush(Duration::from_secs(20))).await.unwrap());
    let events = collector.events();
    assert_eq!(events.len(), 2, "{events:#?}");
    let by_context = |context: &str| -> &Value { events.iter().find(|e| e["context"] == context).unwrap() };
    let order = by_context("GET /order");
    assert_eq!(order["exceptions"][0]["errorClass"], "AppError");
    assert_eq!(order["unhandled"], true);
    assert_origin(order, "load_order", ORDER_LINE.load(Ordering::Relaxed));
    assert_origin(by_context("GET /customer"), "load_customer", CUSTOMER_LINE.load(Ordering::Relaxed));
}
