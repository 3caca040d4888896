//! Ticket types (`/api/TicketType`, swagger "RequestType").

use serde::{Deserialize, Serialize};

use super::Listed;
use crate::de;

/// A ticket type and the defaults Halo applies to new tickets of it.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct TicketType {
    #[serde(deserialize_with = "de::id")]
    pub id: i64,
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    #[serde(rename = "use", deserialize_with = "de::opt_string")]
    pub usage: Option<String>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub group_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_boolean")]
    pub agentscanselect: Option<bool>,
    #[serde(deserialize_with = "de::opt_boolean")]
    pub enduserscanselect: Option<bool>,
    #[serde(deserialize_with = "de::opt_boolean")]
    pub visible: Option<bool>,
    #[serde(deserialize_with = "de::boolean")]
    pub inactive: bool,
    #[serde(deserialize_with = "de::opt_ref")]
    pub default_sla: Option<i64>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub default_priority: Option<i64>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub initial_status: Option<i64>,
    /// The default team's name (Halo sends the name here, not an id).
    #[serde(deserialize_with = "de::opt_string")]
    pub default_team: Option<String>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub default_agent: Option<i64>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub workflow_id: Option<i64>,
}

impl Listed for TicketType {
    const LIST_KEY: &'static str = "tickettypes";
}
