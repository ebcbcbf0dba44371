//! One event as the inbox shows it: the error chain with its stacks (in-project frames
//! first, with their code), breadcrumbs in order, request, user, app, device, metadata
//! tabs, feature flags and session.

use std::fmt::Write;

use serde_json::Value;

use super::html::{escape, format_time};
use super::store::{Event, Group};

/// Nested objects deeper than this are shown as JSON rather than as nested tables.
const TABLE_DEPTH: usize = 3;

/// Appends the event's section; `link` gives the address of another event by number.
pub(crate) fn render(html: &mut String, event: &Event<'_>, group: &Group<'_>, link: &dyn Fn(usize) -> String) {
    let value = event.value;
    let kind = if event.unhandled() { "unhandled" } else { "handled" };
    let _ = write!(
        html,
        "<section class=event id=\"event-{}\"><h2>{}: {}</h2><p><span class=\"badge {kind}\">{kind}</span> \
         <span class=badge>{}</span> <span class=badge>{}</span></p>",
        event.id,
        escape(event.class()),
        escape(event.message()),
        escape(text(&value["severity"])),
        escape(text(&value["severityReason"]["type"])),
    );
    let mut facts = vec![
        ("Event", format!("#{}", event.id)),
        ("Received", format_time(event.report.received_ms)),
        ("Happened", text(&value["device"]["time"]).to_owned()),
        ("Context", event.context().to_owned()),
    ];
    facts.push(("Grouped by", event.grouping().to_string()));
    // The ids to look the request up by in the tracing backend.
    if let Some(trace) = value["correlation"]["traceId"].as_str() {
        facts.push(("Trace", trace.to_owned()));
        facts.push(("Span", text(&value["correlation"]["spanId"]).to_owned()));
    }
    html.push_str("<table class=facts>");
    for (name, fact) in facts {
        let _ = write!(html, "<tr><th>{name}</th><td>{}</td></tr>", escape(&fact));
    }
    html.push_str("<tr><th>In this group</th><td>");
    for other in &group.events {
        let _ = write!(html, "<a href=\"{}\">#{}</a> ", link(other.id), other.id);
    }
    html.push_str("</td></tr></table>");

    if !event.report.schema_errors.is_empty() {
        html.push_str("<h3>Breaks the API schema</h3><ul class=errors>");
        for error in &event.report.schema_errors {
            let _ = write!(html, "<li>{}</li>", escape(error));
        }
        html.push_str("</ul>");
    }
    exceptions(html, value);
    breadcrumbs(html, value);
    for (title, key) in [("Request", "request"), ("User", "user"), ("App", "app"), ("Device", "device")] {
        if let Some(section) = value.get(key) {
            let _ = write!(html, "<h3>{title}</h3>");
            table(html, section, 0);
        }
    }
    if let Some(tabs) = value["metaData"].as_object() {
        html.push_str("<h3>Metadata</h3>");
        for (tab, content) in tabs {
            let _ = write!(html, "<h4>{}</h4>", escape(tab));
            table(html, content, 0);
        }
    }
    if let Some(flags) = value["featureFlags"].as_array() {
        html.push_str("<h3>Feature flags</h3><table class=flags><tr><th>Flag</th><th>Variant</th></tr>");
        for flag in flags {
            let _ = write!(
                html,
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(text(&flag["featureFlag"])),
                escape(flag["variant"].as_str().unwrap_or_default())
            );
        }
        html.push_str("</table>");
    }
    if let Some(session) = value.get("session") {
        html.push_str("<h3>Session</h3>");
        table(html, session, 0);
    }
    let payload = serde_json::to_string_pretty(value).unwrap_or_default();
    let _ = write!(html, "<details><summary>Event JSON</summary><pre>{}</pre></details></section>", escape(&payload));
}

fn exceptions(html: &mut String, event: &Value) {
    for (i, exception) in event["exceptions"].as_array().into_iter().flatten().enumerate() {
        let _ = write!(
            html,
            "<h3>{}{}: {}</h3>",
            if i == 0 { "" } else { "caused by " },
            escape(text(&exception["errorClass"])),
            escape(exception["message"].as_str().unwrap_or_default())
        );
        let frames: Vec<&Value> = exception["stacktrace"].as_array().into_iter().flatten().collect();
        if frames.is_empty() {
            html.push_str("<p class=message>no stack trace</p>");
            continue;
        }
        let in_project: Vec<&Value> = frames.iter().copied().filter(|f| f["inProject"] == true).collect();
        html.push_str("<ol class=frames>");
        for frame in &in_project {
            frame_item(html, frame, true);
        }
        html.push_str("</ol>");
        let _ = write!(html, "<details><summary>All {} frames</summary><ol class=frames>", frames.len());
        for frame in &frames {
            frame_item(html, frame, false);
        }
        html.push_str("</ol></details>");
    }
}

/// One frame; with `code`, the lines around it, its own line marked.
fn frame_item(html: &mut String, frame: &Value, code: bool) {
    let in_project = frame["inProject"] == true;
    let line = frame["lineNumber"].as_u64();
    let _ = write!(
        html,
        "<li class=\"frame{}\">{}<code>{}</code> {}{}",
        if in_project { " in-project" } else { "" },
        if in_project { "<span class=tag>in project</span> " } else { "" },
        escape(text(&frame["method"])),
        escape(text(&frame["file"])),
        line.map(|l| format!(":{l}")).unwrap_or_default(),
    );
    if let (true, Some(lines)) = (code, frame["code"].as_object()) {
        html.push_str("<pre class=code>");
        for (number, source) in lines {
            let source = format!("{number:>5}  {}", source.as_str().unwrap_or_default());
            if number.parse::<u64>().ok() == line {
                let _ = writeln!(html, "<mark>{}</mark>", escape(&source));
            } else {
                let _ = writeln!(html, "{}", escape(&source));
            }
        }
        html.push_str("</pre>");
    }
    html.push_str("</li>");
}

fn breadcrumbs(html: &mut String, event: &Value) {
    let Some(crumbs) = event["breadcrumbs"].as_array().filter(|c| !c.is_empty()) else { return };
    html.push_str(
        "<h3>Breadcrumbs</h3><table class=breadcrumbs><tr><th>Time</th><th>Type</th><th>Name</th><th>Data</th></tr>",
    );
    for crumb in crumbs {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>",
            escape(text(&crumb["timestamp"])),
            escape(text(&crumb["type"])),
            escape(text(&crumb["name"]))
        );
        table(html, &crumb["metaData"], TABLE_DEPTH);
        html.push_str("</td></tr>");
    }
    html.push_str("</table>");
}

/// An object as a table of its keys, nested objects as nested tables; anything else as
/// text (strings) or JSON.
fn table(html: &mut String, value: &Value, depth: usize) {
    match value {
        Value::Object(map) if depth <= TABLE_DEPTH => {
            html.push_str("<table>");
            for (key, inner) in map {
                let _ = write!(html, "<tr><th>{}</th><td>", escape(key));
                table(html, inner, depth + 1);
                html.push_str("</td></tr>");
            }
            html.push_str("</table>");
        }
        Value::Null => {}
        Value::String(s) => html.push_str(&escape(s)),
        other => {
            let _ = write!(html, "<code>{}</code>", escape(&other.to_string()));
        }
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}
