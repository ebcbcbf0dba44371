//! [`Bugsnag`](struct@Bugsnag): the actix-web `Transform` (`App::new().wrap(Bugsnag)`), and
//! [`BugsnagMiddleware`], the service it makes.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::StatusCode;
use actix_web::Error;
use bugsnag_core::adapter::{ErrorChain, Settings, UnitOfWork};
use bugsnag_core::{Options, Origin};

use crate::request::http_request;

/// The framework named in reports.
const FRAMEWORK: &str = "actix-web";

/// The middleware: `App::new().wrap(Bugsnag)` reports to the process-wide client with
/// the defaults; [`Bugsnag::with_client`] and the option methods change them.
///
/// ```
/// use actix_web::App;
/// use bugsnag_actix::Bugsnag;
///
/// let app = App::new().wrap(Bugsnag);
/// let with_options = App::new().wrap(Bugsnag.report_status(|status| status.as_u16() >= 500 || status.as_u16() == 409));
/// ```
#[derive(Clone, Debug)]
pub struct Bugsnag {
    settings: Settings,
}

/// The middleware with its defaults, so that `wrap(Bugsnag)` reads as a unit value
/// while the options still return the same type.
#[allow(non_upper_case_globals)]
pub const Bugsnag: Bugsnag =
    Bugsnag { settings: Settings::new(FRAMEWORK, &[(FRAMEWORK, env!("BUGSNAG_VERSION_ACTIX_WEB"))]) };

impl Default for Bugsnag {
    fn default() -> Self {
        Bugsnag
    }
}

impl Bugsnag {
    bugsnag_core::adapter_options!(settings);

    /// Which statuses of error responses are reported (5xx by default).
    pub fn report_status(mut self, report: impl Fn(StatusCode) -> bool + Send + Sync + 'static) -> Self {
        self.settings = self.settings.report_status(move |code| StatusCode::from_u16(code).is_ok_and(&report));
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for Bugsnag
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = BugsnagMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(BugsnagMiddleware { service: Rc::new(service), settings: self.settings.clone() }))
    }
}

/// The middleware service made by [`Bugsnag`](struct@Bugsnag).
pub struct BugsnagMiddleware<S> {
    service: Rc<S>,
    settings: Settings,
}

impl<S> std::fmt::Debug for BugsnagMiddleware<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BugsnagMiddleware").field("settings", &self.settings).finish_non_exhaustive()
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

impl<S, B> Service<ServiceRequest> for BugsnagMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    actix_web::dev::forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let source = http_request(&request, self.settings.clone());
        let unit = self.settings.open(Some(Arc::new(source)));
        let service = self.service.clone();
        let called = unit.call(|| service.call(request));
        Box::pin(async move {
            let outcome = match called {
                Ok(future) => unit.run(future).await,
                Err(payload) => Err(payload),
            };
            match outcome {
                Ok(Ok(response)) => {
                    let status = response.status();
                    match response.response().error() {
                        Some(error) => report_error(&unit, error, status),
                        None => {
                            let _ = unit.report_response(status.as_u16(), status.canonical_reason());
                        }
                    }
                    Ok(response)
                }
                Ok(Err(error)) => {
                    report_error(&unit, &error, error.as_response_error().status_code());
                    Err(error)
                }
                Err(payload) => {
                    let _ = unit.report_panic(&*payload);
                    // The request went to the handler, so answer with an error, which actix
                    // turns into a 500 response (holding a clone of the request instead
                    // would break actix's routing, which needs it unshared).
                    Err(actix_web::error::ErrorInternalServerError("internal server error"))
                }
            }
        })
    }
}

/// Reports an error a handler returned, when its status is one to report. actix errors
/// are `ResponseError`s rather than `std::error::Error`s: a
/// [`traced_error!`](bugsnag_core::traced_error) type shows its chain (its causes and
/// origins) through its `Debug` output; any other is reported with its text, the type
/// its `Debug` output names and the origin that shows.
fn report_error(unit: &UnitOfWork, error: &Error, status: StatusCode) {
    if !unit.settings().reports_status(status.as_u16()) {
        return;
    }
    let options = Options::new().add_metadata_tab("response", serde_json::json!({ "status": status.as_u16() }));
    if let Some(chain) = ErrorChain::in_debug(error.as_response_error()) {
        let _ = unit.report_chain(chain, options);
        return;
    }
    let class = bugsnag_core::adapter::class_from_debug(error.as_response_error());
    let options = match Origin::in_debug(error.as_response_error()) {
        Some(origin) => options.origin(&origin),
        None => options,
    };
    let options = options.error_class(class.unwrap_or_else(|| "actix_web::Error".to_owned()));
    let _ = unit.report_message(error.to_string(), options);
}
