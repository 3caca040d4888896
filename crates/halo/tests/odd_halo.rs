//! Servers that misbehave in ways the simulator does not: lists that ignore
//! paging (the walk must stop instead of looping or duplicating records), an
//! API that refuses every token (exactly one re-authentication, then an
//! error), records that do not decode (the error names the field path), and a
//! 429 with `Retry-After` (the wait is honoured). These stories use a tiny
//! hand-written HTTP server.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use halo::{
    HaloClient, HaloConfig, HaloError, HostPolicy, Paging, RetryPolicy, Secret, SiteUrl,
    TicketQuery,
};
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
    fake_halo_with_headers(api_status, "", api_body).await
}

/// As [`fake_halo`], adding `api_headers` (each line ending in `\r\n`) to
/// every API answer.
async fn fake_halo_with_headers(
    api_status: &'static str,
    api_headers: &'static str,
    api_body: Value,
) -> (String, Arc<Counts>) {
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
            let (status, headers, body) = if head.starts_with("POST /auth/token") {
                counter.token.fetch_add(1, Ordering::SeqCst);
                let token = json!({ "access_token": "fake-token-value", "expires_in": 3600 });
                ("200 OK", "", token)
            } else {
                counter.api.fetch_add(1, Ordering::SeqCst);
                (api_status, api_headers, api_body.clone())
            };
            let body = body.to_string();
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
                 {headers}Connection: close\r\n\r\n{body}",
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

#[tokio::test]
async fn a_record_that_does_not_decode_names_the_field_path() {
    let listed = json!({ "record_count": 2, "tickets": [{ "id": 1 }, { "id": "twelve" }] });
    let (url, _) = fake_halo("200 OK", listed).await;

    let error = client(&url)
        .list_tickets(&TicketQuery::default())
        .await
        .expect_err("a ticket id that is not a number");

    match &error {
        HaloError::Decode { call, path, .. } => {
            assert_eq!(call, "GET Tickets");
            assert_eq!(path, "tickets[1].id");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(error.to_string().contains("tickets[1].id"), "{error}");
    assert!(!error.is_retryable(), "the same answer would come again");
}

#[tokio::test]
async fn a_single_record_that_does_not_decode_names_its_field() {
    let (url, _) = fake_halo("200 OK", json!({ "id": "five", "summary": "Printer" })).await;

    let error = client(&url)
        .get_ticket(5)
        .await
        .expect_err("an id that is not a number");

    assert!(
        matches!(error, HaloError::Decode { ref path, ref call, .. }
            if path == "id" && call == "GET Tickets/5"),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_before_the_retry() {
    let limited =
        json!({ "error": "Rate Limit Reached - 300 Requests per rolling 5 minute window" });
    let (url, counts) =
        fake_halo_with_headers("429 Too Many Requests", "Retry-After: 1\r\n", limited).await;
    let site = SiteUrl::parse(&url, HostPolicy::AllowPrivate)
        .expect("valid")
        .site;
    let mut config = HaloConfig::new(site, "parley", Secret::new("secret-value"));
    config.retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(10),
        max_elapsed: Duration::from_secs(10),
    };
    let client = HaloClient::new(config).expect("client");
    let started = Instant::now();

    let error = client.list_statuses().await.expect_err("always limited");

    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited {:?}, not the asked-for second",
        started.elapsed()
    );
    match &error {
        HaloError::RateLimited {
            retry_after,
            message,
        } => {
            assert_eq!(*retry_after, Some(Duration::from_secs(1)));
            assert!(
                message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("Rate Limit Reached"))
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(counts.api.load(Ordering::SeqCst), 2, "one retry");
}

#[tokio::test]
async fn a_real_create_response_decodes_through_the_client() {
    let real: Value = serde_json::from_str(include_str!("fixtures/ticket-create-response.json"))
        .expect("the fixture is JSON");
    let (url, counts) = fake_halo("201 Created", real).await;
    let new = halo::model::NewTicket {
        summary: "Halo via API".to_owned(),
        ..halo::model::NewTicket::default()
    };

    let created = client(&url).create_ticket(&new).await.expect("decoded");

    assert_eq!(created.id, 9499);
    assert_eq!(created.reference.as_deref(), Some("IN-0009499"));
    assert_eq!(created.deadlinedate, None, "the year-1900 sentinel");
    assert_eq!(counts.api.load(Ordering::SeqCst), 1);
}
