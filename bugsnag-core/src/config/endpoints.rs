//! Where events and sessions go: Insight Hub's endpoints for its keys, and a scheme for
//! an endpoint written without one.

use super::{
    Configuration, DEFAULT_ENDPOINT, DEFAULT_SESSION_ENDPOINT, INSIGHT_HUB_ENDPOINT, INSIGHT_HUB_SESSION_ENDPOINT,
};

impl Configuration {
    /// For an Insight Hub API key (beginning `00000`), Insight Hub's endpoints in place
    /// of the defaults. Endpoints set to anything else are kept, and a custom notify
    /// endpoint keeps the default session endpoint (which turns sessions off).
    pub(crate) fn with_endpoints_for(mut self, api_key: Option<&str>) -> Self {
        if api_key.is_some_and(|key| key.starts_with("00000")) && self.endpoint == DEFAULT_ENDPOINT {
            self.endpoint = INSIGHT_HUB_ENDPOINT.to_owned();
            if self.session_endpoint == DEFAULT_SESSION_ENDPOINT {
                self.session_endpoint = INSIGHT_HUB_SESSION_ENDPOINT.to_owned();
            }
        }
        self
    }

    /// An endpoint given without a scheme, with one: `http://` for loopback and private
    /// addresses (a local collector, a proxy), else the one `use_ssl` asks for. Adding
    /// one is told in a line naming the URL used: a wrong guess loses every event.
    pub(crate) fn with_scheme(&self, what: &str, endpoint: &str) -> String {
        if endpoint.contains("://") {
            return endpoint.to_owned();
        }
        let scheme = if !self.use_ssl || is_local(endpoint) { "http" } else { "https" };
        let url = format!("{scheme}://{endpoint}");
        crate::diagnostics::warn(&format!("the Bugsnag {what} {endpoint:?} has no scheme; using {url}"));
        url
    }
}

/// Whether the host of a URL written without a scheme is this machine or a private
/// network's: `localhost`, a loopback, private or link-local address.
fn is_local(endpoint: &str) -> bool {
    let authority = endpoint.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(host, _)| host),
    };
    if host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost") {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback() || (ip.segments()[0] & 0xfe00) == 0xfc00,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_endpoints_without_a_scheme_get_http() {
        let config = Configuration::default();
        assert_eq!(config.with_scheme("endpoint", "127.0.0.1:9339/notify"), "http://127.0.0.1:9339/notify");
        assert_eq!(config.with_scheme("endpoint", "localhost:9339/notify"), "http://localhost:9339/notify");
        assert_eq!(config.with_scheme("endpoint", "[::1]:9339/notify"), "http://[::1]:9339/notify");
        assert_eq!(config.with_scheme("endpoint", "10.1.2.3/notify"), "http://10.1.2.3/notify");
        assert_eq!(config.with_scheme("endpoint", "notify.example.com"), "https://notify.example.com");
        assert_eq!(config.with_scheme("endpoint", "https://x.example"), "https://x.example");
        assert_eq!(config.use_ssl(false).with_scheme("endpoint", "x.example"), "http://x.example");
    }

    #[test]
    fn insight_hub_keys_default_to_insight_hub_endpoints() {
        let hub = "00000123456789abcdef0123456789ab";
        let config = Configuration::default().with_endpoints_for(Some(hub));
        assert_eq!(
            (config.endpoint.as_str(), config.session_endpoint.as_str()),
            (INSIGHT_HUB_ENDPOINT, INSIGHT_HUB_SESSION_ENDPOINT)
        );
        let other = Configuration::default().with_endpoints_for(Some("0123456789abcdef0123456789abcdef"));
        assert_eq!(
            (other.endpoint.as_str(), other.session_endpoint.as_str()),
            (DEFAULT_ENDPOINT, DEFAULT_SESSION_ENDPOINT)
        );
        let custom = Configuration::default().endpoint("http://127.0.0.1:9/notify").with_endpoints_for(Some(hub));
        assert_eq!(
            (custom.endpoint.as_str(), custom.session_endpoint.as_str()),
            ("http://127.0.0.1:9/notify", DEFAULT_SESSION_ENDPOINT)
        );
        assert!(!custom.sessions_enabled(), "sessions would go to Bugsnag while events go elsewhere");
    }
}
