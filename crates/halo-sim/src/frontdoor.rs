//! What happens to every Halo request before a handler sees it, in order:
//! its path is folded to lower case (Halo's paths are case-insensitive), it is
//! counted, an injected fault may drop or fail it, latency is added, and the
//! rate limit may refuse it. When it is answered, it is logged.
//!
//! Requests to the `/_sim` control API pass straight through: they are not
//! Halo requests, so they are neither counted, faulted, limited nor logged.

use std::time::Instant;

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::json;

use crate::config::RateLimit;
use crate::control::CONTROL_PREFIX;
use crate::faults::Verdict;
use crate::quirks::path;
use crate::rate_limit;
use crate::server::Connection;
use crate::state::{Sim, lock};
use crate::traffic::{LoggedRequest, endpoint_key, redact_query};

/// The front door middleware.
pub async fn admit(State(sim): State<Sim>, mut request: Request, next: Next) -> Response {
    if request.uri().path().starts_with(CONTROL_PREFIX) {
        return next.run(request).await;
    }

    let started = Instant::now();
    let arrived = Utc::now();
    let method = request.method().to_string();
    let sent_path = request.uri().path().to_owned();
    let query = request.uri().query().map(redact_query);
    *request.uri_mut() = path::fold(request.uri());
    let endpoint = endpoint_key(&method, &path::endpoint(request.uri().path()));
    lock(&sim.traffic).count(&endpoint);

    let (verdict, latency) = lock(&sim.faults).draw();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let response = match verdict {
        Verdict::Drop => cut(&request),
        Verdict::Fail(status) => Some(injected_failure(status)),
        Verdict::Serve => {
            let admitted = lock(&sim.limiter).admit(Instant::now());
            match admitted {
                Ok(()) => Some(next.run(request).await),
                Err(limit) => {
                    tracing::debug!(%endpoint, "rate limit reached");
                    let body = json!({"error": rate_limit::message(limit)});
                    Some((StatusCode::TOO_MANY_REQUESTS, Json(body)).into_response())
                }
            }
        }
    };

    lock(&sim.traffic).log(LoggedRequest {
        method,
        path: sent_path,
        query,
        endpoint,
        status: response.as_ref().map(|response| response.status().as_u16()),
        at: arrived.to_rfc3339(),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    });
    response.unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Cuts the request's connection so that no response reaches the client.
/// Returns `None` when cut, and an error response when the request did not
/// come through the simulator's own listener and so cannot be cut.
fn cut(request: &Request) -> Option<Response> {
    match request.extensions().get::<ConnectInfo<Connection>>() {
        Some(ConnectInfo(connection)) => {
            tracing::debug!(remote = %connection.remote, "dropping connection (injected)");
            connection.cut();
            None
        }
        None => {
            tracing::warn!("cannot drop a connection not accepted by the simulator's listener");
            Some(injected_failure(502))
        }
    }
}

/// The answer of a forced failure: an empty 401/403 as Halo sends them, the
/// rate-limit body for 429, and a .NET-style exception body otherwise.
fn injected_failure(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);

    match status {
        StatusCode::UNAUTHORIZED => (
            status,
            [(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))],
        )
            .into_response(),
        StatusCode::FORBIDDEN => status.into_response(),
        StatusCode::TOO_MANY_REQUESTS => {
            let body = json!({
                "error": rate_limit::message(RateLimit::halo_cloud())
            });
            (status, Json(body)).into_response()
        }
        _ => {
            let body = json!({
                "ClassName": "System.Exception",
                "Message": format!("An error has occurred (injected fault, HTTP {}).", status.as_u16()),
            });
            (status, Json(body)).into_response()
        }
    }
}
