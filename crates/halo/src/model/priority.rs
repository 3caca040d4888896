//! Priorities (`/api/Priority`, swagger "Policy"). Halo lists one record per
//! priority per SLA, keyed by a GUID; tickets carry the shared number
//! `priorityid`, so the list is de-duplicated to one entry per `priorityid`.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::Listed;
use crate::de;

/// A priority record for one SLA.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Priority {
    /// The record's GUID (not what tickets refer to).
    #[serde(deserialize_with = "de::string")]
    pub id: String,
    /// The priority number tickets carry in `priority_id`.
    #[serde(deserialize_with = "de::id")]
    pub priorityid: i64,
    #[serde(deserialize_with = "de::opt_ref")]
    pub slaid: Option<i64>,
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    #[serde(deserialize_with = "de::opt_float")]
    pub fixtime: Option<f64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub fixunits: Option<String>,
    #[serde(deserialize_with = "de::opt_float")]
    pub responsetime: Option<f64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub responseunits: Option<String>,
    #[serde(deserialize_with = "de::boolean")]
    pub ishidden: bool,
    #[serde(deserialize_with = "de::opt_string")]
    pub colour: Option<String>,
}

impl Listed for Priority {
    const LIST_KEY: &'static str = "priorities";
}

impl Priority {
    /// Keeps the first record of each `priorityid`, in the order Halo sent them.
    pub fn dedupe(records: Vec<Priority>) -> Vec<Priority> {
        let mut seen = HashSet::new();
        records
            .into_iter()
            .filter(|p| seen.insert(p.priorityid))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn one_entry_per_priorityid_survives_in_first_seen_order() {
        let records: Vec<Priority> = serde_json::from_value(json!([
            { "id": "a-1", "slaid": 1, "priorityid": 4, "name": "Low" },
            { "id": "a-2", "slaid": 1, "priorityid": "1", "name": "Critical" },
            { "id": "b-1", "slaid": 4, "priorityid": 4.0, "name": "Low (EDES)" },
            { "id": "b-2", "slaid": 4, "priorityid": 1, "name": "Critical (EDES)" },
        ]))
        .expect("lenient");

        let priorities = Priority::dedupe(records);

        let kept: Vec<_> = priorities
            .iter()
            .map(|p| (p.priorityid, p.id.as_str()))
            .collect();
        assert_eq!(kept, [(4, "a-1"), (1, "a-2")]);
    }
}
