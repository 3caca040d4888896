//! Halo's setup lists, all bare arrays: `/api/Status`, `/api/TicketType`,
//! `/api/Priority` (one record per SLA, keyed by GUID), `/api/Outcome` and
//! `/api/Team`, each also readable one by one.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::Value;

use super::{ApiError, record_id};
use crate::quirks::query::HaloQuery;
use crate::shape::setup;
use crate::state::Sim;

/// `GET /api/Status`; `excludeclosed=true` leaves out closed statuses.
pub async fn statuses(State(sim): State<Sim>, query: HaloQuery) -> Json<Value> {
    let exclude_closed = query.is_true("excludeclosed");
    Json(sim.read(|store| {
        store
            .statuses
            .values()
            .filter(|status| !(exclude_closed && status.closed))
            .map(setup::status)
            .collect()
    }))
}

/// `GET /api/Status/{id}`.
pub async fn status(
    State(sim): State<Sim>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let status_id = record_id(&id)?;
    sim.read(|store| store.statuses.get(&status_id).map(setup::status))
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// `GET /api/TicketType`.
pub async fn ticket_types(State(sim): State<Sim>) -> Json<Value> {
    Json(sim.read(|store| {
        let mut kinds: Vec<_> = store.ticket_types.values().collect();
        kinds.sort_by_key(|kind| (kind.sequence, kind.id));
        kinds
            .into_iter()
            .map(|kind| setup::ticket_type(store, kind))
            .collect()
    }))
}

/// `GET /api/TicketType/{id}`.
pub async fn ticket_type(
    State(sim): State<Sim>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let type_id = record_id(&id)?;
    sim.read(|store| {
        store
            .ticket_types
            .get(&type_id)
            .map(|kind| setup::ticket_type(store, kind))
    })
    .map(Json)
    .ok_or(ApiError::NotFound)
}

/// `GET /api/Priority`: every SLA's records, so `priorityid` repeats.
pub async fn priorities(State(sim): State<Sim>) -> Json<Value> {
    Json(sim.read(|store| store.priorities.iter().map(setup::priority).collect()))
}

/// `GET /api/Priority/{guid}`.
pub async fn priority(
    State(sim): State<Sim>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    sim.read(|store| {
        store
            .priorities
            .iter()
            .find(|priority| priority.guid.to_string().eq_ignore_ascii_case(id.trim()))
            .map(setup::priority)
    })
    .map(Json)
    .ok_or(ApiError::NotFound)
}

/// `GET /api/Outcome`.
pub async fn outcomes(State(sim): State<Sim>) -> Json<Value> {
    Json(sim.read(|store| store.outcomes.values().map(setup::outcome).collect()))
}

/// `GET /api/Outcome/{id}`.
pub async fn outcome(
    State(sim): State<Sim>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let outcome_id = record_id(&id)?;
    sim.read(|store| store.outcomes.get(&outcome_id).map(setup::outcome))
        .map(Json)
        .ok_or(ApiError::NotFound)
}

/// `GET /api/Team`.
pub async fn teams(State(sim): State<Sim>) -> Json<Value> {
    Json(sim.read(|store| {
        store
            .teams
            .values()
            .map(|team| setup::team(store, team))
            .collect()
    }))
}

/// `GET /api/Team/{id}`.
pub async fn team(State(sim): State<Sim>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let team_id = record_id(&id)?;
    sim.read(|store| {
        store
            .teams
            .get(&team_id)
            .map(|team| setup::team(store, team))
    })
    .map(Json)
    .ok_or(ApiError::NotFound)
}
