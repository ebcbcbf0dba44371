//! What goes over the wire: the notifier block every payload carries, and a payload
//! serialized and ready to POST to one of the two APIs.

use serde::{Deserialize, Serialize};

/// The notifier block of every payload.
#[derive(Serialize)]
pub(crate) struct Notifier {
    name: &'static str,
    version: &'static str,
    url: &'static str,
}

pub(crate) const NOTIFIER: Notifier = Notifier {
    name: "Rust Bugsnag Notifier",
    version: env!("CARGO_PKG_VERSION"),
    url: "https://github.com/bugsnag-rust/bugsnag-rust",
};

/// Which API a payload is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Event,
    Sessions,
}

impl Kind {
    /// The `Bugsnag-Payload-Version` of this API.
    pub(crate) fn payload_version(self) -> &'static str {
        match self {
            Kind::Event => "4.0",
            Kind::Sessions => "1.0",
        }
    }
}

/// A serialized payload ready to POST.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    pub(crate) kind: Kind,
    pub(crate) api_key: String,
    /// Shared, not copied, by each attempt to send it.
    pub(crate) body: bytes::Bytes,
    /// Events it carries (1 for session counts): what the delivery counters count.
    pub(crate) count: u64,
}

impl Outgoing {
    /// The `Bugsnag-Integrity` header of this body: `sha1 ` and the hex digest of its exact
    /// bytes, which Bugsnag's APIs check (and its notifiers' test harness requires).
    pub(crate) fn integrity(&self) -> String {
        integrity_of(&self.body)
    }
}

/// The `Bugsnag-Integrity` value of `body`.
pub(crate) fn integrity_of(body: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    format!("sha1 {:x}", Sha1::digest(body))
}
