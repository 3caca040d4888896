//! `/api/Tickets`: list (filters, search, paging), get, create, update.

use crate::client::Request;
use crate::model::{NewTicket, Ticket, TicketUpdate};
use crate::paging::Paging;
use crate::{HaloClient, HaloError};

/// Filters for listing tickets. Unset fields are not sent; Halo silently
/// ignores filters it does not know, so only documented ones are offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketQuery {
    pub client_id: Option<i64>,
    pub site_id: Option<i64>,
    /// The end user (contact).
    pub user_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub status_id: Option<i64>,
    /// Sent as `requesttype_id`, Halo's list filter for the ticket type.
    pub ticket_type_id: Option<i64>,
    pub open_only: bool,
    pub closed_only: bool,
    /// Free-text search (summary and details).
    pub search: Option<String>,
    /// Only these tickets (`ticketids`, comma-separated).
    pub ticket_ids: Vec<i64>,
    /// Field to order by, e.g. `lastactiondate`; Halo's default order is unknown.
    pub order: Option<String>,
    pub order_descending: bool,
    /// How much to fetch; the default walks every page.
    pub paging: Paging,
}

impl TicketQuery {
    fn apply(&self, request: Request) -> Request {
        let ticket_ids = (!self.ticket_ids.is_empty()).then(|| {
            let ids: Vec<String> = self.ticket_ids.iter().map(i64::to_string).collect();
            ids.join(",")
        });

        request
            .query_opt("client_id", self.client_id)
            .query_opt("site_id", self.site_id)
            .query_opt("user_id", self.user_id)
            .query_opt("agent_id", self.agent_id)
            .query_opt("status_id", self.status_id)
            .query_opt("requesttype_id", self.ticket_type_id)
            .flag("open_only", self.open_only)
            .flag("closed_only", self.closed_only)
            .query_opt("search", self.search.as_deref())
            .query_opt("ticketids", ticket_ids)
            .query_opt("order", self.order.as_deref())
            .flag("orderdesc", self.order.is_some() && self.order_descending)
    }
}

impl HaloClient {
    /// Tickets matching `query`, walking pages as `query.paging` says.
    pub async fn list_tickets(&self, query: &TicketQuery) -> Result<Vec<Ticket>, HaloError> {
        self.get_pages(query.apply(Request::get("Tickets")), query.paging)
            .await
    }

    /// Tickets whose text matches `text`, at most `limit` of them.
    pub async fn search_tickets(&self, text: &str, limit: usize) -> Result<Vec<Ticket>, HaloError> {
        let query = TicketQuery {
            search: Some(text.to_owned()),
            paging: Paging::first(limit),
            ..TicketQuery::default()
        };
        self.list_tickets(&query).await
    }

    /// One ticket, with its nested user, priority and ticket type.
    pub async fn get_ticket(&self, id: i64) -> Result<Ticket, HaloError> {
        self.get_json(Request::get(format!("Tickets/{id}")).query("includedetails", "true"))
            .await
    }

    /// Creates a ticket and returns it as Halo saved it. Never retried: on a
    /// timeout the ticket may exist, and the caller must decide.
    pub async fn create_ticket(&self, ticket: &NewTicket) -> Result<Ticket, HaloError> {
        self.post_one("Tickets", ticket).await
    }

    /// Changes the fields set in `update` and returns the ticket as saved.
    pub async fn update_ticket(&self, update: &TicketUpdate) -> Result<Ticket, HaloError> {
        self.post_one("Tickets", update).await
    }
}
