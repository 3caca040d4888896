//! What the client writes to the log: every span and event field, at every
//! level, while it signs in, retries failing reads and signs in again after a
//! refused token. The client secret and the access token must never appear.
//!
//! A small recording subscriber stands in for the service's real one, so that
//! this crate needs no extra dependency for the story.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use halo::{HaloClient, HaloConfig, HostPolicy, RetryPolicy, Secret, SiteUrl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

const SECRET: &str = "client-secret-never-logged";
const TOKEN: &str = "access-token-never-logged";

/// Everything logged, one line per span or event, fields as `name=value`.
#[derive(Clone, Default)]
struct Recorder {
    lines: Arc<Mutex<Vec<String>>>,
    next_id: Arc<AtomicU64>,
}

/// Collects the fields of one span or event into a line.
struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl Recorder {
    fn push(&self, line: Line) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push(line.0);
        }
    }

    fn text(&self) -> String {
        self.lines
            .lock()
            .map(|lines| lines.join("\n"))
            .unwrap_or_default()
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut line = Line(format!("span {}:", span.metadata().name()));
        span.record(&mut line);
        self.push(line);
        Id::from_u64(self.next_id.fetch_add(1, Ordering::SeqCst) + 1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut line = Line("record:".to_owned());
        values.record(&mut line);
        self.push(line);
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line(format!("event {}:", event.metadata().level()));
        event.record(&mut line);
        self.push(line);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// A Halo whose token endpoint issues [`TOKEN`] and echoes the request form
/// back in its error text, and whose API answers `api_status` with the
/// request's headers echoed in the body (the bearer token included).
async fn echoing_halo(api_status: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("an address"));

    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buffer = [0_u8; 4096];
            // Wait for the headers, then give a short form body time to arrive.
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buffer)).await
            {
                request.extend_from_slice(&buffer[..n]);
            }
            let head = String::from_utf8_lossy(&request).into_owned();

            let (status, body) = if head.starts_with("POST /auth/token") {
                let token = serde_json::json!({ "access_token": TOKEN, "expires_in": 3600 });
                ("200 OK", token.to_string())
            } else {
                let echo = serde_json::json!({ "Message": head });
                (api_status, echo.to_string())
            };
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    url
}

fn client(url: &str) -> HaloClient {
    let site = SiteUrl::parse(url, HostPolicy::AllowPrivate)
        .expect("valid")
        .site;
    let mut config = HaloConfig::new(site, "parley", Secret::new(SECRET));
    config.retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(10),
        max_elapsed: Duration::from_secs(5),
    };
    HaloClient::new(config).expect("client")
}

#[tokio::test]
async fn neither_the_secret_nor_the_token_reaches_a_log_line() {
    let failing = echoing_halo("500 Internal Server Error").await;
    let refusing = echoing_halo("401 Unauthorized").await;
    let recorder = Recorder::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());

    let server_error = client(&failing).list_statuses().await.expect_err("500");
    let refused = client(&refusing).list_statuses().await.expect_err("401");

    let logged = recorder.text();
    assert!(logged.contains("retrying a Halo request"), "{logged}");
    assert!(logged.contains("signing in again"), "{logged}");
    assert!(logged.contains("halo_request"), "{logged}");
    assert!(!logged.contains(SECRET), "{logged}");
    assert!(!logged.contains(TOKEN), "{logged}");
    let shown = format!("{server_error} {server_error:?} {refused} {refused:?}");
    assert!(
        shown.contains("[redacted]"),
        "the echoed token is scrubbed: {shown}"
    );
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
}
