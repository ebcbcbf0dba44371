//! The inbox page: server-rendered HTML, the groups on top and one event below. Every
//! text from a report is escaped: a report is untrusted input.

use std::fmt::Write;

use super::event_view;
use super::html::{escape, format_time};
use super::store::{Group, Store};

/// Which page to render.
pub(crate) enum View {
    /// The page a running inbox serves: one event shown (the latest when `None`), links
    /// to `?event=N`, and a script that refreshes it when payloads arrive.
    Live { selected: Option<usize> },
    /// A file that needs no server: every event, links to `#event-N`, no script.
    Snapshot,
}

impl View {
    fn link(&self, id: usize) -> String {
        match self {
            View::Live { .. } => format!("?event={id}"),
            View::Snapshot => format!("#event-{id}"),
        }
    }
}

/// Polls `/count` and, when it changed, swaps in the page as the server renders it now.
const LIVE_SCRIPT: &str = r#"<script data-inbox>
setInterval(async () => {
  try {
    const count = await (await fetch('/count', {cache: 'no-store'})).text();
    if (count === document.body.dataset.count) return;
    const html = await (await fetch(location.href, {cache: 'no-store'})).text();
    document.body.replaceWith(new DOMParser().parseFromString(html, 'text/html').body);
  } catch (e) { /* the inbox stopped; try again on the next tick */ }
}, 1000);
</script>"#;

const STYLE: &str = "<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:12px 24px}header h1{font-size:18px;margin:0}
header p{margin:4px 0 0;color:#c7cbd6}main{padding:16px 24px}
table{border-collapse:collapse;width:100%;background:#fff;margin:6px 0 14px}
td,th{border-bottom:1px solid #e3e6ec;padding:5px 8px;text-align:left;vertical-align:top}
th{font-weight:600;color:#59627a;width:1%;white-space:nowrap}
tr.group.selected{background:#eef4ff}.message{color:#59627a}.grouping{color:#8a90a2;font-size:12px}
.badge{display:inline-block;border-radius:3px;padding:0 6px;font-size:12px;background:#e3e6ec}
.unhandled{background:#fbe3e4;color:#a4161a}.handled{background:#e5f3e8;color:#216e39}
section.event{background:#fff;border:1px solid #e3e6ec;padding:12px 16px;margin:16px 0}
h2{font-size:17px;margin:0 0 6px}h3{font-size:15px;margin:16px 0 4px}h4{margin:10px 0 2px}
ol.frames{list-style:none;padding:0;margin:4px 0}.frame{padding:3px 0;border-bottom:1px solid #f0f1f4}
.frame.in-project{background:#fffbe8}.frame .tag{font-size:11px;background:#f5c518;border-radius:3px;padding:0 4px}
pre{background:#f6f7f9;padding:6px;overflow:auto;margin:4px 0}pre mark{background:#ffe58a}
.errors{color:#a4161a}header .errors{color:#ff9b9b}code{font-size:13px}
</style>";

/// Renders the inbox page.
pub(crate) fn render(store: &Store, view: &View, listening: &str) -> String {
    let groups = store.groups();
    let events = groups.iter().map(|g| g.events.len()).sum::<usize>();
    let mut html = String::new();
    let (script, place) = match view {
        View::Live { .. } => (LIVE_SCRIPT, format!("listening on {listening}")),
        View::Snapshot => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            ("", format!("saved {} UTC from {listening}", format_time(now.as_millis() as i64)))
        }
    };
    let invalid = store.reports().iter().filter(|r| !r.schema_errors.is_empty()).count();
    let invalid = if invalid > 0 {
        format!(" · <span class=errors>{invalid} break the API schema</span>")
    } else {
        String::new()
    };
    let _ = write!(
        html,
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width\"><title>Bugsnag inbox</title>{STYLE}{script}</head>\
         <body data-count=\"{}\"><header><h1>Bugsnag inbox</h1><p>{events} events in {} groups · {} sessions started · \
         {} payloads{invalid} · {}</p></header><main>",
        store.reports().len(),
        groups.len(),
        store.sessions_started(),
        store.reports().len(),
        escape(&place),
    );
    if groups.is_empty() {
        html.push_str("<p id=empty>No events yet. Point a service at this inbox: <code>BUGSNAG_ENDPOINT=");
        let _ = write!(html, "{0}/notify BUGSNAG_SESSION_ENDPOINT={0}/sessions</code></p>", escape(listening));
    }
    let selected = match view {
        View::Live { selected } => selected.or_else(|| groups.first().map(|g| g.latest().id)),
        View::Snapshot => None,
    };
    groups_table(&mut html, &groups, view, selected);
    if let Some(id) = selected.filter(|id| *id >= events) {
        let _ = write!(
            html,
            "<p id=missing>There is no event #{id}: this inbox has {events} events, numbered from #0.</p>"
        );
    }
    for group in &groups {
        match view {
            View::Live { .. } => {
                if let Some(event) = group.events.iter().find(|e| Some(e.id) == selected) {
                    event_view::render(&mut html, event, group, &|id| view.link(id));
                }
            }
            View::Snapshot => {
                for event in group.events.iter().rev() {
                    event_view::render(&mut html, event, group, &|id| view.link(id));
                }
            }
        }
    }
    html.push_str("</main></body></html>\n");
    html
}

/// The first 300 characters of a message, for the groups table; the event shows it whole.
fn shortened(message: &str) -> std::borrow::Cow<'_, str> {
    match message.char_indices().nth(300) {
        Some((end, _)) => format!("{}…", &message[..end]).into(),
        None => message.into(),
    }
}

fn groups_table(html: &mut String, groups: &[Group<'_>], view: &View, selected: Option<usize>) {
    if groups.is_empty() {
        return;
    }
    html.push_str(
        "<table id=groups><tr><th></th><th>Error</th><th>Context</th><th>Events</th><th>First seen</th><th>Last seen</th></tr>",
    );
    for group in groups {
        let latest = group.latest();
        let is_selected = group.events.iter().any(|e| Some(e.id) == selected);
        let (badge, kind) = if latest.unhandled() { ("unhandled", "unhandled") } else { ("handled", "handled") };
        let _ = write!(
            html,
            "<tr class=\"group{}\"><td><span class=\"badge {badge}\">{kind}</span></td><td><a href=\"{}\">{}</a>\
             <div class=message>{}</div><div class=grouping>{}</div></td><td>{}</td><td class=count>{}</td><td>{}</td><td>{}</td></tr>",
            if is_selected { " selected" } else { "" },
            view.link(latest.id),
            escape(latest.class()),
            escape(&shortened(latest.message())),
            escape(&group.grouping().to_string()),
            escape(latest.context()),
            group.events.len(),
            format_time(group.first_seen()),
            format_time(group.last_seen()),
        );
    }
    html.push_str("</table>");
}
