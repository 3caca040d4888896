//! One WebSocket client: connects and authenticates as the widget or the
//! console does (or, against the socket.io reference server, as a socket.io
//! client does over Engine.IO v4), then records every message of this run it
//! is sent (ids for the loss check, latency from the body's timestamp) until
//! told to stop.

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// A client's read buffer; a larger frame still arrives whole.
const READ_BUFFER: usize = 4096;

/// How long a socket may take from connecting to `ready`.
const HANDSHAKE: Duration = Duration::from_secs(30);

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How a socket proves who it is, and so which protocol it speaks.
#[derive(Debug, Clone)]
pub(crate) enum Credentials {
    /// A Parley technician's session cookie (`parley_session=...`).
    Cookie(String),
    /// A Parley end user's access token, sent in the first frame.
    Bearer(String),
    /// A socket.io client's CONNECT payload (which rooms it joins).
    SocketIo(Value),
}

impl Credentials {
    fn is_socket_io(&self) -> bool {
        matches!(self, Credentials::SocketIo(_))
    }
}

/// A client about to connect.
#[derive(Debug)]
pub(crate) struct Subscriber {
    pub ws_url: String,
    pub credentials: Credentials,
    /// The conversation an end user watches; `None` for a technician.
    pub watches: Option<i64>,
    pub after: i64,
    pub marker: String,
    pub delivered: Arc<AtomicU64>,
    pub stop: watch::Receiver<bool>,
}

/// A client that got `ready`.
#[derive(Debug)]
pub(crate) struct Connected {
    socket: Socket,
    latency: Histogram<u64>,
    pub watches: Option<i64>,
    socket_io: bool,
    marker: String,
    delivered: Arc<AtomicU64>,
    stop: watch::Receiver<bool>,
}

/// What one client saw.
#[derive(Debug)]
pub(crate) struct SubscriberResult {
    pub watches: Option<i64>,
    pub received: HashSet<i64>,
    pub duplicates: u64,
    pub latency: Histogram<u64>,
    /// Why the socket ended before it was told to stop, if it did.
    pub error: Option<anyhow::Error>,
}

impl Subscriber {
    /// Connects, authenticates, resumes and waits for `ready`; the permit is
    /// held only for the handshake.
    pub async fn connect(self, permit: Option<OwnedSemaphorePermit>) -> anyhow::Result<Connected> {
        let socket = timeout(HANDSHAKE, self.handshake())
            .await
            .context("no ready frame in time")??;
        drop(permit);
        Ok(Connected {
            socket,
            latency: new_histogram()?,
            watches: self.watches,
            socket_io: self.credentials.is_socket_io(),
            marker: self.marker,
            delivered: self.delivered,
            stop: self.stop,
        })
    }

    async fn handshake(&self) -> anyhow::Result<Socket> {
        let mut request = self
            .ws_url
            .as_str()
            .into_client_request()
            .context("a bad WebSocket URL")?;
        if let Credentials::Cookie(cookie) = &self.credentials {
            request.headers_mut().insert(
                "cookie",
                HeaderValue::from_str(cookie).context("a bad session cookie")?,
            );
        }
        // Frames here are small; tungstenite's default 128 KiB read buffer is
        // zero-filled on every read, which on a shared machine takes CPU from
        // the server being measured.
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
        let (mut socket, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                .await
                .context("the WebSocket did not open")?;
        if let Credentials::SocketIo(auth) = &self.credentials {
            socket_io_connect(&mut socket, auth).await?;
            return Ok(socket);
        }

        if let Credentials::Bearer(token) = &self.credentials {
            let auth = json!({ "type": "auth", "access_token": token });
            socket.send(WsMessage::text(auth.to_string())).await?;
        }
        let resume = json!({ "type": "resume", "after": self.after });
        socket.send(WsMessage::text(resume.to_string())).await?;

        // Replayed messages before `ready` are from before this run.
        while let Some(frame) = socket.next().await {
            if let WsMessage::Text(text) = frame? {
                let frame: Value = serde_json::from_str(&text)?;
                match frame["type"].as_str() {
                    Some("ready") => return Ok(socket),
                    Some("error") => bail!("the server refused the socket: {}", frame["error"]),
                    _ => {}
                }
            }
        }
        bail!("the socket closed before ready")
    }
}

impl Connected {
    /// Reads until told to stop (or the socket ends), recording this run's
    /// messages.
    pub async fn read_until_stopped(mut self) -> SubscriberResult {
        let mut result = SubscriberResult {
            watches: self.watches,
            received: HashSet::new(),
            duplicates: 0,
            latency: self.latency.clone(),
            error: None,
        };
        loop {
            tokio::select! {
                changed = self.stop.changed() => {
                    if changed.is_err() || *self.stop.borrow() {
                        let _ = self.socket.close(None).await;
                        return result;
                    }
                }
                frame = self.socket.next() => match frame {
                    Some(Ok(WsMessage::Text(text))) if self.socket_io => {
                        if let Err(error) = self.socket_io_frame(&text, &mut result).await {
                            result.error = Some(error);
                            return result;
                        }
                    }
                    Some(Ok(WsMessage::Text(text))) => self.parley_frame(&text, &mut result),
                    Some(Ok(WsMessage::Close(close))) => {
                        result.error = Some(anyhow::anyhow!("the server closed the socket: {close:?}"));
                        return result;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        result.error = Some(anyhow::Error::from(error).context("the socket failed"));
                        return result;
                    }
                    None => {
                        result.error = Some(anyhow::anyhow!("the socket ended"));
                        return result;
                    }
                },
            }
        }
    }

    /// Notes a Parley frame if it is a message of this run.
    fn parley_frame(&self, text: &str, result: &mut SubscriberResult) {
        let received_at = chrono::Utc::now().timestamp_micros();
        let Ok(frame) = serde_json::from_str::<ParleyFrame<'_>>(text) else {
            return;
        };
        if let (Some("message"), Some(message)) = (frame.kind, frame.message) {
            self.record(&message, received_at, result);
        }
    }

    /// Answers Engine.IO pings (or the server drops the socket after its
    /// ping timeout) and notes `42["message",{...}]` events.
    async fn socket_io_frame(
        &mut self,
        text: &str,
        result: &mut SubscriberResult,
    ) -> anyhow::Result<()> {
        let received_at = chrono::Utc::now().timestamp_micros();
        if text == "2" {
            self.socket.send(WsMessage::text("3")).await?;
            return Ok(());
        }
        let Some(event) = text.strip_prefix("42") else {
            return Ok(());
        };
        if let Ok(("message", message)) = serde_json::from_str::<(&str, Message<'_>)>(event) {
            self.record(&message, received_at, result);
        }
        Ok(())
    }

    /// Notes one message if it is of this run.
    fn record(&self, message: &Message<'_>, received_at: i64, result: &mut SubscriberResult) {
        let (id, body) = (message.id, message.body.as_ref());
        // The body is "<marker> <lane> <sent µs> <seq> <padding>".
        let mut words = body.split(' ');
        if words.next() != Some(self.marker.as_str()) {
            return;
        }
        let Some(sent_at) = words.nth(1).and_then(|word| word.parse::<i64>().ok()) else {
            return;
        };

        if !result.received.insert(id) {
            result.duplicates += 1;
            return;
        }
        self.delivered.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(received_at - sent_at).unwrap_or(0).max(1);
        result.latency.saturating_record(micros);
    }
}

/// The part of a Parley frame the load generator reads; the rest is skipped
/// unparsed, so the client's own CPU stays off the figures.
#[derive(Debug, Deserialize)]
struct ParleyFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<&'a str>,
    #[serde(borrow)]
    message: Option<Message<'a>>,
}

/// A message as both servers send it: its id and body (borrowed unless the
/// JSON escaped something in it).
#[derive(Debug, Deserialize)]
struct Message<'a> {
    id: i64,
    #[serde(borrow)]
    body: std::borrow::Cow<'a, str>,
}

/// Engine.IO v4's opening: the server's OPEN packet (`0{...}`), our CONNECT
/// to the default namespace with the auth payload (`40{...}`), and its
/// answer: `40{"sid":...}` when accepted, `44{...}` when refused.
async fn socket_io_connect(socket: &mut Socket, auth: &Value) -> anyhow::Result<()> {
    let mut opened = false;
    while let Some(frame) = socket.next().await {
        let WsMessage::Text(text) = frame? else {
            continue;
        };
        if !opened {
            if !text.starts_with('0') {
                bail!("the socket.io server did not open with an OPEN packet");
            }
            opened = true;
            socket.send(WsMessage::text(format!("40{auth}"))).await?;
        } else if text.starts_with("40") {
            return Ok(());
        } else if let Some(refusal) = text.strip_prefix("44") {
            let _ = socket.close(None).await;
            bail!("the socket.io server refused the socket: {refusal}");
        } else if text.as_str() == "2" {
            socket.send(WsMessage::text("3")).await?;
        }
    }
    bail!("the socket closed before the socket.io CONNECT was answered")
}

/// Latencies in microseconds, 1 µs to 60 s at three significant figures:
/// any latency worth reporting.
pub(crate) fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000, 3).context("could not make a latency histogram")
}
