//! [`Bugsnag`]: the actix-web `Transform` (`App::new().wrap(Bugsnag)`), [`Configured`]
//! for options, and [`BugsnagMiddleware`], the service they make.

use std::future::{ready, Future, Ready};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::http::StatusCode;
use actix_web::Error;
use bugsnag_core::http::RequestSettings;
use bugsnag_core::{Client, Options, Scope, SeverityReason};

use crate::request::http_request;

/// The framework named in reports.
const FRAMEWORK: &str = "actix-web";

/// The middleware with its defaults, reporting to the process-wide client:
/// `App::new().wrap(Bugsnag)`. [`Bugsnag::with_client`] and the option methods give a
/// [`Configured`] middleware.
///
/// ```
/// use actix_web::App;
/// use bugsnag_actix::Bugsnag;
///
/// let app = App::new().wrap(Bugsnag);
/// let with_options = App::new().wrap(Bugsnag.report_status(|status| status.as_u16() >= 500 || status.as_u16() == 409));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Bugsnag;

impl Bugsnag {
    /// The middleware reporting to `client`.
    pub fn with_client(client: Client) -> Configured {
        Configured::with_client(client)
    }

    /// Which statuses of error responses are reported (5xx by default).
    pub fn report_status(self, report: impl Fn(StatusCode) -> bool + 'static) -> Configured {
        Configured::new().report_status(report)
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
        Configured::new().new_transform(service)
    }
}

/// The middleware with options set: made by [`Bugsnag::with_client`] or one of [`Bugsnag`]'s option methods.
#[derive(Clone)]
pub struct Configured {
    client: Option<Client>,
    settings: Rc<Settings>,
}

struct Settings {
    request: Arc<RequestSettings>,
    report_status: Box<dyn Fn(StatusCode) -> bool>,
}

impl Default for Configured {
    fn default() -> Self {
        Self::new()
    }
}

impl Configured {
    /// Reports to the process-wide client (`bugsnag_core::configure`).
    pub fn new() -> Self {
        bugsnag_core::panic::ensure_hook();
        if let Some(client) = bugsnag_core::client() {
            client.add_runtime_version(FRAMEWORK, "4");
        }
        Self {
            client: None,
            settings: Rc::new(Settings {
                request: Arc::new(RequestSettings::default()),
                report_status: Box::new(|status| status.is_server_error()),
            }),
        }
    }

    /// Reports to `client`.
    pub fn with_client(client: Client) -> Self {
        client.add_runtime_version(FRAMEWORK, "4");
        Self { client: Some(client), ..Self::new() }
    }

    fn settings_mut(&mut self) -> &mut Settings {
        Rc::get_mut(&mut self.settings).expect("options are set before the middleware is cloned")
    }

    /// Which statuses of error responses are reported (5xx by default).
    pub fn report_status(mut self, report: impl Fn(StatusCode) -> bool + 'static) -> Self {
        self.settings_mut().report_status = Box::new(report);
        self
    }

    /// Read the client IP from forwarding headers (only behind a proxy that sets them).
    pub fn trust_forwarded_headers(mut self, trust: bool) -> Self {
        Arc::make_mut(&mut self.settings_mut().request).trust_forwarded_headers = trust;
        self
    }

    /// Headers never sent, whatever `params_filters` says.
    pub fn drop_headers<I: IntoIterator<Item = S>, S: AsRef<str>>(mut self, names: I) -> Self {
        Arc::make_mut(&mut self.settings_mut().request).drop_headers(names);
        self
    }
}

impl<S, B> Transform<S, ServiceRequest> for Configured
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
        ready(Ok(BugsnagMiddleware { service: Rc::new(service), factory: self.clone() }))
    }
}

/// The middleware service made by [`Bugsnag`] and [`Configured`].
pub struct BugsnagMiddleware<S> {
    service: Rc<S>,
    factory: Configured,
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
        let client = self.factory.client.clone().or_else(bugsnag_core::client);
        let settings = self.factory.settings.clone();
        let source = Arc::new(http_request(&request, settings.request.clone()));
        let scope = match &client {
            Some(client) => client.request_scope(source, FRAMEWORK),
            None => Scope::for_request(source, FRAMEWORK),
        };
        let service = self.service.clone();
        let called = scope.run_sync(|| catch_unwind(AssertUnwindSafe(|| service.call(request))));
        Box::pin(async move {
            let outcome = match called {
                Ok(future) => scope.run_catching(FRAMEWORK, future).await,
                Err(payload) => Err(payload),
            };
            match outcome {
                Ok(Ok(response)) => {
                    if let (Some(client), Some(error)) = (&client, response.response().error()) {
                        report_error(client, &scope, &settings, error, response.status());
                    }
                    Ok(response)
                }
                Ok(Err(error)) => {
                    if let Some(client) = &client {
                        report_error(client, &scope, &settings, &error, error.as_response_error().status_code());
                    }
                    Err(error)
                }
                Err(payload) => {
                    if let Some(client) = &client {
                        let _ = client.notify_panic(&scope, &*payload, FRAMEWORK);
                    }
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
/// are `ResponseError`s rather than `std::error::Error`s, so the report carries the
/// error's text and the type named by its `Debug` output.
fn report_error(client: &Client, scope: &Scope, settings: &Settings, error: &Error, status: StatusCode) {
    if !(settings.report_status)(status) {
        return;
    }
    let class = bugsnag_core::error_chain::class_from_debug(error.as_response_error());
    let options = Options::new()
        .unhandled(SeverityReason::unhandled_error_middleware(FRAMEWORK))
        .scope(scope.clone())
        .error_class(class.unwrap_or_else(|| "actix_web::Error".to_owned()))
        .metadata("response", serde_json::json!({ "status": status.as_u16() }));
    let _ = client.notify_message(error.to_string(), options);
}
