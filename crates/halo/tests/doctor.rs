//! The connection doctor against the simulator: a good setup passes every
//! check; wrong credentials, a missing permission, a rate-limited or an
//! unreachable Halo each fail where they should, naming the fix.

mod common;

use std::time::{Duration, Instant};

use common::{PARLEY_APP, PARLEY_ID, PARLEY_SECRET, start_sim};
use halo::doctor::{self, CheckStatus, DoctorInput, Report, names};
use halo::{PERMISSIONS_PLACE, Permission, Secret};
use halo_sim::Faults;

fn input(site_url: String, client_id: &str, secret: &str) -> DoctorInput {
    DoctorInput {
        site_url,
        client_id: client_id.to_owned(),
        client_secret: Secret::new(secret),
        tenant: None,
        scopes: None,
        allow_private: true,
        ca_cert_pem: None,
        timeout: Duration::from_secs(3),
    }
}

fn check<'a>(report: &'a Report, name: &str) -> &'a doctor::Check {
    report
        .checks
        .iter()
        .find(|check| check.name == name)
        .unwrap_or_else(|| panic!("no check named {name}: {:?}", report.checks))
}

fn statuses(report: &Report) -> Vec<(&str, CheckStatus)> {
    report
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.status))
        .collect()
}

#[tokio::test]
async fn the_right_setup_passes_every_check_without_writing() {
    let sim = start_sim(&[PARLEY_APP]).await;

    let report = doctor::run(input(
        format!("{}/api/", sim.url()),
        PARLEY_ID,
        PARLEY_SECRET,
    ))
    .await;

    assert!(report.ok, "{:#?}", report.checks);
    assert!(
        report.checks.iter().all(|c| c.status == CheckStatus::Pass),
        "{:#?}",
        report.checks
    );
    let names: Vec<&str> = report.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Site URL",
            "Halo answers",
            "Client ID and Secret",
            "Permission read:tickets",
            "Permission edit:tickets",
            "Permission read:customers",
            "Permission read:crm",
            "Application agent",
            "Ticket types",
            "Statuses",
            "Priorities",
            "Outcomes",
        ]
    );
    assert!(
        check(&report, names::SITE_URL)
            .detail
            .contains("removed the \"/api/\" path")
    );
    assert!(check(&report, names::AGENT).detail.contains("Admin (id 3)"));

    let lists = report.lists.as_ref().expect("lists after a good login");
    assert_eq!(
        lists.agent.as_ref().map(|a| a.id),
        Some(halo_sim::API_AGENT_ID)
    );
    assert_eq!(lists.priorities.len(), 4, "de-duplicated");
    assert!(!lists.ticket_types.is_empty() && !lists.statuses.is_empty());
    assert!(lists.outcomes.iter().any(|o| o.hidefromuser));

    assert_eq!(sim.requests_to("POST", "tickets"), 0);
    assert_eq!(sim.requests_to("POST", "actions"), 0);
    assert_eq!(sim.requests_to("POST", "attachment"), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_credentials_name_the_client_id_and_secret() {
    let sim = start_sim(&[PARLEY_APP]).await;

    let report = doctor::run(input(sim.url(), PARLEY_ID, "not-the-secret")).await;

    assert!(!report.ok);
    let credentials = check(&report, names::CREDENTIALS);
    assert_eq!(credentials.status, CheckStatus::Fail);
    assert!(
        credentials.detail.contains("Client ID or Secret"),
        "{}",
        credentials.detail
    );
    assert!(
        credentials
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("Active"))
    );
    assert!(!format!("{report:?}").contains("not-the-secret"));
    assert_eq!(
        &statuses(&report)[..3],
        [
            ("Site URL", CheckStatus::Pass),
            ("Halo answers", CheckStatus::Pass),
            ("Client ID and Secret", CheckStatus::Fail),
        ]
    );
    assert!(
        report.checks[3..]
            .iter()
            .all(|c| c.status == CheckStatus::Skip)
    );
    assert!(report.lists.is_none());
    sim.shutdown().await;
}

#[tokio::test]
async fn an_empty_secret_is_caught_before_asking_halo() {
    let sim = start_sim(&[PARLEY_APP]).await;

    let report = doctor::run(input(sim.url(), PARLEY_ID, "  ")).await;

    let credentials = check(&report, names::CREDENTIALS);
    assert_eq!(credentials.status, CheckStatus::Fail);
    assert_eq!(credentials.detail, "the Client Secret is empty");
    assert_eq!(sim.requests_to("POST", "auth/token"), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_missing_permission_is_named_with_where_to_tick_it() {
    let sim =
        start_sim(&["limited:limited-secret-1:read:tickets edit:tickets read:customers"]).await;

    let report = doctor::run(input(sim.url(), "limited", "limited-secret-1")).await;

    assert!(!report.ok);
    let crm = check(&report, &names::permission(Permission::ReadCrm));
    assert_eq!(crm.status, CheckStatus::Fail);
    assert!(crm.detail.contains("read:crm"), "{}", crm.detail);
    assert!(crm.detail.contains("role of the agent"), "{}", crm.detail);
    let fix = crm.fix.as_deref().expect("a fix");
    assert!(
        fix.contains("Tick read:crm") && fix.contains(PERMISSIONS_PLACE),
        "{fix}"
    );
    for passing in [
        Permission::ReadTickets,
        Permission::EditTickets,
        Permission::ReadCustomers,
    ] {
        assert_eq!(
            check(&report, &names::permission(passing)).status,
            CheckStatus::Pass
        );
    }
    assert_eq!(
        check(&report, names::TICKET_TYPES).status,
        CheckStatus::Pass
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn edit_tickets_is_judged_from_the_granted_scopes() {
    let sim = start_sim(&["reader:reader-secret-1:read:tickets read:customers read:crm"]).await;

    let report = doctor::run(input(sim.url(), "reader", "reader-secret-1")).await;

    let edit = check(&report, &names::permission(Permission::EditTickets));
    assert_eq!(edit.status, CheckStatus::Fail);
    assert!(
        edit.detail.contains("did not grant edit:tickets"),
        "{}",
        edit.detail
    );
    assert!(
        edit.fix
            .as_deref()
            .is_some_and(|f| f.contains("Tick edit:tickets"))
    );
    assert_eq!(
        sim.requests_to("POST", "tickets"),
        0,
        "never tested by writing"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_rate_limited_halo_fails_clearly_and_skips_the_rest() {
    let sim = start_sim(&[PARLEY_APP]).await;
    sim.set_faults(Faults {
        fail_next: Some((50, 429)),
        ..Faults::default()
    });
    let started = Instant::now();

    let report = doctor::run(input(sim.url(), PARLEY_ID, PARLEY_SECRET)).await;

    assert!(!report.ok);
    let answers = check(&report, names::HALO_ANSWERS);
    assert_eq!(answers.status, CheckStatus::Fail);
    assert!(answers.detail.contains("429"), "{}", answers.detail);
    assert!(answers.fix.as_deref().is_some_and(|f| f.contains("300")));
    let rest = &report.checks[2..];
    assert!(
        rest.iter().all(|c| c.status == CheckStatus::Skip),
        "{rest:#?}"
    );
    assert!(
        rest.iter()
            .all(|c| c.detail.contains("limiting the request rate"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no long waiting"
    );
    assert!(sim.total_requests() <= 2, "one retry at most");
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_site_fails_cleanly_and_quickly() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("an address").port();
    drop(listener);
    let started = Instant::now();

    let report = doctor::run(input(format!("http://127.0.0.1:{port}"), PARLEY_ID, "s")).await;

    assert!(!report.ok);
    let answers = check(&report, names::HALO_ANSWERS);
    assert_eq!(answers.status, CheckStatus::Fail);
    assert!(
        answers.detail.starts_with("could not connect to 127.0.0.1"),
        "{}",
        answers.detail
    );
    assert!(
        answers
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("firewall"))
    );
    assert!(
        report.checks[2..]
            .iter()
            .all(|c| c.status == CheckStatus::Skip)
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_private_site_is_refused_unless_allowed() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let mut refused = input(sim.url(), PARLEY_ID, PARLEY_SECRET);
    refused.allow_private = false;

    let report = doctor::run(refused).await;

    let site = check(&report, names::SITE_URL);
    assert_eq!(site.status, CheckStatus::Fail);
    assert!(
        site.detail.contains("private or local address"),
        "{}",
        site.detail
    );
    assert_eq!(sim.total_requests(), 0, "nothing was sent");
    sim.shutdown().await;
}
