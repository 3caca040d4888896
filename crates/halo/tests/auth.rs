//! Signing in: token reuse, one shared refresh for concurrent callers, one
//! re-authentication on 401, and the credential and scope errors an admin sees.

mod common;

use std::time::Duration;

use common::{PARLEY_APP, PARLEY_ID, config, parley_client, start_sim, start_sim_with};
use halo::{HaloClient, HaloError, Permission};

#[tokio::test]
async fn one_token_serves_many_calls() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);

    for _ in 0..5 {
        client.list_statuses().await.expect("statuses");
    }
    client.agent_me().await.expect("me");

    assert_eq!(sim.requests_to("POST", "auth/token"), 1);
    assert_eq!(sim.requests_to("GET", "status"), 5);
    sim.shutdown().await;
}

#[tokio::test]
async fn concurrent_callers_share_one_token_request() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);

    let calls: Vec<_> = (0..10)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.list_outcomes().await })
        })
        .collect();
    for call in calls {
        call.await.expect("no panic").expect("outcomes");
    }

    assert_eq!(sim.requests_to("POST", "auth/token"), 1);
    assert_eq!(sim.requests_to("GET", "outcome"), 10);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_token_refused_with_401_is_renewed_once_and_the_call_retried() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);
    client.list_statuses().await.expect("first call");

    sim.expire_tokens();
    let statuses = client.list_statuses().await.expect("renewed and retried");

    assert!(!statuses.is_empty());
    assert_eq!(sim.requests_to("POST", "auth/token"), 2);
    assert_eq!(
        sim.requests_to("GET", "status"),
        3,
        "first, refused, retried"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_short_lived_token_is_renewed_before_it_expires() {
    let sim = start_sim_with(&[PARLEY_APP], Duration::from_secs(2)).await;
    let client = parley_client(&sim);
    client.list_statuses().await.expect("first call");

    tokio::time::sleep(Duration::from_millis(1900)).await;
    client.list_statuses().await.expect("second call");

    assert_eq!(sim.requests_to("POST", "auth/token"), 2);
    assert_eq!(
        sim.requests_to("GET", "status"),
        2,
        "no call was refused with 401"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn granted_scopes_are_recorded() {
    let sim = start_sim(&["narrow:narrow-secret-99:read:tickets read:customers"]).await;
    let client = HaloClient::new(config(&sim, "narrow", "narrow-secret-99")).expect("client");

    let token = client.authenticate().await.expect("a token");

    assert_eq!(
        token.granted_scopes,
        Some(vec!["read:tickets".to_owned(), "read:customers".to_owned()])
    );
    assert_eq!(token.grants(Permission::EditTickets), Some(false));
    assert_eq!(token.grants(Permission::ReadTickets), Some(true));
    assert_eq!(token.lifetime, Duration::from_secs(3600));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_wrong_secret_names_the_client_id_and_secret() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = HaloClient::new(config(&sim, PARLEY_ID, "wrong-secret-value")).expect("client");

    let error = client
        .list_tickets(&Default::default())
        .await
        .expect_err("refused");

    assert!(
        matches!(error, HaloError::InvalidClient { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with("Halo refused the Client ID or Secret"),
        "{message}"
    );
    assert!(!message.contains("wrong-secret-value"), "{message}");
    assert_eq!(
        sim.requests_to("POST", "auth/token"),
        1,
        "a refusal is not retried"
    );
    assert_eq!(sim.requests_to("GET", "tickets"), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unknown_client_id_is_invalid_client_too() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = HaloClient::new(config(&sim, "nobody", "whatever-secret")).expect("client");

    let error = client.authenticate().await.expect_err("refused");

    assert!(
        matches!(error, HaloError::InvalidClient { .. }),
        "{error:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unknown_scope_is_named() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let mut config = config(&sim, PARLEY_ID, common::PARLEY_SECRET);
    config.scopes = "read:tickets read:actions".to_owned();
    let client = HaloClient::new(config).expect("client");

    let error = client.authenticate().await.expect_err("refused");

    match &error {
        HaloError::InvalidScope {
            scopes,
            description,
        } => {
            assert_eq!(scopes, "read:tickets read:actions");
            assert!(
                description
                    .as_deref()
                    .is_some_and(|d| d.contains("read:actions")),
                "{description:?}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        error
            .fix()
            .is_some_and(|fix| fix.contains(halo::DEFAULT_SCOPES))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn all_is_an_accepted_scope() {
    let sim = start_sim(&["admin-app:admin-secret-1:all"]).await;
    let mut config = config(&sim, "admin-app", "admin-secret-1");
    config.scopes = "all".to_owned();
    let client = HaloClient::new(config).expect("client");

    let token = client.authenticate().await.expect("a token");

    assert_eq!(token.grants(Permission::EditTickets), Some(true));
    sim.shutdown().await;
}

#[tokio::test]
async fn the_tenant_is_sent_and_accepted() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let mut config = config(&sim, PARLEY_ID, common::PARLEY_SECRET);
    config.tenant = Some("acme".to_owned());
    let client = HaloClient::new(config).expect("client");

    client.authenticate().await.expect("a token");

    let log = sim.request_log();
    let token_request = log
        .iter()
        .find(|entry| entry.endpoint == "POST auth/token")
        .expect("the token request is logged");
    assert_eq!(token_request.query.as_deref(), Some("tenant=acme"));
    assert_eq!(token_request.status, Some(200));
    sim.shutdown().await;
}
