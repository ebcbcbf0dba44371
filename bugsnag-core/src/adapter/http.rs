//! Request data for web adapters, from the `http` crate's types (feature `http`).
//!
//! An adapter hands an [`HttpRequest`] to [`Settings::open`], or records it later with
//! [`Scope::set_request_source`](crate::Scope::set_request_source). It keeps the method,
//! URI and a clone of the header map (reference-counted bytes, no string copies); the
//! strings of the API's `request` object, the context and the default user are only built
//! when an event is reported, and the request headers, URL query and referer are then
//! redacted by `params_filters` on the delivery thread.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::SystemTime;

use http::header::{HeaderMap, HeaderName, HeaderValue, FORWARDED, HOST, REFERER};
use http::{Method, Uri};

use super::settings::Settings;
use crate::capture::RequestSource;
use crate::model::{Breadcrumb, BreadcrumbType, Correlation, Request, User};

/// One HTTP request as an adapter saw it. `R` holds the framework's route template
/// (`/users/{id}`) in whatever shared form the framework keeps it, so recording it
/// copies nothing.
#[derive(Debug)]
pub struct HttpRequest<R = Arc<str>> {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    peer: Option<SocketAddr>,
    route: Option<R>,
    settings: Settings,
    started: SystemTime,
}

impl<R: AsRef<str>> HttpRequest<R> {
    /// Records a request: `peer` is the socket's remote address when the server exposes
    /// it, `route` the framework's route template (`/users/{id}`) when it knows one.
    pub fn new(
        parts: (&Method, &Uri, &HeaderMap),
        peer: Option<SocketAddr>,
        route: Option<R>,
        settings: Settings,
    ) -> Self {
        let (method, uri, headers) = parts;
        Self {
            method: method.clone(),
            uri: uri.clone(),
            headers: headers.clone(),
            peer,
            route,
            settings,
            started: SystemTime::now(),
        }
    }

    /// Records a request from a framework that does not use this version of the `http`
    /// crate (actix-web, Rocket): method and URI as text, headers as name and value bytes.
    /// This copies the headers; a header that is not valid HTTP is skipped.
    pub fn from_raw<'a>(
        method: &str,
        uri: &str,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        peer: Option<SocketAddr>,
        route: Option<R>,
        settings: Settings,
    ) -> Self {
        let method = Method::from_bytes(method.as_bytes()).unwrap_or_default();
        let uri: Uri = uri.parse().unwrap_or_default();
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value)) {
                map.append(name, value);
            }
        }
        Self::new((&method, &uri, &map), peer, route, settings)
    }

    fn client_ip(&self) -> Option<String> {
        if self.settings.trusts_forwarded_headers() {
            if let Some(ip) = forwarded_ip(&self.headers) {
                return Some(ip.to_string());
            }
        }
        self.peer.map(|p| p.ip().to_string())
    }

    fn url(&self) -> String {
        if self.uri.scheme().is_some() {
            return self.uri.to_string();
        }
        let host = self.uri.authority().map(|a| a.as_str()).or_else(|| header(&self.headers, &HOST));
        let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
        match host {
            Some(host) => {
                let proto = if self.settings.trusts_forwarded_headers() {
                    self.headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).unwrap_or("http")
                } else {
                    "http"
                };
                format!("{proto}://{host}{path}")
            }
            None => path.to_owned(),
        }
    }
}

impl<R: AsRef<str> + Send + Sync + std::fmt::Debug> RequestSource for HttpRequest<R> {
    fn request(&self) -> Request {
        let mut headers = std::collections::BTreeMap::new();
        for name in self.headers.keys() {
            if self.settings.drops_header(name.as_str()) {
                continue;
            }
            // Non-UTF-8 bytes are kept as replacement characters rather than dropped.
            let values: Vec<String> =
                self.headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).collect();
            headers.insert(name.as_str().to_owned(), values.join(", "));
        }
        Request {
            client_ip: self.client_ip(),
            headers,
            http_method: Some(self.method.as_str().to_owned()),
            url: Some(self.url()),
            referer: header(&self.headers, &REFERER).map(str::to_owned),
        }
    }

    fn context(&self) -> Option<String> {
        let path = self.route.as_ref().map_or_else(|| self.uri.path(), AsRef::as_ref);
        Some(format!("{} {path}", self.method))
    }

    fn user(&self) -> Option<User> {
        self.client_ip().map(User::id)
    }

    fn breadcrumb(&self) -> Option<Breadcrumb> {
        // The Python notifier's: "http request", `to` the path, `from` the page that linked here.
        let mut details = serde_json::json!({ "to": self.uri.path(), "method": self.method.as_str() });
        if let Some(from) = header(&self.headers, &REFERER) {
            details["from"] = from.into();
        }
        Some(Breadcrumb::new("http request", BreadcrumbType::Navigation, details).at(self.started))
    }

    fn correlation(&self) -> Option<Correlation> {
        // W3C: more than one traceparent header makes the trace context invalid.
        let mut values = self.headers.get_all("traceparent").iter();
        match (values.next(), values.next()) {
            (Some(value), None) => Correlation::from_traceparent(value.to_str().ok()?),
            _ => None,
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The client address proxies report: the first `X-Forwarded-For` entry, else the
/// `for=` of `Forwarded`, else `X-Real-IP`.
fn forwarded_ip(headers: &HeaderMap) -> Option<IpAddr> {
    let parse = |s: &str| {
        let s = s.trim().trim_matches('"');
        s.parse::<IpAddr>()
            .ok()
            .or_else(|| s.parse::<SocketAddr>().ok().map(|a| a.ip()))
            .or_else(|| s.trim_start_matches('[').split(']').next()?.parse().ok())
    };
    if let Some(first) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).and_then(|v| v.split(',').next())
    {
        if let Some(ip) = parse(first) {
            return Some(ip);
        }
    }
    if let Some(forwarded) = header(headers, &FORWARDED) {
        let for_value = forwarded.split([';', ',']).find_map(|part| {
            let (key, value) = part.split_once('=')?;
            key.trim().eq_ignore_ascii_case("for").then_some(value)
        });
        if let Some(ip) = for_value.and_then(parse) {
            return Some(ip);
        }
    }
    headers.get("x-real-ip").and_then(|v| v.to_str().ok()).and_then(parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &[u8])], trust: bool) -> HttpRequest {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), http::HeaderValue::from_bytes(value).unwrap());
        }
        let settings = Settings::new("test", &[]).trust_forwarded_headers(trust);
        let uri: Uri = "/users/7?page=2".parse().unwrap();
        HttpRequest::new((&Method::GET, &uri, &map), "10.0.0.9:5000".parse().ok(), Some("/users/{id}".into()), settings)
    }

    #[test]
    fn forwarded_headers_count_only_when_trusted() {
        let headers: &[(&str, &[u8])] = &[("x-forwarded-for", b"203.0.113.5, 10.0.0.1"), ("host", b"api.example")];
        assert_eq!(request(headers, false).request().client_ip.as_deref(), Some("10.0.0.9"));
        assert_eq!(request(headers, true).request().client_ip.as_deref(), Some("203.0.113.5"));
        let forwarded: &[(&str, &[u8])] = &[("forwarded", b"for=\"[2001:db8::1]:4711\";proto=https")];
        assert_eq!(request(forwarded, true).request().client_ip.as_deref(), Some("2001:db8::1"));
    }

    #[test]
    fn request_data_context_and_user_come_from_the_request() {
        let r = request(&[("host", b"api.example"), ("x-bin", b"caf\xe9"), ("accept", b"a"), ("accept", b"b")], false);
        let data = r.request();
        assert_eq!(data.url.as_deref(), Some("http://api.example/users/7?page=2"));
        assert_eq!(data.headers["accept"], "a, b");
        assert_eq!(data.headers["x-bin"], "caf\u{fffd}");
        assert_eq!(r.context().as_deref(), Some("GET /users/{id}"));
        assert_eq!(r.user().and_then(|u| u.id).as_deref(), Some("10.0.0.9"));
    }
}
