//! An actix-web service reporting to Bugsnag through the `Bugsnag` middleware: a handled
//! error, a returned error and a panic.
//!
//! ```sh
//! BUGSNAG_API_KEY=... cargo run -p bugsnag-examples --bin actix-app
//! curl localhost:PORT/handled /orders/7 /panic
//! ```
//! It listens on `BIND_ADDR` (127.0.0.1:0 by default), prints its address, and shuts down
//! gracefully when its standard input closes (that is how `cargo xtask demo` stops it).

use actix_web::{web, App, HttpResponse, HttpServer};
use bugsnag::actix::Bugsnag;
use bugsnag::{Configuration, User};
use serde_json::json;

async fn handled() -> HttpResponse {
    bugsnag::configure_request(|scope| scope.set_user(User::id("bob-hoskins").with_name("Bob Hoskins")));
    bugsnag::add_metadata_tab("account", json!({"plan": "pro", "api_token": "never sent"}));
    if let Err(err) = "forty-two".parse::<u32>() {
        bugsnag::notify(&err);
    }
    HttpResponse::Ok().body("reported a handled error\n")
}

async fn order(order: web::Path<u32>) -> Result<HttpResponse, actix_web::Error> {
    // A 5xx error returned by a handler is reported by the middleware.
    Err(actix_web::error::ErrorServiceUnavailable(format!("could not load order {order}: database timed out")))
}

async fn panics() -> HttpResponse {
    let orders: Vec<u32> = Vec::new();
    let _first = orders[0];
    HttpResponse::Ok().finish()
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let _bugsnag = bugsnag::configure(Configuration::from_env().app_version(bugsnag::app_version!()));
    let addr = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:0".into());
    let server = HttpServer::new(|| {
        App::new()
            .wrap(Bugsnag)
            .route("/handled", web::get().to(handled))
            .route("/orders/{order}", web::get().to(order))
            .route("/panic", web::get().to(panics))
    })
    .workers(1)
    .disable_signals()
    .bind(&addr)?;
    println!("listening on http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        actix_web::rt::System::new().block_on(handle.stop(true));
    });
    server.await
}
