//! gRPC, as tonic serves it: a call answers HTTP 200 and puts its outcome in
//! `grpc-status`, in the response headers when it fails at once (a "trailers-only"
//! response) and in the trailers at the end of the body otherwise (every call that
//! succeeds, every stream). The layer reads both places for requests whose content type
//! is `application/grpc` (or `+proto`, `+json`...), and reports the codes that mean the
//! server failed: by default Unknown, Internal, Unavailable and DataLoss, not the
//! caller's faults (InvalidArgument, NotFound, PermissionDenied...) nor a client that
//! cancelled.
//!
//! The report: errorClass `grpc::<Code>` and a grouping hash of the code and the method
//! (such reports carry no stack of the handler), the `grpc-message` as its message,
//! context `POST /package.Service/Method`, a `grpc` metaData tab (service, method, code, code name), severityReason `unhandledErrorMiddleware`.
//! With the `tonic` feature, a `tonic::Status` that carries a source error
//! (`status.set_source(Arc::new(err))`) is reported with that error's `source()` chain
//! when it ends the call at once.

use std::sync::Arc;

use bugsnag_core::adapter::{ErrorChain, UnitOfWork};
use bugsnag_core::Options;
use http::{HeaderMap, HeaderValue, Response};

/// The status codes of gRPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // The names are gRPC's own.
pub enum GrpcCode {
    Ok = 0,
    Cancelled = 1,
    Unknown = 2,
    InvalidArgument = 3,
    DeadlineExceeded = 4,
    NotFound = 5,
    AlreadyExists = 6,
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    Aborted = 10,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

const ALL: [GrpcCode; 17] = [
    GrpcCode::Ok,
    GrpcCode::Cancelled,
    GrpcCode::Unknown,
    GrpcCode::InvalidArgument,
    GrpcCode::DeadlineExceeded,
    GrpcCode::NotFound,
    GrpcCode::AlreadyExists,
    GrpcCode::PermissionDenied,
    GrpcCode::ResourceExhausted,
    GrpcCode::FailedPrecondition,
    GrpcCode::Aborted,
    GrpcCode::OutOfRange,
    GrpcCode::Unimplemented,
    GrpcCode::Internal,
    GrpcCode::Unavailable,
    GrpcCode::DataLoss,
    GrpcCode::Unauthenticated,
];

impl GrpcCode {
    /// The code a `grpc-status` value names (an unknown number is `Unknown`, as gRPC says).
    pub fn from_number(number: i32) -> Self {
        usize::try_from(number).ok().and_then(|n| ALL.get(n)).copied().unwrap_or(GrpcCode::Unknown)
    }

    /// Its name, such as `Internal`.
    pub fn name(self) -> &'static str {
        match self {
            GrpcCode::Ok => "Ok",
            GrpcCode::Cancelled => "Cancelled",
            GrpcCode::Unknown => "Unknown",
            GrpcCode::InvalidArgument => "InvalidArgument",
            GrpcCode::DeadlineExceeded => "DeadlineExceeded",
            GrpcCode::NotFound => "NotFound",
            GrpcCode::AlreadyExists => "AlreadyExists",
            GrpcCode::PermissionDenied => "PermissionDenied",
            GrpcCode::ResourceExhausted => "ResourceExhausted",
            GrpcCode::FailedPrecondition => "FailedPrecondition",
            GrpcCode::Aborted => "Aborted",
            GrpcCode::OutOfRange => "OutOfRange",
            GrpcCode::Unimplemented => "Unimplemented",
            GrpcCode::Internal => "Internal",
            GrpcCode::Unavailable => "Unavailable",
            GrpcCode::DataLoss => "DataLoss",
            GrpcCode::Unauthenticated => "Unauthenticated",
        }
    }
}

/// A set of codes, as a bit per code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Codes(u32);

impl Codes {
    /// The codes that mean the server failed.
    pub(crate) const SERVER_FAULTS: Codes = Codes(
        1 << GrpcCode::Unknown as u32
            | 1 << GrpcCode::Internal as u32
            | 1 << GrpcCode::Unavailable as u32
            | 1 << GrpcCode::DataLoss as u32,
    );

    pub(crate) fn of(codes: impl IntoIterator<Item = GrpcCode>) -> Self {
        Codes(codes.into_iter().fold(0, |bits, code| bits | 1 << code as u32))
    }

    fn contains(self, code: GrpcCode) -> bool {
        self.0 & 1 << code as u32 != 0
    }
}

/// Whether a request is a gRPC call, by its content type.
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers.get(http::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The gRPC outcome in `headers` (the response's or the trailers), if they hold one.
pub(crate) fn status_of(headers: &HeaderMap) -> Option<(GrpcCode, String)> {
    let code = headers.get("grpc-status")?.to_str().ok()?.trim().parse().ok()?;
    let message = headers.get("grpc-message").map(|m| percent_decoded(m.as_bytes())).unwrap_or_default();
    Some((GrpcCode::from_number(code), message))
}

/// `grpc-message` is percent-encoded (gRPC's HTTP/2 protocol, "Responses").
fn percent_decoded(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The headers of a gRPC answer to a call whose handler panicked: HTTP 200 with
/// `grpc-status: 13` (Internal) and no body, as tonic answers an error at once.
pub(crate) fn panic_headers(headers: &mut HeaderMap) {
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(GrpcCode::Internal as i32));
    headers.insert("grpc-message", HeaderValue::from_static("the%20handler%20panicked"));
}

/// A gRPC call the layer is watching: which codes to report, and its path
/// (`/package.Service/Method`).
#[derive(Debug)]
pub(crate) struct Call {
    pub(crate) codes: Codes,
    pub(crate) path: Arc<str>,
}

impl Call {
    /// Reports the call's outcome when its code is one to report.
    pub(crate) fn report(
        &self,
        unit: &UnitOfWork,
        code: GrpcCode,
        message: String,
        cause: Option<&(dyn std::error::Error + 'static)>,
    ) {
        if !self.codes.contains(code) {
            return;
        }
        let path = &*self.path;
        let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
        let class = format!("grpc::{}", code.name());
        let chain = ErrorChain::caused_by(&class, message, cause);
        let mut options = Options::new().add_metadata_tab(
            "grpc",
            serde_json::json!({ "service": service, "method": method, "code": code as i32, "codeName": code.name() }),
        );
        // A status made where it failed (its source carries an origin) groups there, as
        // any error; one known only by its code groups by code and method, not by where
        // this layer read it.
        if chain.origin().is_none() {
            options = options.grouping_hash(format!("{class} {path}"));
        }
        let _ = unit.report_chain(chain, options);
    }
}

/// The error a `tonic::Status` ending the call carries as its source, if any.
pub(crate) fn status_source<B>(response: &Response<B>) -> Option<&(dyn std::error::Error + 'static)> {
    #[cfg(feature = "tonic")]
    if let Some(status) = response.extensions().get::<tonic::Status>() {
        return std::error::Error::source(status);
    }
    let _ = response;
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_read_from_headers_and_messages_decoded() {
        let mut headers = HeaderMap::new();
        assert!(status_of(&headers).is_none());
        headers.insert("grpc-status", HeaderValue::from_static("13"));
        headers.insert("grpc-message", HeaderValue::from_static("ledger%20database%20unreachable%2"));
        assert_eq!(status_of(&headers), Some((GrpcCode::Internal, "ledger database unreachable%2".to_owned())));
        assert_eq!(GrpcCode::from_number(99), GrpcCode::Unknown);
        assert!(Codes::SERVER_FAULTS.contains(GrpcCode::DataLoss));
        assert!(!Codes::SERVER_FAULTS.contains(GrpcCode::NotFound));
        assert!(!Codes::SERVER_FAULTS.contains(GrpcCode::Cancelled));
        assert!(Codes::of([GrpcCode::NotFound]).contains(GrpcCode::NotFound));
    }
}
