//! Times as the APIs write them: RFC 3339 in UTC, with milliseconds for events and
//! breadcrumbs, truncated to the minute for session counts.

use time::OffsetDateTime;

/// A time as RFC 3339 with milliseconds, in UTC.
pub(crate) fn format_time(t: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&format).unwrap_or_default()
}

/// The current time as RFC 3339 with milliseconds, in UTC.
pub(crate) fn now_rfc3339() -> String {
    format_time(OffsetDateTime::now_utc())
}

/// The start of a minute counted since the Unix epoch, as RFC 3339 (session counts are
/// keyed by minute).
pub(crate) fn minute_start(minute: u64) -> String {
    let seconds = i64::try_from(minute.saturating_mul(60)).unwrap_or(i64::MAX);
    let t = OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:00Z");
    t.format(&format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_milliseconds_and_minutes() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        assert_eq!(format_time(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(minute_start(1_700_000_000 / 60), "2023-11-14T22:13:00Z");
    }
}
