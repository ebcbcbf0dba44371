//! The distributed trace an event happened in (the API's `correlation` object), and the
//! W3C `traceparent` header it can be read from.

use std::fmt;

use serde::ser::{Serialize, SerializeStruct, Serializer};

/// The trace and span an event happened in: its link to a distributed trace.
///
/// Sent as `correlation: {traceId, spanId}` in lowercase hex, as Bugsnag's JavaScript,
/// Android and iOS notifiers send it. With the `opentelemetry` feature, events made
/// inside an active, sampled OpenTelemetry span carry it on their own; the web adapters
/// read it from an incoming W3C `traceparent` header otherwise.
///
/// ```
/// use bugsnag_core::Correlation;
///
/// let link = Correlation::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert_eq!(link.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(link.span_id(), "00f067aa0ba902b7");
/// assert!(Correlation::from_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Correlation {
    trace_id: u128,
    span_id: u64,
}

impl Correlation {
    /// A link from ids as numbers; `None` when either is zero (W3C: an invalid id).
    pub fn new(trace_id: u128, span_id: u64) -> Option<Self> {
        (trace_id != 0 && span_id != 0).then_some(Self { trace_id, span_id })
    }

    /// A link from ids in lowercase hex (32 and 16 digits, not all zeros), as W3C Trace
    /// Context and OpenTelemetry write them; `None` for anything else.
    pub fn from_hex(trace_id: &str, span_id: &str) -> Option<Self> {
        Self::new(lower_hex(trace_id, 32)?, u64::try_from(lower_hex(span_id, 16)?).ok()?)
    }

    /// Reads a W3C Trace Context `traceparent` header value
    /// (`version-traceid-parentid-flags`): the caller's trace, and its span as the parent.
    ///
    /// Checked as the W3C recommendation says: two lowercase hex digits of version, not
    /// `ff`; for version `00` exactly 55 characters; for later versions the first four
    /// fields, followed by the end or a `-`; ids of the right length in lowercase hex, not
    /// all zeros. A trace the caller did not sample (flag `01` unset) gives `None` too: no
    /// trace was recorded to link to.
    pub fn from_traceparent(value: &str) -> Option<Self> {
        let bytes = value.as_bytes();
        let version = lower_hex(value.get(0..2)?, 2)?;
        let fits = match version {
            0 => bytes.len() == 55,
            0xff => false,
            _ => bytes.len() == 55 || (bytes.len() > 55 && bytes[55] == b'-'),
        };
        if !fits || bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let flags = lower_hex(value.get(53..55)?, 2)?;
        if flags & 0x01 == 0 {
            return None;
        }
        Self::from_hex(value.get(3..35)?, value.get(36..52)?)
    }

    /// The trace id: 32 lowercase hex digits.
    pub fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The span id: 16 lowercase hex digits.
    pub fn span_id(&self) -> String {
        format!("{:016x}", self.span_id)
    }
}

/// Parses exactly `digits` lowercase hex digits (at most 32); uppercase is invalid in
/// W3C Trace Context.
fn lower_hex(text: &str, digits: usize) -> Option<u128> {
    let valid = text.len() == digits && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    valid.then(|| u128::from_str_radix(text, 16).ok()).flatten()
}

impl fmt::Debug for Correlation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Correlation").field("trace_id", &self.trace_id()).field("span_id", &self.span_id()).finish()
    }
}

impl Serialize for Correlation {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut link = serializer.serialize_struct("Correlation", 2)?;
        link.serialize_field("traceId", &self.trace_id())?;
        link.serialize_field("spanId", &self.span_id())?;
        link.end()
    }
}

#[cfg(test)]
mod tests {
    use super::Correlation;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    #[test]
    fn the_w3c_examples_and_later_versions_are_read() {
        let link = Correlation::from_traceparent(&format!("00-{TRACE}-{SPAN}-01")).unwrap();
        assert_eq!((link.trace_id().as_str(), link.span_id().as_str()), (TRACE, SPAN));
        assert_eq!(serde_json::to_value(link).unwrap(), serde_json::json!({"traceId": TRACE, "spanId": SPAN}));
        // Other flags bits may be set; a later version may append fields after a dash.
        assert!(Correlation::from_traceparent(&format!("00-{TRACE}-{SPAN}-03")).is_some());
        assert!(Correlation::from_traceparent(&format!("cc-{TRACE}-{SPAN}-01-what-comes-next")).is_some());
        assert!(Correlation::from_traceparent(&format!("cc-{TRACE}-{SPAN}-01")).is_some());
    }

    #[test]
    fn anything_else_is_refused() {
        let zero_trace = "0".repeat(32);
        let zero_span = "0".repeat(16);
        for bad in [
            String::new(),
            format!("00-{TRACE}-{SPAN}-00"),                      // not sampled
            format!("ff-{TRACE}-{SPAN}-01"),                      // forbidden version
            format!("00-{TRACE}-{SPAN}-01-extra"),                // version 00 has four fields
            format!("cc-{TRACE}-{SPAN}-01extra"),                 // a later version: a dash after the flags
            format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),     // uppercase
            format!("00-{zero_trace}-{SPAN}-01"),                 // all-zero trace id
            format!("00-{TRACE}-{zero_span}-01"),                 // all-zero parent id
            format!("00-{TRACE}x-{SPAN}-01"),                     // lengths
            format!("00-{}-{SPAN}0-01", &TRACE[..31]),            // fields shifted
            format!(" 00-{TRACE}-{SPAN}-01"),                     // leading space
            format!("00_{TRACE}_{SPAN}_01"),                      // separators
            format!("0g-{TRACE}-{SPAN}-01"),                      // version not hex
            format!("00-{TRACE}-{SPAN}-0z"),                      // flags not hex
            format!("00-{}é-{SPAN}-01", &TRACE[..30]),            // a multi-byte character
            format!("00-{TRACE}-{SPAN}-01,00-{TRACE}-{SPAN}-01"), // two values joined
        ] {
            assert_eq!(Correlation::from_traceparent(&bad), None, "{bad:?}");
        }
        assert_eq!(Correlation::new(0, 1), None);
        assert_eq!(Correlation::from_hex(TRACE, "+0f067aa0ba902b7"), None);
    }
}
