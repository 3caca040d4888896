//! Logging in with client credentials and what a token may do.

mod common;

use std::time::Duration;

use common::{Halo, access_token, any_port, config, request_token};
use halo_sim::{App, Seed, SimConfig, Simulator};
use reqwest::StatusCode;
use reqwest::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use serde_json::Value;

#[tokio::test]
async fn client_credentials_give_a_bearer_token_with_the_granted_scopes() {
    let halo = Halo::start(Seed::Empty).await;

    let response = request_token(
        &halo.http,
        &halo.sim.url(),
        "parley",
        "parley-secret",
        Some("read:tickets edit:tickets read:customers read:crm"),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(
        body["scope"],
        "read:tickets edit:tickets read:customers read:crm"
    );
    assert!(
        body["access_token"]
            .as_str()
            .is_some_and(|token| token.len() > 20)
    );
    assert_eq!(body["id_token"].as_str().unwrap().split('.').count(), 3);
}

#[tokio::test]
async fn the_answer_names_only_the_scopes_the_application_was_granted() {
    let halo = Halo::start(Seed::Empty).await;

    let response = request_token(
        &halo.http,
        &halo.sim.url(),
        "reader",
        "reader-secret",
        Some("read:tickets edit:tickets"),
    )
    .await;

    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "read:tickets");
}

#[tokio::test]
async fn a_wrong_secret_or_unknown_client_is_invalid_client_401() {
    let halo = Halo::start(Seed::Empty).await;

    for (client_id, secret) in [("parley", "wrong"), ("nobody", "parley-secret")] {
        let response = request_token(&halo.http, &halo.sim.url(), client_id, secret, None).await;

        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{client_id}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client");
        assert!(body["error_description"].is_string());
    }
}

#[tokio::test]
async fn read_actions_is_not_a_halo_scope() {
    let halo = Halo::start(Seed::Empty).await;

    let response = request_token(
        &halo.http,
        &halo.sim.url(),
        "parley",
        "parley-secret",
        Some("read:tickets read:actions"),
    )
    .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_scope");
}

#[tokio::test]
async fn other_grant_types_are_unsupported() {
    let halo = Halo::start(Seed::Empty).await;

    let response = halo
        .http
        .post(halo.url("/auth/token"))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "parley"),
            ("client_secret", "parley-secret"),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn a_tenant_is_accepted_as_query_or_form_field() {
    let halo = Halo::start(Seed::Empty).await;
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "parley"),
        ("client_secret", "parley-secret"),
        ("tenant", "acme"),
    ];

    let by_form = halo
        .http
        .post(halo.url("/auth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let by_query = halo
        .http
        .post(halo.url("/auth/token?tenant=acme"))
        .form(&form[..3])
        .send()
        .await
        .unwrap();

    assert_eq!(by_form.status(), StatusCode::OK);
    assert_eq!(by_query.status(), StatusCode::OK);
}

#[tokio::test]
async fn authinfo_is_anonymous_and_points_at_the_auth_server() {
    let halo = Halo::start(Seed::Empty).await;

    let response = halo
        .http
        .get(halo.url("/api/authinfo"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["auth_url"], format!("{}/auth", halo.sim.url()));
}

#[tokio::test]
async fn api_calls_without_a_valid_token_are_401() {
    let halo = Halo::start(Seed::Empty).await;

    let anonymous = halo.http.get(halo.url("/api/Status")).send().await.unwrap();
    let forged = halo
        .http
        .get(halo.url("/api/Status"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();

    for response in [anonymous, forged] {
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers().contains_key(WWW_AUTHENTICATE));
    }
}

#[tokio::test]
async fn an_expired_token_is_401_and_a_new_one_works() {
    let config = SimConfig {
        token_lifetime: Duration::from_millis(300),
        ..config(Seed::Empty)
    };
    let halo = Halo::start_with(config).await;
    assert_eq!(halo.get("/api/Status").await.status(), StatusCode::OK);

    tokio::time::sleep(Duration::from_millis(400)).await;
    let expired = halo.get("/api/Status").await;
    let fresh = access_token(&halo.http, &halo.sim.url(), "parley", "parley-secret", None).await;
    let renewed = halo
        .http
        .get(halo.url("/api/Status"))
        .bearer_auth(fresh)
        .send()
        .await
        .unwrap();

    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    let challenge = expired.headers()[WWW_AUTHENTICATE].to_str().unwrap();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    assert_eq!(renewed.status(), StatusCode::OK);
}

#[tokio::test]
async fn expire_tokens_invalidates_every_issued_token() {
    let halo = Halo::start(Seed::Empty).await;

    halo.sim.expire_tokens();

    assert_eq!(
        halo.get("/api/Status").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_missing_permission_is_403_with_an_empty_body() {
    let halo = Halo::start(Seed::Demo).await;
    let reader = access_token(&halo.http, &halo.sim.url(), "reader", "reader-secret", None).await;

    let users = halo
        .http
        .get(halo.url("/api/Users"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    let new_ticket = halo
        .http
        .post(halo.url("/api/Tickets"))
        .bearer_auth(&reader)
        .json(&serde_json::json!([{"summary": "not allowed"}]))
        .send()
        .await
        .unwrap();
    let tickets = halo
        .http
        .get(halo.url("/api/Tickets"))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();

    for refused in [users, new_ticket] {
        assert_eq!(refused.status(), StatusCode::FORBIDDEN);
        assert!(!refused.headers().contains_key(RETRY_AFTER));
        assert_eq!(refused.bytes().await.unwrap().len(), 0);
    }
    assert_eq!(tickets.status(), StatusCode::OK);
}

#[tokio::test]
async fn agent_me_is_the_agent_the_application_logs_in_as() {
    let halo = Halo::start(Seed::Empty).await;

    let me = halo.get_json("/api/Agent/me").await;

    assert_eq!(me["id"], halo_sim::API_AGENT_ID);
    assert_eq!(me["name"], "Admin");
}

#[tokio::test]
async fn apps_added_at_runtime_can_log_in() {
    let sim = Simulator::start(any_port(), SimConfig::default())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let before = request_token(&http, &sim.url(), "late", "late-secret", None).await;

    sim.add_app(App::parse("late:late-secret:read:tickets").unwrap());
    let after = request_token(&http, &sim.url(), "late", "late-secret", None).await;

    assert_eq!(before.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(after.status(), StatusCode::OK);
    sim.shutdown().await;
}
