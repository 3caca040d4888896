//! The admin's webhook page: the URL and what to set in Halo, and the two
//! explicit actions that show the webhook's password (its secret): showing
//! it once, and replacing it (which shows the new one). The password is in
//! the answer to those posts only, never in a page reached by a link.

use crate::psa::ConnectorError;
use crate::store::Role;
use crate::sync::webhook::{WEBHOOK_PATH, WebhookInfo};
use crate::web::AppState;
use crate::web::auth::SignedInAccount;
use crate::web::connector_api::audit_actor;
use crate::web::error::ApiError;
use crate::web::pages::{Frame, PageError, PageResult, render};
use askama::Template;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "connector_webhook.html")]
struct WebhookPage {
    csrf: String,
    me: i64,
    is_admin: bool,
    last_message_id: i64,
    notice: String,
    error: String,
    connected: bool,
    url: String,
    /// Whether `url` is Parley's configured public address (not guessed
    /// from the request).
    url_known: bool,
    username: &'static str,
    secret_set: bool,
    revealed: bool,
    created_at: String,
    last_received_at: String,
    events: Vec<&'static str>,
    /// The password, right after an admin asked to see it; empty otherwise.
    secret: String,
}

#[derive(Debug, Deserialize)]
pub struct CsrfPost {
    #[serde(default)]
    csrf: String,
}

/// Why a page is not shown: nobody is signed in, or a technician asked.
enum Away {
    SignIn,
    Forbidden,
}

impl IntoResponse for Away {
    fn into_response(self) -> Response {
        match self {
            Away::SignIn => Redirect::to("/login").into_response(),
            Away::Forbidden => PageError(ApiError::Forbidden(
                "only an admin can manage the PSA webhook".to_owned(),
            ))
            .into_response(),
        }
    }
}

/// The signed-in admin, or why not.
fn admin_only(account: Option<SignedInAccount>) -> Result<SignedInAccount, Away> {
    let Some(account) = account else {
        return Err(Away::SignIn);
    };
    if account.account.role != Role::Admin {
        return Err(Away::Forbidden);
    }
    Ok(account)
}

/// `GET /admin/connectors/webhook`
pub async fn webhook_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    account: Option<SignedInAccount>,
) -> PageResult {
    let account = match admin_only(account) {
        Ok(account) => account,
        Err(away) => return Ok(away.into_response()),
    };
    show(&state, &headers, &account, String::new(), String::new()).await
}

/// `POST /admin/connectors/webhook/reveal`: the password, once.
pub async fn reveal(
    State(state): State<AppState>,
    headers: HeaderMap,
    account: Option<SignedInAccount>,
    Form(post): Form<CsrfPost>,
) -> PageResult {
    let account = match admin_only(account) {
        Ok(account) => account,
        Err(away) => return Ok(away.into_response()),
    };
    account.check_csrf(&post.csrf)?;

    let actor = audit_actor(&account.account).0;
    match state.inbound.webhook().reveal(&actor).await {
        Ok(secret) => show(&state, &headers, &account, String::new(), secret).await,
        Err(crate::sync::webhook::WebhookError::AlreadyRevealed) => {
            let mut page = page(&state, &headers, &account, String::new()).await?;
            page.error = "The password was shown once already. Make a new one to see it (and then change it in Halo).".to_owned();
            private(render(page)?)
        }
        Err(other) => Err(PageError(other.into())),
    }
}

/// `POST /admin/connectors/webhook/rotate`: a new password, shown now.
pub async fn rotate(
    State(state): State<AppState>,
    headers: HeaderMap,
    account: Option<SignedInAccount>,
    Form(post): Form<CsrfPost>,
) -> PageResult {
    let account = match admin_only(account) {
        Ok(account) => account,
        Err(away) => return Ok(away.into_response()),
    };
    account.check_csrf(&post.csrf)?;

    let actor = audit_actor(&account.account).0;
    let secret = state
        .inbound
        .webhook()
        .rotate(&actor)
        .await
        .map_err(|error| PageError(error.into()))?;
    show(
        &state,
        &headers,
        &account,
        "A new password is in force. Deliveries with the old one are refused until it is changed in Halo.".to_owned(),
        secret,
    )
    .await
}

async fn show(
    state: &AppState,
    headers: &HeaderMap,
    account: &SignedInAccount,
    notice: String,
    secret: String,
) -> PageResult {
    let mut page = page(state, headers, account, secret).await?;
    page.notice = notice;
    private(render(page)?)
}

async fn page(
    state: &AppState,
    headers: &HeaderMap,
    account: &SignedInAccount,
    secret: String,
) -> Result<WebhookPage, PageError> {
    let info: WebhookInfo = state
        .inbound
        .webhook()
        .info()
        .await
        .map_err(|error| PageError(error.into()))?;
    let connected = state
        .connectors
        .show()
        .await
        .map_err(|error: ConnectorError| PageError(error.into()))?
        .is_some();

    // Without a configured public URL, the address this admin used is the
    // best guess at the one Halo should use.
    let url_known = info.url.is_some();
    let url = info.url.clone().unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("parley.example");
        format!("http://{host}{WEBHOOK_PATH}")
    });
    let readable = |iso: &str| {
        chrono::DateTime::parse_from_rfc3339(iso)
            .map(|at| at.format("%-d %b %Y, %H:%M UTC").to_string())
            .unwrap_or_else(|_| iso.to_owned())
    };

    let frame = Frame::signed_in(account);
    Ok(WebhookPage {
        csrf: frame.csrf,
        me: frame.me,
        is_admin: frame.is_admin,
        last_message_id: 0,
        notice: String::new(),
        error: String::new(),
        connected,
        url,
        url_known,
        username: info.username,
        secret_set: info.secret_set,
        revealed: info.revealed,
        created_at: info.created_at.as_deref().map(readable).unwrap_or_default(),
        last_received_at: info
            .last_received_at
            .as_deref()
            .map(readable)
            .unwrap_or_default(),
        events: info.events,
        secret,
    })
}

/// A page that may carry the password is never stored by a browser or a
/// proxy.
fn private(mut response: Response) -> PageResult {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
