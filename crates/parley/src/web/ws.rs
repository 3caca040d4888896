//! The live chat socket, `/api/v1/ws`.
//!
//! A socket is authenticated before anything flows: by the session cookie for
//! technicians, or by an `auth` frame carrying the widget's access token. The
//! client then says which message it saw last; the socket subscribes to the
//! hub first and replays from the store second, so nothing falls in between,
//! and skips live copies of what it already replayed.

use crate::chat::hub::{Delivery, Event, Listener, Subscription};
use crate::chat::view::MessageView;
use crate::chat::{Actor, ChatError};
use crate::web::AppState;
use crate::web::auth::{account_from_cookie, actor_from_token};
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::SinkExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::{Instant, interval, timeout};
use tracing::Instrument;

/// How often the server pings, and how long a silent client is kept.
const PING_EVERY: Duration = Duration::from_secs(20);
const SILENT_FOR: Duration = Duration::from_secs(60);
/// How long a client has to authenticate and say where to resume.
const HANDSHAKE: Duration = Duration::from_secs(10);
/// How long one write may take before the client counts as too slow.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The socket's read buffer. Clients send only small frames (auth, resume,
/// typing, read), and tungstenite zero-fills the whole buffer before every
/// read, so its 128 KiB default costs a large memset per wake-up and keeps
/// 128 KiB resident per idle socket. A larger frame still fits: the buffer
/// grows to the frame's length while it is read.
const READ_BUFFER: usize = 1024;
/// Frames queued in a batch are written out once this many bytes are waiting
/// (or at the batch's flush), which bounds what a socket's write buffer keeps.
const WRITE_BUFFER: usize = 8 * 1024;

/// Close code 1008 (policy violation): not authenticated.
const CLOSE_UNAUTHORIZED: u16 = 1008;
/// Close code 1013 (try again later): too slow; reconnect and resume.
const CLOSE_TOO_SLOW: u16 = 1013;

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Auth {
        access_token: String,
    },
    Resume {
        after: i64,
    },
    Typing {
        conversation_id: i64,
    },
    Read {
        conversation_id: i64,
        message_id: i64,
    },
}

pub async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    // A cookie counts only from Parley's own pages: another site's page must
    // not ride on a technician's cookie. A cookie failure is not fatal; the
    // client may still authenticate with a token.
    let technician = if same_origin(&headers) {
        account_from_cookie(&state, &headers)
            .await
            .ok()
            .flatten()
            .map(|signed_in| Actor::Technician(signed_in.account))
    } else {
        tracing::warn!("socket from another origin; its cookie is ignored");
        None
    };

    upgrade
        .max_message_size(64 * 1024)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .on_upgrade(move |socket| run(socket, state, technician))
}

async fn run(mut socket: WebSocket, state: AppState, technician: Option<Actor>) {
    let Some((actor, after)) = handshake(&mut socket, &state, technician).await else {
        return;
    };
    let span = tracing::info_span!("socket", listener = ?actor.listener());

    let _presence = match &actor {
        Actor::Technician(account) => {
            Some(state.chat.hub().technician_connected(account.workspace_id))
        }
        Actor::EndUser(_) => None,
    };
    state.metrics.socket_opened();
    serve(socket, &state, &actor, after).instrument(span).await;
    state.metrics.socket_closed();
}

/// Whether the socket's page is Parley's own: no `Origin` (not a browser),
/// or one whose host is the host the request was sent to.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return true;
    };
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|host| host.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.split_once("://"))
        .map(|(_, host)| host);
    matches!((origin_host, host), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

/// Authenticates the socket and reads where to resume from.
async fn handshake(
    socket: &mut WebSocket,
    state: &AppState,
    technician: Option<Actor>,
) -> Option<(Actor, i64)> {
    let mut actor = technician;
    let deadline = Instant::now() + HANDSHAKE;

    loop {
        let frame = match timeout(deadline - Instant::now(), socket.recv()).await {
            Ok(Some(Ok(Message::Text(text)))) => serde_json::from_str::<ClientFrame>(&text),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            _ => {
                close(socket, CLOSE_UNAUTHORIZED, "authenticate and resume first").await;
                return None;
            }
        };

        match (frame, &actor) {
            (Ok(ClientFrame::Auth { access_token }), None) => {
                actor = actor_from_token(state, &access_token).await.ok().flatten();
                if actor.is_none() {
                    send_error(socket, "unauthorized", "the chat session has expired").await;
                    close(socket, CLOSE_UNAUTHORIZED, "unauthorized").await;
                    return None;
                }
            }
            // A technician's socket may send an auth frame too; the cookie wins.
            (Ok(ClientFrame::Auth { .. }), Some(_)) => {}
            (Ok(ClientFrame::Resume { after }), Some(actor)) => {
                return Some((actor.clone(), after));
            }
            _ => {
                send_error(socket, "unauthorized", "send auth, then resume").await;
                close(socket, CLOSE_UNAUTHORIZED, "unauthorized").await;
                return None;
            }
        }
    }
}

async fn serve(mut socket: WebSocket, state: &AppState, actor: &Actor, after: i64) {
    let listener = actor.listener();

    // Subscribe before reading the store: a message stored in between is
    // then in both, and the live copy is skipped below.
    let mut events = state.chat.hub().listen(listener);

    // The store answers a page at a time: read on until a page comes back
    // empty, so a socket that missed more than one page still misses nothing.
    let mut replayed_up_to = after.max(0);
    loop {
        let missed = match state.chat.missed(actor, replayed_up_to).await {
            Ok(missed) => missed,
            Err(error) => {
                log_chat_error(&error);
                send_error(&mut socket, "internal", "could not load missed messages").await;
                return;
            }
        };
        if missed.is_empty() {
            break;
        }
        for message in missed {
            replayed_up_to = replayed_up_to.max(message.id);
            let Ok(frame) = serde_json::to_string(&MessageFrame {
                kind: "message",
                message: &message,
            }) else {
                // Skipping would lose the message for this client; ending the
                // socket makes it resume from here instead.
                send_error(&mut socket, "internal", "could not load missed messages").await;
                return;
            };
            if !send(&mut socket, Utf8Bytes::from(frame)).await {
                return;
            }
        }
    }

    if let Actor::EndUser(_) = actor {
        let online = state.chat.hub().help_desk_online();
        let frame = if online {
            r#"{"type":"presence","online":true}"#
        } else {
            r#"{"type":"presence","online":false}"#
        };
        if !send(&mut socket, Utf8Bytes::from_static(frame)).await {
            return;
        }
    }
    if !send(&mut socket, Utf8Bytes::from_static(r#"{"type":"ready"}"#)).await {
        return;
    }

    let mut ping = interval(PING_EVERY);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(first) => {
                    let written =
                        write_batch(&mut socket, &mut events, first, listener, replayed_up_to);
                    if !written.await {
                        return;
                    }
                }
                Err(RecvError::Lagged(skipped)) => {
                    too_slow(&mut socket, skipped).await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            frame = socket.recv() => {
                last_heard = Instant::now();
                match frame {
                    Some(Ok(Message::Text(text))) => handle_frame(&mut socket, state, actor, &text).await,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => {}
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENT_FOR {
                    close(&mut socket, 1001, "no answer to pings").await;
                    return;
                }
                if timeout(WRITE_TIMEOUT, socket.send(Message::Ping(Default::default()))).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// A replayed message, written as the hub writes a live one.
#[derive(Serialize)]
struct MessageFrame<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    message: &'a MessageView,
}

/// Most events one batch writes before flushing, so a busy socket still
/// reads its client's frames and pings in between.
const BATCH: usize = 64;

/// Writes `first` and whatever else is already waiting for this socket, then
/// flushes once: a busy socket costs one write per batch, not one per event.
/// False when the socket is gone or too slow.
async fn write_batch(
    socket: &mut WebSocket,
    events: &mut Subscription,
    first: Arc<Delivery>,
    listener: Listener,
    replayed_up_to: i64,
) -> bool {
    let batch = async {
        let mut next = Some(first);
        let mut queued = 0;
        while let Some(delivery) = next.take() {
            // The hub routes by listener already; this check keeps a routing
            // mistake from ever showing someone another's conversation.
            let replayed = matches!(
                &*delivery.event,
                Event::Message { message, .. } if message.id <= replayed_up_to
            );
            if delivery.event.visible_to(listener) && !replayed {
                socket
                    .feed(Message::Text(delivery.frame.clone()))
                    .await
                    .map_err(|_| Gone)?;
                queued += 1;
            }
            if queued < BATCH {
                next = match events.try_recv() {
                    Ok(delivery) => Some(delivery),
                    Err(TryRecvError::Empty | TryRecvError::Closed) => None,
                    Err(TryRecvError::Lagged(skipped)) => return Err(Lagged(skipped)),
                };
            }
        }
        socket.flush().await.map_err(|_| Gone)
    };

    match timeout(WRITE_TIMEOUT, batch).await {
        Ok(Ok(())) => true,
        Ok(Err(Lagged(skipped))) => {
            too_slow(socket, skipped).await;
            false
        }
        Ok(Err(Gone)) | Err(_) => false,
    }
}

/// Why a batch stopped early.
enum BatchError {
    /// The socket fell behind the hub and missed events.
    Lagged(u64),
    /// The socket is closed or broken.
    Gone,
}
use BatchError::{Gone, Lagged};

/// Drops a socket that missed events; its client reconnects and resumes from
/// the store, so nothing is lost.
async fn too_slow(socket: &mut WebSocket, skipped: u64) {
    tracing::warn!(skipped, "socket too slow; dropping it so it resumes");
    close(socket, CLOSE_TOO_SLOW, "too slow; reconnect and resume").await;
}

async fn handle_frame(socket: &mut WebSocket, state: &AppState, actor: &Actor, text: &str) {
    let result = match serde_json::from_str::<ClientFrame>(text) {
        Ok(ClientFrame::Typing { conversation_id }) => {
            state.chat.typing(actor, conversation_id).await
        }
        Ok(ClientFrame::Read {
            conversation_id,
            message_id,
        }) => state.chat.read(actor, conversation_id, message_id).await,
        Ok(ClientFrame::Auth { .. } | ClientFrame::Resume { .. }) => Ok(()),
        Err(_) => {
            tracing::warn!("socket sent a frame that is not part of the protocol");
            send_error(socket, "invalid", "unknown frame").await;
            return;
        }
    };
    if let Err(error) = result {
        log_chat_error(&error);
        let api = crate::web::error::ApiError::from(error);
        send_error(socket, api.code(), &api.public_message()).await;
    }
}

fn log_chat_error(error: &ChatError) {
    if let ChatError::Store(detail) = error {
        tracing::error!(error = %detail, "socket request failed");
    }
}

/// Sends one frame, giving up on a client that does not take it in time.
async fn send(socket: &mut WebSocket, text: Utf8Bytes) -> bool {
    matches!(
        timeout(WRITE_TIMEOUT, socket.send(Message::Text(text))).await,
        Ok(Ok(()))
    )
}

async fn send_error(socket: &mut WebSocket, code: &str, message: &str) {
    let frame = json!({ "type": "error", "error": { "code": code, "message": message } });
    send(socket, Utf8Bytes::from(frame.to_string())).await;
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    };
    let _ = timeout(WRITE_TIMEOUT, socket.send(Message::Close(Some(frame)))).await;
}
