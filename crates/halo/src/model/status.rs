//! Ticket statuses (`/api/Status`, swagger "TStatus"); ids differ per instance.

use serde::{Deserialize, Serialize};

use super::Listed;
use crate::de;

/// A ticket status.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Status {
    #[serde(deserialize_with = "de::id")]
    pub id: i64,
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    #[serde(deserialize_with = "de::opt_string")]
    pub shortname: Option<String>,
    /// Halo's status type code, which (per instance) tells open from closed.
    #[serde(rename = "type", deserialize_with = "de::opt_int")]
    pub status_type: Option<i64>,
    #[serde(deserialize_with = "de::opt_int")]
    pub sequence: Option<i64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub colour: Option<String>,
}

impl Listed for Status {
    const LIST_KEY: &'static str = "statuses";
}
