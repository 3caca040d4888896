//! The JSON API under `/api/v1` (see `docs/client-protocol.md`).

use crate::chat::view::{ConversationView, MessageView};
use crate::chat::{Actor, InboxView, Upload};
use crate::web::AppState;
use crate::web::auth::ApiActor;
use crate::web::error::{ApiError, ApiResult};
use axum::Json;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
pub struct WidgetSessionRequest {
    /// Absent is the same as empty: refused as a missing token (401), not as
    /// a malformed body.
    #[serde(default)]
    token: String,
}

/// `POST /api/v1/widget/session`: a portal's widget token for a session.
pub async fn widget_session(
    State(state): State<AppState>,
    Json(request): Json<WidgetSessionRequest>,
) -> ApiResult<Json<Value>> {
    let (end_user, token, expires_at) = state
        .accounts
        .widget_session(&request.token)
        .await
        .map_err(|error| match error {
            crate::accounts::AccountError::WidgetToken(_) => {
                ApiError::Unauthorized(error.to_string())
            }
            other => ApiError::Internal(other.to_string()),
        })?;

    Ok(Json(json!({
        "access_token": token.expose(),
        "expires_at": crate::chat::view::time(expires_at),
        "end_user": { "id": end_user.id, "email": end_user.email, "name": end_user.name },
        "help_desk": {
            "name": state.accounts.workspace().name,
            "online": state.chat.hub().help_desk_online(),
        },
    })))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    view: Option<InboxView>,
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct ConversationList {
    conversations: Vec<ConversationView>,
}

pub async fn list_conversations(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<ConversationList>> {
    let view = query.view.unwrap_or(InboxView::All);
    let conversations = state
        .chat
        .list(&actor, view, query.limit.unwrap_or(100))
        .await?;
    Ok(Json(ConversationList { conversations }))
}

/// When the admin chose that every chat becomes a ticket, asks for one in
/// the background: the end user's contact may still be being looked up, and
/// the chat must not wait on the PSA for it.
async fn auto_ticket(state: &AppState, actor: &Actor, conversation_id: i64) {
    let Actor::EndUser(end_user) = actor else {
        return;
    };
    let wanted = matches!(
        state.connectors.show().await,
        Ok(Some(connector)) if connector.defaults.every_chat_becomes_ticket
    );
    if !wanted {
        return;
    }

    let (tickets, actor, end_user) = (state.tickets.clone(), actor.clone(), end_user.clone());
    tokio::spawn(async move {
        // The first chat of a new end user starts their contact lookup.
        let _ = tickets.contacts().match_for(&end_user).await;
        tickets
            .contacts()
            .settled(&end_user, std::time::Duration::from_secs(30))
            .await;
        match tickets.request(&actor, conversation_id).await {
            Ok(_) => tracing::info!(
                conversation.id = conversation_id,
                "ticket asked for automatically"
            ),
            Err(error) => tracing::info!(
                conversation.id = conversation_id,
                reason = %error,
                "no automatic ticket; a technician can make one"
            ),
        }
    });
}

#[derive(Debug, Deserialize)]
pub struct StartRequest {
    subject: Option<String>,
    body: String,
}

pub async fn start_conversation(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Json(request): Json<StartRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (conversation, message) = state
        .chat
        .start(&actor, request.subject.as_deref(), &request.body)
        .await?;
    auto_ticket(&state, &actor, conversation.id).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "conversation": conversation, "message": message })),
    ))
}

pub async fn get_conversation(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> ApiResult<Json<ConversationView>> {
    Ok(Json(state.chat.conversation(&actor, id).await?))
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

pub async fn history(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    Query(query): Query<HistoryQuery>,
) -> ApiResult<Json<Value>> {
    let (messages, has_more) = state
        .chat
        .history(&actor, id, query.before, query.limit.unwrap_or(50))
        .await?;
    Ok(Json(json!({ "messages": messages, "has_more": has_more })))
}

#[derive(Debug, Deserialize)]
pub struct PostRequest {
    body: String,
    #[serde(default)]
    internal: bool,
}

pub async fn post_message(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    Json(request): Json<PostRequest>,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    let message = state
        .chat
        .post(&actor, id, &request.body, request.internal)
        .await?;
    Ok((StatusCode::CREATED, Json(message)))
}

/// `POST .../attachments`: one multipart field `file`.
pub async fn upload(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, Json<MessageView>)> {
    let limit = state.chat.limits().max_attachment_bytes;
    let mut upload = None;

    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(multipart_error(limit))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let file_name = field.file_name().unwrap_or("file").to_owned();
        let content_type = field
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_owned();
        let data = field.bytes().await.map_err(multipart_error(limit))?;
        upload = Some(Upload {
            file_name,
            content_type,
            data: data.to_vec(),
        });
    }
    let Some(upload) = upload else {
        return Err(ApiError::Invalid(
            "no file was sent: use a multipart field named `file`".to_owned(),
        ));
    };

    let message = state.chat.attach(&actor, id, upload).await?;
    Ok((StatusCode::CREATED, Json(message)))
}

fn multipart_error(limit: usize) -> impl Fn(axum::extract::multipart::MultipartError) -> ApiError {
    move |error| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!("the file is over the limit of {limit} bytes"))
        } else {
            ApiError::Invalid(format!(
                "the upload could not be read: {}",
                error.body_text()
            ))
        }
    }
}

/// `GET /api/v1/attachments/{id}`: the bytes, for the conversation's people.
pub async fn download(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let attachment = state.chat.attachment(&actor, id).await?;

    let disposition = format!(
        "attachment; filename=\"{}\"",
        attachment.info.file_name.replace(['"', '\\'], "_")
    );
    let mut response = attachment.data.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&attachment.info.content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    // A file is data to save, never a page to run in Parley's origin.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(response)
}

pub async fn claim(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
) -> ApiResult<Json<ConversationView>> {
    Ok(Json(state.chat.claim(&actor, id).await?))
}

#[derive(Debug, Deserialize)]
pub struct TransferRequest {
    technician_id: i64,
}

pub async fn transfer(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    Json(request): Json<TransferRequest>,
) -> ApiResult<Json<ConversationView>> {
    Ok(Json(
        state
            .chat
            .transfer(&actor, id, request.technician_id)
            .await?,
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct CloseRequest {
    /// Also give the linked ticket the connector's "closed" status.
    #[serde(default)]
    close_ticket: bool,
}

pub async fn close(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<i64>,
    request: Option<Json<CloseRequest>>,
) -> ApiResult<Json<ConversationView>> {
    let request = request.map(|Json(request)| request).unwrap_or_default();
    let status = if request.close_ticket {
        Some(closed_status(&state).await?)
    } else {
        None
    };
    Ok(Json(
        state.chat.close_with_ticket(&actor, id, status).await?,
    ))
}

/// The status that means "closed" in the connector's ticket defaults.
pub async fn closed_status(state: &AppState) -> ApiResult<i64> {
    let connector = state
        .connectors
        .show()
        .await?
        .ok_or_else(|| ApiError::Invalid("no PSA is connected".to_owned()))?;
    connector.defaults.closed_status_id.ok_or_else(|| {
        ApiError::Invalid(
            "choose the status that means closed on the Connectors page first".to_owned(),
        )
    })
}

pub async fn technicians(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Value>> {
    let Actor::Technician(_) = &actor else {
        return Err(ApiError::Forbidden(
            "only technicians can list technicians".to_owned(),
        ));
    };
    let accounts = state.chat.store().accounts(actor.workspace_id()).await?;
    let technicians: Vec<Value> = accounts
        .iter()
        .map(|account| json!({ "id": account.id, "name": account.name, "role": account.role }))
        .collect();
    Ok(Json(json!({ "technicians": technicians })))
}

/// Anything under `/api/v1` that no route matches.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("API endpoint")
}
