//! What the stories share: a real Parley on a free port with its own data
//! directory, seeded technicians and end users who talk to it over real HTTP,
//! widget tokens signed as a portal signs them, and a small WebSocket client.
//!
//! Every wait on the network has a deadline ([`WAIT`]), so a story that goes
//! wrong fails with a message instead of hanging.

// Each story file uses its own share of these helpers.
#![allow(dead_code)]

use chrono::{Duration as ChronoDuration, Utc};
use futures_util::{SinkExt, StreamExt};
use parley::config::Config;
use parley::identity::{WidgetClaims, WidgetSecret, sign_widget_token};
use parley::server::{self, Running};
use parley::store::Role;
use parley::testing::TempDir;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// The longest any one step may take before the story fails.
pub const WAIT: Duration = Duration::from_secs(5);

/// The password every seeded technician has.
pub const PASSWORD: &str = "correct horse battery";

/// A Parley serving on `127.0.0.1:0` from a throwaway data directory.
#[derive(Debug)]
pub struct TestServer {
    pub running: Running,
    pub base: String,
    _dir: TempDir,
}

impl TestServer {
    /// Parley with the default configuration.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Parley with a configuration the story adjusts first.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let options = server::Options {
            cheap_hashing: true,
            ..server::Options::default()
        };
        Self::start_with_options(adjust, options).await
    }

    /// Parley with a configuration and server options the story chose (for
    /// example without its own outbox worker).
    pub async fn start_with_options(
        adjust: impl FnOnce(&mut Config),
        options: server::Options,
    ) -> Self {
        let dir = TempDir::new("stories");
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("a valid address"),
            data_dir: dir.path().to_owned(),
            ..Config::default()
        };
        adjust(&mut config);
        let running = server::start(config, options)
            .await
            .expect("the server starts");
        let base = running.url();
        Self {
            running,
            base,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The `ws://` address of the chat socket.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/api/v1/ws", self.running.address)
    }

    /// A widget token for this user, signed with the workspace's current
    /// secret as the MSP's portal would sign it, valid for five minutes.
    pub fn widget_token(&self, email: &str, name: &str) -> String {
        let secret = self.running.state.accounts.workspace().widget_secret;
        sign_with(&secret, email, name, ChronoDuration::minutes(5))
    }

    /// Creates a technician account and signs it in through `/login`.
    pub async fn technician(&self, email: &str, name: &str) -> Party {
        self.account(email, name, Role::Technician).await
    }

    pub async fn admin(&self, email: &str, name: &str) -> Party {
        self.account(email, name, Role::Admin).await
    }

    async fn account(&self, email: &str, name: &str, role: Role) -> Party {
        let account = self
            .running
            .state
            .accounts
            .create(email, name, role, PASSWORD)
            .await
            .expect("the account is created");

        let signed_in = self.sign_in(email, PASSWORD).await;
        assert_eq!(signed_in.status, 303, "sign-in: {}", signed_in.text());
        let cookie = session_cookie(&signed_in).expect("sign-in sets the session cookie");

        let console = http()
            .get(self.url("/console"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("the console answers");
        let page = console.text().await.expect("the console page has a body");
        let csrf = csrf_from_page(&page).expect("the console page carries the CSRF token");

        Party {
            id: account.id,
            name: name.to_owned(),
            email: email.to_owned(),
            base: self.base.clone(),
            ws_url: self.ws_url(),
            auth: Auth::Session { cookie, csrf },
        }
    }

    /// An end user whose portal signed a widget token, exchanged for a
    /// chat session as the widget does.
    pub async fn end_user(&self, email: &str, name: &str) -> Party {
        let token = self.widget_token(email, name);
        let answer = self.widget_session(&json!({ "token": token })).await;
        assert_eq!(answer.status, 200, "widget session: {}", answer.text());
        let body = answer.json();

        Party {
            id: body["end_user"]["id"].as_i64().expect("an end user id"),
            name: name.to_owned(),
            email: email.to_owned(),
            base: self.base.clone(),
            ws_url: self.ws_url(),
            auth: Auth::Bearer(
                body["access_token"]
                    .as_str()
                    .expect("an access token")
                    .to_owned(),
            ),
        }
    }

    /// `POST /api/v1/widget/session` with whatever body the story sends.
    pub async fn widget_session(&self, body: &Value) -> Answer {
        Answer::from(
            http()
                .post(self.url("/api/v1/widget/session"))
                .json(body)
                .send()
                .await,
        )
        .await
    }

    /// `POST /login` with a form, following no redirect.
    pub async fn sign_in(&self, email: &str, password: &str) -> Answer {
        Answer::from(
            http()
                .post(self.url("/login"))
                .form(&[("email", email), ("password", password)])
                .send()
                .await,
        )
        .await
    }

    /// A plain `GET` with no credentials, following no redirect.
    pub async fn get(&self, path: &str) -> Answer {
        Answer::from(http().get(self.url(path)).send().await).await
    }

    /// Opens the chat socket, with a session cookie or without.
    pub async fn socket(&self, cookie: Option<&str>) -> Socket {
        Socket::open(&self.ws_url(), cookie).await
    }
}

/// Signs a widget token with a secret in its text form.
pub fn sign_with(secret: &str, email: &str, name: &str, valid_for: ChronoDuration) -> String {
    let secret = WidgetSecret::parse(secret).expect("the workspace's secret parses");
    let now = Utc::now();
    let claims = WidgetClaims::new(email, name, now, now + valid_for);
    sign_widget_token(&claims, secret.as_bytes())
}

/// A client that follows no redirect, so stories see where pages send them.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(WAIT)
        .build()
        .expect("the HTTP client builds")
}

/// `parley_session=...` from a response's `Set-Cookie`, ready for a `Cookie`
/// header.
pub fn session_cookie(answer: &Answer) -> Option<String> {
    answer
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with("parley_session=") && pair.len() > "parley_session=".len())
        .map(str::to_owned)
}

/// The content of `<meta name="csrf-token" content="...">`.
pub fn csrf_from_page(page: &str) -> Option<String> {
    let marker = r#"<meta name="csrf-token" content=""#;
    let start = page.find(marker)? + marker.len();
    let end = page[start..].find('"')?;
    Some(page[start..start + end].to_owned())
}

/// A response, read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    async fn from(response: reqwest::Result<reqwest::Response>) -> Self {
        let response = response.expect("the server answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.expect("the body is read").to_vec();
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// `error.code` of an API error.
    #[track_caller]
    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an API error: {}", self.text()))
            .to_owned()
    }

    #[track_caller]
    pub fn error_message(&self) -> String {
        self.json()["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("not an API error: {}", self.text()))
            .to_owned()
    }

    /// Fails the story unless the status is `status`; returns the JSON body.
    #[track_caller]
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text());
        if self.body.is_empty() {
            Value::Null
        } else {
            self.json()
        }
    }
}

#[derive(Debug, Clone)]
enum Auth {
    /// An end user's access token from `POST /widget/session`.
    Bearer(String),
    /// A technician's session cookie and the CSRF token from the console.
    Session { cookie: String, csrf: String },
}

/// Someone using Parley: an end user (by access token) or a technician (by
/// session cookie, sending the CSRF token on every change).
#[derive(Debug, Clone)]
pub struct Party {
    pub id: i64,
    pub name: String,
    pub email: String,
    base: String,
    ws_url: String,
    auth: Auth,
}

impl Party {
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let safe = method == reqwest::Method::GET;
        let request = http().request(method, format!("{}{path}", self.base));
        match &self.auth {
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::Session { cookie, csrf } => {
                let request = request.header("cookie", cookie);
                if safe {
                    request
                } else {
                    request.header("x-csrf-token", csrf)
                }
            }
        }
    }

    /// The session cookie (`parley_session=...`), for technicians.
    pub fn cookie(&self) -> Option<&str> {
        match &self.auth {
            Auth::Session { cookie, .. } => Some(cookie),
            Auth::Bearer(_) => None,
        }
    }

    pub fn csrf(&self) -> Option<&str> {
        match &self.auth {
            Auth::Session { csrf, .. } => Some(csrf),
            Auth::Bearer(_) => None,
        }
    }

    /// The widget's access token, for end users.
    pub fn access_token(&self) -> Option<&str> {
        match &self.auth {
            Auth::Bearer(token) => Some(token),
            Auth::Session { .. } => None,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        Answer::from(self.request(reqwest::Method::GET, path).send().await).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Answer {
        Answer::from(
            self.request(reqwest::Method::POST, path)
                .json(&body)
                .send()
                .await,
        )
        .await
    }

    /// A multipart upload with one field `file`.
    pub async fn upload(
        &self,
        conversation_id: i64,
        file_name: &str,
        content_type: &str,
        data: Vec<u8>,
    ) -> Answer {
        let part = reqwest::multipart::Part::bytes(data)
            .file_name(file_name.to_owned())
            .mime_str(content_type)
            .expect("a valid content type");
        let form = reqwest::multipart::Form::new().part("file", part);
        Answer::from(
            self.request(
                reqwest::Method::POST,
                &format!("/api/v1/conversations/{conversation_id}/attachments"),
            )
            .multipart(form)
            .send()
            .await,
        )
        .await
    }

    /// Starts a conversation; returns its id and its first message's id.
    pub async fn start_conversation(&self, body: &str) -> (i64, i64) {
        let started = self
            .post("/api/v1/conversations", json!({ "body": body }))
            .await
            .expect(201);
        (
            started["conversation"]["id"].as_i64().expect("an id"),
            started["message"]["id"].as_i64().expect("an id"),
        )
    }

    /// Sends a text message; returns its id.
    pub async fn say(&self, conversation_id: i64, body: &str) -> i64 {
        let message = self
            .post(
                &format!("/api/v1/conversations/{conversation_id}/messages"),
                json!({ "body": body }),
            )
            .await
            .expect(201);
        message["id"].as_i64().expect("an id")
    }

    /// Writes a technician-only note; returns its id.
    pub async fn note(&self, conversation_id: i64, body: &str) -> i64 {
        let message = self
            .post(
                &format!("/api/v1/conversations/{conversation_id}/messages"),
                json!({ "body": body, "internal": true }),
            )
            .await
            .expect(201);
        assert_eq!(message["kind"], "note");
        message["id"].as_i64().expect("an id")
    }

    /// The whole history of a conversation as this party sees it.
    pub async fn history(&self, conversation_id: i64) -> Vec<Value> {
        let page = self
            .get(&format!(
                "/api/v1/conversations/{conversation_id}/messages?limit=200"
            ))
            .await
            .expect(200);
        page["messages"].as_array().expect("messages").clone()
    }

    /// Opens the chat socket as this party and resumes after `after`;
    /// returns the socket once `ready` arrived, and the replayed messages.
    pub async fn socket(&self, after: i64) -> (Socket, Vec<Value>) {
        let mut socket = Socket::open(&self.ws_url, self.cookie()).await;
        if let Some(token) = self.access_token() {
            socket
                .send(json!({ "type": "auth", "access_token": token }))
                .await;
        }
        socket
            .send(json!({ "type": "resume", "after": after }))
            .await;
        let replayed = socket.replay_until_ready().await;
        (socket, replayed)
    }
}

/// What the socket said next.
#[derive(Debug)]
pub enum Frame {
    /// A JSON event.
    Event(Value),
    /// The server closed the socket, with this code and reason if it sent them.
    Closed(Option<(u16, String)>),
}

/// A chat socket client that reads JSON events with deadlines.
#[derive(Debug)]
pub struct Socket {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Socket {
    pub async fn open(url: &str, cookie: Option<&str>) -> Self {
        let mut request = url.into_client_request().expect("a valid socket URL");
        if let Some(cookie) = cookie {
            request.headers_mut().insert(
                "cookie",
                HeaderValue::from_str(cookie).expect("a valid cookie"),
            );
        }
        Self::from_request(request).await
    }

    /// Opens a socket with a request the story built (to set headers).
    pub async fn from_request(
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> Self {
        let (stream, _) = timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("the socket opens in time")
            .expect("the socket opens");
        Self { stream }
    }

    pub async fn send(&mut self, value: Value) {
        timeout(WAIT, self.stream.send(WsMessage::text(value.to_string())))
            .await
            .expect("the frame is sent in time")
            .expect("the frame is sent");
    }

    /// The next event or the close, or `None` if nothing came `within`.
    pub async fn next_frame(&mut self, within: Duration) -> Option<Frame> {
        let deadline = Instant::now() + within;
        loop {
            let next = timeout(deadline - Instant::now(), self.stream.next())
                .await
                .ok()?;
            return Some(match next {
                Some(Ok(WsMessage::Text(text))) => {
                    Frame::Event(serde_json::from_str(&text).expect("the server sends JSON events"))
                }
                Some(Ok(WsMessage::Close(frame))) => {
                    Frame::Closed(frame.map(|f| (u16::from(f.code), f.reason.to_string())))
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => Frame::Closed(None),
            });
        }
    }

    /// The next event; fails the story on a close or a timeout.
    #[track_caller]
    pub fn next_event(&mut self, within: Duration) -> impl Future<Output = Value> + '_ {
        let caller = std::panic::Location::caller();
        async move {
            match self.next_frame(within).await {
                Some(Frame::Event(event)) => event,
                Some(Frame::Closed(close)) => {
                    panic!("{caller}: the socket closed ({close:?}) while waiting for an event")
                }
                None => panic!("{caller}: no event within {within:?}"),
            }
        }
    }

    /// The next event of type `kind`, skipping others (presence, typing...).
    #[track_caller]
    pub fn next_event_of_type<'a>(
        &'a mut self,
        kind: &'a str,
        within: Duration,
    ) -> impl Future<Output = Value> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let skipped = self
                .events_until(|event| event["type"] == kind, within)
                .await
                .unwrap_or_else(|seen| panic!("{caller}: no {kind:?} event; saw {seen:#?}"));
            skipped.last().cloned().expect("the matching event")
        }
    }

    /// The next event that `matches`, skipping others (such as the echo of
    /// the socket's own typing).
    #[track_caller]
    pub fn next_event_matching<'a>(
        &'a mut self,
        matches: impl Fn(&Value) -> bool + 'a,
        within: Duration,
    ) -> impl Future<Output = Value> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let seen = self
                .events_until(matches, within)
                .await
                .unwrap_or_else(|seen| panic!("{caller}: no matching event; saw {seen:#?}"));
            seen.last().cloned().expect("the matching event")
        }
    }

    /// Every event up to and including the first that matches, or (as the
    /// error) what came before the deadline or the close.
    pub async fn events_until(
        &mut self,
        matches: impl Fn(&Value) -> bool,
        within: Duration,
    ) -> Result<Vec<Value>, Vec<Value>> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            match self.next_frame(deadline - Instant::now()).await {
                Some(Frame::Event(event)) => {
                    let found = matches(&event);
                    seen.push(event);
                    if found {
                        return Ok(seen);
                    }
                }
                Some(Frame::Closed(_)) | None => return Err(seen),
            }
        }
    }

    /// The message events the server replays before `ready`.
    pub async fn replay_until_ready(&mut self) -> Vec<Value> {
        let events = self
            .events_until(|event| event["type"] == "ready", WAIT)
            .await
            .unwrap_or_else(|seen| panic!("the socket never became ready; saw {seen:#?}"));
        events
            .into_iter()
            .filter(|event| event["type"] == "message")
            .map(|event| event["message"].clone())
            .collect()
    }

    /// Waits for the server to close the socket; returns the close code and
    /// the events that came before it.
    pub async fn closed(&mut self, within: Duration) -> (Option<u16>, Vec<Value>) {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            match self.next_frame(deadline - Instant::now()).await {
                Some(Frame::Event(event)) => seen.push(event),
                Some(Frame::Closed(close)) => return (close.map(|(code, _)| code), seen),
                None => panic!("the socket was still open after {within:?}; saw {seen:#?}"),
            }
        }
    }
}

/// The ids of message events (or of messages), in order.
pub fn ids(messages: &[Value]) -> Vec<i64> {
    messages
        .iter()
        .map(|m| {
            m.get("message")
                .unwrap_or(m)
                .get("id")
                .and_then(Value::as_i64)
                .expect("a message id")
        })
        .collect()
}
