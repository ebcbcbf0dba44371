//! [`BugsnagFairing`]: per-request scope, request data, sessions and runtime version.

use std::sync::Arc;

use bugsnag_core::http::RequestSettings;
use bugsnag_core::Client;
use rocket::fairing::{Fairing, Info, Kind};
use rocket::{Data, Request, Response};

use crate::request::RequestState;

/// The fairing: `rocket::build().attach(BugsnagFairing::default())`.
#[derive(Clone)]
pub struct BugsnagFairing {
    client: Option<Client>,
    settings: Arc<RequestSettings>,
}

impl Default for BugsnagFairing {
    fn default() -> Self {
        Self::new()
    }
}

impl BugsnagFairing {
    /// Reports to the process-wide client (`bugsnag_core::configure`).
    pub fn new() -> Self {
        bugsnag_core::panic::ensure_hook();
        if let Some(client) = bugsnag_core::client() {
            client.add_runtime_version(crate::FRAMEWORK, "0.5");
        }
        Self { client: None, settings: Arc::default() }
    }

    /// Reports to `client`.
    pub fn with_client(client: Client) -> Self {
        client.add_runtime_version(crate::FRAMEWORK, "0.5");
        Self { client: Some(client), ..Self::new() }
    }

    /// Read the client IP from forwarding headers (only behind a proxy that sets them).
    pub fn trust_forwarded_headers(mut self, trust: bool) -> Self {
        Arc::make_mut(&mut self.settings).trust_forwarded_headers = trust;
        self
    }

    /// Headers never sent, whatever `params_filters` says.
    pub fn drop_headers<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, names: I) -> Self {
        Arc::make_mut(&mut self.settings).drop_headers(names);
        self
    }
}

#[rocket::async_trait]
impl Fairing for BugsnagFairing {
    fn info(&self) -> Info {
        Info { name: "Bugsnag", kind: Kind::Request | Kind::Response }
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        let client = self.client.clone();
        RequestState::of(request, || client.or_else(bugsnag_core::client));
        // The settings travel with the request, for the route wrapper and the responder.
        request.local_cache(|| self.settings.clone());
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, _: &mut Response<'r>) {
        // A request whose route was not wrapped gets its data recorded here, so anything
        // reported after the handler (other fairings, catchers) still carries it.
        let client = self.client.clone();
        RequestState::of(request, || client.or_else(bugsnag_core::client)).describe(request, &self.settings);
    }
}
