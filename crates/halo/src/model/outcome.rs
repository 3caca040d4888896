//! Outcomes (`/api/Outcome`): the action types an action is logged with.

use serde::{Deserialize, Serialize};

use super::Listed;
use crate::de;

/// An action type, e.g. "Private Note" or "Email Update".
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Outcome {
    #[serde(deserialize_with = "de::id")]
    pub id: i64,
    /// The name actions are created with (`NewAction::outcome`).
    #[serde(deserialize_with = "de::string")]
    pub outcome: String,
    #[serde(deserialize_with = "de::opt_string")]
    pub buttonname: Option<String>,
    /// Whether actions of this type are private (hidden from the end user).
    #[serde(deserialize_with = "de::boolean")]
    pub hidefromuser: bool,
    #[serde(deserialize_with = "de::boolean")]
    pub sendemail: bool,
    #[serde(deserialize_with = "de::boolean")]
    pub inactive: bool,
}

impl Listed for Outcome {
    const LIST_KEY: &'static str = "outcomes";
}
