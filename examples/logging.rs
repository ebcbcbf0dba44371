//! The tracing bridge (the Python notifier's logging handler): ERROR events become reports, INFO
//! and WARN events become breadcrumbs, fields land in metaData tabs.

use bugsnag::logging::BugsnagTracingLayer;
use bugsnag::Configuration;
use tracing_subscriber::prelude::*;

#[derive(Debug)]
struct GatewayError(std::io::Error);

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("payment gateway unavailable")
    }
}

impl std::error::Error for GatewayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[tracing::instrument]
fn charge(order_id: u64) {
    tracing::info!(order_id, "charging card");
    let err = GatewayError(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"));
    tracing::error!(order_id, error = &err as &dyn std::error::Error, "could not charge order");
}

fn main() {
    let _bugsnag = bugsnag::configure(Configuration::from_env().app_version("1.0.0"));
    tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(tracing_subscriber::fmt::layer())
        .with(BugsnagTracingLayer::new().extra_fields("order", ["order_id"]))
        .init();

    tracing::info!("service started");
    charge(1042);
}
