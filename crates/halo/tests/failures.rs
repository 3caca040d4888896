//! What goes wrong, and how the client reacts: refused permissions, rate
//! limits, server errors (retried for reads, never for writes), dropped
//! connections, timeouts, an unreachable site, TLS trouble and the budget.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{PARLEY_APP, config, parley_client, start_sim};
use halo::model::{NewAction, NewAttachment, NewTicket};
use halo::{
    ActionQuery, AgentQuery, Budget, BudgetConfig, ClientQuery, HaloClient, HaloConfig, HaloError,
    HostPolicy, Permission, RetryPolicy, Secret, SiteUrl,
};
use halo_sim::{Faults, RateLimit};

fn new_ticket() -> NewTicket {
    NewTicket {
        summary: "Chat: printer".to_owned(),
        ..NewTicket::default()
    }
}

#[tokio::test]
async fn a_missing_permission_is_named_with_the_agents_role() {
    let sim =
        start_sim(&["limited:limited-secret-1:read:tickets edit:tickets read:customers"]).await;
    let client = HaloClient::new(config(&sim, "limited", "limited-secret-1")).expect("client");

    let error = client
        .list_users(&Default::default())
        .await
        .expect_err("no read:crm");

    assert_eq!(error.permission(), Some(Permission::ReadCrm));
    let message = error.to_string();
    assert!(
        message.contains("GET Users") && message.contains("403"),
        "{message}"
    );
    assert!(message.contains("read:crm"), "{message}");
    assert!(message.contains("role of the agent"), "{message}");
    assert!(
        error
            .fix()
            .is_some_and(|fix| fix.contains(halo::PERMISSIONS_PLACE))
    );
    assert_eq!(sim.requests_to("GET", "users"), 1, "a 403 is not retried");
    sim.shutdown().await;
}

#[tokio::test]
async fn every_call_names_the_permission_of_the_table_when_refused() {
    let sim = start_sim(&["reader:reader-secret-1:read:tickets"]).await;
    let client = HaloClient::new(config(&sim, "reader", "reader-secret-1")).expect("client");
    let note = NewAction::private_note(1001, "Private Note", "<p>x</p>");
    let file = NewAttachment::new("x.txt", "text/plain", b"x").for_ticket(1001);

    let refused = [
        (
            "GET Client",
            client.list_clients(&ClientQuery::default()).await.err(),
        ),
        ("GET Site", client.list_sites(12).await.err()),
        (
            "GET Agent",
            client.list_agents(&AgentQuery::default()).await.err(),
        ),
        (
            "GET Users",
            client.find_users_by_email("a@b.example").await.err(),
        ),
        (
            "POST Tickets",
            client.create_ticket(&new_ticket()).await.err(),
        ),
        ("POST Actions", client.create_action(&note).await.err()),
        (
            "POST Attachment",
            client.upload_attachment(&file).await.err(),
        ),
    ];
    let allowed = [
        client.list_statuses().await.err(),
        client.list_ticket_types().await.err(),
        client.list_priorities().await.err(),
        client.list_outcomes().await.err(),
        client
            .list_actions(1001, &ActionQuery::default())
            .await
            .err(),
        client.list_attachments(1001, None).await.err(),
    ];

    let named: Vec<(&str, Option<Permission>)> = refused
        .iter()
        .map(|(call, error)| (*call, error.as_ref().and_then(HaloError::permission)))
        .collect();
    assert_eq!(
        named,
        [
            ("GET Client", Some(Permission::ReadCustomers)),
            ("GET Site", Some(Permission::ReadCustomers)),
            ("GET Agent", Some(Permission::ReadCrm)),
            ("GET Users", Some(Permission::ReadCrm)),
            ("POST Tickets", Some(Permission::EditTickets)),
            ("POST Actions", Some(Permission::EditTickets)),
            ("POST Attachment", Some(Permission::EditTickets)),
        ]
    );
    for (call, error) in &refused {
        let message = error.as_ref().map(ToString::to_string).unwrap_or_default();
        assert!(message.contains(call), "{message}");
        assert!(message.contains("role of the agent"), "{message}");
    }
    assert!(allowed.iter().all(Option::is_none), "{allowed:?}");
    assert_eq!(sim.ticket_count(), 4, "nothing was written");
    sim.shutdown().await;
}

#[tokio::test]
async fn edit_tickets_alone_also_reads_tickets() {
    let sim = start_sim(&["editor:editor-secret-1:edit:tickets"]).await;
    let mut config = config(&sim, "editor", "editor-secret-1");
    config.scopes = "edit:tickets".to_owned();
    let client = HaloClient::new(config).expect("client");

    let tickets = client
        .list_tickets(&Default::default())
        .await
        .expect("read under edit:tickets");

    assert_eq!(tickets.len(), sim.ticket_count());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_429_on_a_write_is_not_retried() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);
    client.authenticate().await.expect("a token");
    let before = sim.ticket_count();
    sim.set_faults(Faults {
        fail_next: Some((1, 429)),
        ..Faults::default()
    });

    let error = client.create_ticket(&new_ticket()).await.expect_err("429");

    assert!(matches!(error, HaloError::RateLimited { .. }), "{error:?}");
    assert!(error.is_retryable(), "the caller may decide to retry");
    assert_eq!(sim.requests_to("POST", "tickets"), 1, "exactly one POST");
    assert_eq!(sim.ticket_count(), before);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_429_on_a_read_is_retried_and_then_succeeds() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);
    client.authenticate().await.expect("a token");
    sim.set_faults(Faults {
        fail_next: Some((1, 429)),
        ..Faults::default()
    });

    let statuses = client.list_statuses().await.expect("retried");

    assert!(!statuses.is_empty());
    assert_eq!(sim.requests_to("GET", "status"), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_lasting_rate_limit_gives_rate_limited_with_halos_message() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);
    client.authenticate().await.expect("a token");
    sim.set_rate_limit(Some(RateLimit {
        requests: 1,
        window: Duration::from_secs(60),
    }));
    client.list_statuses().await.expect("within the limit");

    let error = client.list_statuses().await.expect_err("over the limit");

    match &error {
        HaloError::RateLimited { message, .. } => {
            assert!(
                message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("Rate Limit Reached"))
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(error.is_retryable());
    assert_eq!(
        sim.requests_to("GET", "status"),
        1 + 3,
        "three attempts for the second read"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_server_error_on_a_read_is_retried() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);
    client.authenticate().await.expect("a token");
    sim.set_faults(Faults {
        fail_next: Some((2, 503)),
        ..Faults::default()
    });

    client
        .list_outcomes()
        .await
        .expect("third attempt succeeds");

    assert_eq!(sim.requests_to("GET", "outcome"), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_server_error_that_lasts_is_reported_after_bounded_attempts() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);
    client.authenticate().await.expect("a token");
    sim.set_faults(Faults {
        fail_next: Some((10, 500)),
        ..Faults::default()
    });

    let error = client.list_outcomes().await.expect_err("keeps failing");

    assert!(
        matches!(error, HaloError::Server { status: 500, .. }),
        "{error:?}"
    );
    assert_eq!(sim.requests_to("GET", "outcome"), 3, "max_attempts");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_server_error_on_a_write_is_not_retried() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);
    client.authenticate().await.expect("a token");
    let before = sim.ticket_count();
    sim.set_faults(Faults {
        fail_next: Some((1, 500)),
        ..Faults::default()
    });

    let error = client.create_ticket(&new_ticket()).await.expect_err("500");

    assert!(
        matches!(error, HaloError::Server { status: 500, .. }),
        "{error:?}"
    );
    assert_eq!(sim.requests_to("POST", "tickets"), 1, "exactly one POST");
    assert_eq!(sim.ticket_count(), before);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_dropped_connection_is_retried_for_a_read_but_not_a_write() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);
    client.authenticate().await.expect("a token");

    sim.set_faults(Faults {
        drop_next: 1,
        ..Faults::default()
    });
    client
        .list_statuses()
        .await
        .expect("retried after the drop");
    sim.set_faults(Faults {
        drop_next: 1,
        ..Faults::default()
    });
    let error = client
        .create_ticket(&new_ticket())
        .await
        .expect_err("dropped");

    assert_eq!(sim.requests_to("GET", "status"), 2);
    assert!(matches!(error, HaloError::Transport { .. }), "{error:?}");
    assert!(error.is_retryable(), "the caller may decide to retry");
    assert_eq!(sim.requests_to("POST", "tickets"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_slow_halo_times_out() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let mut config = config(&sim, common::PARLEY_ID, common::PARLEY_SECRET);
    config.timeout = Duration::from_millis(300);
    config.retry = RetryPolicy::NEVER;
    let client = HaloClient::new(config).expect("client");
    client.authenticate().await.expect("a token");
    sim.set_faults(Faults {
        latency: Duration::from_secs(2),
        ..Faults::default()
    });
    let started = Instant::now();

    let error = client.list_statuses().await.expect_err("too slow");

    assert!(matches!(error, HaloError::Timeout { .. }), "{error:?}");
    assert!(error.to_string().contains("within 0.3 s"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
    sim.set_faults(Faults::default());
    sim.shutdown().await;
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    listener.local_addr().expect("an address").port()
}

#[tokio::test]
async fn an_unreachable_site_fails_to_connect_quickly() {
    let port = closed_port().await;
    let site = SiteUrl::parse(
        &format!("http://127.0.0.1:{port}"),
        HostPolicy::AllowPrivate,
    )
    .expect("valid")
    .site;
    let mut config = HaloConfig::new(site, "parley", Secret::new("secret-value"));
    config.retry = common::fast_retry();
    let client = HaloClient::new(config).expect("client");

    let error = client.auth_info().await.expect_err("nothing listens");

    match &error {
        HaloError::Connect { host, reason } => {
            assert_eq!(host, "127.0.0.1");
            assert!(reason.to_lowercase().contains("refused"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(error.fix().is_some_and(|fix| fix.contains("reach")));
}

#[tokio::test]
async fn https_to_a_server_that_does_not_speak_tls_is_a_tls_failure() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let https = sim.url().replace("http://", "https://");
    let site = SiteUrl::parse(&https, HostPolicy::AllowPrivate)
        .expect("valid")
        .site;
    let mut config = HaloConfig::new(site, common::PARLEY_ID, Secret::new(common::PARLEY_SECRET));
    config.retry = RetryPolicy::NEVER;
    let client = HaloClient::new(config).expect("client");

    let error = client.auth_info().await.expect_err("not TLS");

    assert!(matches!(error, HaloError::Tls { .. }), "{error:?}");
    assert!(error.fix().is_some_and(|fix| fix.contains("internal CA")));
    sim.shutdown().await;
}

#[tokio::test]
async fn an_exhausted_budget_stops_requests_before_they_reach_halo() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let budget = Arc::new(Budget::new(
        "test",
        BudgetConfig {
            capacity: 3,
            window: Duration::from_secs(60),
            max_wait: Duration::ZERO,
        },
    ));
    let mut config = config(&sim, common::PARLEY_ID, common::PARLEY_SECRET);
    config.budget = Some(budget.clone());
    let client = HaloClient::new(config).expect("client");

    client.list_statuses().await.expect("token + first read");
    client.list_statuses().await.expect("second read");
    let error = client.list_statuses().await.expect_err("budget used up");

    assert!(
        matches!(error, HaloError::BudgetExhausted { capacity: 3, .. }),
        "{error:?}"
    );
    assert_eq!(budget.used_in_window(), 3);
    assert_eq!(budget.remaining(), 0);
    assert_eq!(sim.total_requests(), 3);
    sim.shutdown().await;
}

#[tokio::test]
async fn clients_of_one_site_share_its_budget() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let first = parley_client(&sim);
    let second = parley_client(&sim);

    first.list_statuses().await.expect("read");
    second.list_statuses().await.expect("read");

    assert!(Arc::ptr_eq(first.budget(), second.budget()));
    assert_eq!(
        first.budget().used_in_window(),
        4,
        "two token requests and two reads"
    );
    assert_eq!(first.budget().remaining(), 300 - 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn errors_never_show_the_secret_or_the_token() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);
    client.authenticate().await.expect("a token");
    sim.set_faults(Faults {
        fail_next: Some((3, 500)),
        ..Faults::default()
    });

    let error = client.list_statuses().await.expect_err("500s");

    let shown = format!("{error} {error:?} {client:?}");
    assert!(!shown.contains(common::PARLEY_SECRET), "{shown}");
    assert!(
        shown.contains("[redacted]"),
        "the client's Debug redacts its secret"
    );
    sim.shutdown().await;
}
