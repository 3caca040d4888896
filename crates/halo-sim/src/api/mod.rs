//! Halo's resource API under `/api`: the routes, the bearer-token and
//! permission gate in front of them, and the error answers they share.
//!
//! Routes are written in lower case; the front door has already folded the
//! request path (see [`crate::quirks::path`]). Answers follow what the
//! evidence shows of Halo: 401 with an empty body and a `WWW-Authenticate`
//! header for a missing, unknown or expired token; 403 with an empty body when
//! the token lacks the scope [`halo::Permission::required_for`] names; 404 with
//! an empty body for a missing record or an unknown URL; 400 with a
//! model-state dictionary for a body Halo would refuse.

mod actions;
mod agents;
mod attachments;
mod clients;
mod setup;
mod sites;
mod tickets;
mod users;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use halo::Permission;
use serde_json::Value;

use crate::auth::{self, BearerProblem, Grant};
use crate::quirks::body::ModelState;
use crate::quirks::query::HaloQuery;
use crate::state::{Sim, lock};
use crate::store::{Author, Refusals};

/// The `/api` routes.
pub fn routes(sim: Sim) -> Router<Sim> {
    Router::new()
        .route("/tickets", get(tickets::list).post(tickets::save))
        .route("/tickets/{id}", get(tickets::one).delete(tickets::delete))
        .route("/actions", get(actions::list).post(actions::save))
        .route("/actions/{id}", get(actions::one).delete(actions::delete))
        .route(
            "/attachment",
            get(attachments::list).post(attachments::save),
        )
        .route(
            "/attachment/{id}",
            get(attachments::download).delete(attachments::delete),
        )
        .route("/client", get(clients::list).post(clients::save))
        .route("/client/{id}", get(clients::one))
        .route("/site", get(sites::list).post(sites::save))
        .route("/site/{id}", get(sites::one))
        .route("/users", get(users::list).post(users::save))
        .route("/users/{id}", get(users::one))
        .route("/agent", get(agents::list))
        .route("/agent/{id}", get(agents::one))
        .route("/status", get(setup::statuses))
        .route("/status/{id}", get(setup::status))
        .route("/tickettype", get(setup::ticket_types))
        .route("/tickettype/{id}", get(setup::ticket_type))
        .route("/priority", get(setup::priorities))
        .route("/priority/{id}", get(setup::priority))
        .route("/outcome", get(setup::outcomes))
        .route("/outcome/{id}", get(setup::outcome))
        .route("/team", get(setup::teams))
        .route("/team/{id}", get(setup::team))
        .route_layer(middleware::from_fn_with_state(sim, gate))
        .route("/authinfo", get(auth::authinfo))
}

/// Checks the bearer token and the permission the call needs, and hands the
/// token's [`Grant`] to the handler.
async fn gate(State(sim): State<Sim>, mut request: Request, next: Next) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let checked = match bearer {
        Some(token) => lock(&sim.auth).check(token),
        None => Err(BearerProblem::Missing),
    };
    let grant = match checked {
        Ok(grant) => grant,
        Err(problem) => return unauthorized(problem),
    };

    let resource = request
        .uri()
        .path()
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let required = Permission::required_for(request.method().as_str(), &resource);
    if let Some(permission) = required
        && !permission.is_granted_by(grant.scopes.iter().map(String::as_str))
    {
        tracing::debug!(%permission, resource, "refused: scope not granted");
        return StatusCode::FORBIDDEN.into_response();
    }

    request.extensions_mut().insert(grant);
    next.run(request).await
}

/// A 401 as an ASP.NET bearer-token API sends it: no body, the reason in
/// `WWW-Authenticate`.
fn unauthorized(problem: BearerProblem) -> Response {
    let challenge = match problem {
        BearerProblem::Missing => "Bearer",
        BearerProblem::Unknown => "Bearer error=\"invalid_token\"",
        BearerProblem::Expired => {
            "Bearer error=\"invalid_token\", error_description=\"The token expired\""
        }
    };
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        )],
    )
        .into_response()
}

/// A refused API call.
#[derive(Debug)]
pub enum ApiError {
    /// The record does not exist: 404, empty body.
    NotFound,
    /// Halo would not accept the body: 400 with a model-state dictionary.
    Invalid(ModelState),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::NotFound => StatusCode::NOT_FOUND.into_response(),
            ApiError::Invalid(state) => (StatusCode::BAD_REQUEST, Json(state)).into_response(),
        }
    }
}

impl From<ModelState> for ApiError {
    fn from(state: ModelState) -> Self {
        ApiError::Invalid(state)
    }
}

/// Refusals of a multi-element write as Halo's model-state body.
fn refused(refusals: Refusals) -> ApiError {
    let mut state = ModelState::default();
    for (index, invalid) in refusals {
        state.extend(ModelState::field(index, invalid.field, invalid.message));
    }
    ApiError::Invalid(state)
}

/// A record id from the path; anything but a number names no record.
fn record_id(text: &str) -> Result<i64, ApiError> {
    text.trim().parse().map_err(|_| ApiError::NotFound)
}

/// The 201 of a POST: the single saved object, or all of them when the request
/// says `returnall=true`. Halo answers a one-element array with the bare
/// object; for several elements the evidence has nothing, and the simulator
/// returns the first.
fn created(mut saved: Vec<Value>, query: &HaloQuery) -> Response {
    let body = if query.is_true("returnall") {
        Value::Array(saved)
    } else if saved.is_empty() {
        Value::Null
    } else {
        saved.swap_remove(0)
    };
    (StatusCode::CREATED, Json(body)).into_response()
}

/// The author of what an API call writes: the agent the application logs in as.
fn author(grant: &Grant) -> Author {
    Author::Agent {
        agent_id: grant.agent_id,
        application: Some(grant.client_id.clone()),
    }
}

/// Whether `haystack` contains `needle`, ignoring case (Halo's "like" search).
fn like(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}
