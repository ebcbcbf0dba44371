//! [`BugsnagFairing`] (`rocket::build().attach(BugsnagFairing)`) and [`Configured`]:
//! per-request scope, request data, sessions and runtime version.

use std::sync::Arc;

use bugsnag_core::http::RequestSettings;
use bugsnag_core::Client;
use rocket::fairing::{Fairing, Info, Kind};
use rocket::{Data, Orbit, Request, Response, Rocket};

use crate::request::RequestState;

/// The fairing with its defaults, reporting to the process-wide client:
/// `rocket::build().attach(BugsnagFairing)`. [`BugsnagFairing::with_client`] and the
/// option methods give a [`Configured`] fairing.
///
/// ```
/// use bugsnag_rocket::BugsnagFairing;
///
/// let rocket = rocket::build().attach(BugsnagFairing);
/// let behind_a_proxy = rocket::build().attach(BugsnagFairing.trust_forwarded_headers(true));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct BugsnagFairing;

impl BugsnagFairing {
    /// The fairing reporting to `client`.
    pub fn with_client(client: Client) -> Configured {
        Configured::with_client(client)
    }

    /// Read the client IP from forwarding headers (only behind a proxy that sets them).
    pub fn trust_forwarded_headers(self, trust: bool) -> Configured {
        Configured::new().trust_forwarded_headers(trust)
    }

    /// Headers never sent, whatever `params_filters` says.
    pub fn drop_headers<I: IntoIterator<Item = S>, S: AsRef<str>>(self, names: I) -> Configured {
        Configured::new().drop_headers(names)
    }
}

#[rocket::async_trait]
impl Fairing for BugsnagFairing {
    fn info(&self) -> Info {
        Configured::info()
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        crate::handler::warn_unwrapped(rocket);
    }

    async fn on_request(&self, request: &mut Request<'_>, data: &mut Data<'_>) {
        DEFAULTS.on_request(request, data).await;
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        DEFAULTS.on_response(request, response).await;
    }
}

/// What [`BugsnagFairing`] does, built once (on the first request, after `configure`),
/// not on every request.
static DEFAULTS: std::sync::LazyLock<Configured> = std::sync::LazyLock::new(Configured::new);

/// The fairing with options set: made by [`BugsnagFairing::with_client`] or
/// one of [`BugsnagFairing`]'s option methods.
#[derive(Clone)]
pub struct Configured {
    client: Option<Client>,
    settings: Arc<RequestSettings>,
}

impl Default for Configured {
    fn default() -> Self {
        Self::new()
    }
}

impl Configured {
    fn info() -> Info {
        Info { name: "Bugsnag", kind: Kind::Request | Kind::Response | Kind::Liftoff }
    }

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
impl Fairing for Configured {
    fn info(&self) -> Info {
        Self::info()
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        crate::handler::warn_unwrapped(rocket);
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
