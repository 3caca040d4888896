//! The web layer: the JSON API, the WebSocket, the pages and the embedded
//! assets, on one axum router.
//!
//! [`serve`] takes its listener and a shutdown future, so tests bind port 0
//! and stop the server when they are done.

/// The JSON API under `/api/v1`.
mod api;
/// Who is asking: session cookies, bearer tokens, CSRF.
pub mod auth;
/// The connector's JSON API, for admins.
pub mod connector_api;
/// The admin's PSA pages: Connectors, the HaloPSA form, the audit log.
mod connector_pages;
/// The technicians' "Needs a contact" page.
mod contact_pages;
/// The one mapping from errors to HTTP answers.
pub mod error;
/// `/metrics` in Prometheus' text format.
pub mod metrics;
/// Server-rendered pages.
mod pages;
/// Tickets from chats, sync states, the end user's tickets, the contact queue.
pub mod ticket_api;
/// The PSA webhook, and the admin's API for its secret.
pub mod webhook_api;
/// The admin's webhook page.
mod webhook_pages;
/// The live chat socket.
mod ws;

use crate::accounts::Accounts;
use crate::chat::Chat;
use crate::config::Config;
use crate::psa::Connectors;
use crate::sync::{Inbound, Tickets};
use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;

/// What every handler shares. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct AppState {
    pub chat: Chat,
    pub accounts: Accounts,
    pub connectors: Connectors,
    pub tickets: Tickets,
    /// Halo to chat: the webhook's secret and queue, the poller.
    pub inbound: Inbound,
    pub config: Arc<Config>,
    pub metrics: Arc<metrics::Metrics>,
    /// Seeded end users (name, email) for the demo portal; empty outside
    /// `parley demo`, where the portal is not mounted at all.
    pub demo_end_users: Arc<Vec<(String, String)>>,
}

/// The whole application's routes.
pub fn router(state: AppState) -> Router {
    // An upload is the file plus a little multipart framing.
    let upload_limit = state.chat.limits().max_attachment_bytes + 64 * 1024;

    let api = Router::new()
        .route("/widget/session", post(api::widget_session))
        .route(
            "/conversations",
            get(api::list_conversations).post(api::start_conversation),
        )
        .route("/conversations/{id}", get(api::get_conversation))
        .route(
            "/conversations/{id}/messages",
            get(api::history).post(api::post_message),
        )
        .route(
            "/conversations/{id}/attachments",
            post(api::upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/conversations/{id}/claim", post(api::claim))
        .route("/conversations/{id}/transfer", post(api::transfer))
        .route("/conversations/{id}/close", post(api::close))
        .route("/attachments/{id}", get(api::download))
        .route("/technicians", get(api::technicians))
        .route(
            "/connector",
            get(connector_api::show)
                .put(connector_api::save)
                .delete(connector_api::remove),
        )
        .route(
            "/conversations/{id}/ticket",
            get(ticket_api::link).post(ticket_api::request),
        )
        .route("/conversations/{id}/ticket/join", post(ticket_api::join))
        .route("/conversations/{id}/sync", get(ticket_api::sync))
        .route("/outbox/{job}/retry", post(ticket_api::retry))
        .route("/me/contact", get(ticket_api::my_contact))
        .route("/me/tickets", get(ticket_api::my_tickets))
        .route("/me/tickets/{id}", get(ticket_api::my_ticket))
        .route("/me/tickets/{id}/chat", post(ticket_api::chat_about_ticket))
        .route("/contacts/queue", get(ticket_api::queue))
        .route("/contacts/search", get(ticket_api::search))
        .route("/end-users/{id}/contact", post(ticket_api::choose))
        .route("/connector/normalize", post(connector_api::normalize))
        .route("/connector/test", post(connector_api::test))
        .route("/audit", get(connector_api::audit))
        .route(
            "/psa/webhook",
            post(webhook_api::receive).layer(DefaultBodyLimit::max(webhook_api::MAX_WEBHOOK_BYTES)),
        )
        .route("/connector/webhook", get(webhook_api::info))
        .route("/connector/webhook/reveal", post(webhook_api::reveal))
        .route("/connector/webhook/rotate", post(webhook_api::rotate))
        .route("/ws", get(ws::upgrade))
        .route("/openapi.json", get(openapi))
        .fallback(api::not_found);

    let mut app = Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/setup", get(pages::setup_form).post(pages::setup))
        .route(
            "/setup/psa",
            get(connector_pages::wizard_form).post(connector_pages::wizard_save),
        )
        .route("/setup/psa/test", post(connector_pages::wizard_test))
        .route("/admin/connectors", get(connector_pages::connectors_page))
        .route(
            "/admin/connectors/halopsa",
            get(connector_pages::halopsa_form).post(connector_pages::halopsa_save),
        )
        .route(
            "/admin/connectors/halopsa/test",
            post(connector_pages::halopsa_test),
        )
        .route(
            "/admin/connectors/halopsa/disconnect",
            get(connector_pages::disconnect_form).post(connector_pages::disconnect),
        )
        .route("/admin/audit", get(connector_pages::audit_page))
        .route(
            "/admin/connectors/webhook",
            get(webhook_pages::webhook_page),
        )
        .route(
            "/admin/connectors/webhook/reveal",
            post(webhook_pages::reveal),
        )
        .route(
            "/admin/connectors/webhook/rotate",
            post(webhook_pages::rotate),
        )
        .route("/console", get(pages::inbox))
        .route("/console/conversations/{id}", get(pages::conversation))
        .route("/console/contacts", get(contact_pages::queue_page))
        .route("/console/contacts/{end_user}", post(contact_pages::choose))
        .route(
            "/console/conversations/{id}/{action}",
            post(pages::conversation_action),
        )
        .route("/account", get(pages::account_page))
        .route("/account/password", post(pages::change_password))
        .route("/account/widget-secret", post(pages::rotate_widget_secret))
        .route("/widget", get(widget_frame))
        .route("/widget.js", get(asset_widget_loader))
        .route("/assets/{file}", get(asset))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .nest("/api/v1", api);
    if !state.demo_end_users.is_empty() {
        app = app.route("/demo/portal", get(pages::demo_portal));
    }

    app.layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(256 * 1024))
        .with_state(state)
}

/// Serves until `shutdown` completes, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    // Chat frames are small and come one after another; with Nagle's
    // algorithm a frame written while the last is unacknowledged waits for
    // the peer's delayed ACK, tens of milliseconds.
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not turn off Nagle's algorithm on a connection");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// A span per request with the matched route (never the raw path, which
/// carries ids), and its latency in the metrics.
async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().clone();
    let span = tracing::info_span!("request", %method, route = %route);

    let started = Instant::now();
    let response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    let took = started.elapsed();

    let mut response = response;
    protect(&route, response.headers_mut());
    state.metrics.request(&route, took);
    span.in_scope(|| {
        tracing::debug!(
            status = response.status().as_u16(),
            ms = took.as_millis() as u64,
            "served"
        )
    });
    response
}

/// Headers that keep pages from being framed or sniffed: the console may not
/// be framed at all, while the widget's frame and the demo portal set their
/// own policy.
fn protect(route: &str, headers: &mut axum::http::HeaderMap) {
    headers
        .entry(header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(HeaderValue::from_static("nosniff"));
    headers
        .entry(header::REFERRER_POLICY)
        .or_insert(HeaderValue::from_static("same-origin"));
    if route != "/widget" && !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob: data:; \
                 connect-src 'self' ws: wss:; \
                 frame-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'",
            ),
        );
    }
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the database answers.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.chat.store().ping().await {
        Ok(()) => "ready".into_response(),
        Err(error) => {
            tracing::error!(%error, "database is not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    let text = state.metrics.render(state.chat.hub().messages_published());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("openapi.json"),
    )
        .into_response()
}

/// The widget's frame. Portals on other origins embed it, so it may be
/// framed; it runs no inline script.
async fn widget_frame() -> Response {
    let mut response =
        axum::response::Html(include_str!("../../assets/widget.html")).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' blob:; \
             connect-src 'self' ws: wss:; \
             frame-ancestors *; object-src 'none'; base-uri 'none'",
        ),
    );
    response
}

async fn asset_widget_loader() -> Response {
    static_asset("widget.js").unwrap_or_else(|| StatusCode::NOT_FOUND.into_response())
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    static_asset(&file).unwrap_or_else(|| StatusCode::NOT_FOUND.into_response())
}

/// The embedded assets: the binary carries them, nothing is fetched from
/// anywhere else.
fn static_asset(name: &str) -> Option<Response> {
    let (body, content_type) = match name {
        "widget.js" => (include_str!("../../assets/widget.js"), "text/javascript"),
        "widget-app.js" => (
            include_str!("../../assets/widget-app.js"),
            "text/javascript",
        ),
        "chat-core.js" => (include_str!("../../assets/chat-core.js"), "text/javascript"),
        "console.js" => (include_str!("../../assets/console.js"), "text/javascript"),
        "console-tickets.js" => (
            include_str!("../../assets/console-tickets.js"),
            "text/javascript",
        ),
        "connectors.js" => (
            include_str!("../../assets/connectors.js"),
            "text/javascript",
        ),
        "widget.css" => (include_str!("../../assets/widget.css"), "text/css"),
        "console.css" => (include_str!("../../assets/console.css"), "text/css"),
        _ => return None,
    };
    Some(
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "public, max-age=300"),
            ],
            body,
        )
            .into_response(),
    )
}
