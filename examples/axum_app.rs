//! An axum service reporting to Bugsnag through `BugsnagLayer`: a handled error, a
//! returned error (reported from where it was made), a panic, and a spawned task that
//! keeps the request's context.
//!
//! ```sh
//! BUGSNAG_API_KEY=... cargo run -p bugsnag-examples --bin axum-app
//! curl localhost:PORT/handled /orders/7 /panic /spawned
//! ```
//! It listens on `BIND_ADDR` (127.0.0.1:0 by default), prints its address, and shuts down
//! gracefully when its standard input closes (that is how `cargo xtask demo` stops it).

use std::net::SocketAddr;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bugsnag::tower::{BugsnagLayer, ErrorReport};
use bugsnag::{Configuration, InCurrentScope, User};
use serde_json::json;

/// What can go wrong with an order, written the usual way.
#[derive(Debug, thiserror::Error)]
enum OrderErrorKind {
    #[error("could not load the order")]
    Storage(#[from] std::io::Error),
}

bugsnag::traced_error! {
    /// The service's error: what failed, and where (the line of the `?` that made it,
    /// where its report starts). Answers 500 and hands the error to BugsnagLayer.
    struct OrderError(OrderErrorKind);
}

impl IntoResponse for OrderError {
    fn into_response(self) -> Response {
        let mut response = (StatusCode::INTERNAL_SERVER_ERROR, "could not load the order\n").into_response();
        response.extensions_mut().insert(ErrorReport::new(self));
        response
    }
}

async fn handled() -> &'static str {
    bugsnag::configure_request(|scope| {
        scope.set_user(User::id("bob-hoskins").with_name("Bob Hoskins"));
        // A flag for this request only: its events say which checkout the user saw.
        scope.add_feature_flag("new-checkout", Some("variant-b"));
    });
    bugsnag::add_metadata_tab("account", json!({"plan": "pro", "api_token": "never sent"}));
    if let Err(err) = "forty-two".parse::<u32>() {
        bugsnag::notify(&err);
    }
    "reported a handled error\n"
}

fn read_record(order: u32) -> std::io::Result<String> {
    Err(std::io::Error::new(std::io::ErrorKind::TimedOut, format!("database timed out reading order {order}")))
}

/// The report of a failure here starts at the `?` below, not in `into_response`.
fn load_order(order: u32) -> Result<String, OrderError> {
    let record = read_record(order)?;
    Ok(record)
}

async fn order(Path(order): Path<u32>) -> Result<String, OrderError> {
    let record = load_order(order)?;
    Ok(record)
}

async fn panics() -> &'static str {
    let orders: Vec<u32> = Vec::new();
    let _first = orders[0];
    "unreachable"
}

async fn spawned() -> &'static str {
    // tokio::spawn does not inherit the request's scope; `in_current_scope` carries it.
    let task = tokio::spawn(
        async {
            let err = std::io::Error::other("background refresh failed");
            bugsnag::notify(&err);
        }
        .in_current_scope(),
    );
    let _ = task.await;
    "reported from a spawned task\n"
}

#[tokio::main]
async fn main() {
    let _bugsnag = bugsnag::configure(Configuration::from_env().app_version("1.0.0").app_type("web"));

    let app = Router::new()
        .route("/handled", get(handled))
        .route("/orders/{order}", get(order))
        .route("/panic", get(panics))
        .route("/spawned", get(spawned))
        .layer(BugsnagLayer::new());

    let addr = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    println!("listening on http://{}", listener.local_addr().expect("address"));

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        let _ = stop.send(());
    });
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        })
        .await
        .expect("serve");
}
