//! Feature flags: which experiments and variants were active when an error happened,
//! sent as the event's `featureFlags`. Kept on the client (process-wide) and on scopes
//! (per request); a scope's flag replaces the client's flag of the same name.

use serde::Serialize;

/// One feature flag and its variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureFlag {
    /// The flag's name.
    #[serde(rename = "featureFlag")]
    pub name: String,
    /// The variant, when the flag has several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl FeatureFlag {
    /// A flag with an optional variant.
    pub fn new(name: impl Into<String>, variant: Option<&str>) -> Self {
        Self { name: name.into(), variant: variant.map(str::to_owned) }
    }
}

/// Flags in the order they were first added; adding a flag again replaces its variant.
#[derive(Debug, Clone, Default)]
pub(crate) struct Flags(Vec<FeatureFlag>);

impl Flags {
    pub(crate) fn add(&mut self, flag: FeatureFlag) {
        if flag.name.is_empty() {
            return;
        }
        match self.0.iter_mut().find(|f| f.name == flag.name) {
            Some(existing) => existing.variant = flag.variant,
            None => self.0.push(flag),
        }
    }

    pub(crate) fn clear(&mut self, name: &str) {
        self.0.retain(|f| f.name != name);
    }

    pub(crate) fn clear_all(&mut self) {
        self.0.clear();
    }

    /// The client's flags overlaid with a scope's.
    pub(crate) fn merged(&self, scope: &Flags) -> Vec<FeatureFlag> {
        let mut all = self.clone();
        for flag in &scope.0 {
            all.add(flag.clone());
        }
        all.0
    }
}
