//! Clients (`/api/Client`, swagger "Area"): the customer companies.

use serde::{Deserialize, Serialize};

use super::Listed;
use crate::de;

/// A customer company.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Client {
    #[serde(deserialize_with = "de::id")]
    pub id: i64,
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    #[serde(deserialize_with = "de::boolean")]
    pub inactive: bool,
    #[serde(deserialize_with = "de::opt_ref")]
    pub toplevel_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub toplevel_name: Option<String>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub main_site_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub main_site_name: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub website: Option<String>,
    #[serde(deserialize_with = "de::boolean")]
    pub is_vip: bool,
}

impl Listed for Client {
    const LIST_KEY: &'static str = "clients";
}
