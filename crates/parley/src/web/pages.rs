//! Server-rendered pages: sign-in, the first-run wizard, the technician
//! console, the account page, the widget's frame and the demo portal.
//!
//! Every page works with plain forms; `console.js` adds live updates on top.
//! Every form that changes something carries the session's CSRF token.

use crate::accounts::AccountError;
use crate::chat::view::{ConversationView, MessageView};
use crate::chat::{Actor, InboxView};
use crate::identity::{WidgetClaims, WidgetSecret, sign_widget_token};
use crate::store::{ConversationStatus, Role};
use crate::web::AppState;
use crate::web::auth::{SignedInAccount, clear_session_cookie, session_cookie};
use crate::web::error::ApiError;
use askama::Template;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::SocketAddr;

/// What every page's frame needs.
#[derive(Debug, Default)]
pub(super) struct Frame {
    pub(super) csrf: String,
    pub(super) me: i64,
    pub(super) last_message_id: i64,
    pub(super) notice: String,
    pub(super) error: String,
    /// Whether the nav shows the admin's pages (Connectors, Audit).
    pub(super) is_admin: bool,
}

impl Frame {
    pub(super) fn signed_in(account: &SignedInAccount) -> Self {
        Self {
            csrf: account.csrf_token(),
            me: account.account.id,
            is_admin: account.account.role == Role::Admin,
            ..Self::default()
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    me: i64,
    last_message_id: i64,
    notice: String,
    error: String,
    is_admin: bool,
    email: String,
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    csrf: String,
    me: i64,
    last_message_id: i64,
    notice: String,
    error: String,
    is_admin: bool,
    name: String,
    email: String,
}

struct InboxRow {
    id: i64,
    status_word: String,
    status_label: String,
    end_user_name: String,
    subject: String,
    updated_at: String,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    csrf: String,
    me: i64,
    last_message_id: i64,
    notice: String,
    error: String,
    is_admin: bool,
    heading: &'static str,
    view: &'static str,
    conversations: Vec<InboxRow>,
}

struct MessageRow {
    id: i64,
    kind: String,
    author_kind: String,
    author: String,
    created_at: String,
    body_html: String,
    /// (download URL, file name, size)
    attachment: Option<(String, String, i64)>,
}

#[derive(Template)]
#[template(path = "conversation.html")]
struct ConversationPage {
    csrf: String,
    me: i64,
    last_message_id: i64,
    notice: String,
    error: String,
    is_admin: bool,
    id: i64,
    subject: String,
    status_word: String,
    status_label: String,
    end_user_name: String,
    end_user_email: String,
    technicians: Vec<(i64, String)>,
    messages: Vec<MessageRow>,
    has_more: bool,
    first_id: i64,
    /// The chat's ticket in the PSA, if one was made or joined.
    ticket: TicketPanel,
    /// Whether a PSA is connected, so that "Create ticket" can work at all.
    psa_connected: bool,
}

/// The side panel's ticket, ready for the template (which `console-tickets.js`
/// keeps up to date).
#[derive(Default)]
struct TicketPanel {
    linked: bool,
    /// Halo has not answered yet, so there is no number.
    pending: bool,
    /// The ticket id, 0 while pending.
    number: i64,
    summary: String,
    status: String,
}

impl From<Option<crate::sync::TicketLinkView>> for TicketPanel {
    fn from(view: Option<crate::sync::TicketLinkView>) -> Self {
        let Some(view) = view else {
            return Self::default();
        };
        Self {
            linked: true,
            pending: view.pending,
            number: view.ticket_id.unwrap_or_default(),
            summary: view.summary.unwrap_or_default(),
            status: view.status.unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    csrf: String,
    me: i64,
    last_message_id: i64,
    notice: String,
    error: String,
    is_admin: bool,
    widget_secret: String,
}

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalPage {
    users: Vec<(String, String)>,
    selected: usize,
    selected_name: String,
    token: String,
}

/// A page that failed: the safe message in a page, the detail in the log.
pub struct PageError(pub(super) ApiError);

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        PageError(error)
    }
}

impl From<crate::chat::ChatError> for PageError {
    fn from(error: crate::chat::ChatError) -> Self {
        PageError(error.into())
    }
}

impl From<askama::Error> for PageError {
    fn from(error: askama::Error) -> Self {
        PageError(ApiError::Internal(format!("template: {error}")))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        if let ApiError::Internal(detail) = &self.0 {
            tracing::error!(error = %detail, "page failed");
        }
        let message = html_escape(&self.0.public_message());
        let body = format!(
            "<!doctype html><meta charset=utf-8><link rel=stylesheet href=/assets/console.css>\
             <main class=narrow><h1>Sorry</h1><p class=error>{message}</p>\
             <p><a href=/console>Back to the console</a></p></main>"
        );
        (status, Html(body)).into_response()
    }
}

pub type PageResult = Result<Response, PageError>;

pub(super) fn render(page: impl Template) -> PageResult {
    Ok(Html(page.render()?).into_response())
}

pub(super) fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn status_label(view: &ConversationView) -> String {
    match (view.status, &view.technician) {
        (ConversationStatus::Waiting, _) => "Waiting".to_owned(),
        (ConversationStatus::Active, Some(technician)) => format!("Active ({})", technician.name),
        (ConversationStatus::Active, None) => "Active".to_owned(),
        (ConversationStatus::Closed, _) => "Closed".to_owned(),
    }
}

/// `/`: the wizard until an admin exists, then the console.
pub async fn home(State(state): State<AppState>) -> PageResult {
    if needs_setup(&state).await? {
        return Ok(Redirect::to("/setup").into_response());
    }
    Ok(Redirect::to("/console").into_response())
}

pub(super) async fn needs_setup(state: &AppState) -> Result<bool, PageError> {
    state
        .accounts
        .needs_first_admin()
        .await
        .map_err(|error| PageError(ApiError::Internal(error.to_string())))
}

pub async fn login_form(State(state): State<AppState>) -> PageResult {
    if needs_setup(&state).await? {
        return Ok(Redirect::to("/setup").into_response());
    }
    render(LoginPage {
        csrf: String::new(),
        me: 0,
        is_admin: false,
        last_message_id: 0,
        notice: String::new(),
        error: String::new(),
        email: String::new(),
    })
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<LoginForm>,
) -> PageResult {
    match state
        .accounts
        .sign_in(&form.email, &form.password, peer.ip())
        .await
    {
        Ok((_, token)) => Ok(signed_in_redirect(&state, token.expose(), "/console")),
        Err(error @ (AccountError::BadCredentials | AccountError::RateLimited(_))) => {
            let status = match error {
                AccountError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            let page = LoginPage {
                csrf: String::new(),
                me: 0,
                is_admin: false,
                last_message_id: 0,
                notice: String::new(),
                error: capitalise(&error.to_string()),
                email: form.email,
            };
            Ok((status, Html(page.render()?)).into_response())
        }
        Err(other) => Err(PageError(ApiError::Internal(other.to_string()))),
    }
}

fn signed_in_redirect(state: &AppState, token: &str, to: &str) -> Response {
    let max_age = u64::from(state.config.session_hours) * 3600;
    let cookie = session_cookie(token, state.config.served_over_https(), max_age);
    let mut response = Redirect::to(to).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

pub(super) fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    if let Some(account) = account {
        account.check_csrf(&form.csrf)?;
        state
            .accounts
            .sign_out(&account.session)
            .await
            .map_err(|error| PageError(ApiError::Internal(error.to_string())))?;
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(value) =
        HeaderValue::from_str(&clear_session_cookie(state.config.served_over_https()))
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

pub async fn setup_form(State(state): State<AppState>) -> PageResult {
    if !needs_setup(&state).await? {
        return Ok(Redirect::to("/login").into_response());
    }
    render(SetupPage {
        csrf: String::new(),
        me: 0,
        is_admin: false,
        last_message_id: 0,
        notice: String::new(),
        error: String::new(),
        name: String::new(),
        email: String::new(),
    })
}

#[derive(Debug, Deserialize)]
pub struct SetupForm {
    name: String,
    email: String,
    password: String,
}

/// The wizard's account step. Once an admin exists it is gone for good: the
/// check and the creation happen in the account service, not the page.
pub async fn setup(State(state): State<AppState>, Form(form): Form<SetupForm>) -> PageResult {
    let created = state
        .accounts
        .create_first_admin(&form.email, &form.name, &form.password)
        .await;
    match created {
        Ok(account) => {
            let (_, token) = state
                .accounts
                .sign_in(&account.email, &form.password, [127, 0, 0, 1].into())
                .await
                .map_err(|error| PageError(ApiError::Internal(error.to_string())))?;
            // The wizard's next step: connecting the PSA (which can be skipped).
            Ok(signed_in_redirect(&state, token.expose(), "/setup/psa"))
        }
        Err(AccountError::Conflict(_)) => Ok(Redirect::to("/login").into_response()),
        Err(AccountError::Invalid(why)) => {
            let page = SetupPage {
                csrf: String::new(),
                me: 0,
                is_admin: false,
                last_message_id: 0,
                notice: String::new(),
                error: capitalise(&why),
                name: form.name,
                email: form.email,
            };
            Ok((StatusCode::BAD_REQUEST, Html(page.render()?)).into_response())
        }
        Err(other) => Err(PageError(ApiError::Internal(other.to_string()))),
    }
}

#[derive(Debug, Deserialize)]
pub struct InboxQuery {
    view: Option<InboxView>,
}

pub async fn inbox(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
    Query(query): Query<InboxQuery>,
) -> PageResult {
    let Some(account) = account else {
        return Ok(Redirect::to("/login").into_response());
    };
    let view = query.view.unwrap_or(InboxView::Waiting);
    let actor = Actor::Technician(account.account.clone());

    let conversations = state.chat.list(&actor, view, 200).await?;
    let (heading, view_word) = match view {
        InboxView::Waiting => ("Waiting for a technician", "waiting"),
        InboxView::Mine => ("My chats", "mine"),
        InboxView::All => ("All open chats", "all"),
        InboxView::Closed => ("Closed chats", "closed"),
    };
    let last_message_id = conversations
        .iter()
        .filter_map(|c| c.last_message_id)
        .max()
        .unwrap_or_default();
    let rows = conversations
        .iter()
        .map(|c| InboxRow {
            id: c.id,
            status_word: c.status.to_string(),
            status_label: status_label(c),
            end_user_name: c.end_user.name.clone(),
            subject: c.subject.clone(),
            updated_at: c.updated_at.clone(),
        })
        .collect();

    let frame = Frame {
        last_message_id: latest_message_id(&state, &actor).await.max(last_message_id),
        ..Frame::signed_in(&account)
    };
    render(InboxPage {
        csrf: frame.csrf,
        me: frame.me,
        is_admin: frame.is_admin,
        last_message_id: frame.last_message_id,
        notice: frame.notice,
        error: frame.error,
        heading,
        view: view_word,
        conversations: rows,
    })
}

/// The newest message id the technician could see, so the console's socket
/// resumes from now rather than replaying the workspace's whole history.
async fn latest_message_id(state: &AppState, actor: &Actor) -> i64 {
    state
        .chat
        .newest_message_id(actor.workspace_id())
        .await
        .unwrap_or_default()
}

#[derive(Debug, Deserialize)]
pub struct ConversationQuery {
    before: Option<i64>,
}

pub async fn conversation(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
    Path(id): Path<i64>,
    Query(query): Query<ConversationQuery>,
) -> PageResult {
    let Some(account) = account else {
        return Ok(Redirect::to("/login").into_response());
    };
    let actor = Actor::Technician(account.account.clone());

    let view = state.chat.conversation(&actor, id).await?;
    let (messages, has_more) = state.chat.history(&actor, id, query.before, 100).await?;
    let technicians = state
        .chat
        .store()
        .accounts(actor.workspace_id())
        .await
        .map_err(ApiError::from)?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();

    // A store read: the panel shows what Parley knows without asking the PSA.
    let ticket = state
        .tickets
        .link(&actor, id)
        .await
        .map_err(ApiError::from)?;
    let psa_connected = state
        .connectors
        .show()
        .await
        .is_ok_and(|connector| connector.is_some());

    let frame = Frame {
        last_message_id: messages.last().map_or(0, |m| m.id),
        ..Frame::signed_in(&account)
    };
    render(ConversationPage {
        csrf: frame.csrf,
        me: frame.me,
        is_admin: frame.is_admin,
        last_message_id: frame.last_message_id,
        notice: frame.notice,
        error: frame.error,
        id,
        subject: view.subject.clone(),
        status_word: view.status.to_string(),
        status_label: status_label(&view),
        end_user_name: view.end_user.name.clone(),
        end_user_email: view.end_user.email.clone(),
        technicians,
        first_id: messages.first().map_or(0, |m| m.id),
        messages: messages.iter().map(message_row).collect(),
        has_more,
        ticket: ticket.into(),
        psa_connected,
    })
}

fn message_row(message: &MessageView) -> MessageRow {
    MessageRow {
        id: message.id,
        kind: message.kind.to_string(),
        author_kind: message.author.kind.to_string(),
        author: message.author.name.clone(),
        created_at: message.created_at.clone(),
        body_html: message.body_html.clone(),
        attachment: message
            .attachment
            .as_ref()
            .map(|a| (a.url.clone(), a.file_name.clone(), a.size)),
    }
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
    technician_id: Option<i64>,
    /// The close form's "close the ticket too".
    #[serde(default)]
    close_ticket: String,
}

/// The console's plain-form actions: reply, note, claim, transfer, close,
/// and making a ticket of the chat.
pub async fn conversation_action(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<ActionForm>,
) -> PageResult {
    let Some(account) = account else {
        return Ok(Redirect::to("/login").into_response());
    };
    account.check_csrf(&form.csrf)?;
    let actor = Actor::Technician(account.account.clone());

    match action.as_str() {
        "reply" => drop(state.chat.post(&actor, id, &form.body, false).await?),
        "note" => drop(state.chat.post(&actor, id, &form.body, true).await?),
        "claim" => drop(state.chat.claim(&actor, id).await?),
        "close" => {
            let status = if form.close_ticket.is_empty() {
                None
            } else {
                Some(crate::web::api::closed_status(&state).await?)
            };
            drop(state.chat.close_with_ticket(&actor, id, status).await?)
        }
        "ticket" => drop(
            state
                .tickets
                .request(&actor, id)
                .await
                .map_err(ApiError::from)?,
        ),
        "transfer" => {
            let Some(to) = form.technician_id else {
                return Err(ApiError::Invalid("choose a technician".to_owned()).into());
            };
            drop(state.chat.transfer(&actor, id, to).await?);
        }
        _ => return Err(ApiError::NotFound("page").into()),
    }
    Ok(Redirect::to(&format!("/console/conversations/{id}")).into_response())
}

pub async fn account_page(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
) -> PageResult {
    let Some(account) = account else {
        return Ok(Redirect::to("/login").into_response());
    };
    account_view(&state, &account, String::new(), String::new())
}

fn account_view(
    state: &AppState,
    account: &SignedInAccount,
    notice: String,
    error: String,
) -> PageResult {
    let is_admin = account.account.role == Role::Admin;
    let frame = Frame::signed_in(account);
    render(AccountPage {
        csrf: frame.csrf,
        me: frame.me,
        last_message_id: 0,
        notice,
        error,
        is_admin,
        widget_secret: if is_admin {
            state.accounts.workspace().widget_secret
        } else {
            String::new()
        },
    })
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    csrf: String,
    current: String,
    new: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
    Form(form): Form<PasswordForm>,
) -> PageResult {
    let Some(account) = account else {
        return Ok(Redirect::to("/login").into_response());
    };
    account.check_csrf(&form.csrf)?;

    let result = state
        .accounts
        .change_password(&account.account, &account.session, &form.current, &form.new)
        .await;
    match result {
        Ok(()) => account_view(
            &state,
            &account,
            "Your password is changed; your other sessions are signed out.".to_owned(),
            String::new(),
        ),
        Err(AccountError::Invalid(why)) => {
            account_view(&state, &account, String::new(), capitalise(&why))
        }
        Err(other) => Err(PageError(ApiError::Internal(other.to_string()))),
    }
}

pub async fn rotate_widget_secret(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
    Form(form): Form<CsrfForm>,
) -> PageResult {
    let Some(account) = account else {
        return Ok(Redirect::to("/login").into_response());
    };
    account.check_csrf(&form.csrf)?;
    if account.account.role != Role::Admin {
        return Err(
            ApiError::Forbidden("only an admin can rotate the widget secret".into()).into(),
        );
    }

    state
        .accounts
        .rotate_widget_secret()
        .await
        .map_err(|error| PageError(ApiError::Internal(error.to_string())))?;
    account_view(
        &state,
        &account,
        "A new widget secret is in force; give it to your portal.".to_owned(),
        String::new(),
    )
}

#[derive(Debug, Deserialize)]
pub struct PortalQuery {
    user: Option<usize>,
}

/// The demo portal: signs a widget token for a seeded end user, as an MSP's
/// client portal would after its own sign-in. Only mounted by `parley demo`.
pub async fn demo_portal(
    State(state): State<AppState>,
    Query(query): Query<PortalQuery>,
) -> PageResult {
    let users = state.demo_end_users.as_ref().clone();
    let selected = query.user.unwrap_or(0).min(users.len().saturating_sub(1));

    let (token, selected_name) = match (query.user, users.get(selected)) {
        (Some(_), Some((name, email))) => {
            let secret = WidgetSecret::parse(&state.accounts.workspace().widget_secret)
                .map_err(|why| ApiError::Internal(format!("widget secret: {why}")))?;
            let now = chrono::Utc::now();
            let claims = WidgetClaims::new(email, name, now, now + chrono::Duration::minutes(10));
            (sign_widget_token(&claims, secret.as_bytes()), name.clone())
        }
        _ => (String::new(), String::new()),
    };
    render(PortalPage {
        users,
        selected,
        selected_name,
        token,
    })
}
