//! A Rocket service reporting to Bugsnag through `BugsnagFairing`, `catch_panics` and
//! `Reported`: a handled error, a returned error and a panic.
//!
//! ```sh
//! BUGSNAG_API_KEY=... cargo run -p bugsnag-examples --bin rocket-app
//! curl localhost:PORT/handled /orders/7 /panic
//! ```
//! It listens on a free local port, prints its address, and shuts down gracefully when
//! its standard input closes (that is how `cargo xtask demo` stops it).

use bugsnag::rocket::{catch_panics, BugsnagFairing, Reported};
use bugsnag::{Configuration, User};
use serde_json::json;

#[derive(Debug, rocket::Responder)]
#[response(status = 503)]
struct OrderError(String);

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OrderError {}

#[rocket::get("/handled")]
fn handled() -> &'static str {
    bugsnag::configure_request(|scope| scope.set_user(User::id("bob-hoskins").with_name("Bob Hoskins")));
    bugsnag::add_metadata_tab("account", json!({"plan": "pro", "api_token": "never sent"}));
    if let Err(err) = "forty-two".parse::<u32>() {
        bugsnag::notify(&err);
    }
    "reported a handled error\n"
}

#[rocket::get("/orders/<order>")]
fn order(order: u32) -> Result<&'static str, Reported<OrderError>> {
    Err(OrderError(format!("could not load order {order}: database timed out")).into())
}

#[rocket::get("/panic")]
fn panics() -> &'static str {
    let orders: Vec<u32> = Vec::new();
    let _first = orders[0];
    "unreachable"
}

#[rocket::main]
async fn main() -> Result<(), Box<rocket::Error>> {
    let _bugsnag = bugsnag::configure(Configuration::from_env().app_version(bugsnag::app_version!()));
    // Rocket reports the port it was configured with, so pick a free one first.
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(8000);
    let config = rocket::Config {
        port,
        address: std::net::Ipv4Addr::LOCALHOST.into(),
        log_level: rocket::config::LogLevel::Off,
        shutdown: rocket::config::Shutdown { ctrlc: false, ..Default::default() },
        ..rocket::Config::release_default()
    };
    let rocket = rocket::custom(config)
        .attach(BugsnagFairing)
        .mount("/", catch_panics(rocket::routes![handled, order, panics]))
        .ignite()
        .await
        .map_err(Box::new)?;
    let shutdown = rocket.shutdown();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        shutdown.notify();
    });
    println!("listening on http://127.0.0.1:{port}");
    rocket.launch().await.map_err(Box::new)?;
    Ok(())
}
