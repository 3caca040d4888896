//! `/api/Actions`: a ticket's notes and updates. Action ids are numbered per
//! ticket, so every call names the ticket.

use crate::client::Request;
use crate::model::{Action, ListResponse, NewAction};
use crate::{HaloClient, HaloError};

/// Filters for a ticket's actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionQuery {
    /// Leave out system actions (rule applied, status changes...).
    pub exclude_system: bool,
    /// Leave out private notes.
    pub exclude_private: bool,
    /// Only the conversation with the end user.
    pub conversation_only: bool,
    /// At most this many (Halo returns the newest first).
    pub count: Option<u32>,
}

impl HaloClient {
    /// The actions of a ticket, as Halo orders them (newest first).
    pub async fn list_actions(
        &self,
        ticket_id: i64,
        query: &ActionQuery,
    ) -> Result<Vec<Action>, HaloError> {
        let request = Request::get("Actions")
            .query("ticket_id", ticket_id)
            .flag("excludesys", query.exclude_system)
            .flag("excludeprivate", query.exclude_private)
            .flag("conversationonly", query.conversation_only)
            .query_opt("count", query.count);

        let list: ListResponse<Action> = self.get_json(request).await?;
        Ok(list.into_items())
    }

    /// One action of a ticket.
    pub async fn get_action(&self, ticket_id: i64, action_id: i64) -> Result<Action, HaloError> {
        self.get_json(Request::get(format!("Actions/{action_id}")).query("ticket_id", ticket_id))
            .await
    }

    /// Adds a note (visible or private, see [`NewAction`]). Never retried.
    pub async fn create_action(&self, action: &NewAction) -> Result<Action, HaloError> {
        self.post_one("Actions", action).await
    }
}
