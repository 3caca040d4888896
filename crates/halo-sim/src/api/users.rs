//! `/api/Users`: end users (contacts). `search` matches name or email address;
//! inactive users are left out unless `includeinactive=true`.

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
use crate::store::User;
use crate::store::contacts::UserDraft;

/// `GET /api/Users`.
pub async fn list(State(sim): State<Sim>, query: HaloQuery) -> Json<Value> {
    let client_id = query.int("client_id");
    let site_id = query.int("site_id");
    let search = query.text("search");
    let window = Window::from_query(&query);

    let wrapper = sim.read(|store| {
        let wanted = |user: &&User| {
            let client = store
                .client_of_site(user.site_id)
                .map_or(0, |client| client.id);
            client_id.is_none_or(|id| client == id)
                && site_id.is_none_or(|id| user.site_id == id)
                && active_filter(&query, user.inactive)
                && search
                    .is_none_or(|text| like(&user.name, text) || like(&user.emailaddress, text))
        };
        let mut users: Vec<&User> = store.users.values().filter(wanted).collect();
        users.sort_by_key(|user| (user.name.to_lowercase(), user.id));

        let total = users.len();
        let page = window
            .apply(users)
            .into_iter()
            .map(|user| contact::user_summary(store, user))
            .collect();
        paging::wrap("users", total, page, window)
    });
    Json(Value::Object(wrapper))
}

/// `GET /api/Users/{id}`.
pub async fn one(State(sim): State<Sim>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let user_id = record_id(&id)?;
    sim.read(|store| {
        store
            .users
            .get(&user_id)
            .map(|user| Json(contact::user(store, user)))
            .ok_or(ApiError::NotFound)
    })
}

/// `POST /api/Users`: a new user needs a `site_id`, or a `client_id` whose main
/// site they then join.
pub async fn save(
    State(sim): State<Sim>,
    query: HaloQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let objects = body::parse_array(&body)?;
    let drafts = body::read_all(&objects, |element: &mut Element<'_>| UserDraft {
        id: element.int("id"),
        name: element.text("name"),
        firstname: element.text("firstname"),
        surname: element.text("surname"),
        emailaddress: element.text("emailaddress"),
        phonenumber: element.text("phonenumber"),
        site_id: element.int("site_id"),
        client_id: element.int("client_id"),
        inactive: element.flag("inactive"),
    })?;

    let saved = sim.write(|store| {
        let ids = store.save_users(drafts)?;
        Ok(ids
            .iter()
            .filter_map(|id| store.users.get(id))
            .map(|user| contact::user(store, user))
            .collect())
    });
    Ok(created(saved.map_err(refused)?, &query))
}
