//! The API key: where it came from, and whether it can be used.

use serde::Deserialize;

use super::Configuration;

/// An API key, and where it came from (for a message that names the right place to fix
/// it); its `Debug` output never shows it, so printing a configuration is safe.
#[derive(Clone, Deserialize)]
#[serde(from = "String")]
pub(crate) struct ApiKey {
    pub(crate) key: String,
    pub(crate) source: KeySource,
}

/// Where an API key was set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeySource {
    /// `.api_key(..)`, or a configuration file.
    Code,
    /// `BUGSNAG_API_KEY`.
    Environment,
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self { key, source: KeySource::Code }
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[FILTERED]")
    }
}

/// Whether `key` looks like a Bugsnag API key: 32 hexadecimal characters.
pub(crate) fn is_valid_api_key(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The configured API key when it can be used; every way it cannot is told to the user,
/// since a notifier without a key is silent.
pub(crate) fn checked_api_key(config: &Configuration) -> Option<String> {
    let from_env = std::env::var("BUGSNAG_API_KEY").ok().filter(|k| !k.trim().is_empty());
    let key = config.api_key.as_ref().map(|k| (k.key.as_str(), k.source));
    let problem = match key {
        Some((key, _)) if is_valid_api_key(key) => return Some(key.to_owned()),
        Some((key, KeySource::Environment)) if crate::diagnostics::is_placeholder_key(key) => {
            "BUGSNAG_API_KEY holds a placeholder copied from documentation, not your project's API key (its settings page in Bugsnag shows it); no events will be sent".to_owned()
        }
        Some((_, KeySource::Environment)) => {
            "BUGSNAG_API_KEY is malformed (expected your project's 32 hex characters); no events will be sent".to_owned()
        }
        Some((key, KeySource::Code)) if crate::diagnostics::is_placeholder_key(key) => format!(
            "the Bugsnag API key set in code is a placeholder copied from documentation{}; no events will be sent",
            if from_env.is_some() { ", and it is set over BUGSNAG_API_KEY: remove the .api_key(..) call" } else { "" }
        ),
        Some((_, KeySource::Code)) => {
            "the Bugsnag API key set in code is malformed (expected 32 hex characters); no events will be sent".to_owned()
        }
        None if from_env.is_some() => "BUGSNAG_API_KEY is set, but this Configuration never read the environment (it was built with Configuration::default() or deserialized): use Configuration::from_env() or .with_env(); no events will be sent".to_owned(),
        None => "no Bugsnag API key is configured (set BUGSNAG_API_KEY); no events will be sent".to_owned(),
    };
    crate::diagnostics::warn(&problem);
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_32_hex_characters() {
        assert!(is_valid_api_key("0123456789abcdef0123456789ABCDEF"));
        assert!(!is_valid_api_key("YOUR_API_KEY_HERE"));
    }
}
