//! `cargo xtask api` (part of `ci`, after `cargo doc`): the public API of each published
//! crate, as rustdoc documents it (every item, every field, variant and inherent method,
//! every trait implemented), compared with the summary checked in under `api/`. A change
//! to the public API then shows in review as a change to `api/*.txt`, made on purpose
//! with `cargo xtask api --bless`, rather than slipping in.
//!
//! Read from rustdoc's HTML, which stable Rust produces (its JSON needs nightly): names,
//! not signatures, so a changed argument type shows only in the code's own diff.

use std::collections::BTreeSet;
use std::path::Path;

/// The crates users depend on.
const CRATES: [&str; 7] =
    ["bugsnag", "bugsnag_core", "bugsnag_tower", "bugsnag_actix", "bugsnag_rocket", "bugsnag_worker", "bugsnag_lambda"];

pub(crate) fn check(root: &Path, target: &Path, bless: bool) -> Result<(), String> {
    let mut changed = Vec::new();
    for krate in CRATES {
        let docs = target.join("doc").join(krate);
        let summary = summary(&docs)?;
        let file = root.join("api").join(format!("{}.txt", krate.replace('_', "-")));
        let kept = std::fs::read_to_string(&file).unwrap_or_default();
        if kept == summary {
            continue;
        }
        if bless {
            std::fs::create_dir_all(file.parent().unwrap()).map_err(|e| e.to_string())?;
            std::fs::write(&file, &summary).map_err(|e| format!("{}: {e}", file.display()))?;
            eprintln!("api: wrote {}", file.display());
            continue;
        }
        let (now, before): (BTreeSet<&str>, BTreeSet<&str>) = (summary.lines().collect(), kept.lines().collect());
        for line in now.difference(&before) {
            changed.push(format!("+ {krate}: {line}"));
        }
        for line in before.difference(&now) {
            changed.push(format!("- {krate}: {line}"));
        }
    }
    if changed.is_empty() {
        eprintln!("api check passed: the public API is the one in api/");
        Ok(())
    } else {
        Err(format!(
            "the public API changed (+ new, - gone); if on purpose, run `cargo xtask api --bless` and commit api/:\n{}",
            changed.join("\n")
        ))
    }
}

/// One line per public item and per member of it, sorted.
fn summary(docs: &Path) -> Result<String, String> {
    let all = std::fs::read_to_string(docs.join("all.html"))
        .map_err(|e| format!("{}: {e} (run cargo doc --workspace --no-deps --all-features first)", docs.display()))?;
    let mut lines = BTreeSet::new();
    for href in hrefs(&all) {
        // `adapter/struct.Settings.html` is the struct `adapter::Settings`.
        let Some((dir, page)) = href.rsplit_once('/').map_or(Some(("", href.as_str())), Some) else { continue };
        let Some((kind, rest)) = page.split_once('.') else { continue };
        let name = rest.trim_end_matches(".html");
        let path = if dir.is_empty() { name.to_owned() } else { format!("{}::{name}", dir.replace('/', "::")) };
        lines.insert(format!("{kind} {path}"));
        if matches!(kind, "struct" | "enum" | "trait" | "union") {
            let html = std::fs::read_to_string(docs.join(&href)).map_err(|e| format!("{href}: {e}"))?;
            for member in members(&html) {
                lines.insert(format!("{kind} {path}: {member}"));
            }
        }
    }
    Ok(lines.into_iter().map(|l| l + "\n").collect())
}

/// The pages `all.html` links to.
fn hrefs(html: &str) -> Vec<String> {
    let list = html.split_once("all-items").map_or("", |(_, rest)| rest);
    list.split("href=\"").skip(1).filter_map(|s| s.split_once('"')).map(|(href, _)| href.to_owned()).collect()
}

/// An item page's fields, variants, inherent methods, trait methods and implemented
/// traits (not auto traits nor blanket implementations).
fn members(html: &str) -> Vec<String> {
    // Up to the auto-trait and blanket sections, which every type has.
    let own = html.split("id=\"synthetic-implementations\"").next().unwrap_or(html);
    let (inherent, traits) = own.split_once("id=\"trait-implementations\"").unwrap_or((own, ""));
    let mut members = Vec::new();
    for id in ids(inherent) {
        let member = match id.split_once('.') {
            Some(("structfield", name)) => format!("field {name}"),
            Some(("variant", name)) => format!("variant {name}"),
            Some(("method" | "tymethod", name)) => format!("fn {name}"),
            Some(("associatedconstant", name)) => format!("const {name}"),
            Some(("associatedtype", name)) => format!("type {name}"),
            _ => continue,
        };
        // rustdoc numbers a repeated id (`method.new-1`): the same name, once.
        members.push(member.split_once('-').map_or(member.clone(), |(m, _)| m.to_owned()));
    }
    for id in ids(traits) {
        if let Some(rest) = id.strip_prefix("impl-") {
            let trait_name = rest.split("-for-").next().unwrap_or(rest);
            members.push(format!("impl {}", decode(trait_name)));
        }
    }
    members
}

fn ids(html: &str) -> impl Iterator<Item = &str> {
    html.split(" id=\"").skip(1).filter_map(|s| s.split_once('"')).map(|(id, _)| id)
}

/// rustdoc's escapes in ids (`%3C` for `<`...).
fn decode(text: &str) -> String {
    text.replace("%3C", "<")
        .replace("%3E", ">")
        .replace("%2C", ",")
        .replace("%20", " ")
        .replace("%26", "&")
        .replace('+', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_read_from_an_item_page() {
        let page = r#"<span id="structfield.url">x</span><h2 id="implementations">I</h2><div id="implementations-list"><section id="method.new"></section><section id="method.new-1"></section></div><h2 id="trait-implementations">T</h2><section id="impl-Debug-for-Request"></section><section id="method.fmt"></section><h2 id="synthetic-implementations">S</h2><section id="impl-Send-for-Request"></section>"#;
        assert_eq!(members(page), ["field url", "fn new", "fn new", "impl Debug"]);
        let all = r#"<ul class="all-items"><li><a href="adapter/struct.Settings.html">adapter::Settings</a></li></ul>"#;
        assert_eq!(hrefs(all), ["adapter/struct.Settings.html"]);
    }
}
