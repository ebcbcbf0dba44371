//! Times as the APIs write them: RFC 3339 in UTC, with milliseconds for events and
//! breadcrumbs, truncated to the minute for session counts.

use std::cell::RefCell;

use time::OffsetDateTime;

/// A time as RFC 3339 with milliseconds, in UTC.
pub(crate) fn format_time(t: OffsetDateTime) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.format(&format).unwrap_or_default()
}

/// The current time as RFC 3339 with milliseconds, in UTC. Every event is stamped on
/// its caller's thread, so the text up to the second is formatted once a second per
/// thread, and only the milliseconds each time.
pub(crate) fn now_rfc3339() -> String {
    thread_local! {
        static SECOND: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    let now = OffsetDateTime::now_utc();
    let cached = SECOND.try_with(|cached| {
        let mut cached = cached.try_borrow_mut().ok()?;
        if cached.0 != now.unix_timestamp() {
            let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
            *cached = (now.unix_timestamp(), now.format(&format).ok()?);
        }
        let millis = now.millisecond();
        let mut text = String::with_capacity(cached.1.len() + 5);
        text.push_str(&cached.1);
        text.push('.');
        for digit in [millis / 100, millis / 10 % 10, millis % 10] {
            text.push(char::from(b'0' + digit as u8));
        }
        text.push('Z');
        Some(text)
    });
    cached.ok().flatten().unwrap_or_else(|| format_time(now))
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

    #[test]
    fn the_cached_second_gives_the_same_text() {
        for _ in 0..3 {
            let before = OffsetDateTime::now_utc();
            let text = now_rfc3339();
            let after = OffsetDateTime::now_utc();
            let (earliest, latest) = (format_time(before), format_time(after));
            assert!(earliest <= text && text <= latest, "{earliest} <= {text} <= {latest}");
            assert_eq!(text.len(), "2023-11-14T22:13:20.123Z".len());
        }
    }
}
