//! An origin made before any client could send carries no stack (a program without
//! Bugsnag pays for a call site only at each `?`): its call site still starts the event
//! and keys its group. Alone in its binary, so that no other test made a client first.

use std::time::Duration;

use bugsnag_core::testing::{assert_grouped_at, first_in_project_frame, Collector};
use bugsnag_core::Client;

#[derive(Debug, thiserror::Error)]
#[error("cache unavailable")]
struct CacheError;

bugsnag_core::traced_error!(
    struct AppError(CacheError);
);

#[test]
fn an_origin_made_before_any_client_keeps_its_call_site() {
    let line = line!() + 1;
    let err = AppError::from(CacheError);
    let collector = Collector::start();
    let client = Client::new(collector.configuration());
    client.notify(&err);
    assert!(client.flush(Duration::from_secs(20)));
    let events = collector.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    let top = first_in_project_frame(&events[0]);
    assert_eq!((top["file"].as_str(), top["lineNumber"].as_u64()), (Some(file!()), Some(u64::from(line))), "{top:#}");
    assert_grouped_at(&events[0], file!(), line);
    // The stack where it was reported follows.
    let frames = events[0]["exceptions"][0]["stacktrace"].to_string();
    assert!(frames.contains("an_origin_made_before_any_client_keeps_its_call_site"), "{frames}");
}
