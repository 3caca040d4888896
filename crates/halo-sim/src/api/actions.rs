//! `/api/Actions`: a ticket's actions, newest first; one action by its
//! per-ticket id; add or edit with a POSTed array; delete.
//!
//! Action ids are only unique within a ticket, so `ticket_id` is needed
//! everywhere: a list without it is empty (`{"record_count": 0, "actions": []}`,
//! the shape a live sandbox returned) and a single action without it is 404.

use std::cmp::Reverse;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use serde_json::Value;

use super::{ApiError, author, created, record_id, refused};
use crate::auth::Grant;
use crate::quirks::body::{self, Element};
use crate::quirks::paging::{self, Window};
use crate::quirks::query::HaloQuery;
use crate::shape::action;
use crate::state::Sim;
use crate::store::Action;
use crate::store::actions::ActionDraft;

/// `GET /api/Actions?ticket_id=N`.
pub async fn list(State(sim): State<Sim>, query: HaloQuery) -> Json<Value> {
    let ticket_id = query.int("ticket_id");
    let window = Window::from_query(&query);
    let with_html = query.is_true("includehtmlnote");
    let wanted = |action: &&Action| {
        let who_type = action.author.who_type();
        (!action.hiddenfromuser || !query.is_true("excludeprivate"))
            && (who_type != 0 || !query.is_true("excludesys"))
            && (who_type == 1 || !query.is_true("agentonly"))
            && (action.important || !query.is_true("importantonly"))
    };

    let wrapper = sim.read(|store| {
        let mut actions: Vec<&Action> = ticket_id
            .and_then(|id| store.ticket(id))
            .map(|ticket| ticket.actions.iter().filter(wanted).collect())
            .unwrap_or_default();
        actions.sort_by_key(|action| Reverse(action.id));

        let total = actions.len();
        let page = window
            .apply(actions)
            .into_iter()
            .map(|found| action::action(store, found, with_html))
            .collect();
        paging::wrap("actions", total, page, window)
    });
    Json(Value::Object(wrapper))
}

/// `GET /api/Actions/{id}?ticket_id=N`.
pub async fn one(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    query: HaloQuery,
) -> Result<Json<Value>, ApiError> {
    let action_id = record_id(&id)?;
    let ticket_id = query.int("ticket_id").ok_or(ApiError::NotFound)?;

    sim.read(|store| {
        store
            .ticket(ticket_id)
            .and_then(|ticket| ticket.action(action_id))
            .map(|found| Json(action::action(store, found, true)))
            .ok_or(ApiError::NotFound)
    })
}

/// `POST /api/Actions`: adds (no `id`) or edits (existing `id` on `ticket_id`).
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
        let keys = store.save_actions(drafts, &author)?;
        Ok(keys
            .iter()
            .filter_map(|(ticket_id, action_id)| store.ticket(*ticket_id)?.action(*action_id))
            .map(|saved| action::action(store, saved, true))
            .collect())
    });
    Ok(created(saved.map_err(refused)?, &query))
}

/// `DELETE /api/Actions/{id}?ticket_id=N`.
pub async fn delete(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    query: HaloQuery,
) -> Result<Json<Value>, ApiError> {
    let action_id = record_id(&id)?;
    let ticket_id = query.int("ticket_id").ok_or(ApiError::NotFound)?;

    sim.write(|store| {
        let removed = store
            .ticket(ticket_id)
            .and_then(|ticket| ticket.action(action_id))
            .map(|found| action::action(store, found, true))
            .ok_or(ApiError::NotFound)?;
        store.delete_action(ticket_id, action_id);
        Ok(Json(removed))
    })
}

fn read_draft(element: &mut Element<'_>) -> ActionDraft {
    ActionDraft {
        id: element.int("id"),
        ticket_id: element.int("ticket_id"),
        outcome: element.text("outcome"),
        outcome_id: element.int("outcome_id"),
        who: element.text("who"),
        who_type: element.int("who_type"),
        who_agentid: element.int("who_agentid"),
        user_id: element.int("user_id"),
        note: element.text("note"),
        note_html: element.text("note_html"),
        hiddenfromuser: element.flag("hiddenfromuser"),
        important: element.flag("important"),
        sendemail: element.flag("sendemail"),
        timetaken: element.float("timetaken"),
        emailfrom: element.text("emailfrom"),
        emailto: element.text("emailto"),
        emailcc: element.text("emailcc"),
        new_status: element.int("new_status"),
    }
}
