//! Feature flags: which experiments and variants were active when an error happened,
//! sent as the event's `featureFlags`. Kept on the client (process-wide) and on scopes
//! (per request); a scope's flag replaces the client's flag of the same name.

use serde::Serialize;

/// One feature flag and its variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
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
/// The client's flags are copied on every change (reports read them without a lock), so
/// they are persistent maps: a copy shares all but the path it changes, and adding tens
/// of thousands one by one stays n log n, not quadratic.
#[derive(Debug, Clone, Default)]
pub(crate) struct Flags {
    /// Name to (order of first adding, variant).
    by_name: imbl::HashMap<String, (u64, Option<String>)>,
    /// Order of first adding to name.
    in_order: imbl::OrdMap<u64, String>,
    next: u64,
}

impl Flags {
    pub(crate) fn add(&mut self, flag: FeatureFlag) {
        if flag.name.is_empty() {
            return;
        }
        let order = match self.by_name.get(&flag.name) {
            Some((order, _)) => *order,
            None => {
                self.next += 1;
                self.in_order.insert(self.next, flag.name.clone());
                self.next
            }
        };
        self.by_name.insert(flag.name, (order, flag.variant));
    }

    pub(crate) fn clear(&mut self, name: &str) {
        if let Some((order, _)) = self.by_name.remove(name) {
            self.in_order.remove(&order);
        }
    }

    pub(crate) fn clear_all(&mut self) {
        *self = Self::default();
    }

    fn variant(&self, name: &str) -> Option<&Option<String>> {
        self.by_name.get(name).map(|(_, variant)| variant)
    }

    fn in_order(&self) -> impl Iterator<Item = (&String, &Option<String>)> {
        self.in_order.values().filter_map(|name| Some((name, self.variant(name)?)))
    }

    /// The client's flags overlaid with a scope's (on every report: no map is copied).
    pub(crate) fn merged(&self, scope: &Flags) -> Vec<FeatureFlag> {
        let flag =
            |name: &String, variant: &Option<String>| FeatureFlag { name: name.clone(), variant: variant.clone() };
        let mut all: Vec<FeatureFlag> =
            self.in_order().map(|(name, variant)| flag(name, scope.variant(name).unwrap_or(variant))).collect();
        all.extend(scope.in_order().filter(|(name, _)| self.variant(name).is_none()).map(|(n, v)| flag(n, v)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(flags: &[FeatureFlag]) -> Vec<(&str, Option<&str>)> {
        flags.iter().map(|f| (f.name.as_str(), f.variant.as_deref())).collect()
    }

    #[test]
    fn keeps_first_order_replaces_variants_and_scope_wins() {
        let mut client = Flags::default();
        client.add(FeatureFlag::new("a", Some("1")));
        client.add(FeatureFlag::new("b", None));
        client.add(FeatureFlag::new("", Some("ignored")));
        client.add(FeatureFlag::new("a", Some("2")));
        let mut scope = Flags::default();
        scope.add(FeatureFlag::new("c", None));
        scope.add(FeatureFlag::new("b", Some("scoped")));
        assert_eq!(names(&client.merged(&scope)), [("a", Some("2")), ("b", Some("scoped")), ("c", None)]);
        client.clear("a");
        assert_eq!(names(&client.merged(&Flags::default())), [("b", None)]);
    }
}
