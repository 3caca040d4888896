//! The connector's JSON API, for admins: everything the Connectors page does,
//! so MSPs can script their set-up. The Client Secret goes in, never out.

use crate::chat::Actor;
use crate::psa::connector::{Actor as AuditActor, NormalizedUrl};
use crate::psa::{ConnectorForm, ConnectorView, TicketDefaults};
use crate::store::{Account, Role};
use crate::web::AppState;
use crate::web::auth::ApiActor;
use crate::web::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use halo::doctor::{Report, SetupLists};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Only admins may see or change the connector.
fn admin(actor: &Actor) -> ApiResult<&Account> {
    match actor {
        Actor::Technician(account) if account.role == Role::Admin => Ok(account),
        _ => Err(ApiError::Forbidden(
            "only an admin can manage the PSA connector".to_owned(),
        )),
    }
}

/// How an account appears in the audit log.
pub fn audit_actor(account: &Account) -> AuditActor {
    AuditActor(format!("{} <{}>", account.name, account.email))
}

pub async fn show(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Value>> {
    admin(&actor)?;
    let connector: Option<ConnectorView> = state.connectors.show().await?;
    Ok(Json(json!({ "connector": connector })))
}

#[derive(Debug, Deserialize)]
pub struct NormalizeRequest {
    site_url: String,
}

pub async fn normalize(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Json(request): Json<NormalizeRequest>,
) -> ApiResult<Json<NormalizedUrl>> {
    admin(&actor)?;
    Ok(Json(state.connectors.normalize(&request.site_url)?))
}

/// A check as the page shows it, and the lists for the defaults.
#[derive(Debug, Serialize)]
pub struct TestResponse {
    ok: bool,
    checks: Vec<halo::doctor::Check>,
    lists: Option<Lists>,
}

#[derive(Debug, Serialize)]
pub struct Lists {
    pub ticket_types: Vec<Choice>,
    pub statuses: Vec<Choice>,
    pub priorities: Vec<Choice>,
    pub outcomes: Vec<Choice>,
}

#[derive(Debug, Serialize)]
pub struct Choice {
    pub id: i64,
    pub name: String,
    /// For outcomes: whether Halo hides notes with it from the end user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden_from_user: Option<bool>,
}

impl Lists {
    pub fn from_setup(lists: &SetupLists) -> Self {
        let plain = |id, name: &str| Choice {
            id,
            name: name.to_owned(),
            hidden_from_user: None,
        };
        Lists {
            ticket_types: lists
                .ticket_types
                .iter()
                .filter(|t| !t.inactive)
                .map(|t| plain(t.id, &t.name))
                .collect(),
            statuses: lists
                .statuses
                .iter()
                .map(|s| plain(s.id, &s.name))
                .collect(),
            // Halo lists each priority once per SLA; a ticket names it by id.
            priorities: lists
                .priorities
                .iter()
                .enumerate()
                .filter(|(index, p)| {
                    !lists.priorities[..*index]
                        .iter()
                        .any(|earlier| earlier.priorityid == p.priorityid)
                })
                .map(|(_, p)| plain(p.priorityid, &p.name))
                .collect(),
            outcomes: lists
                .outcomes
                .iter()
                .map(|o| Choice {
                    id: o.id,
                    name: o.outcome.clone(),
                    hidden_from_user: Some(o.hidefromuser),
                })
                .collect(),
        }
    }
}

pub fn test_response(report: Report) -> TestResponse {
    TestResponse {
        ok: report.ok,
        lists: report.lists.as_ref().map(Lists::from_setup),
        checks: report.checks,
    }
}

pub async fn test(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Json(form): Json<ConnectorForm>,
) -> ApiResult<Json<TestResponse>> {
    let account = admin(&actor)?;
    let report = state.connectors.test(&form, &audit_actor(account)).await?;
    Ok(Json(test_response(report)))
}

#[derive(Debug, Deserialize)]
pub struct SaveRequest {
    #[serde(flatten)]
    form: ConnectorForm,
    #[serde(default)]
    defaults: TicketDefaults,
    /// Set when the admin has agreed to replace a saved connector with one
    /// for another Halo (see [`REPLACE_WARNING`]).
    #[serde(default)]
    confirm_replace: bool,
}

/// What replacing the connector with another Halo means, in the admin's words.
pub const REPLACE_WARNING: &str = "This replaces the connected Halo with another one.      Tickets already linked stay in the old Halo: their chats keep their ticket numbers      but stop syncing with it.";

/// Refuses a save that would point the connector at another Halo unless the
/// admin confirmed it. A URL that does not parse is left to the save, which
/// says what is wrong with it.
pub async fn check_replace(state: &AppState, site_url: &str, confirmed: bool) -> ApiResult<()> {
    if confirmed || !replaces_connector(state, site_url).await? {
        return Ok(());
    }
    Err(ApiError::Conflict(format!(
        "{REPLACE_WARNING} Confirm the replacement to save."
    )))
}

/// Whether saving `site_url` would switch a saved connector to another Halo.
pub async fn replaces_connector(state: &AppState, site_url: &str) -> ApiResult<bool> {
    let Some(saved) = state.connectors.show().await? else {
        return Ok(false);
    };
    Ok(match state.connectors.normalize(site_url) {
        Ok(normalized) => normalized.site_url != saved.site_url,
        Err(_) => false,
    })
}

pub async fn save(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Json(request): Json<SaveRequest>,
) -> ApiResult<Json<Value>> {
    let account = admin(&actor)?;
    check_replace(&state, &request.form.site_url, request.confirm_replace).await?;
    let (connector, report) = state
        .connectors
        .save(&request.form, request.defaults, &audit_actor(account))
        .await?;
    Ok(Json(
        json!({ "connector": connector, "checks": report.checks }),
    ))
}

pub async fn remove(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<StatusCode> {
    let account = admin(&actor)?;
    state.connectors.remove(&audit_actor(account)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    limit: Option<i64>,
}

pub async fn audit(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(query): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    admin(&actor)?;
    let entries = state
        .connectors
        .audit_log(query.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    let entries: Vec<Value> = entries
        .iter()
        .map(|entry| {
            json!({
                "at": crate::chat::view::time(entry.at),
                "actor": entry.actor,
                "action": entry.action,
                "detail": serde_json::from_str::<Value>(&entry.detail).unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries })))
}
