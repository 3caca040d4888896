//! `/api/Priority`: priorities, one entry per priority number.

use crate::client::Request;
use crate::model::{ListResponse, Priority};
use crate::{HaloClient, HaloError};

impl HaloClient {
    /// The priorities tickets can carry, one per `priorityid` (Halo lists one
    /// record per SLA; the first of each is kept).
    pub async fn list_priorities(&self) -> Result<Vec<Priority>, HaloError> {
        let list: ListResponse<Priority> = self.get_json(Request::get("Priority")).await?;
        Ok(Priority::dedupe(list.into_items()))
    }
}
