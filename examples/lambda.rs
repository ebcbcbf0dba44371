//! A Rust function on AWS Lambda reporting to Bugsnag through `BugsnagLambdaLayer`. Its
//! event `{"action": "..."}` says what to do: `ok` nothing, `handled` reports a handled
//! error and returns, `error` returns an error (reported from where it was made),
//! `panic` panics, `timeout` runs past its deadline (a `LambdaTimeoutApproaching` event
//! goes out a second before it).
//!
//! On Lambda, build it with cargo-lambda and set `BUGSNAG_API_KEY`; `cargo xtask demo`
//! runs it against a loopback emulator of the Runtime API that freezes it between
//! invocations, as Lambda does.

use std::time::Duration;

use bugsnag::lambda::BugsnagLambdaLayer;
use bugsnag::Configuration;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};
use tower::ServiceBuilder;

/// What can go wrong with a payment.
#[derive(Debug, thiserror::Error)]
enum PaymentErrorKind {
    #[error("the payment provider is unreachable")]
    Unreachable(#[from] std::io::Error),
}

bugsnag::traced_error!(
    struct PaymentError(PaymentErrorKind);
);

fn charge(order: u64) -> Result<String, PaymentError> {
    let receipt = std::fs::read_to_string(format!("/no/such/provider/{order}"))?;
    Ok(receipt)
}

async fn handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    match event.payload["action"].as_str().unwrap_or("ok") {
        "handled" => {
            bugsnag::notify(&std::io::Error::other("the receipt printer is offline; emailed instead"));
        }
        "error" => {
            charge(42)?;
        }
        "panic" => {
            let orders: Vec<u64> = Vec::new();
            let _first = orders[0];
        }
        "timeout" => tokio::time::sleep(Duration::from_secs(60)).await,
        _ => {}
    }
    Ok(json!({ "done": true }))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let _bugsnag = bugsnag::configure(Configuration::from_env().app_version("1.0.0").app_type("lambda"));
    let function = ServiceBuilder::new().layer(BugsnagLambdaLayer::new()).service(service_fn(handler));
    lambda_runtime::run(function).await
}
