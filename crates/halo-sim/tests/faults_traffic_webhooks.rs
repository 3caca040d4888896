//! The simulator's own machinery: rate limit, injected faults, counters, the
//! request log, the control API and webhooks.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use common::Halo;
use halo_sim::{Faults, HaloAction, RateLimit, Seed, SimConfig, WebhookTarget};
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde_json::{Value, json};

#[tokio::test]
async fn the_rate_limit_answers_429_with_halos_message_and_no_retry_after() {
    let halo = Halo::start(Seed::Empty).await;
    halo.sim.set_rate_limit(Some(RateLimit {
        requests: 3,
        window: Duration::from_secs(300),
    }));

    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(halo.get("/api/Status").await);
    }
    let refused = statuses.pop().unwrap();

    assert!(
        statuses
            .iter()
            .all(|response| response.status() == StatusCode::OK)
    );
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!refused.headers().contains_key(RETRY_AFTER));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["error"],
        "Rate Limit Reached - 3 Requests per rolling 5 minute window"
    );

    halo.sim.set_rate_limit(None);
    assert_eq!(halo.get("/api/Status").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_rate_limit_window_rolls() {
    let config = SimConfig {
        rate_limit: Some(RateLimit {
            requests: 1,
            window: Duration::from_millis(400),
        }),
        ..common::config(Seed::Empty)
    };
    // The token request uses the single slot of the first window.
    let halo = Halo::start_with(config).await;

    let during = halo.get("/api/Status").await;
    tokio::time::sleep(Duration::from_millis(450)).await;
    let after = halo.get("/api/Status").await;

    assert_eq!(during.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(after.status(), StatusCode::OK);
}

#[tokio::test]
async fn fail_next_answers_the_next_requests_with_the_status_then_stops() {
    let halo = Halo::start(Seed::Empty).await;
    halo.sim.set_faults(Faults {
        fail_next: Some((2, 503)),
        ..Faults::default()
    });

    let first = halo.get("/api/Status").await;
    let second = halo.get("/api/Status").await;
    let third = halo.get("/api/Status").await;

    assert_eq!(first.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(second.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(third.status(), StatusCode::OK);
    assert_eq!(halo.sim.faults(), Faults::default());
}

#[tokio::test]
async fn an_error_rate_of_one_fails_every_request_with_500() {
    let halo = Halo::start(Seed::Empty).await;
    halo.sim.set_faults(Faults {
        error_rate: 1.0,
        ..Faults::default()
    });

    for _ in 0..3 {
        let response = halo.get("/api/Status").await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body: Value = response.json().await.unwrap();
        assert!(body["Message"].is_string());
    }
}

#[tokio::test]
async fn latency_delays_answers() {
    let halo = Halo::start(Seed::Empty).await;
    halo.sim.set_faults(Faults {
        latency: Duration::from_millis(250),
        ..Faults::default()
    });

    let started = Instant::now();
    let response = halo.get("/api/Status").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(250));
}

#[tokio::test]
async fn a_dropped_connection_is_a_transport_error_and_the_next_request_works() {
    let halo = Halo::start(Seed::Empty).await;
    halo.sim.set_faults(Faults {
        drop_next: 1,
        ..Faults::default()
    });

    let dropped = tokio::time::timeout(
        Duration::from_secs(5),
        halo.http
            .get(halo.url("/api/Status"))
            .bearer_auth(&halo.token)
            .send(),
    )
    .await
    .expect("a dropped connection fails fast rather than hanging");
    let next = halo.get("/api/Status").await;

    let error = dropped.expect_err("no response for a dropped connection");
    assert!(!error.is_status(), "{error}");
    assert_eq!(next.status(), StatusCode::OK);
    let log = halo.sim.request_log();
    let statuses: Vec<Option<u16>> = log.iter().map(|entry| entry.status).collect();
    assert_eq!(statuses, [Some(200), None, Some(200)]);
}

#[tokio::test]
async fn counters_and_the_log_see_halo_requests_but_no_secret() {
    let halo = Halo::start(Seed::Demo).await;

    halo.get("/api/Tickets?search=printer").await;
    halo.get("/API/tickets/1001").await;
    halo.post(
        "/api/Actions",
        &json!([{"ticket_id": 1001, "outcome": "Private Note"}]),
    )
    .await;
    halo.http
        .get(halo.url("/_sim/counters"))
        .send()
        .await
        .unwrap();

    assert_eq!(halo.sim.requests_to("GET", "tickets"), 2);
    assert_eq!(halo.sim.requests_to("post", "Actions"), 1);
    assert_eq!(halo.sim.requests_to("POST", "auth/token"), 1);
    assert_eq!(
        halo.sim.total_requests(),
        4,
        "the control API is not counted"
    );

    let log = halo.sim.request_log();
    assert_eq!(log[1].path, "/api/Tickets");
    assert_eq!(log[1].query.as_deref(), Some("search=printer"));
    assert_eq!(log[2].endpoint, "GET tickets");
    let printed = serde_json::to_string(&log).unwrap();
    assert!(!printed.contains("parley-secret"));
    assert!(!printed.contains(&halo.token));
}

#[tokio::test]
async fn the_control_api_drives_faults_counters_and_reset() {
    let halo = Halo::start(Seed::Demo).await;
    let control = |path: &str| halo.url(&format!("/_sim{path}"));

    let set = halo
        .http
        .put(control("/faults"))
        .json(&json!({"fail_next": {"count": 1, "status": 502}}))
        .send()
        .await
        .unwrap();
    let failed = halo.get("/api/Status").await;
    halo.create_ticket(json!({"summary": "to be forgotten", "client_id": 12}))
        .await;
    let counters: Value = halo
        .http
        .get(control("/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let requests: Value = halo
        .http
        .get(control("/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reset = halo.http.post(control("/reset")).send().await.unwrap();

    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    assert_eq!(failed.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(counters["endpoints"]["GET status"], 1);
    assert_eq!(counters["total"], 3);
    assert_eq!(requests[1]["status"], 502);
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(halo.sim.ticket_count(), 4);
    assert_eq!(halo.sim.total_requests(), 0);
    assert_eq!(
        halo.get("/api/Status").await.status(),
        StatusCode::OK,
        "tokens survive a reset"
    );
}

#[tokio::test]
async fn faults_set_at_start_apply_from_the_first_request() {
    let config = SimConfig {
        faults: Faults {
            latency: Duration::from_millis(200),
            ..Faults::default()
        },
        ..common::config(Seed::Empty)
    };
    let started = Instant::now();

    let halo = Halo::start_with(config).await;
    let logged_in = started.elapsed();
    let timed = Instant::now();
    let status = halo.get("/api/Status").await.status();

    assert!(logged_in >= Duration::from_millis(200), "{logged_in:?}");
    assert!(timed.elapsed() >= Duration::from_millis(200));
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_control_api_sets_every_kind_of_fault() {
    let halo = Halo::start(Seed::Empty).await;
    let faults = halo.url("/_sim/faults");
    let put = |body: Value| halo.http.put(&faults).json(&body).send();

    put(json!({"latency_ms": 200})).await.unwrap();
    let slow_start = Instant::now();
    let slow = halo.get("/api/Status").await.status();
    let slow_took = slow_start.elapsed();
    let read: Value = halo
        .http
        .get(&faults)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    put(json!({"error_rate": 1.0})).await.unwrap();
    let failing = halo.get("/api/Status").await.status();
    put(json!({"drop_next": 1})).await.unwrap();
    let dropped = halo
        .http
        .get(halo.url("/api/Status"))
        .bearer_auth(&halo.token)
        .send()
        .await;
    let bad_rate = put(json!({"error_rate": 2.0})).await.unwrap().status();
    put(json!({})).await.unwrap();
    let healthy = halo.get("/api/Status").await.status();

    assert_eq!(slow, StatusCode::OK);
    assert!(slow_took >= Duration::from_millis(200), "{slow_took:?}");
    assert_eq!(read["latency_ms"], 200);
    assert_eq!(failing, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(dropped.is_err(), "{dropped:?}");
    assert_eq!(bad_rate, StatusCode::BAD_REQUEST);
    assert_eq!(healthy, StatusCode::OK);
}

#[tokio::test]
async fn the_control_api_sets_the_rate_limit_and_adds_apps() {
    let halo = Halo::start(Seed::Empty).await;
    let control = |path: &str| halo.url(&format!("/_sim{path}"));

    halo.http
        .put(control("/rate-limit"))
        .json(&json!({"requests": 1, "window_secs": 300}))
        .send()
        .await
        .unwrap();
    let limited = [halo.get("/api/Status").await, halo.get("/api/Status").await];
    halo.http
        .put(control("/rate-limit"))
        .json(&Value::Null)
        .send()
        .await
        .unwrap();
    let added = halo
        .http
        .post(control("/apps"))
        .json(&json!({"client_id": "new", "client_secret": "s", "scopes": "read:tickets"}))
        .send()
        .await
        .unwrap();
    let token = common::request_token(&halo.http, &halo.sim.url(), "new", "s", None).await;

    assert_eq!(limited[0].status(), StatusCode::OK);
    assert_eq!(limited[1].status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(added.status(), StatusCode::NO_CONTENT);
    assert_eq!(token.status(), StatusCode::OK);
}

/// What a webhook receiver saw: `(authorization header, payload)`.
type Received = Arc<Mutex<Vec<(Option<String>, Value)>>>;

/// A tiny webhook receiver on a free port; returns its URL and what it receives.
async fn receiver() -> (String, Received) {
    let received = Received::default();
    let app =
        Router::new()
            .route(
                "/hook",
                post(
                    |State(received): State<Received>,
                     headers: HeaderMap,
                     body: axum::Json<Value>| async move {
                        let authorization = headers
                            .get("authorization")
                            .map(|value| value.to_str().unwrap().to_owned());
                        received.lock().unwrap().push((authorization, body.0));
                        AxumStatus::OK
                    },
                ),
            )
            .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// Waits until `received` holds `count` payloads.
async fn wait_for(received: &Received, count: usize) -> Vec<(Option<String>, Value)> {
    for _ in 0..100 {
        if received.lock().unwrap().len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    received.lock().unwrap().clone()
}

#[tokio::test]
async fn changes_are_posted_to_the_webhook_with_basic_auth() {
    let (url, received) = receiver().await;
    let config = SimConfig {
        webhook: Some(WebhookTarget {
            url,
            basic_auth: Some(("halo".into(), "hook-secret".into())),
        }),
        ..common::config(Seed::Demo)
    };
    let halo = Halo::start_with(config).await;

    let ticket = halo
        .create_ticket(json!({"summary": "webhook me", "client_id": 12}))
        .await;
    halo.sim
        .add_action(
            ticket["id"].as_i64().unwrap(),
            &HaloAction {
                agent_id: Some(4),
                note: "On it".into(),
                ..HaloAction::default()
            },
        )
        .unwrap();
    wait_for(&received, 2).await;
    halo.post_created(
        "/api/Tickets",
        &json!([{"id": ticket["id"], "summary": "webhook me again"}]),
    )
    .await;
    let deliveries = wait_for(&received, 3).await;

    assert_eq!(deliveries.len(), 3);
    let expected_auth = format!("Basic {}", base64_of("halo:hook-secret"));
    assert!(
        deliveries
            .iter()
            .all(|(auth, _)| auth.as_deref() == Some(expected_auth.as_str()))
    );
    let (_, logged) = &deliveries[0];
    let (_, answered) = &deliveries[1];
    assert_eq!(logged["event"], "New Ticket Logged");
    assert_eq!(logged["ticket_id"], ticket["id"]);
    assert_eq!(logged["object_id"], ticket["id"]);
    assert_eq!(answered["event"], "Action Added");
    assert_eq!(answered["action_id"], 2);
    assert_eq!(logged["webhook_id"], answered["webhook_id"]);
    assert_ne!(logged["id"], answered["id"]);
    let (_, updated) = &deliveries[2];
    assert_eq!(updated["event"], "Ticket Updated");
    assert_eq!(updated["ticket_id"], ticket["id"]);
    for (_, payload) in &deliveries {
        let timestamp = payload["timestamp"].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(timestamp).is_ok(),
            "{timestamp}"
        );
    }
    // The simulator counts a delivery once the receiver's answer is in, which
    // can be just after the receiver stored the payload.
    for _ in 0..100 {
        if halo.sim.webhook_stats().delivered >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(halo.sim.webhook_stats().delivered, 3);
}

#[tokio::test]
async fn an_unreachable_webhook_is_counted_and_does_no_harm() {
    let halo = Halo::start(Seed::Demo).await;
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let set = halo
        .http
        .put(halo.url("/_sim/webhook"))
        .json(&json!({"url": format!("http://127.0.0.1:{closed_port}/hook")}))
        .send()
        .await
        .unwrap();

    halo.create_ticket(json!({"summary": "nobody listens", "client_id": 12}))
        .await;
    for _ in 0..100 {
        if halo.sim.webhook_stats().failed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen: Value = halo
        .http
        .get(halo.url("/_sim/webhook"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    assert_eq!(set.status(), StatusCode::NO_CONTENT);
    assert_eq!(seen["failed"], 1);
    assert_eq!(seen["delivered"], 0);
    assert_eq!(halo.get("/api/Status").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let halo = Halo::start(Seed::Empty).await;
    let url = halo.url("/api/authinfo");

    halo.sim.shutdown().await;
    let after = halo.http.get(url).send().await;

    assert!(after.is_err());
}

fn base64_of(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(text)
}
