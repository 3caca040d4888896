//! Two real `parley serve` processes on one PostgreSQL database deliver to
//! each other's clients: a chat started on one instance reaches a technician
//! connected to the other, the reply comes back, and an internal note never
//! crosses to the end user.
//!
//! Needs `PARLEY_TEST_POSTGRES_URL`; without it the test says it skipped.

use futures_util::{SinkExt, StreamExt};
use parley::accounts::WIDGET_SECRET_PURPOSE;
use parley::identity::{MasterKey, WidgetClaims, WidgetSecret, csrf_token_for, sign_widget_token};
use parley::testing::{TempDir, TestDatabase};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Message, http::HeaderValue};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const PASSWORD: &str = "correct horse battery";

/// A `parley serve` child process, killed when dropped.
struct Instance {
    child: Child,
    url: String,
    _data: TempDir,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every instance on one database shares one master key, as a real
/// deployment of several instances must.
fn parley(database_url: &str, key: &MasterKey, data: &TempDir) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
    command
        .args(["--log", "warn"])
        .env("PARLEY_DATABASE_URL", database_url)
        .env("PARLEY_DATA_DIR", data.path())
        .env("PARLEY_MASTER_KEY", key.to_text());
    command
}

fn start_instance(database_url: &str, key: &MasterKey) -> Instance {
    let data = TempDir::new("instance");
    let mut child = parley(database_url, key, &data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the parley binary starts");

    // The first line names the address: "Parley is listening on http://...".
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
    let mut first = String::new();
    stdout
        .read_line(&mut first)
        .expect("parley prints its address");
    let url = first
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "unexpected first line: {first}"
    );
    // Keep reading (and discarding) so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in stdout.lines() {});

    Instance {
        child,
        url,
        _data: data,
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn socket(base: &str, cookie: Option<&str>, auth: Option<&str>) -> Socket {
    let mut request = format!("{}/api/v1/ws", base.replace("http://", "ws://"))
        .into_client_request()
        .unwrap();
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", HeaderValue::from_str(cookie).unwrap());
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();

    if let Some(token) = auth {
        let frame = json!({"type": "auth", "access_token": token}).to_string();
        socket.send(Message::text(frame)).await.unwrap();
    }
    let resume = json!({"type": "resume", "after": 0}).to_string();
    socket.send(Message::text(resume)).await.unwrap();
    next_of_type(&mut socket, "ready").await;
    socket
}

/// The next event of a type, skipping others; fails after ten seconds.
async fn next_of_type(socket: &mut Socket, kind: &str) -> Value {
    let wait = async {
        while let Some(frame) = socket.next().await {
            if let Ok(Message::Text(text)) = frame {
                let event: Value = serde_json::from_str(&text).unwrap();
                if event["type"] == kind {
                    return event;
                }
            }
        }
        panic!("the socket closed while waiting for {kind}");
    };
    timeout(Duration::from_secs(10), wait)
        .await
        .unwrap_or_else(|_| panic!("no {kind} event within ten seconds"))
}

#[tokio::test]
async fn two_instances_deliver_to_each_others_clients() {
    let Some(database) =
        TestDatabase::postgres("two_instances_deliver_to_each_others_clients").await
    else {
        return;
    };

    // A technician, created from the shell as an MSP would.
    let key = MasterKey::generate();
    let admin_data = TempDir::new("admin");
    let created = parley(&database.url, &key, &admin_data)
        .args([
            "admin",
            "create",
            "--technician",
            "--email",
            "tess@msp.example",
        ])
        .args(["--name", "Tess Tech"])
        .env("PARLEY_ADMIN_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );

    let a = start_instance(&database.url, &key);
    let b = start_instance(&database.url, &key);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The technician signs in on A and listens there.
    let login = http
        .post(format!("{}/login", a.url))
        .form(&[("email", "tess@msp.example"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let set_cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let session = cookie.trim_start_matches("parley_session=").to_owned();
    let mut technician = socket(&a.url, Some(&cookie), None).await;

    // The end user's portal signs a token; the widget talks to B.
    let store = database.open().await.unwrap();
    let workspace = store.default_workspace("unused").await.unwrap();
    let secret = key
        .open(&workspace.widget_secret, WIDGET_SECRET_PURPOSE)
        .expect("the store keeps the widget secret sealed under the shared key");
    let secret = WidgetSecret::parse(&secret).unwrap();
    let now = chrono::Utc::now();
    let claims = WidgetClaims::new(
        "dana@client.example",
        "Dana",
        now,
        now + chrono::Duration::minutes(5),
    );
    let widget: Value = http
        .post(format!("{}/api/v1/widget/session", b.url))
        .json(&json!({"token": sign_widget_token(&claims, secret.as_bytes())}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = widget["access_token"].as_str().unwrap().to_owned();
    let mut end_user = socket(&b.url, None, Some(&access)).await;

    // A chat started on B reaches the technician on A.
    let started: Value = http
        .post(format!("{}/api/v1/conversations", b.url))
        .bearer_auth(&access)
        .json(&json!({"body": "Outlook will not start"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let conversation = started["conversation"]["id"].as_i64().unwrap();
    let arrived = next_of_type(&mut technician, "message").await;
    assert_eq!(arrived["message"]["body"], "Outlook will not start");
    assert_eq!(arrived["message"]["author"]["name"], "Dana");

    // A note and then a reply from A: the end user on B gets only the reply.
    let post = |body: &str, internal: bool| {
        http.post(format!(
            "{}/api/v1/conversations/{conversation}/messages",
            a.url
        ))
        .header("cookie", &cookie)
        .header("x-csrf-token", csrf_token_for(&session))
        .json(&json!({"body": body, "internal": internal}))
        .send()
    };
    assert_eq!(
        post("licence expired, renew first", true)
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        post("Looking at it now", false).await.unwrap().status(),
        201
    );

    // The end user's own first message comes back first; the first message
    // from the help desk must be the reply, so a leaked note would show here.
    let reply = loop {
        let event = next_of_type(&mut end_user, "message").await;
        if event["message"]["author"]["kind"] == "technician" {
            break event;
        }
    };
    assert_eq!(reply["message"]["body"], "Looking at it now");
    assert_eq!(reply["message"]["kind"], "text");
    assert_eq!(reply["message"]["author"]["name"], "Tess Tech");
    let note = next_of_type(&mut technician, "message").await;
    assert_eq!(note["message"]["kind"], "note");
}
