//! Users (`/api/Users`): end users, which Halo's UI calls contacts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Listed;
use crate::de;

/// An end user (contact) of a client's site.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct User {
    #[serde(deserialize_with = "de::id")]
    pub id: i64,
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    #[serde(deserialize_with = "de::opt_string")]
    pub firstname: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub surname: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub emailaddress: Option<String>,
    /// Halo sends this one as a float (`18.0`), beside an integer `site_id_int`.
    #[serde(deserialize_with = "de::opt_ref")]
    pub site_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub site_name: Option<String>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub client_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub client_name: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub sitephonenumber: Option<String>,
    #[serde(deserialize_with = "de::boolean")]
    pub inactive: bool,
    /// The agent account linked to this user, if any (0 reads as `None`).
    #[serde(deserialize_with = "de::opt_ref")]
    pub linked_agent_id: Option<i64>,
    #[serde(deserialize_with = "de::boolean")]
    pub isserviceaccount: bool,
    #[serde(deserialize_with = "de::boolean")]
    pub neversendemails: bool,
    #[serde(deserialize_with = "de::opt_datetime")]
    pub datecreated: Option<DateTime<Utc>>,
}

impl Listed for User {
    const LIST_KEY: &'static str = "users";
}
