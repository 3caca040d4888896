//! The control API under `/_sim`, for tests, benchmarks and demos. It is not
//! part of Halo: no token is needed, and its requests are neither counted,
//! faulted, rate-limited nor logged.
//!
//! | call | does |
//! | --- | --- |
//! | `GET /_sim/counters` | `{"total": N, "endpoints": {"GET tickets": 3, ...}}` |
//! | `GET /_sim/requests` | the request log (method, path, query, status, time) |
//! | `POST /_sim/reset` | seeded data back; counters, log, faults, rate-limit window cleared |
//! | `GET`, `PUT`, `POST /_sim/faults` | `{"latency_ms", "error_rate", "fail_next": {"count", "status"}, "drop_next"}` |
//! | `GET`, `PUT /_sim/rate-limit` | `{"requests", "window_secs"}` or `null` for none |
//! | `GET`, `PUT /_sim/webhook` | `{"url", "username", "password"}` or `null`; GET adds delivery counts |
//! | `POST /_sim/apps` | `{"client_id", "client_secret", "scopes": "read:tickets ..."}` |
//! | `POST /_sim/tokens/expire` | every issued token expires now |
//! | `POST /_sim/tickets/{id}/actions` | a Halo-side action: see [`HaloAction`] |

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{App, Faults, RateLimit, WebhookTarget};
use crate::halo_side::{self, HaloAction, SimError};
use crate::state::{Sim, lock};

/// Where the control API lives.
pub const CONTROL_PREFIX: &str = "/_sim";

/// The `/_sim` routes.
pub fn routes() -> Router<Sim> {
    Router::new()
        .route("/counters", get(counters))
        .route("/requests", get(requests))
        .route("/reset", post(reset))
        .route("/faults", get(faults).put(set_faults).post(set_faults))
        .route("/rate-limit", get(rate_limit).put(set_rate_limit))
        .route("/webhook", get(webhook).put(set_webhook))
        .route("/apps", post(add_app))
        .route("/tokens/expire", post(expire_tokens))
        .route("/tickets/{id}/actions", post(add_action))
}

/// A refused control call: 400 or 404 with `{"error": ...}`.
#[derive(Debug)]
struct ControlError(StatusCode, String);

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

impl From<SimError> for ControlError {
    fn from(error: SimError) -> Self {
        let status = match error {
            SimError::UnknownTicket(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        ControlError(status, error.to_string())
    }
}

async fn counters(State(sim): State<Sim>) -> Json<Value> {
    let traffic = lock(&sim.traffic);
    Json(json!({"total": traffic.total(), "endpoints": traffic.counters()}))
}

async fn requests(State(sim): State<Sim>) -> Json<Value> {
    Json(json!(lock(&sim.traffic).entries()))
}

async fn reset(State(sim): State<Sim>) -> StatusCode {
    sim.reset();
    StatusCode::NO_CONTENT
}

/// Faults as the control API reads and writes them.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct FaultsBody {
    latency_ms: u64,
    error_rate: f64,
    fail_next: Option<FailNext>,
    drop_next: u32,
}

#[derive(Debug, Serialize, Deserialize)]
struct FailNext {
    count: u32,
    status: u16,
}

async fn faults(State(sim): State<Sim>) -> Json<FaultsBody> {
    let faults = lock(&sim.faults).current();
    Json(FaultsBody {
        latency_ms: u64::try_from(faults.latency.as_millis()).unwrap_or(u64::MAX),
        error_rate: faults.error_rate,
        fail_next: faults
            .fail_next
            .map(|(count, status)| FailNext { count, status }),
        drop_next: faults.drop_next,
    })
}

async fn set_faults(
    State(sim): State<Sim>,
    Json(body): Json<FaultsBody>,
) -> Result<StatusCode, ControlError> {
    if !(0.0..=1.0).contains(&body.error_rate) {
        return Err(ControlError(
            StatusCode::BAD_REQUEST,
            "error_rate must be between 0.0 and 1.0".to_owned(),
        ));
    }

    lock(&sim.faults).set(Faults {
        latency: Duration::from_millis(body.latency_ms),
        error_rate: body.error_rate,
        fail_next: body.fail_next.map(|fail| (fail.count, fail.status)),
        drop_next: body.drop_next,
    });
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize)]
struct RateLimitBody {
    requests: u32,
    window_secs: u64,
}

async fn rate_limit(State(sim): State<Sim>) -> Json<Option<RateLimitBody>> {
    Json(lock(&sim.limiter).limit().map(|limit| RateLimitBody {
        requests: limit.requests,
        window_secs: limit.window.as_secs(),
    }))
}

async fn set_rate_limit(
    State(sim): State<Sim>,
    Json(body): Json<Option<RateLimitBody>>,
) -> Result<StatusCode, ControlError> {
    let limit = match body {
        Some(body) if body.requests == 0 || body.window_secs == 0 => {
            return Err(ControlError(
                StatusCode::BAD_REQUEST,
                "requests and window_secs must be above zero".to_owned(),
            ));
        }
        Some(body) => Some(RateLimit {
            requests: body.requests,
            window: Duration::from_secs(body.window_secs),
        }),
        None => None,
    };

    lock(&sim.limiter).set(limit);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct WebhookBody {
    url: String,
    username: Option<String>,
    password: Option<String>,
}

async fn webhook(State(sim): State<Sim>) -> Json<Value> {
    let stats = sim.webhooks.stats();
    let target = sim.webhooks.target();
    Json(json!({
        "url": target.as_ref().map(|target| target.url.clone()),
        "basic_auth": target.is_some_and(|target| target.basic_auth.is_some()),
        "delivered": stats.delivered,
        "failed": stats.failed,
    }))
}

async fn set_webhook(State(sim): State<Sim>, Json(body): Json<Option<WebhookBody>>) -> StatusCode {
    let target = body.map(|body| WebhookTarget {
        url: body.url,
        basic_auth: body
            .username
            .map(|username| (username, body.password.unwrap_or_default())),
    });

    sim.webhooks.set_target(target);
    StatusCode::NO_CONTENT
}

#[derive(Debug, Deserialize)]
struct AppBody {
    client_id: String,
    client_secret: String,
    scopes: String,
}

async fn add_app(
    State(sim): State<Sim>,
    Json(body): Json<AppBody>,
) -> Result<StatusCode, ControlError> {
    let app = App::new(&body.client_id, &body.client_secret, &body.scopes)
        .map_err(|error| ControlError(StatusCode::BAD_REQUEST, error.to_string()))?;

    lock(&sim.auth).add_app(app);
    Ok(StatusCode::NO_CONTENT)
}

async fn expire_tokens(State(sim): State<Sim>) -> StatusCode {
    lock(&sim.auth).expire_all();
    StatusCode::NO_CONTENT
}

async fn add_action(
    State(sim): State<Sim>,
    Path(ticket_id): Path<i64>,
    Json(action): Json<HaloAction>,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    let written = halo_side::add_action(&sim, ticket_id, &action)?;
    Ok((StatusCode::CREATED, Json(written)))
}
