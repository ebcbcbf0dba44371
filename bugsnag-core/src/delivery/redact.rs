//! Redaction by `params_filters`, applied to the whole event on the delivery thread.
//!
//! A key matches when it contains a plain filter (case-insensitively) or matches a
//! `/regular expression/` filter. The value of a matching key becomes `[FILTERED]`:
//! - in metadata, at any depth (a whole tab whose name matches keeps its keys, each
//!   value filtered, so that it stays an object as the API requires);
//! - in breadcrumbs' metadata, job arguments, `user` and `device` fields, and request
//!   headers;
//! - in URLs: the query parameters and `#fragment` parameters of `request.url`,
//!   `request.referer`, every header value that holds a URL (Referer, Location, Origin,
//!   Content-Location...) and every metadata string that does; and a URL's userinfo
//!   (`user:password@`) is always filtered.
//!
//! Headers that carry credentials ([`is_sensitive_header`]) are filtered whatever the
//! filters say, unless the configuration opts out with `send_sensitive_headers(true)`.

use rustc_hash::FxHashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

use crate::config::{Configuration, DEFAULT_PARAMS_FILTERS};
use crate::model::{Breadcrumb, Event};

/// What a filtered value is replaced with.
pub(crate) const FILTERED: &str = "[FILTERED]";

/// Parts of header names that mark a header as carrying credentials.
const SENSITIVE_HEADER_PARTS: &[&str] =
    &["auth", "cookie", "token", "key", "secret", "session", "signature", "password", "csrf", "xsrf", "credential"];

/// Whether a header (by name, any case) carries credentials: `Authorization`,
/// `Proxy-Authorization`, `Cookie`, `Set-Cookie`, `X-Api-Key`, `X-Auth-Token` and the like.
pub fn is_sensitive_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SENSITIVE_HEADER_PARTS.iter().any(|part| name.contains(part))
}

/// Keys remembered with their verdict; past this the cache starts again.
const CACHED_KEYS: usize = 4096;

/// Breadcrumbs remembered as clean; past this the list starts again.
const CLEAN_BREADCRUMBS: usize = 256;

/// Compiled filters: lower-cased substrings and case-insensitive regular expressions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filters {
    substrings: Vec<String>,
    patterns: Vec<regex_lite::Regex>,
    send_sensitive_headers: bool,
    /// The same keys come back in every event (tab keys, header names): each is matched
    /// against every filter once, then looked up.
    verdicts: Verdicts,
    /// Breadcrumbs found to hold nothing to filter: an event carries the last 25, so
    /// each would otherwise be searched 25 times.
    clean: CleanBreadcrumbs,
}

/// Breadcrumbs checked and found clean, by address, each held: while held here one can
/// be neither freed (so its address is not reused) nor changed in place
/// (`Arc::make_mut` copies a shared value).
#[derive(Debug, Default)]
struct CleanBreadcrumbs(Mutex<FxHashMap<usize, Arc<Breadcrumb>>>);

impl Clone for CleanBreadcrumbs {
    fn clone(&self) -> Self {
        Self::default()
    }
}

#[derive(Debug, Default)]
struct Verdicts(Mutex<FxHashMap<String, bool>>);

impl Clone for Verdicts {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl Filters {
    /// Filters from a list: plain entries match as substrings, `/entries/` as regular
    /// expressions. Empty entries (and invalid expressions, with a log line) are ignored.
    pub(crate) fn new<S: AsRef<str>>(filters: &[S]) -> Self {
        let mut out = Self::default();
        for filter in filters.iter().map(AsRef::as_ref).map(str::trim) {
            match filter.strip_prefix('/').and_then(|f| f.strip_suffix('/')) {
                Some(pattern) if !pattern.is_empty() => match regex_lite::Regex::new(&format!("(?i){pattern}")) {
                    Ok(regex) => out.patterns.push(regex),
                    Err(e) => {
                        tracing::warn!(target: "bugsnag_core", "params_filters entry {filter:?} is not a valid regular expression ({e}); ignored")
                    }
                },
                _ if filter.is_empty() || filter == "/" || filter == "//" => {}
                _ => out.substrings.push(filter.to_lowercase()),
            }
        }
        out
    }

    /// The filters a configuration asks for: the defaults (unless turned off) and the
    /// user's own.
    pub(crate) fn from_config(config: &Configuration) -> Self {
        let defaults = DEFAULT_PARAMS_FILTERS.iter().copied().filter(|_| config.default_params_filters);
        let all: Vec<&str> = defaults.chain(config.params_filters.iter().map(String::as_str)).collect();
        Self { send_sensitive_headers: config.send_sensitive_headers, ..Self::new(&all) }
    }

    /// Whether values under `key` must be hidden.
    pub(crate) fn matches(&self, key: &str) -> bool {
        let mut verdicts = self.verdicts.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&verdict) = verdicts.get(key) {
            return verdict;
        }
        let lower = key.to_lowercase();
        let verdict =
            self.substrings.iter().any(|f| lower.contains(f.as_str())) || self.patterns.iter().any(|p| p.is_match(key));
        if verdicts.len() >= CACHED_KEYS {
            verdicts.clear();
        }
        verdicts.insert(key.to_owned(), verdict);
        verdict
    }

    /// Redacts an object of metadata in place, at any depth.
    pub(crate) fn object(&self, map: &mut Map<String, Value>) {
        for (key, value) in map.iter_mut() {
            if self.matches(key) {
                *value = Value::String(FILTERED.to_owned());
            } else {
                self.value(value);
            }
        }
    }

    /// Redacts the values inside one value: object keys, and URLs in strings.
    fn value(&self, value: &mut Value) {
        match value {
            Value::Object(map) => self.object(map),
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::String(text) if looks_like_url(text) => *text = self.url(text),
            _ => {}
        }
    }

    /// Whether any key in `map`, at any depth, or any URL in it, must be changed.
    fn finds(&self, map: &Map<String, Value>) -> bool {
        fn any(filters: &Filters, value: &Value) -> bool {
            match value {
                Value::Object(map) => filters.finds(map),
                Value::Array(items) => items.iter().any(|v| any(filters, v)),
                Value::String(text) => looks_like_url(text),
                _ => false,
            }
        }
        map.iter().any(|(key, value)| self.matches(key) || any(self, value))
    }

    /// A URL with its userinfo and the values of filtered query (and fragment)
    /// parameters replaced.
    pub(crate) fn url(&self, url: &str) -> String {
        let url = without_userinfo(url);
        let (before_fragment, fragment) = match url.split_once('#') {
            Some((b, f)) => (b, Some(f)),
            None => (url.as_ref(), None),
        };
        let mut out = match before_fragment.split_once('?') {
            Some((base, query)) => format!("{base}?{}", self.parameters(query)),
            None => before_fragment.to_owned(),
        };
        if let Some(fragment) = fragment {
            out.push('#');
            // OAuth's implicit flow puts `access_token=` in the fragment.
            out.push_str(&if fragment.contains('=') { self.parameters(fragment) } else { fragment.to_owned() });
        }
        out
    }

    fn parameters(&self, query: &str) -> String {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if self.matches(&percent_decoded(key)) => format!("{key}={FILTERED}"),
                _ => pair.to_owned(),
            })
            .collect();
        pairs.join("&")
    }

    /// Redacts everything in an event that the filters cover.
    pub(crate) fn event(&self, event: &mut Event) {
        for (name, tab) in event.metadata.iter_mut() {
            match tab {
                // A tab must stay an object: filter each of its values instead.
                Value::Object(map) if self.matches(name) => {
                    map.values_mut().for_each(|v| *v = Value::String(FILTERED.to_owned()));
                }
                tab => self.value(tab),
            }
        }
        self.breadcrumbs(&mut event.breadcrumbs);
        if let Some(user) = &mut event.user {
            for (key, field) in [("id", &mut user.id), ("name", &mut user.name), ("email", &mut user.email)] {
                self.field(key, field);
            }
        }
        let device = &mut event.device;
        self.field("hostname", &mut device.hostname);
        self.field("osName", &mut device.os_name);
        self.object(&mut device.runtime_versions);
        if let Some(request) = &mut event.request {
            for (name, value) in request.headers.iter_mut() {
                if self.matches(name) || (!self.send_sensitive_headers && is_sensitive_header(name)) {
                    *value = FILTERED.to_owned();
                } else if looks_like_url(value) {
                    *value = self.url(value);
                }
            }
            self.field("clientIp", &mut request.client_ip);
            for url in [&mut request.url, &mut request.referer].into_iter().flatten() {
                *url = self.url(url);
            }
        }
    }

    /// Redacts breadcrumbs, each searched once while it is shared.
    fn breadcrumbs(&self, crumbs: &mut [Arc<Breadcrumb>]) {
        for crumb in crumbs {
            let key = Arc::as_ptr(crumb) as usize;
            let mut clean = self.clean.0.lock().unwrap_or_else(|p| p.into_inner());
            if clean.contains_key(&key) {
                continue;
            }
            // Shared with the ring and other events: copy only a breadcrumb that changes.
            if self.finds(&crumb.metadata) {
                drop(clean);
                self.object(&mut Arc::make_mut(crumb).metadata);
            } else {
                if clean.len() >= CLEAN_BREADCRUMBS {
                    clean.clear();
                }
                clean.insert(key, crumb.clone());
            }
        }
    }

    fn field(&self, key: &str, value: &mut Option<String>) {
        if let Some(value) = value.as_mut().filter(|_| self.matches(key)) {
            *value = FILTERED.to_owned();
        }
    }
}

/// Whether a string may hold a URL with something to filter: a query, a fragment or
/// userinfo after a scheme or a leading `/`, or, in any text (a `Referer` that is not a
/// URL, say), a query-like part: `?` or `#` followed by `name=`.
fn looks_like_url(text: &str) -> bool {
    // Most strings hold none of these: one scan tells.
    let Some(first) = text.find(['?', '#', '@']) else { return false };
    (text.contains("://") || text.starts_with('/')) || text[first..].split(['?', '#']).skip(1).any(|p| p.contains('='))
}

/// The URL without the password (or token) of its userinfo: `https://[FILTERED]@host/`.
fn without_userinfo(url: &str) -> std::borrow::Cow<'_, str> {
    let Some((scheme, rest)) = url.split_once("://") else { return url.into() };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{FILTERED}{}", &rest[at..]).into(),
        None => url.into(),
    }
}

/// `%xx` escapes and `+` decoded, so `pass%77ord=` matches like `password=`.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaults() -> Filters {
        Filters::new(DEFAULT_PARAMS_FILTERS)
    }

    /// A breadcrumb found clean is not searched again, but one changed since (a copy,
    /// as the clean one is held) is.
    #[test]
    fn a_breadcrumb_changed_after_it_was_found_clean_is_searched_again() {
        let filters = defaults();
        let mut crumbs = vec![Arc::new(Breadcrumb::new("login", crate::BreadcrumbType::Log, json!({"user": "ann"})))];
        filters.breadcrumbs(&mut crumbs);
        assert_eq!(crumbs[0].metadata["user"], "ann");
        Arc::make_mut(&mut crumbs[0]).metadata.insert("password".into(), json!("hunter2"));
        filters.breadcrumbs(&mut crumbs);
        assert_eq!(crumbs[0].metadata["password"], FILTERED);
    }

    #[test]
    fn nested_objects_and_arrays_are_filtered_case_insensitively() {
        let filters = Filters::new(&["password", "token"]);
        let mut meta = json!({"account": {"Password": "x", "users": [{"api_TOKEN": "t", "name": "n"}]}});
        filters.object(meta.as_object_mut().unwrap());
        assert_eq!(meta, json!({"account": {"Password": FILTERED, "users": [{"api_TOKEN": FILTERED, "name": "n"}]}}));
    }

    #[test]
    fn urls_lose_userinfo_and_filtered_parameters() {
        let filters = defaults();
        assert_eq!(filters.url("/a?x=1&access_token=s#f"), "/a?x=1&access_token=[FILTERED]#f");
        assert_eq!(filters.url("https://u:hunter2@host/p?q=1"), "https://[FILTERED]@host/p?q=1");
        assert_eq!(
            filters.url("https://host/cb#access_token=abc&state=1"),
            "https://host/cb#access_token=[FILTERED]&state=1"
        );
        assert_eq!(filters.url("/a?pass%77ord=x&PWD=y"), "/a?pass%77ord=[FILTERED]&PWD=[FILTERED]");
        assert_eq!(filters.url("https://host/p"), "https://host/p");
        assert!(looks_like_url("not a url ?password=x"), "a query-like part in any text");
        assert_eq!(filters.url("not a url ?password=x&page=1"), "not a url ?password=[FILTERED]&page=1");
        assert!(!looks_like_url("what? nothing to see"));
    }

    #[test]
    fn the_default_list_covers_common_secrets_and_spares_common_words() {
        let filters = defaults();
        for key in [
            "password",
            "passwd",
            "pwd",
            "passphrase",
            "api_key",
            "apiKey",
            "x-api-key",
            "private_key",
            "AWS_SECRET_ACCESS_KEY",
            "credentials",
            "auth",
            "Authorization",
            "jwt",
            "session_id",
            "otp",
            "salt",
            "certificate",
            "ssn",
            "cvv",
            "cvc",
            "credit_card",
            "dsn",
            "database_url",
            "refresh_token",
            "set-cookie",
        ] {
            assert!(filters.matches(key), "{key} is filtered");
        }
        for key in
            ["email", "name", "author", "footprint", "classname", "id", "user_agent", "keyboard_layout", "monkey"]
        {
            assert!(!filters.matches(key), "{key} is not filtered");
        }
    }

    #[test]
    fn empty_and_invalid_filters_turn_nothing_off() {
        let filters = Filters::new(&["", "/", "/(/", "  "]);
        assert!(!filters.matches("anything"));
        assert!(is_sensitive_header("Proxy-Authorization") && is_sensitive_header("X-Auth-Token"));
        assert!(!is_sensitive_header("Accept-Language"));
    }
}
