//! The PSA webhook: Halo posts here when a ticket or one of its actions
//! changes (`POST /api/v1/psa/webhook`), and the admin's JSON API for the
//! webhook's secret (`/api/v1/connector/webhook`).
//!
//! A delivery is checked against the webhook's own secret (Basic
//! `parley:<secret>`, or `?secret=`, or the `X-Parley-Webhook-Secret`
//! header; see [`crate::sync::webhook`]), then answered at once with 202:
//! the ticket ids it names are queued and the tickets re-read through the
//! PSA's API in the background. The payload is read leniently because
//! Halo's key names are not public (halo-api.md §5): a ticket id is looked
//! for under the names integrations use (`ticket_id`, `ticket.id`,
//! `object_id`, `id`, ...), in one event or a batch of them.

use crate::chat::Actor;
use crate::store::{Account, Role};
use crate::sync::webhook::{Presented, SECRET_HEADER, WEBHOOK_USERNAME, WebhookError};
use crate::web::AppState;
use crate::web::auth::ApiActor;
use crate::web::connector_api::audit_actor;
use crate::web::error::{ApiError, ApiResult};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};

/// The largest delivery accepted: a "full object" payload carries the
/// ticket with its linked objects (a real ticket is ~190 KB, §6).
pub const MAX_WEBHOOK_BYTES: usize = 2 * 1024 * 1024;

/// The most ticket ids one delivery (a batch) may queue.
const MAX_IDS_PER_DELIVERY: usize = 100;

impl From<WebhookError> for ApiError {
    fn from(error: WebhookError) -> Self {
        match error {
            WebhookError::AlreadyRevealed => ApiError::Conflict(error.to_string()),
            WebhookError::Sealed(why) => {
                tracing::error!(error = %why, "the webhook secret cannot be opened");
                ApiError::Unavailable(why.to_string())
            }
            WebhookError::Store(error) => ApiError::from(error),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct SecretQuery {
    #[serde(default)]
    secret: Option<String>,
}

/// `POST /api/v1/psa/webhook`: a delivery from the PSA.
pub async fn receive(
    State(state): State<AppState>,
    Query(query): Query<SecretQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let presented = presented(&headers, query.secret);
    let webhook = state.inbound.webhook();
    match webhook.check(&presented).await {
        Ok(true) => {}
        Ok(false) => return refused(),
        Err(error) => return ApiError::from(error).into_response(),
    }
    webhook.received().await;

    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        tracing::warn!(bytes = body.len(), "PSA webhook body is not JSON");
        return ApiError::Invalid("the webhook body must be JSON".to_owned()).into_response();
    };
    let mut ids = ticket_ids(&payload);
    ids.truncate(MAX_IDS_PER_DELIVERY);
    let queued = state.inbound.notify(&ids);
    let event = payload
        .get("event")
        .and_then(|event| event.as_str())
        .unwrap_or_default();
    tracing::debug!(tickets = ids.len(), queued, event, "PSA webhook accepted");
    (
        StatusCode::ACCEPTED,
        Json(json!({ "tickets": ids, "queued": queued })),
    )
        .into_response()
}

/// 401 with the challenge Halo's Basic authentication answers.
fn refused() -> Response {
    let mut response =
        ApiError::Unauthorized("wrong or missing webhook credentials".to_owned()).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Parley PSA webhook\""),
    );
    response
}

/// The credentials a delivery carries, wherever it put them.
fn presented(headers: &HeaderMap, query_secret: Option<String>) -> Presented {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, encoded) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("basic").then_some(encoded)
        })
        .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok())
        .and_then(|pair| {
            let (user, password) = pair.split_once(':')?;
            Some((user.to_owned(), password.to_owned()))
        });
    let secret = headers
        .get(SECRET_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or(query_secret)
        .map(|secret| secret.trim().to_owned())
        .filter(|secret| !secret.is_empty());
    Presented { basic, secret }
}

/// The ticket ids a payload names: one per event, a batch being an array of
/// events (or an object holding one).
pub fn ticket_ids(payload: &Value) -> Vec<i64> {
    let events: Vec<&Value> = match payload {
        Value::Array(events) => events.iter().collect(),
        Value::Object(_) => match ["events", "items", "data"]
            .iter()
            .find_map(|key| field(payload, key).and_then(Value::as_array))
        {
            Some(events) => events.iter().collect(),
            None => vec![payload],
        },
        _ => Vec::new(),
    };

    let mut ids = Vec::new();
    for id in events.into_iter().filter_map(ticket_id) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids
}

/// The ticket id of one event, under the first name that has one: the
/// explicit names first, then the event's object, then a bare `id` (a
/// ticket as the payload itself; Halo's own event id is a GUID, not a
/// number, so it is never taken for one).
fn ticket_id(event: &Value) -> Option<i64> {
    const PATHS: [&[&str]; 9] = [
        &["ticket_id"],
        &["ticketid"],
        &["faultid"],
        &["ticket", "id"],
        &["ticket", "ticket_id"],
        &["action", "ticket_id"],
        &["object", "ticket_id"],
        &["object_id"],
        &["id"],
    ];
    PATHS.iter().find_map(|path| {
        let value = path
            .iter()
            .try_fold(event, |value, key| field(value, key))?;
        as_id(value)
    })
}

/// A field by name, whatever its case.
fn field<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    value
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
}

/// An id as Halo may write it: an integer, a float with `.0`, or digits.
fn as_id(value: &Value) -> Option<i64> {
    let id = match value {
        Value::Number(number) => number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }?;
    (id > 0).then_some(id)
}

/// Only admins see or change the webhook's secret.
fn admin(actor: &Actor) -> ApiResult<&Account> {
    match actor {
        Actor::Technician(account) if account.role == Role::Admin => Ok(account),
        _ => Err(ApiError::Forbidden(
            "only an admin can manage the PSA webhook".to_owned(),
        )),
    }
}

/// `GET /api/v1/connector/webhook`: what to set in Halo; never the secret.
pub async fn info(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Value>> {
    admin(&actor)?;
    let info = state.inbound.webhook().info().await?;
    Ok(Json(json!({ "webhook": info })))
}

/// `POST /api/v1/connector/webhook/reveal`: the secret, once.
pub async fn reveal(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Response> {
    let account = admin(&actor)?;
    let secret = state
        .inbound
        .webhook()
        .reveal(&audit_actor(account).0)
        .await?;
    Ok(secret_answer(&state, secret))
}

/// `POST /api/v1/connector/webhook/rotate`: a new secret, shown now.
pub async fn rotate(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Response> {
    let account = admin(&actor)?;
    let secret = state
        .inbound
        .webhook()
        .rotate(&audit_actor(account).0)
        .await?;
    Ok(secret_answer(&state, secret))
}

/// The one answer that carries the secret: never cached.
fn secret_answer(state: &AppState, secret: String) -> Response {
    let webhook = state.inbound.webhook();
    let mut response = Json(json!({
        "username": WEBHOOK_USERNAME,
        "secret": secret,
        "url": webhook.url(),
        "path": crate::sync::webhook::WEBHOOK_PATH,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_id_is_found_under_the_names_integrations_use() {
        let simulator = json!({
            "id": "0b7c8f3e-5d7a-4c2b-9a57-3f0e1d2c4b6a",
            "event": "Action Added",
            "object_id": 1002,
            "ticket_id": 1002,
            "action_id": 4,
        });
        let nested = json!({"event": "x", "ticket": {"id": "1003"}});
        let action = json!({"action": {"ticket_id": 1004.0, "id": 9}});
        let full_ticket = json!({"id": 1005, "summary": "Printer"});
        let shouting = json!({"Ticket_ID": 1006});
        let object_only = json!({"id": "a-guid", "object_id": 1007});

        assert_eq!(ticket_ids(&simulator), [1002]);
        assert_eq!(ticket_ids(&nested), [1003]);
        assert_eq!(ticket_ids(&action), [1004]);
        assert_eq!(ticket_ids(&full_ticket), [1005]);
        assert_eq!(ticket_ids(&shouting), [1006]);
        assert_eq!(ticket_ids(&object_only), [1007]);
    }

    #[test]
    fn batches_name_each_ticket_once_and_junk_names_none() {
        let batch = json!([{"ticket_id": 1}, {"ticket_id": 2}, {"ticket_id": 1}]);
        let wrapped = json!({"events": [{"ticket_id": 3}, {"object_id": 4}]});

        assert_eq!(ticket_ids(&batch), [1, 2]);
        assert_eq!(ticket_ids(&wrapped), [3, 4]);
        assert!(ticket_ids(&json!({"event": "Ping", "id": "a-guid"})).is_empty());
        assert!(ticket_ids(&json!({"ticket_id": -1})).is_empty());
        assert!(ticket_ids(&json!({"ticket_id": 1.5})).is_empty());
        assert!(ticket_ids(&json!("1001")).is_empty());
    }

    #[test]
    fn credentials_are_read_from_basic_the_header_or_the_query() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode("parley:s3:cret"))).unwrap(),
        );
        let basic = presented(&headers, None);
        let query = presented(&HeaderMap::new(), Some(" q-secret ".to_owned()));
        let mut custom = HeaderMap::new();
        custom.insert(SECRET_HEADER, HeaderValue::from_static("h-secret"));
        let header_wins = presented(&custom, Some("q-secret".to_owned()));

        assert_eq!(
            basic.basic,
            Some(("parley".to_owned(), "s3:cret".to_owned()))
        );
        assert_eq!(query.secret.as_deref(), Some("q-secret"));
        assert_eq!(header_wins.secret.as_deref(), Some("h-secret"));
        assert!(
            presented(&HeaderMap::new(), Some(String::new()))
                .secret
                .is_none()
        );
    }
}
