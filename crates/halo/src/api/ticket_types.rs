//! `/api/TicketType`: ticket types.

use crate::client::Request;
use crate::model::{ListResponse, TicketType};
use crate::{HaloClient, HaloError};

impl HaloClient {
    /// Every ticket type agents can use.
    pub async fn list_ticket_types(&self) -> Result<Vec<TicketType>, HaloError> {
        let list: ListResponse<TicketType> = self.get_json(Request::get("TicketType")).await?;
        Ok(list.into_items())
    }
}
