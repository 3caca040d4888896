//! `/api/Outcome`: the action types notes are created with.

use crate::client::Request;
use crate::model::{ListResponse, Outcome};
use crate::{HaloClient, HaloError};

impl HaloClient {
    /// Every outcome (action type).
    pub async fn list_outcomes(&self) -> Result<Vec<Outcome>, HaloError> {
        let list: ListResponse<Outcome> = self.get_json(Request::get("Outcome")).await?;
        Ok(list.into_items())
    }
}
