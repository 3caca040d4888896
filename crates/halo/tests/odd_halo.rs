//! Servers that misbehave in ways the simulator does not: lists that ignore
//! paging (the walk must stop instead of looping or duplicating records), and
//! an API that refuses every token (exactly one re-authentication, then an
//! error). These stories use a tiny hand-written HTTP server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use halo::{HaloClient, HaloConfig, HaloError, HostPolicy, Paging, Secret, SiteUrl, TicketQuery};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Requests the fake server answered.
#[derive(Debug, Default)]
struct Counts {
    token: AtomicUsize,
    api: AtomicUsize,
}

/// Serves the token endpoint, and answers every other request with
/// `api_status` and `api_body`; returns the site URL and the request counts.
async fn fake_halo(api_status: &'static str, api_body: Value) -> (String, Arc<Counts>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    let counts = Arc::new(Counts::default());
    let counter = counts.clone();

    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = Vec::new();
            let mut buffer = [0_u8; 4096];
            // Requests here are small: headers and a short form end the read.
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buffer[..n]),
                }
            }
            let head = String::from_utf8_lossy(&request);
            let (status, body) = if head.starts_with("POST /auth/token") {
                counter.token.fetch_add(1, Ordering::SeqCst);
                let token = json!({ "access_token": "fake-token-value", "expires_in": 3600 });
                ("200 OK", token)
            } else {
                counter.api.fetch_add(1, Ordering::SeqCst);
                (api_status, api_body.clone())
            };
            let body = body.to_string();
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    (url, counts)
}

fn client(url: &str) -> HaloClient {
    let site = SiteUrl::parse(url, HostPolicy::AllowPrivate)
        .expect("valid")
        .site;
    HaloClient::new(HaloConfig::new(site, "parley", Secret::new("secret-value"))).expect("client")
}

fn one_per_page() -> TicketQuery {
    TicketQuery {
        paging: Paging {
            page_size: 1,
            limit: None,
        },
        ..TicketQuery::default()
    }
}

#[tokio::test]
async fn a_server_sending_everything_at_once_is_read_in_one_request() {
    let everything = json!({
        "record_count": 3,
        "tickets": [{ "id": 1 }, { "id": 2 }, { "id": 3 }],
    });
    let (url, counts) = fake_halo("200 OK", everything).await;

    let tickets = client(&url)
        .list_tickets(&one_per_page())
        .await
        .expect("tickets");

    assert_eq!(tickets.iter().map(|t| t.id).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(counts.api.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_server_repeating_the_same_page_stops_the_walk() {
    let same_page = json!({ "record_count": 5, "tickets": [{ "id": 7 }] });
    let (url, counts) = fake_halo("200 OK", same_page).await;

    let tickets = client(&url)
        .list_tickets(&one_per_page())
        .await
        .expect("tickets");

    assert_eq!(
        tickets.iter().map(|t| t.id).collect::<Vec<_>>(),
        [7],
        "no duplicates"
    );
    assert_eq!(
        counts.api.load(Ordering::SeqCst),
        2,
        "stopped at the first repeat"
    );
}

#[tokio::test]
async fn a_bare_array_answer_is_accepted_for_a_wrapped_list() {
    let (url, counts) = fake_halo("200 OK", json!([{ "id": 4 }])).await;

    let tickets = client(&url)
        .list_tickets(&one_per_page())
        .await
        .expect("tickets");

    assert_eq!(tickets.iter().map(|t| t.id).collect::<Vec<_>>(), [4]);
    assert_eq!(
        counts.api.load(Ordering::SeqCst),
        2,
        "page 2 repeats page 1, which ends the walk"
    );
}

#[tokio::test]
async fn a_token_refused_again_after_renewal_is_reported_not_looped_on() {
    let (url, counts) = fake_halo("401 Unauthorized", json!(null)).await;

    let error = client(&url).list_statuses().await.expect_err("always 401");

    assert!(matches!(error, HaloError::Unauthorized { ref call } if call == "GET Status"));
    assert!(
        error.to_string().contains("even after signing in again"),
        "{error}"
    );
    assert_eq!(
        counts.token.load(Ordering::SeqCst),
        2,
        "one re-authentication"
    );
    assert_eq!(counts.api.load(Ordering::SeqCst), 2, "one retry");
}
