//! The ticket side of the JSON API: asking for a ticket from a chat, joining
//! an open one, each message's sync state, the end user's own tickets, and
//! the technicians' "needs a contact" queue.

use crate::chat::Actor;
use crate::chat::view::SyncView;
use crate::psa::PsaTicket;
use crate::psa::contacts::ContactsError;
use crate::sync::TicketError;
use crate::web::AppState;
use crate::web::auth::ApiActor;
use crate::web::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

impl From<TicketError> for ApiError {
    fn from(error: TicketError) -> Self {
        match error {
            TicketError::NeedsContact(why) | TicketError::Conflict(why) => ApiError::Conflict(why),
            TicketError::NotFound(what) => ApiError::NotFound(what),
            TicketError::Forbidden(why) => ApiError::Forbidden(why.to_owned()),
            TicketError::Unavailable(why) => ApiError::Unavailable(why),
            TicketError::Chat(error) => error.into(),
            TicketError::Store(error) => error.into(),
        }
    }
}

impl From<ContactsError> for ApiError {
    fn from(error: ContactsError) -> Self {
        match error {
            ContactsError::Invalid(why) => ApiError::Invalid(why),
            ContactsError::Psa(error) => ApiError::Unavailable(error.to_string()),
            ContactsError::Store(error) => error.into(),
        }
    }
}

fn technician(actor: &Actor) -> ApiResult<&crate::store::Account> {
    match actor {
        Actor::Technician(account) => Ok(account),
        Actor::EndUser(_) => Err(ApiError::Forbidden(
            "only technicians can do that".to_owned(),
        )),
    }
}

fn end_user(actor: &Actor) -> ApiResult<&crate::store::EndUser> {
    match actor {
        Actor::EndUser(user) => Ok(user),
        Actor::Technician(_) => Err(ApiError::Forbidden(
            "this is the end user's own view; technicians see tickets in Halo".to_owned(),
        )),
    }
}

/// `POST /conversations/{id}/ticket`: make a ticket of the chat.
pub async fn request(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let link = state.tickets.request(&actor, id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "ticket": link }))))
}

#[derive(Debug, Deserialize)]
pub struct JoinRequest {
    ticket_id: i64,
}

/// `POST /conversations/{id}/ticket/join`: continue one of the user's tickets.
pub async fn join(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    Json(request): Json<JoinRequest>,
) -> ApiResult<Json<Value>> {
    let link = state.tickets.join(&actor, id, request.ticket_id).await?;
    Ok(Json(json!({ "ticket": link })))
}

/// `GET /conversations/{id}/ticket`.
pub async fn link(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let link = state.tickets.link(&actor, id).await?;
    Ok(Json(json!({ "ticket": link })))
}

/// `GET /conversations/{id}/sync`: each message's state with the PSA.
pub async fn sync(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let account = technician(&actor)?;
    state.chat.conversation(&actor, id).await?;
    let store = state.chat.store();
    let states = store.message_sync(id).await?;
    let views: Vec<SyncView> = states.iter().map(SyncView::from).collect();
    // The ticket's creation has no message of its own, but it can be parked
    // too (and holds back every message after it): shown here with its job
    // id, so that it can be retried like a message.
    let ticket = store
        .ticket_job(account.workspace_id, id)
        .await?
        .map(|job| {
            let view = SyncView::from(&crate::store::MessageSync {
                message_id: 0,
                job_id: job.id,
                state: job.state,
                result: job.result.clone(),
                last_error: job.last_error.clone(),
            });
            json!({ "job_id": view.job_id, "state": view.state, "error": view.error })
        });
    Ok(Json(json!({ "sync": views, "ticket": ticket })))
}

/// `POST /outbox/{job}/retry`: put a parked PSA write back in the queue.
pub async fn retry(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(job): Path<i64>,
) -> ApiResult<StatusCode> {
    let account = technician(&actor)?;
    state
        .chat
        .store()
        .retry_failed_job(account.workspace_id, job)
        .await?;
    tracing::info!(
        job.id = job,
        account.id = account.id,
        "parked PSA write retried"
    );
    Ok(StatusCode::ACCEPTED)
}

/// `GET /me/contact`: whether the end user is linked to their PSA contact.
pub async fn my_contact(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Value>> {
    let user = end_user(&actor)?;
    let matched = state.tickets.contacts().match_for(user).await?;
    Ok(Json(json!(matched.end_user_view())))
}

fn ticket_json(ticket: &PsaTicket) -> Value {
    json!({
        "id": ticket.id,
        "summary": ticket.summary,
        "status": ticket.status_name,
        "closed": ticket.closed,
        "updated_at": ticket.updated_at,
    })
}

/// `GET /me/tickets`: the end user's tickets, open first; none (and why)
/// without a confirmed contact.
pub async fn my_tickets(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Value>> {
    let user = end_user(&actor)?;
    match state.tickets.mine(user).await {
        Ok(tickets) => Ok(Json(json!({
            "linked": true,
            "tickets": tickets.iter().map(ticket_json).collect::<Vec<_>>(),
        }))),
        Err(TicketError::NeedsContact(why)) => Ok(Json(json!({
            "linked": false,
            "explanation": why,
            "tickets": [],
        }))),
        Err(other) => Err(other.into()),
    }
}

/// `GET /me/tickets/{id}`: one of the user's tickets with its visible notes.
pub async fn my_ticket(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let user = end_user(&actor)?;
    let (ticket, notes) = state.tickets.own_ticket(user, id).await?;
    let notes: Vec<Value> = notes
        .iter()
        .map(|note| {
            json!({
                "id": note.id,
                "author": note.author,
                "text": note.text,
                "text_html": crate::chat::text::render(&note.text),
                "created_at": note.created_at,
            })
        })
        .collect();
    Ok(Json(
        json!({ "ticket": ticket_json(&ticket), "notes": notes }),
    ))
}

/// `POST /me/tickets/{id}/chat`: the chat in which the user answers a ticket
/// (and sends it files); opened if there is none.
pub async fn chat_about_ticket(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let user = end_user(&actor)?;
    let conversation = state.tickets.chat_about(user, id).await?;
    Ok(Json(json!({ "conversation": conversation })))
}

#[derive(Debug, Deserialize)]
pub struct QueueQuery {
    limit: Option<i64>,
}

/// `GET /contacts/queue`: end users waiting for a technician to pick their contact.
pub async fn queue(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(query): Query<QueueQuery>,
) -> ApiResult<Json<Value>> {
    let account = technician(&actor)?;
    let entries = state
        .tickets
        .contacts()
        .queue(
            account.workspace_id,
            query.limit.unwrap_or(100).clamp(1, 500),
        )
        .await?;
    Ok(Json(json!({ "queue": entries })))
}

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: String,
}

/// `GET /contacts/search?q=`: PSA contacts for a technician to pick from.
pub async fn search(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(query): Query<SearchQuery>,
) -> ApiResult<Json<Value>> {
    technician(&actor)?;
    let text = query.q.trim();
    if text.chars().count() < 2 {
        return Err(ApiError::Invalid(
            "type at least two characters to search".to_owned(),
        ));
    }
    let contacts = state.tickets.contacts().search(text).await?;
    Ok(Json(json!({ "contacts": contacts })))
}

#[derive(Debug, Deserialize)]
pub struct ChooseRequest {
    contact_id: Option<i64>,
    /// Pick the client's General User instead of a named contact.
    general_user_of_client: Option<i64>,
}

/// `POST /end-users/{id}/contact`: a technician picks the end user's contact.
pub async fn choose(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    Json(request): Json<ChooseRequest>,
) -> ApiResult<Json<Value>> {
    let account = technician(&actor)?;
    let user = state
        .chat
        .store()
        .end_user(account.workspace_id, id)
        .await?;
    let by = format!("{} <{}>", account.name, account.email);

    let contacts = state.tickets.contacts();
    let chosen = match (request.contact_id, request.general_user_of_client) {
        (Some(contact), None) => contacts.choose_contact(&user, contact, &by).await?,
        (None, Some(client)) => contacts.choose_catch_all(&user, client, &by).await?,
        _ => {
            return Err(ApiError::Invalid(
                "give either contact_id or general_user_of_client".to_owned(),
            ));
        }
    };
    Ok(Json(
        json!({ "contact": chosen.contact(), "linked": chosen.is_matched() }),
    ))
}
