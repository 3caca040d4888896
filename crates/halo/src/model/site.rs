//! Sites (`/api/Site`): a client's locations; every user belongs to one.

use serde::{Deserialize, Serialize};

use super::Listed;
use crate::de;

/// A client's site.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Site {
    #[serde(deserialize_with = "de::id")]
    pub id: i64,
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    /// Halo sends this one as a float (`21.0`).
    #[serde(deserialize_with = "de::opt_ref")]
    pub client_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub client_name: Option<String>,
    /// The "Client/Site" label.
    #[serde(deserialize_with = "de::opt_string")]
    pub clientsite_name: Option<String>,
    #[serde(deserialize_with = "de::boolean")]
    pub inactive: bool,
    #[serde(deserialize_with = "de::opt_string")]
    pub phonenumber: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub timezone: Option<String>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub maincontact_id: Option<i64>,
}

impl Listed for Site {
    const LIST_KEY: &'static str = "sites";
}
