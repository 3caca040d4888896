//! `/api/Site`: client locations.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::Value;

use super::clients::active_filter;
use super::{ApiError, created, like, record_id, refused};
use crate::quirks::body::{self, Element};
use crate::quirks::paging::{self, Window};
use crate::quirks::query::HaloQuery;
use crate::shape::contact;
use crate::state::Sim;
use crate::store::Site;
use crate::store::contacts::SiteDraft;

/// `GET /api/Site`.
pub async fn list(State(sim): State<Sim>, query: HaloQuery) -> Json<Value> {
    let client_id = query.int("client_id");
    let search = query.text("search");
    let window = Window::from_query(&query);
    let wanted = |site: &&Site| {
        client_id.is_none_or(|id| site.client_id == id)
            && active_filter(&query, site.inactive)
            && search.is_none_or(|text| like(&site.name, text))
    };

    let wrapper = sim.read(|store| {
        let mut sites: Vec<&Site> = store.sites.values().filter(wanted).collect();
        sites.sort_by_key(|site| (site.client_id, site.name.to_lowercase(), site.id));

        let total = sites.len();
        let page = window
            .apply(sites)
            .into_iter()
            .map(|site| contact::site(store, site))
            .collect();
        paging::wrap("sites", total, page, window)
    });
    Json(Value::Object(wrapper))
}

/// `GET /api/Site/{id}`.
pub async fn one(State(sim): State<Sim>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let site_id = record_id(&id)?;
    sim.read(|store| {
        store
            .sites
            .get(&site_id)
            .map(|site| Json(contact::site(store, site)))
            .ok_or(ApiError::NotFound)
    })
}

/// `POST /api/Site`: a new site also gets its General User.
pub async fn save(
    State(sim): State<Sim>,
    query: HaloQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let objects = body::parse_array(&body)?;
    let drafts = body::read_all(&objects, |element: &mut Element<'_>| SiteDraft {
        id: element.int("id"),
        name: element.text("name"),
        client_id: element.int("client_id"),
        inactive: element.flag("inactive"),
        phonenumber: element.text("phonenumber"),
    })?;

    let saved = sim.write(|store| {
        let ids = store.save_sites(drafts)?;
        Ok(ids
            .iter()
            .filter_map(|id| store.sites.get(id))
            .map(|site| contact::site(store, site))
            .collect())
    });
    Ok(created(saved.map_err(refused)?, &query))
}
