//! `HaloPsa`, the Halo implementation of the `Psa` trait, against the
//! simulator's demo seed: every method, how Halo's failures map to the sync
//! engine's `PsaError` (through the simulator's fault injection), that
//! private notes never reach `ticket_with_visible_notes`, that a created
//! ticket is found by its marker, and what each call costs in Halo requests.

use std::time::Duration;

use halo::{HaloConfig, HostPolicy, RetryPolicy, Secret, SiteUrl, UserQuery};
use halo_sim::{App, Faults, HaloAction, RunningSim, Seed, SimConfig, Simulator};
use parley::psa::{
    Contact, HaloPsa, NewPsaFile, NewPsaNote, NewPsaTicket, Psa, PsaError, TicketDefaults,
};

const PARLEY: &str = "parley:parley-secret-1234:read:tickets edit:tickets read:customers read:crm";
const READ_ONLY: &str = "reader:reader-secret-1234:read:tickets read:customers read:crm";

/// Demo ids (halo-sim's seed): the closed status and a ticket with a private note.
const CLOSED: i64 = 9;

async fn start_sim() -> RunningSim {
    let config = SimConfig {
        seed: Seed::Demo,
        apps: [PARLEY, READ_ONLY]
            .iter()
            .map(|spec| App::parse(spec).expect("a valid app spec"))
            .collect(),
        ..SimConfig::default()
    };
    Simulator::start("127.0.0.1:0".parse().expect("an address"), config)
        .await
        .expect("the simulator starts")
}

/// The demo seed's setup, as an admin would choose it.
fn defaults() -> TicketDefaults {
    TicketDefaults {
        ticket_type_id: Some(1),
        initial_status_id: Some(1),
        priority_id: Some(3),
        team: Some("1st Line Support".to_owned()),
        visible_outcome_id: Some(3),
        private_outcome_id: Some(2),
        closed_status_id: Some(CLOSED),
        every_chat_becomes_ticket: false,
    }
}

fn config_for(url: &str, app: &str, timeout: Duration) -> HaloConfig {
    let mut parts = app.splitn(3, ':');
    let (id, secret) = (parts.next().unwrap(), parts.next().unwrap());
    let site = SiteUrl::parse(url, HostPolicy::AllowPrivate).unwrap().site;
    let mut config = HaloConfig::new(site, id, Secret::new(secret));
    config.timeout = timeout;
    config.connect_timeout = Duration::from_secs(2);
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(5),
    };
    config
}

fn psa(sim: &RunningSim) -> HaloPsa {
    psa_with(sim, PARLEY, Duration::from_secs(5))
}

fn psa_with(sim: &RunningSim, app: &str, timeout: Duration) -> HaloPsa {
    HaloPsa::new(config_for(&sim.url(), app, timeout), defaults()).expect("a connector")
}

async fn only_contact(psa: &HaloPsa, email: &str) -> Contact {
    let mut found = psa.contacts_by_email(email).await.expect("a lookup");
    assert_eq!(found.len(), 1, "{email}: {found:?}");
    found.remove(0)
}

fn new_ticket(contact: Contact, summary: &str, marker: &str) -> NewPsaTicket {
    NewPsaTicket {
        summary: summary.to_owned(),
        details: "Alice Carter: the scanner is offline\nTess Tech: on it".to_owned(),
        contact,
        defaults: defaults(),
        marker: marker.to_owned(),
    }
}

fn note(ticket_id: i64, text: &str, visible: bool) -> NewPsaNote {
    NewPsaNote {
        ticket_id,
        text: text.to_owned(),
        author: "Tess Tech".to_owned(),
        visible_to_user: visible,
    }
}

fn transient(error: &PsaError) -> Option<bool> {
    match error {
        PsaError::Transient { maybe_sent, .. } => Some(*maybe_sent),
        _ => None,
    }
}

/// Gets a token so that an injected fault hits the call under test, not the
/// sign-in before it.
async fn warm(psa: &HaloPsa) {
    psa.search_contacts("Alice").await.expect("a warm-up call");
}

#[tokio::test]
async fn contacts_are_found_by_exact_email_among_active_users_with_client_and_site() {
    let sim = start_sim().await;
    let psa = psa(&sim);

    let alice = only_contact(&psa, "ALICE.Carter@northwind.example").await;
    let before = sim.requests_to("GET", "users");
    let partial = psa
        .contacts_by_email("alice.carter@northwind")
        .await
        .unwrap();
    let inactive = psa
        .contacts_by_email("dan.gone@contoso.example")
        .await
        .unwrap();
    let shared = psa
        .contacts_by_email("sam.jones@consultants.example")
        .await
        .unwrap();

    assert_eq!(alice.name, "Alice Carter");
    assert_eq!(alice.email, "alice.carter@northwind.example");
    assert_eq!(alice.client_name, "Northwind Traders");
    assert_eq!(alice.site_name.as_deref(), Some("Head Office"));
    assert!(alice.site_id.is_some());
    assert!(
        partial.is_empty(),
        "a \"like\" hit is not a match: {partial:?}"
    );
    assert!(inactive.is_empty(), "an inactive user never matches");
    let mut clients: Vec<&str> = shared.iter().map(|c| c.client_name.as_str()).collect();
    clients.sort_unstable();
    assert_eq!(clients, ["Contoso Ltd", "Northwind Traders"]);
    assert_eq!(
        sim.requests_to("GET", "users") - before,
        3,
        "one request per lookup"
    );
    assert!(
        psa.contacts_by_email("not an email")
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_contact_is_read_by_id_and_an_inactive_one_is_not_found() {
    let sim = start_sim().await;
    let psa = psa(&sim);
    let alice = only_contact(&psa, "alice.carter@northwind.example").await;
    let dan = psa
        .client()
        .list_users(&UserQuery {
            search: Some("dan.gone".to_owned()),
            include_inactive: true,
            ..UserQuery::default()
        })
        .await
        .unwrap()
        .remove(0);

    let read = psa.contact(alice.id).await.unwrap();
    let inactive = psa.contact(dan.id).await.unwrap_err();
    let missing = psa.contact(999_999).await.unwrap_err();
    let search = psa.search_contacts("Sam Jones").await.unwrap();

    assert_eq!(read, alice);
    assert!(matches!(inactive, PsaError::NotFound(_)), "{inactive:?}");
    assert!(matches!(missing, PsaError::NotFound(_)), "{missing:?}");
    assert_eq!(search.len(), 2, "{search:?}");
}

#[tokio::test]
async fn the_general_user_is_the_clients_catch_all_at_its_main_site() {
    let sim = start_sim().await;
    let psa = psa(&sim);
    let alice = only_contact(&psa, "alice.carter@northwind.example").await;

    // Northwind has two sites, each with its General User.
    let general = psa
        .catch_all_contact(alice.client_id)
        .await
        .unwrap()
        .expect("a General User");

    assert_eq!(general.name, "General User");
    assert_eq!(general.client_id, alice.client_id);
    assert_eq!(general.site_name.as_deref(), Some("Head Office"));
    assert_eq!(psa.catch_all_contact(999).await.unwrap(), None);
}

#[tokio::test]
async fn a_contacts_tickets_are_theirs_open_or_closed() {
    let sim = start_sim().await;
    let psa = psa(&sim);
    let alice = only_contact(&psa, "alice.carter@northwind.example").await;
    let chloe = only_contact(&psa, "chloe.kim@contoso.example").await;

    let before = sim.requests_to("GET", "tickets");
    let open = psa.contact_tickets(alice.id, true).await.unwrap();
    let alice_closed = psa.contact_tickets(alice.id, false).await.unwrap();
    let chloe_closed = psa.contact_tickets(chloe.id, false).await.unwrap();
    let chloe_open = psa.contact_tickets(chloe.id, true).await.unwrap();

    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].summary, "Printer on the 2nd floor keeps jamming");
    assert_eq!(open[0].contact_id, Some(alice.id));
    assert_eq!(open[0].status_name.as_deref(), Some("In Progress"));
    assert!(!open[0].closed);
    assert!(open[0].updated_at.is_some());
    assert!(alice_closed.is_empty());
    assert_eq!(chloe_closed.len(), 1);
    assert!(chloe_closed[0].closed);
    assert!(chloe_open.is_empty());
    assert_eq!(sim.requests_to("GET", "tickets") - before, 4);
    assert_eq!(
        sim.requests_to("GET", "status"),
        1,
        "status names are cached"
    );
}

#[tokio::test]
async fn private_notes_never_reach_the_visible_history() {
    let sim = start_sim().await;
    let psa = psa(&sim);
    let alice = only_contact(&psa, "alice.carter@northwind.example").await;
    let printer = psa.contact_tickets(alice.id, true).await.unwrap().remove(0);
    psa.add_note(&note(printer.id, "Internal: supplier is late", false), None)
        .await
        .unwrap();

    let (ticket, visible) = psa.ticket_with_visible_notes(printer.id).await.unwrap();
    let all = psa.notes(printer.id).await.unwrap();

    assert_eq!(ticket.id, printer.id);
    let texts: Vec<&str> = visible.iter().map(|n| n.text.as_str()).collect();
    assert!(texts.iter().any(|t| t.contains("tray 2")), "{texts:?}");
    assert!(
        !texts
            .iter()
            .any(|t| t.contains("PO 4471") || t.contains("supplier")),
        "{texts:?}"
    );
    assert!(visible.iter().all(|n| n.visible_to_user));
    let ids: Vec<i64> = visible.iter().map(|n| n.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
    assert!(
        all.iter()
            .any(|n| !n.visible_to_user && n.text.contains("PO 4471"))
    );
    assert!(
        all.iter()
            .any(|n| !n.visible_to_user && n.text.contains("supplier"))
    );

    let missing = psa.ticket_with_visible_notes(99_999).await.unwrap_err();
    assert!(
        matches!(&missing, PsaError::NotFound(what) if what == "ticket 99999"),
        "{missing:?}"
    );
}

#[tokio::test]
async fn a_created_ticket_carries_the_contact_the_defaults_and_its_marker() {
    let sim = start_sim().await;
    let psa = psa(&sim);
    let alice = only_contact(&psa, "alice.carter@northwind.example").await;
    let summary = format!("The scanner is offline {}", "again and again ".repeat(10));

    let before = sim.requests_to("POST", "tickets");
    let created = psa
        .create_ticket(&new_ticket(alice.clone(), &summary, "chat-7f3a"))
        .await
        .unwrap();
    let found = psa.find_ticket_by_marker("chat-7f3a").await.unwrap();
    let not_found = psa.find_ticket_by_marker("chat-0000").await.unwrap();

    assert_eq!(sim.requests_to("POST", "tickets") - before, 1);
    assert!(
        created.summary.chars().count() <= 100,
        "{}",
        created.summary
    );
    assert!(created.summary.starts_with("The scanner is offline again"));
    assert_eq!(created.contact_id, Some(alice.id));
    assert_eq!(created.status_name.as_deref(), Some("New"));
    assert!(!created.closed);
    let halo = sim.ticket(created.id).expect("the ticket is in Halo");
    assert_eq!(halo["user_id"], alice.id);
    assert_eq!(halo["client_id"], alice.client_id);
    assert_eq!(halo["site_id"], alice.site_id.unwrap());
    assert_eq!(halo["tickettype_id"], 1);
    assert_eq!(halo["priority_id"], 3);
    assert_eq!(halo["team"], "1st Line Support");
    let details = halo["details"].as_str().unwrap();
    assert!(
        details.starts_with("Alice Carter: the scanner is offline"),
        "{details}"
    );
    assert!(
        details.ends_with("Parley chat reference: chat-7f3a"),
        "{details}"
    );
    assert_eq!(found.map(|t| t.id), Some(created.id));
    assert_eq!(not_found, None);
}

#[tokio::test]
async fn a_marker_quoted_in_another_ticket_is_not_adopted() {
    let sim = start_sim().await;
    let psa = psa(&sim);
    let alice = only_contact(&psa, "alice.carter@northwind.example").await;
    let mut quoting = new_ticket(alice.clone(), "Quoting", "other-marker");
    quoting.details = "someone pasted chat-quoted here".to_owned();
    psa.create_ticket(&quoting).await.unwrap();

    assert_eq!(
        psa.find_ticket_by_marker("chat-quoted").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn notes_name_their_author_and_the_outcome_list_is_fetched_once() {
    let sim = start_sim().await;
    let psa = psa(&sim);
    let alice = only_contact(&psa, "alice.carter@northwind.example").await;
    let ticket = psa
        .create_ticket(&new_ticket(alice, "Scanner", "m-notes"))
        .await
        .unwrap();

    let visible = psa
        .add_note(&note(ticket.id, "Could you restart it?", true), None)
        .await
        .unwrap();
    let private = psa
        .add_note(&note(ticket.id, "Probably the power supply", false), None)
        .await
        .unwrap();
    psa.add_note(&note(ticket.id, "Restarted <3 & fine", true), None)
        .await
        .unwrap();

    assert_eq!(
        sim.requests_to("GET", "outcome"),
        1,
        "one request, not one per note"
    );
    assert_eq!(sim.requests_to("POST", "actions"), 3);
    assert!(visible.visible_to_user);
    assert_eq!(visible.author, "Tess Tech");
    assert!(!private.visible_to_user);
    let actions = sim.actions(ticket.id);
    let written = |id: i64| {
        actions
            .iter()
            .find(|a| a["id"] == id)
            .cloned()
            .expect("the action is in Halo")
    };
    assert_eq!(written(visible.id)["outcome"], "Public Note");
    assert_eq!(written(visible.id)["hiddenfromuser"], false);
    assert_eq!(written(visible.id)["who"], "Tess Tech");
    assert_eq!(written(private.id)["outcome"], "Private Note");
    assert_eq!(written(private.id)["hiddenfromuser"], true);
    let (_, seen) = psa.ticket_with_visible_notes(ticket.id).await.unwrap();
    assert!(
        seen.iter().any(|n| n.text == "Restarted <3 & fine"),
        "{seen:?}"
    );
    assert!(!seen.iter().any(|n| n.id == private.id));
}

#[tokio::test]
async fn a_file_is_uploaded_to_the_ticket_and_its_note() {
    let sim = start_sim().await;
    let psa = psa(&sim);
    let alice = only_contact(&psa, "alice.carter@northwind.example").await;
    let ticket = psa
        .create_ticket(&new_ticket(alice, "Scanner", "m-file"))
        .await
        .unwrap();
    let with_file = psa
        .add_note(&note(ticket.id, "Here is the log", true), None)
        .await
        .unwrap();

    let id = psa
        .add_file(&NewPsaFile {
            ticket_id: ticket.id,
            note_id: Some(with_file.id),
            file_name: "scanner.log".to_owned(),
            content_type: "text/plain".to_owned(),
            data: b"E42 lamp failure\n".to_vec(),
        })
        .await
        .unwrap();

    let listed = psa
        .client()
        .list_attachments(ticket.id, Some(with_file.id))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].id, id);
    assert_eq!(listed[0].filename, "scanner.log");
    let file = psa.client().download_attachment(id).await.unwrap();
    assert_eq!(file.bytes, b"E42 lamp failure\n");
}

#[tokio::test]
async fn a_status_change_is_a_ticket_update() {
    let sim = start_sim().await;
    let psa = psa(&sim);
    let alice = only_contact(&psa, "alice.carter@northwind.example").await;
    let ticket = psa
        .create_ticket(&new_ticket(alice.clone(), "Scanner", "m-status"))
        .await
        .unwrap();

    let closed = psa.change_status(ticket.id, CLOSED).await.unwrap();

    assert!(closed.closed);
    assert_eq!(closed.status_id, Some(CLOSED));
    assert_eq!(closed.status_name.as_deref(), Some("Closed"));
    assert_eq!(sim.ticket(ticket.id).unwrap()["status_id"], CLOSED);
    let alice_closed = psa.contact_tickets(alice.id, false).await.unwrap();
    assert!(alice_closed.iter().any(|t| t.id == ticket.id));
    let unknown = psa.change_status(ticket.id, 777).await.unwrap_err();
    assert!(matches!(unknown, PsaError::Permanent(_)), "{unknown:?}");
}

#[tokio::test]
async fn changes_since_a_cursor_are_the_tickets_actioned_after_it() {
    let sim = start_sim().await;
    let psa = psa(&sim);

    let start = psa.changes_since(None).await.unwrap();
    assert!(start.tickets.is_empty(), "\"from now\" lists nothing");
    // Halo's clock has a resolution; make sure the next action is later.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let erin = only_contact(&psa, "erin.diaz@fabrikam.example").await;
    let mailbox = psa.contact_tickets(erin.id, true).await.unwrap().remove(0);
    sim.add_action(
        mailbox.id,
        &HaloAction {
            agent_id: Some(4),
            note: "Access granted.".to_owned(),
            ..HaloAction::default()
        },
    )
    .unwrap();

    let changes = psa.changes_since(Some(&start.cursor)).await.unwrap();
    let again = psa.changes_since(Some(&changes.cursor)).await.unwrap();

    let ids: Vec<i64> = changes.tickets.iter().map(|t| t.id).collect();
    assert_eq!(ids, [mailbox.id]);
    assert!(
        changes.cursor > start.cursor,
        "{} > {}",
        changes.cursor,
        start.cursor
    );
    assert!(again.tickets.is_empty(), "{:?}", again.tickets);
    assert_eq!(again.cursor, changes.cursor);
    let bad = psa.changes_since(Some("yesterday")).await.unwrap_err();
    assert!(matches!(bad, PsaError::Permanent(_)), "{bad:?}");
}

#[tokio::test]
async fn halo_down_is_transient_and_reads_are_retried_but_writes_are_not() {
    let sim = start_sim().await;
    let psa = psa(&sim);
    let alice = only_contact(&psa, "alice.carter@northwind.example").await;

    sim.set_faults(Faults {
        fail_next: Some((10, 503)),
        ..Faults::default()
    });
    let before = sim.requests_to("GET", "tickets");
    let read = psa.contact_tickets(alice.id, true).await.unwrap_err();
    let tried = sim.requests_to("GET", "tickets") - before;
    let before = sim.requests_to("POST", "tickets");
    let write = psa
        .create_ticket(&new_ticket(alice, "Scanner", "m-503"))
        .await
        .unwrap_err();
    let posted = sim.requests_to("POST", "tickets") - before;

    assert_eq!(transient(&read), Some(false), "{read:?}");
    assert_eq!(tried, 3, "a read is retried per the retry policy");
    // A 5xx answer to a write may come after Halo saved (a gateway's 502 or
    // 504), so the retry must look for the ticket first.
    assert_eq!(transient(&write), Some(true), "{write:?}");
    assert_eq!(posted, 1, "a write is never retried by the client");
    assert!(read.to_string().contains("503"), "{read}");
}

#[tokio::test]
async fn a_429_on_a_write_was_not_sent() {
    let sim = start_sim().await;
    let psa = psa(&sim);
    let alice = only_contact(&psa, "alice.carter@northwind.example").await;
    let ticket = psa
        .create_ticket(&new_ticket(alice, "Scanner", "m-429"))
        .await
        .unwrap();
    // Caches the outcomes, so the fault hits the POST.
    psa.add_note(&note(ticket.id, "first", true), None)
        .await
        .unwrap();

    sim.set_faults(Faults {
        fail_next: Some((1, 429)),
        ..Faults::default()
    });
    let limited = psa
        .add_note(&note(ticket.id, "second", true), None)
        .await
        .unwrap_err();

    assert_eq!(transient(&limited), Some(false), "{limited:?}");
    assert!(limited.to_string().contains("429"), "{limited}");
}

#[tokio::test]
async fn a_timeout_or_a_dropped_connection_after_a_write_may_have_been_sent() {
    let sim = start_sim().await;
    let psa = psa_with(&sim, PARLEY, Duration::from_millis(400));
    let alice = only_contact(&psa, "alice.carter@northwind.example").await;
    let ticket = psa
        .create_ticket(&new_ticket(alice.clone(), "Scanner", "m-timeout"))
        .await
        .unwrap();
    psa.add_note(&note(ticket.id, "first", true), None)
        .await
        .unwrap();

    sim.set_faults(Faults {
        latency: Duration::from_millis(1500),
        ..Faults::default()
    });
    let slow = psa
        .create_ticket(&new_ticket(alice, "Scanner", "m-timeout-2"))
        .await
        .unwrap_err();
    sim.set_faults(Faults {
        drop_next: 1,
        ..Faults::default()
    });
    let dropped = psa
        .add_note(&note(ticket.id, "second", true), None)
        .await
        .unwrap_err();

    assert_eq!(transient(&slow), Some(true), "{slow:?}");
    assert_eq!(transient(&dropped), Some(true), "{dropped:?}");
}

#[tokio::test]
async fn a_refused_connection_was_not_sent() {
    // A port that was free a moment ago: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let psa = HaloPsa::new(config_for(&url, PARLEY, Duration::from_secs(2)), defaults()).unwrap();

    let error = psa
        .contacts_by_email("alice.carter@northwind.example")
        .await;

    assert_eq!(transient(&error.unwrap_err()), Some(false));
}

#[tokio::test]
async fn refusals_are_permanent_in_halos_words() {
    let sim = start_sim().await;
    let psa = psa(&sim);
    let reader = psa_with(&sim, READ_ONLY, Duration::from_secs(5));
    let wrong = psa_with(&sim, "parley:not-the-secret:all", Duration::from_secs(5));
    let alice = only_contact(&psa, "alice.carter@northwind.example").await;
    warm(&reader).await;

    let mut bad_type = new_ticket(alice.clone(), "Scanner", "m-bad");
    bad_type.defaults.ticket_type_id = Some(999);
    let invalid = psa.create_ticket(&bad_type).await.unwrap_err();
    let forbidden = reader
        .create_ticket(&new_ticket(alice.clone(), "Scanner", "m-403"))
        .await
        .unwrap_err();
    let credentials = wrong.contact(alice.id).await.unwrap_err();
    let no_outcome = psa
        .add_note(&note(1001, "x", true), Some(999))
        .await
        .unwrap_err();

    let permanent = |error: &PsaError| match error {
        PsaError::Permanent(message) => message.clone(),
        other => panic!("permanent expected, got {other:?}"),
    };
    let invalid = permanent(&invalid);
    assert!(
        invalid.contains("Ticket type 999 does not exist"),
        "{invalid}"
    );
    let forbidden = permanent(&forbidden);
    assert!(forbidden.contains("edit:tickets"), "{forbidden}");
    let credentials = permanent(&credentials);
    assert!(credentials.contains("Client ID or Secret"), "{credentials}");
    let no_outcome = permanent(&no_outcome);
    assert!(no_outcome.contains("outcome) with id 999"), "{no_outcome}");
}
