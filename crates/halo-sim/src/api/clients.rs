//! `/api/Client`: customers. Inactive clients are left out unless
//! `includeinactive=true`; `includeactive=false` leaves out the active ones.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::Value;

use super::{ApiError, created, like, record_id, refused};
use crate::quirks::body::{self, Element};
use crate::quirks::paging::{self, Window};
use crate::quirks::query::HaloQuery;
use crate::shape::contact;
use crate::state::Sim;
use crate::store::Client;
use crate::store::contacts::ClientDraft;

/// `GET /api/Client`.
pub async fn list(State(sim): State<Sim>, query: HaloQuery) -> Json<Value> {
    let search = query.text("search");
    let window = Window::from_query(&query);
    let wanted = |client: &&Client| {
        active_filter(&query, client.inactive) && search.is_none_or(|text| like(&client.name, text))
    };

    let wrapper = sim.read(|store| {
        let mut clients: Vec<&Client> = store.clients.values().filter(wanted).collect();
        clients.sort_by_key(|client| (client.name.to_lowercase(), client.id));

        let total = clients.len();
        let page = window
            .apply(clients)
            .into_iter()
            .map(|client| contact::client(store, client))
            .collect();
        paging::wrap("clients", total, page, window)
    });
    Json(Value::Object(wrapper))
}

/// `GET /api/Client/{id}`.
pub async fn one(State(sim): State<Sim>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let client_id = record_id(&id)?;
    sim.read(|store| {
        store
            .clients
            .get(&client_id)
            .map(|client| Json(contact::client(store, client)))
            .ok_or(ApiError::NotFound)
    })
}

/// `POST /api/Client`: a new client also gets a main site and its General User.
pub async fn save(
    State(sim): State<Sim>,
    query: HaloQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let objects = body::parse_array(&body)?;
    let drafts = body::read_all(&objects, |element: &mut Element<'_>| ClientDraft {
        id: element.int("id"),
        name: element.text("name"),
        inactive: element.flag("inactive"),
        notes: element.text("notes"),
        website: element.text("website"),
        is_vip: element.flag("is_vip"),
    })?;

    let saved = sim.write(|store| {
        let ids = store.save_clients(drafts)?;
        Ok(ids
            .iter()
            .filter_map(|id| store.clients.get(id))
            .map(|client| contact::client(store, client))
            .collect())
    });
    Ok(created(saved.map_err(refused)?, &query))
}

/// Halo's `includeactive`/`includeinactive` pair: active records by default,
/// inactive ones only when asked for.
pub fn active_filter(query: &HaloQuery, inactive: bool) -> bool {
    if inactive {
        query.is_true("includeinactive")
    } else {
        query.flag("includeactive") != Some(false)
    }
}
