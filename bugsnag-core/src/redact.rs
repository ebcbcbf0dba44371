//! Redaction by `params_filters`: a key containing any filter (case-insensitively) has
//! its value replaced with `[FILTERED]`, in metadata (nested objects and arrays), request
//! headers and URL query strings.

use serde_json::{Map, Value};

use crate::event::Event;

/// What a filtered value is replaced with.
pub const FILTERED: &str = "[FILTERED]";

/// Lower-cased filters, matched by substring.
#[derive(Debug, Clone, Default)]
pub struct Filters(Vec<String>);

impl Filters {
    /// Filters from `params_filters`.
    pub fn new<S: AsRef<str>>(filters: &[S]) -> Self {
        Self(filters.iter().map(|f| f.as_ref().to_lowercase()).filter(|f| !f.is_empty()).collect())
    }

    /// Whether values under `key` must be hidden.
    pub fn matches(&self, key: &str) -> bool {
        if self.0.is_empty() {
            return false;
        }
        let key = key.to_lowercase();
        self.0.iter().any(|f| key.contains(f.as_str()))
    }

    /// Redacts an object of metadata in place, recursing into nested objects and arrays.
    pub fn object(&self, map: &mut Map<String, Value>) {
        for (key, value) in map.iter_mut() {
            if self.matches(key) {
                *value = Value::String(FILTERED.to_owned());
            } else {
                self.value(value);
            }
        }
    }

    /// Whether any key in `map`, at any depth, must be hidden.
    fn finds(&self, map: &Map<String, Value>) -> bool {
        fn any(filters: &Filters, value: &Value) -> bool {
            match value {
                Value::Object(map) => filters.finds(map),
                Value::Array(items) => items.iter().any(|v| any(filters, v)),
                _ => false,
            }
        }
        map.iter().any(|(key, value)| self.matches(key) || any(self, value))
    }

    fn value(&self, value: &mut Value) {
        match value {
            Value::Object(map) => self.object(map),
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            _ => {}
        }
    }

    /// A URL with the values of filtered query parameters replaced.
    pub fn url(&self, url: &str) -> String {
        let Some((base, rest)) = url.split_once('?') else { return url.to_owned() };
        let (query, fragment) = match rest.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (rest, None),
        };
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if self.matches(key) => format!("{key}={FILTERED}"),
                _ => pair.to_owned(),
            })
            .collect();
        let mut out = format!("{base}?{}", query.join("&"));
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(fragment);
        }
        out
    }

    /// Redacts everything in an event that the filters cover.
    pub(crate) fn event(&self, event: &mut Event) {
        self.object(&mut event.metadata);
        for crumb in &mut event.breadcrumbs {
            // Shared with the ring and other events: copy only a breadcrumb that changes.
            if self.finds(&crumb.metadata) {
                self.object(&mut std::sync::Arc::make_mut(crumb).metadata);
            }
        }
        if let Some(request) = &mut event.request {
            for (name, value) in request.headers.iter_mut() {
                if self.matches(name) {
                    *value = FILTERED.to_owned();
                }
            }
            if let Some(url) = &mut request.url {
                *url = self.url(url);
            }
            if let Some(referer) = &mut request.referer {
                *referer = self.url(referer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_objects_and_arrays_are_filtered_case_insensitively() {
        let filters = Filters::new(&["password", "token"]);
        let mut meta = json!({"account": {"Password": "x", "users": [{"api_TOKEN": "t", "name": "n"}]}});
        filters.object(meta.as_object_mut().unwrap());
        assert_eq!(meta, json!({"account": {"Password": FILTERED, "users": [{"api_TOKEN": FILTERED, "name": "n"}]}}));
    }

    #[test]
    fn query_values_are_filtered() {
        let filters = Filters::new(&["token"]);
        assert_eq!(filters.url("/a?x=1&access_token=s#f"), "/a?x=1&access_token=[FILTERED]#f");
        assert_eq!(filters.url("/a"), "/a");
    }
}
