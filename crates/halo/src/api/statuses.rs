//! `/api/Status`: ticket statuses.

use crate::client::Request;
use crate::model::{ListResponse, Status};
use crate::{HaloClient, HaloError};

impl HaloClient {
    /// Every ticket status.
    pub async fn list_statuses(&self) -> Result<Vec<Status>, HaloError> {
        let list: ListResponse<Status> = self.get_json(Request::get("Status")).await?;
        Ok(list.into_items())
    }
}
