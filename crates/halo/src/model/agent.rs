//! Agents (`/api/Agent`, swagger "Uname"): the technicians, including the agent
//! an API application logs in as.

use serde::{Deserialize, Serialize};

use super::Listed;
use crate::de;

/// An agent (technician).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Agent {
    #[serde(deserialize_with = "de::id")]
    pub id: i64,
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    #[serde(deserialize_with = "de::opt_string")]
    pub email: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub firstname: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub surname: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub initials: Option<String>,
    /// The default team's name.
    #[serde(deserialize_with = "de::opt_string")]
    pub team: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub jobtitle: Option<String>,
    #[serde(deserialize_with = "de::boolean")]
    pub isdisabled: bool,
    #[serde(deserialize_with = "de::opt_boolean")]
    pub is_agent: Option<bool>,
}

impl Listed for Agent {
    const LIST_KEY: &'static str = "agents";
}
