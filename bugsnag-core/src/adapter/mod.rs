//! What framework adapters are built from; applications do not need this module.
//!
//! Every adapter (`bugsnag-tower`, `bugsnag-actix`, `bugsnag-rocket`, `bugsnag-worker`, or
//! your own) holds one [`Settings`], whose options mean the same everywhere, and for each
//! request or job opens one [`UnitOfWork`]: the scope the handler runs in (so
//! `configure_request`, `add_metadata_tab` and `notify` attach to it), the session, and
//! the client that reports for it. The unit then runs the handler catching its panics and
//! reports what went wrong the same way for every framework:
//!
//! ```
//! use std::sync::Arc;
//! use bugsnag_core::adapter::Settings;
//!
//! const SETTINGS: Settings = Settings::new("my-framework", &[("my-framework", "1.2.3")]);
//!
//! # async fn serve() {
//! let unit = SETTINGS.open(None); // or Some(Arc::new(request data))
//! match unit.run(async { 42 }).await {
//!     Ok(answer) => assert_eq!(answer, 42),
//!     Err(payload) => {
//!         let _ = unit.report_panic(&*payload); // one unhandled report, then answer 500
//!     }
//! }
//! # }
//! ```

#[cfg(feature = "http")]
mod http;
mod settings;
mod unit;

#[cfg(feature = "http")]
pub use self::http::HttpRequest;
pub use crate::capture::error_class::{class_from_debug, class_of_dyn, class_of_typed};
pub use crate::capture::panic::payload_message;
pub use crate::capture::{CatchUnwind, RequestSource};
pub use crate::delivery::is_sensitive_header;
pub use settings::Settings;
pub use unit::{ErrorChain, UnitOfWork};

/// Cuts JSON nested deeper than the notifier keeps (32 levels), without recursion, for
/// data an adapter holds before any event is made (job arguments, say).
pub fn cap_depth(value: &mut serde_json::Value) {
    crate::limits::cap_depth(value);
}

/// The option methods every adapter type shares, written once: `with_client`,
/// `report_responses_without_error`, `trust_forwarded_headers` and `drop_headers`, on a
/// type that implements `Default` and keeps its [`Settings`] in the field named
/// (`report_status` takes each framework's own status type, so each adapter writes it).
///
/// ```
/// use bugsnag_core::adapter::Settings;
///
/// #[derive(Clone, Debug)]
/// pub struct MyMiddleware {
///     settings: Settings,
/// }
///
/// impl Default for MyMiddleware {
///     fn default() -> Self {
///         Self { settings: Settings::new("my-framework", &[]) }
///     }
/// }
///
/// impl MyMiddleware {
///     bugsnag_core::adapter_options!(settings);
/// }
///
/// let middleware = MyMiddleware::default().trust_forwarded_headers(true).drop_headers(["x-internal"]);
/// ```
#[macro_export]
macro_rules! adapter_options {
    ($settings:ident) => {
        /// Reports to `client` instead of the process-wide client
        /// (`bugsnag_core::configure`), which is left alone: tests run side by side
        /// this way.
        pub fn with_client(client: $crate::Client) -> Self {
            let mut this = <Self as ::std::default::Default>::default();
            this.$settings = this.$settings.reporting_to(client);
            this
        }

        /// Also report responses of a reported status that carry no error (errorClass
        /// `HTTP 503` and so on). Off by default.
        pub fn report_responses_without_error(mut self, report: bool) -> Self {
            self.$settings = self.$settings.report_responses_without_error(report);
            self
        }

        /// Read the client IP from `X-Forwarded-For`, `Forwarded` or `X-Real-IP`. Only
        /// turn this on behind a proxy that sets them: clients can forge them.
        pub fn trust_forwarded_headers(mut self, trust: bool) -> Self {
            self.$settings = self.$settings.trust_forwarded_headers(trust);
            self
        }

        /// Headers never sent, whatever `params_filters` says (names in any case).
        pub fn drop_headers<I: ::std::iter::IntoIterator<Item = S>, S: ::std::convert::AsRef<str>>(
            mut self,
            names: I,
        ) -> Self {
            self.$settings = self.$settings.drop_headers(names);
            self
        }
    };
}
