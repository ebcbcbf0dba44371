//! [`BugsnagFairing`](struct@BugsnagFairing) (`rocket::build().attach(BugsnagFairing)`): per-request unit of
//! work, request data, sessions and runtime version.

use bugsnag_core::adapter::Settings;
use rocket::fairing::{Fairing, Info, Kind};
use rocket::http::Status;
use rocket::{Data, Orbit, Request, Response, Rocket};

use crate::request::{RequestState, DEFAULT_SETTINGS};

/// The fairing: `rocket::build().attach(BugsnagFairing)` reports to the process-wide
/// client with the defaults; [`BugsnagFairing::with_client`] and the option methods
/// change them.
///
/// ```
/// use bugsnag_rocket::BugsnagFairing;
///
/// let rocket = rocket::build().attach(BugsnagFairing);
/// let behind_a_proxy = rocket::build().attach(BugsnagFairing.trust_forwarded_headers(true));
/// ```
#[derive(Clone, Debug)]
pub struct BugsnagFairing {
    settings: Settings,
}

/// The fairing with its defaults, so that `attach(BugsnagFairing)` reads as a unit value
/// while the options still return the same type.
#[allow(non_upper_case_globals)]
pub const BugsnagFairing: BugsnagFairing = BugsnagFairing { settings: DEFAULT_SETTINGS };

impl Default for BugsnagFairing {
    fn default() -> Self {
        BugsnagFairing
    }
}

impl BugsnagFairing {
    bugsnag_core::adapter_options!(settings);

    /// Which statuses are reported: those of errors wrapped in
    /// [`Reported`](crate::Reported), and with
    /// [`report_responses_without_error`](Self::report_responses_without_error) all of
    /// them (5xx by default).
    pub fn report_status(mut self, report: impl Fn(Status) -> bool + Send + Sync + 'static) -> Self {
        self.settings = self.settings.report_status(move |code| report(Status::new(code)));
        self
    }
}

#[rocket::async_trait]
impl Fairing for BugsnagFairing {
    fn info(&self) -> Info {
        Info { name: "Bugsnag", kind: Kind::Request | Kind::Response | Kind::Liftoff }
    }

    async fn on_liftoff(&self, rocket: &Rocket<Orbit>) {
        crate::handler::warn_unwrapped(rocket);
    }

    async fn on_request(&self, request: &mut Request<'_>, _: &mut Data<'_>) {
        RequestState::of(request, || self.settings.clone());
    }

    async fn on_response<'r>(&self, request: &'r Request<'_>, response: &mut Response<'r>) {
        let state = RequestState::of(request, || self.settings.clone());
        // A request whose route was not wrapped gets its data recorded here, so anything
        // reported after the handler (other fairings, catchers) still carries it.
        state.describe(request);
        if !state.was_reported() {
            let status = response.status();
            let _ = state.unit.report_response(status.code, status.reason());
        }
    }
}
