//! Reading an event's stack as Bugsnag groups it: by its first in-project frame.

use serde_json::Value;

/// The first in-project frame of an event's first exception (what the dashboard groups
/// by and shows first). Panics, showing the frames, when there is none.
pub fn first_in_project_frame(event: &Value) -> &Value {
    let frames = &event["exceptions"][0]["stacktrace"];
    frames
        .as_array()
        .and_then(|frames| frames.iter().find(|f| f["inProject"] == true))
        .unwrap_or_else(|| panic!("no in-project frame in {frames:#}"))
}

/// Asserts that an event starts where an error was made: its first in-project frame is
/// in a function whose path ends with `method` (`load_order`, `orders::load_order`), at
/// `line`, and the dashboard groups it there too (by its innermost exception's top
/// in-project frame, see [`Grouping`](super::Grouping)).
pub fn assert_origin(event: &Value, method: &str, line: u32) {
    let frame = first_in_project_frame(event);
    let name = frame["method"].as_str().unwrap_or_default();
    let function = name.trim_end_matches("::{{closure}}");
    assert!(
        function == method || function.ends_with(&format!("::{method}")),
        "first in-project frame is {name}, not {method}: {:#}",
        event["exceptions"][0]["stacktrace"]
    );
    assert_eq!(frame["lineNumber"], line, "{name}'s line: {frame:#}");
    let file = frame["file"].as_str().unwrap_or_default();
    super::assert_grouped_at(event, file, line);
}
