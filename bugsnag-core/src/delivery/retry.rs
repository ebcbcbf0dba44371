//! The retry matrix, as the mobile notifiers apply it: 2xx delivered; 4xx other than 408
//! and 429 dropped; 408, 429, 5xx, connection errors and timeouts retried with capped
//! exponential backoff and jitter, honouring `Retry-After` (seconds or an HTTP date).

use std::time::{Duration, SystemTime};

/// The longest `Retry-After` honoured; a longer one is treated as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);

/// What to do after one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Delivered,
    /// Refused for good (the status says why).
    Rejected(u16),
    /// Worth another attempt, after the server's `Retry-After` when it sent one.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
}

/// Classifies a response status and its `Retry-After` header.
pub(crate) fn classify(status: u16, retry_after: Option<&str>) -> Verdict {
    match status {
        200..=299 => Verdict::Delivered,
        408 | 429 | 500..=599 => Verdict::Retry {
            reason: format!("Bugsnag answered {status}"),
            retry_after: retry_after.and_then(parse_retry_after),
        },
        _ => Verdict::Rejected(status),
    }
}

/// `Retry-After: 120` or `Retry-After: Fri, 27 Nov 2026 17:00:00 GMT`.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => httpdate::parse_http_date(value).ok()?.duration_since(SystemTime::now()).unwrap_or_default(),
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// How many times and how patiently to retry.
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based): the server's `Retry-After` when
    /// given, else `initial * 2^retry` capped at `max`, with "equal jitter" (half fixed,
    /// half random) so that many processes do not retry in step.
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait;
        }
        let exp = self.initial_backoff.saturating_mul(2u32.saturating_pow(retry.min(16)));
        let capped = exp.min(self.max_backoff);
        let half = capped / 2;
        half + half.mul_f64(jitter())
    }
}

/// A uniform number in [0, 1) from the OS random source behind `uuid`.
fn jitter() -> f64 {
    (uuid::Uuid::new_v4().as_u128() as u64 >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_matrix() {
        assert_eq!(classify(202, None), Verdict::Delivered);
        assert_eq!(classify(400, None), Verdict::Rejected(400));
        assert_eq!(classify(401, None), Verdict::Rejected(401));
        assert_eq!(classify(413, None), Verdict::Rejected(413));
        for status in [408, 429, 500, 503] {
            assert!(matches!(classify(status, None), Verdict::Retry { .. }), "{status}");
        }
        assert_eq!(
            classify(429, Some("3")),
            Verdict::Retry { reason: "Bugsnag answered 429".into(), retry_after: Some(Duration::from_secs(3)) }
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
        let wait = parse_retry_after(&soon).unwrap();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30), "{wait:?}");
        assert_eq!(parse_retry_after("99999"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let policy = RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        };
        for retry in 0..8 {
            let full = (Duration::from_millis(100) * 2u32.pow(retry)).min(Duration::from_secs(1));
            let delay = policy.delay(retry, None);
            assert!(delay >= full / 2 && delay <= full, "retry {retry}: {delay:?}");
        }
        assert_eq!(policy.delay(0, Some(Duration::from_secs(7))), Duration::from_secs(7));
    }
}
