//! `/api/Tickets`: list with Halo's filters, read one, create or update with a
//! POSTed array, delete.
//!
//! Without `order`, tickets come by ascending id: Halo's default order is not
//! known (evidence, section 7), so clients should always pass `order`.

use std::cmp::Ordering;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{ApiError, author, created, like, record_id, refused};
use crate::auth::Grant;
use crate::quirks::body::{self, Element};
use crate::quirks::paging::{self, Window};
use crate::quirks::query::HaloQuery;
use crate::shape::ticket::{self, ListExtras};
use crate::state::Sim;
use crate::store::tickets::TicketDraft;
use crate::store::{Store, Ticket};

/// `GET /api/Tickets`.
pub async fn list(State(sim): State<Sim>, query: HaloQuery) -> Json<Value> {
    let filter = TicketFilter::from_query(&query);
    let window = Window::from_query(&query);
    let extras = ListExtras {
        status_name: query.is_true("includestatus"),
        agent_name: query.is_true("includeagent"),
        tickettype_name: query.is_true("includetickettype"),
    };

    let wrapper = sim.read(|store| {
        let mut tickets: Vec<&Ticket> = store
            .tickets
            .values()
            .filter(|ticket| !ticket.deleted && filter.admits(store, ticket))
            .collect();
        sort(&mut tickets, &query);

        let total = tickets.len();
        let page = window
            .apply(tickets)
            .into_iter()
            .map(|ticket| ticket::summary(store, ticket, extras))
            .collect();
        paging::wrap("tickets", total, page, window)
    });
    Json(Value::Object(wrapper))
}

/// `GET /api/Tickets/{id}`.
pub async fn one(State(sim): State<Sim>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let ticket_id = record_id(&id)?;
    sim.read(|store| {
        store
            .ticket(ticket_id)
            .map(|ticket| Json(ticket::detail(store, ticket)))
            .ok_or(ApiError::NotFound)
    })
}

/// `POST /api/Tickets`: creates (no `id`, or `id` 0) or updates (existing `id`).
pub async fn save(
    State(sim): State<Sim>,
    Extension(grant): Extension<Grant>,
    query: HaloQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let objects = body::parse_array(&body)?;
    let drafts = body::read_all(&objects, read_draft)?;

    let author = author(&grant);
    let saved = sim.write(|store| {
        let ids = store.save_tickets(drafts, &author)?;
        Ok(ids
            .iter()
            .filter_map(|id| store.ticket(*id))
            .map(|ticket| ticket::detail(store, ticket))
            .collect())
    });
    Ok(created(saved.map_err(refused)?, &query))
}

/// `DELETE /api/Tickets/{id}`: answers with the deleted ticket.
pub async fn delete(
    State(sim): State<Sim>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ticket_id = record_id(&id)?;
    sim.write(|store| {
        store.delete_ticket(ticket_id).ok_or(ApiError::NotFound)?;
        store
            .tickets
            .get(&ticket_id)
            .map(|ticket| Json(ticket::detail(store, ticket)))
            .ok_or(ApiError::NotFound)
    })
}

fn read_draft(element: &mut Element<'_>) -> TicketDraft {
    TicketDraft {
        id: element.int("id"),
        summary: element.text("summary"),
        details: element.text("details"),
        details_html: element.text("details_html"),
        tickettype_id: element.int("tickettype_id"),
        client_id: element.int("client_id"),
        site_id: element.int("site_id"),
        user_id: element.int("user_id"),
        status_id: element.int("status_id"),
        priority_id: element.int("priority_id"),
        agent_id: element.int("agent_id"),
        team_id: element.int("team_id"),
        team: element.text("team"),
        reportedby: element.text("reportedby"),
        user_email: element.text("user_email"),
        categories: [
            element.text("category_1"),
            element.text("category_2"),
            element.text("category_3"),
            element.text("category_4"),
        ],
        impact: element.int("impact"),
        urgency: element.int("urgency"),
        source: element.int("source"),
        onhold: element.flag("onhold"),
        outcome: element.text("outcome"),
        attachment_ids: element.ids("attachments"),
        customfields: element.array("customfields"),
        tags: element.array("tags").map(|tags| {
            tags.iter()
                .filter_map(|tag| tag.get("text").or(Some(tag)).and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        }),
    }
}

/// The filters of `GET /Tickets` this simulator honours; others are ignored,
/// as Halo ignores what it does not know.
#[derive(Debug, Default)]
struct TicketFilter {
    client_id: Option<i64>,
    site_id: Option<i64>,
    user_id: Option<i64>,
    agent_ids: Option<Vec<i64>>,
    status_ids: Option<Vec<i64>>,
    type_ids: Option<Vec<i64>>,
    priority_ids: Option<Vec<i64>>,
    team_ids: Option<Vec<i64>>,
    ticket_ids: Option<Vec<i64>>,
    open_only: bool,
    closed_only: bool,
    search: Option<String>,
    search_actions: bool,
    updated_since: Option<DateTime<Utc>>,
}

impl TicketFilter {
    fn from_query(query: &HaloQuery) -> TicketFilter {
        let single_or_list = |single: &str, list: &str| {
            query
                .int(single)
                .map(|id| vec![id])
                .or_else(|| query.ints(list))
        };

        TicketFilter {
            client_id: query.int("client_id"),
            site_id: query.int("site_id"),
            user_id: query.int("user_id"),
            agent_ids: single_or_list("agent_id", "agent"),
            status_ids: single_or_list("status_id", "status"),
            type_ids: single_or_list("requesttype_id", "requesttype"),
            priority_ids: query.ints("priority"),
            team_ids: single_or_list("team_id", "team"),
            ticket_ids: query.ints("ticketids"),
            open_only: query.is_true("open_only"),
            closed_only: query.is_true("closed_only"),
            search: query.text("search").map(str::to_owned),
            search_actions: query.is_true("searchactions"),
            updated_since: query.date("lastupdatefromdate"),
        }
    }

    fn admits(&self, store: &Store, ticket: &Ticket) -> bool {
        let is = |wanted: Option<i64>, actual: i64| wanted.is_none_or(|id| id == actual);
        let among = |wanted: &Option<Vec<i64>>, actual: i64| {
            wanted.as_ref().is_none_or(|ids| ids.contains(&actual))
        };
        let closed = store.is_closed_status(ticket.status_id);

        is(self.client_id, ticket.client_id)
            && is(self.site_id, ticket.site_id)
            && is(self.user_id, ticket.user_id)
            && among(&self.agent_ids, ticket.agent_id)
            && among(&self.status_ids, ticket.status_id)
            && among(&self.type_ids, ticket.tickettype_id)
            && among(&self.priority_ids, ticket.priority_id)
            && among(&self.team_ids, ticket.team_id)
            && among(&self.ticket_ids, ticket.id)
            && (!self.open_only || !closed)
            && (!self.closed_only || closed)
            && self
                .updated_since
                .is_none_or(|since| ticket.last_update >= since)
            && self
                .search
                .as_deref()
                .is_none_or(|text| self.found(ticket, text))
    }

    /// Halo's free-text search: summary, details or id, and the action notes
    /// with `searchactions=true`.
    fn found(&self, ticket: &Ticket, text: &str) -> bool {
        like(&ticket.summary, text)
            || like(&ticket.details, text)
            || text.trim().parse::<i64>() == Ok(ticket.id)
            || (self.search_actions && ticket.actions.iter().any(|action| like(&action.note, text)))
    }
}

/// Sorts by `order` (and `orderdesc`), then by id.
fn sort(tickets: &mut [&Ticket], query: &HaloQuery) {
    let field = query.text("order").map(str::to_ascii_lowercase);
    let descending = query.is_true("orderdesc");

    tickets.sort_by(|a, b| {
        let by_field = match field.as_deref() {
            Some("dateoccurred" | "dateoccured") => a.dateoccurred.cmp(&b.dateoccurred),
            Some("datecreated") => a.datecreated.cmp(&b.datecreated),
            Some("lastactiondate") => a.lastactiondate.cmp(&b.lastactiondate),
            Some("last_update" | "lastupdate") => a.last_update.cmp(&b.last_update),
            Some("dateclosed" | "datecleared") => a.dateclosed.cmp(&b.dateclosed),
            Some("summary") => a.summary.to_lowercase().cmp(&b.summary.to_lowercase()),
            Some("status_id") => a.status_id.cmp(&b.status_id),
            Some("priority_id") => a.priority_id.cmp(&b.priority_id),
            Some("agent_id") => a.agent_id.cmp(&b.agent_id),
            Some("client_id") => a.client_id.cmp(&b.client_id),
            _ => Ordering::Equal,
        };
        let ordering = by_field.then(a.id.cmp(&b.id));
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
}
