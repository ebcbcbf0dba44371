//! `cargo xtask readmes [--bless]` (checked by `ci`): each crate's `README.md` is made
//! from its manifest, so that what it says of the crate (its description, its features
//! and what each does, from the `## ` comments above them) cannot drift from the crate:
//! `ci` fails when a README differs from what its manifest makes, and `--bless` writes
//! it.

use std::fmt::Write as _;
use std::path::Path;

/// The crates users depend on, and how each is used in a line.
const CRATES: [(&str, &str); 7] = [
    ("bugsnag", "bugsnag::configure(bugsnag::Configuration::from_env())"),
    ("bugsnag-core", "bugsnag_core::notify(&err)"),
    ("bugsnag-tower", "axum::Router::new().layer(bugsnag_tower::BugsnagLayer::new())"),
    ("bugsnag-actix", "App::new().wrap(bugsnag_actix::Bugsnag)"),
    ("bugsnag-rocket", "rocket::build().attach(bugsnag_rocket::BugsnagFairing)"),
    ("bugsnag-worker", "bugsnag_worker::FailureHandler::new().run(job, future)"),
    ("bugsnag-lambda", "ServiceBuilder::new().layer(bugsnag_lambda::BugsnagLambdaLayer::new())"),
];

pub(crate) fn check(root: &Path, bless: bool) -> Result<(), String> {
    let mut stale = Vec::new();
    for (name, usage) in CRATES {
        let manifest =
            std::fs::read_to_string(root.join(name).join("Cargo.toml")).map_err(|e| format!("{name}: {e}"))?;
        let made = readme(name, usage, &manifest)?;
        let path = root.join(name).join("README.md");
        if std::fs::read_to_string(&path).unwrap_or_default() == made {
            continue;
        }
        if bless {
            std::fs::write(&path, made).map_err(|e| format!("{}: {e}", path.display()))?;
            eprintln!("readmes: wrote {}", path.display());
        } else {
            stale.push(path.display().to_string());
        }
    }
    if stale.is_empty() {
        eprintln!("readmes check passed: each crate's README says what its manifest does");
        Ok(())
    } else {
        Err(format!(
            "READMEs that differ from their manifests (run `cargo xtask readmes --bless`): {}",
            stale.join(", ")
        ))
    }
}

/// The README of crate `name` from its manifest.
fn readme(name: &str, usage: &str, manifest: &str) -> Result<String, String> {
    let description = manifest
        .lines()
        .find_map(|l| l.strip_prefix("description = "))
        .map(|d| d.trim_matches('"').to_owned())
        .ok_or_else(|| format!("{name}: no description"))?;
    let mut text = format!("# {name}\n\n{description}.\n\n```rust,ignore\n{usage}\n```\n\n");
    if name != "bugsnag" {
        text.push_str(
            "Most programs add the `bugsnag` crate instead, with a feature for each integration they use: it \
             re-exports this crate.\n\n",
        );
    }
    text.push_str("## Features\n\n");
    let features = features(manifest);
    if features.is_empty() {
        text.push_str("None.\n");
    }
    for (feature, doc) in features {
        let _ = writeln!(text, "- `{feature}`: {doc}");
    }
    text.push_str(
        "\nThe [repository's README](../README.md) starts you off; the guide (`bugsnag/guide/`, the \
         `bugsnag::guide` module) says the rest.\n",
    );
    Ok(text)
}

/// The features of a manifest with the `## ` comments above each, in order (`default`
/// and undocumented ones left out).
fn features(manifest: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut in_features = false;
    let mut doc: Vec<String> = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_features = line == "[features]";
            doc.clear();
            continue;
        }
        if !in_features {
            continue;
        }
        if let Some(comment) = line.strip_prefix("## ") {
            doc.push(comment.to_owned());
        } else if let Some((feature, _)) = line.split_once('=') {
            let feature = feature.trim();
            if feature != "default" && !doc.is_empty() {
                out.push((feature.to_owned(), doc.join(" ")));
            }
            doc.clear();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_and_their_comments_are_read() {
        let manifest = "[package]\nname = \"x\"\ndescription = \"X\"\n\n[features]\ndefault = [\"a\"]\n## The a.\n## More.\na = []\nb = [\n]\n\n[dependencies]\n## not a feature\nc = \"1\"\n";
        assert_eq!(features(manifest), [("a".to_owned(), "The a. More.".to_owned())]);
        let text = readme("x", "x::go()", manifest).unwrap();
        assert!(text.starts_with("# x\n\nX.\n") && text.contains("- `a`: The a. More.\n"), "{text}");
    }
}
