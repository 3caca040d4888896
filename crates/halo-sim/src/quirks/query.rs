//! Query parameters the way Halo reads them: names case-insensitive, booleans
//! as `true`/`True`/`false`/`False`, lists comma-separated or repeated, and a
//! value that does not parse treated as absent rather than refused, because
//! Halo ignores what it cannot bind and answers unfiltered.

use std::convert::Infallible;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};

use super::dates;

/// The query string of a Halo request.
#[derive(Debug, Clone, Default)]
pub struct HaloQuery {
    /// `(lowercased name, value)` in the order sent.
    params: Vec<(String, String)>,
}

impl HaloQuery {
    /// A query from `(name, value)` pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let params = pairs
            .into_iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value))
            .collect();
        HaloQuery { params }
    }

    /// The last non-empty value of `name`.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(key, value)| key == name && !value.trim().is_empty())
            .map(|(_, value)| value.trim())
    }

    /// A boolean, as .NET parses one: `true`/`false` in any letter case.
    pub fn flag(&self, name: &str) -> Option<bool> {
        match self.text(name)?.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// Whether `name` is `true`; absent or unparsable counts as `false`.
    pub fn is_true(&self, name: &str) -> bool {
        self.flag(name) == Some(true)
    }

    /// An integer.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.text(name)?.parse().ok()
    }

    /// Integers from a comma-separated list, repeated keys merged. `None` when the
    /// parameter is absent or holds no integer at all.
    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        let values: Vec<i64> = self
            .params
            .iter()
            .filter(|(key, _)| key == name)
            .flat_map(|(_, value)| value.split(','))
            .filter_map(|item| item.trim().parse().ok())
            .collect();

        (!values.is_empty()).then_some(values)
    }

    /// A date or date-time.
    pub fn date(&self, name: &str) -> Option<DateTime<Utc>> {
        dates::parse(self.text(name)?)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for HaloQuery {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // A query string that does not even decode binds nothing in Halo either.
        let pairs = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map(|Query(pairs)| pairs)
            .unwrap_or_default();
        Ok(HaloQuery::from_pairs(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HaloQuery {
        HaloQuery::from_pairs(
            pairs
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string())),
        )
    }

    #[test]
    fn booleans_accept_dotnet_spellings_only() {
        let q = query(&[("a", "True"), ("b", "false"), ("c", "TRUE"), ("d", "1")]);

        assert_eq!(q.flag("a"), Some(true));
        assert_eq!(q.flag("b"), Some(false));
        assert_eq!(q.flag("c"), Some(true));
        assert_eq!(q.flag("d"), None);
        assert_eq!(q.flag("missing"), None);
    }

    #[test]
    fn names_are_case_insensitive_and_the_last_value_wins() {
        let q = query(&[("Client_ID", "3"), ("client_id", "4")]);

        assert_eq!(q.int("client_id"), Some(4));
    }

    #[test]
    fn lists_merge_commas_and_repeats_and_skip_garbage() {
        let q = query(&[("ticketids", "1, 2,x"), ("TicketIDs", "5")]);

        assert_eq!(q.ints("ticketids"), Some(vec![1, 2, 5]));
        assert_eq!(query(&[("ticketids", "x")]).ints("ticketids"), None);
    }

    #[test]
    fn unparsable_values_count_as_absent() {
        let q = query(&[("client_id", "twelve"), ("lastupdatefromdate", "soon")]);

        assert_eq!(q.int("client_id"), None);
        assert_eq!(q.date("lastupdatefromdate"), None);
    }
}
