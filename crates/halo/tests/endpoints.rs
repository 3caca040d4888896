//! Every endpoint against the simulator's demo data: tickets, actions,
//! attachments, clients, sites, users, agents and the setup lists.

mod common;

use common::{PARLEY_APP, parley_client, start_sim};
use halo::model::{NewAction, NewAttachment, NewTicket, TicketUpdate};
use halo::{ActionQuery, AgentQuery, ClientQuery, HaloError, Paging, TicketQuery, UserQuery};

/// The demo's first ticket: Alice's jamming printer, with history and a file.
const PRINTER_TICKET: i64 = 1001;

#[tokio::test]
async fn tickets_are_listed_fetched_and_searched() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);

    let all = client
        .list_tickets(&TicketQuery::default())
        .await
        .expect("all tickets");
    let printer = client.get_ticket(PRINTER_TICKET).await.expect("one ticket");
    let found = client.search_tickets("printer", 10).await.expect("search");

    assert_eq!(all.len(), sim.ticket_count());
    assert!(all.iter().any(|t| t.id == PRINTER_TICKET));
    assert_eq!(printer.summary, "Printer on the 2nd floor keeps jamming");
    assert!(
        printer
            .user
            .as_ref()
            .is_some_and(|u| u.name == "Alice Carter")
    );
    assert!(
        printer
            .priority
            .as_ref()
            .is_some_and(|p| Some(p.priorityid) == printer.priority_id)
    );
    assert!(printer.dateoccurred.is_some());
    assert_eq!(
        found.iter().map(|t| t.id).collect::<Vec<_>>(),
        [PRINTER_TICKET]
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn ticket_filters_reach_halo() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);
    let printer = client.get_ticket(PRINTER_TICKET).await.expect("one ticket");

    let query = TicketQuery {
        client_id: printer.client_id,
        ..TicketQuery::default()
    };
    let of_client = client.list_tickets(&query).await.expect("filtered");
    let closed = client
        .list_tickets(&TicketQuery {
            closed_only: true,
            ..TicketQuery::default()
        })
        .await
        .expect("closed only");

    assert!(!of_client.is_empty());
    assert!(of_client.iter().all(|t| t.client_id == printer.client_id));
    assert!(of_client.len() < sim.ticket_count());
    assert!(
        closed
            .iter()
            .all(|t| t.status_id == Some(halo_sim::CLOSED_STATUS_ID)),
        "{closed:?}"
    );
    assert_eq!(closed.len(), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn open_only_leaves_out_the_closed_tickets() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);

    let open = client
        .list_tickets(&TicketQuery {
            open_only: true,
            ..TicketQuery::default()
        })
        .await
        .expect("open only");

    assert_eq!(
        open.len(),
        sim.ticket_count() - 1,
        "one demo ticket is closed"
    );
    assert!(
        open.iter()
            .all(|t| t.status_id != Some(halo_sim::CLOSED_STATUS_ID)),
        "{open:?}"
    );
    let logged = sim.request_log();
    let listed = logged
        .iter()
        .rfind(|entry| entry.endpoint == "GET tickets")
        .expect("the list request");
    assert!(
        listed
            .query
            .as_deref()
            .is_some_and(|query| query.contains("open_only=true")),
        "{listed:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn paging_walks_every_page_until_record_count() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);
    let total = sim.ticket_count();
    let query = TicketQuery {
        paging: Paging {
            page_size: 1,
            limit: None,
        },
        ..TicketQuery::default()
    };

    let tickets = client.list_tickets(&query).await.expect("all pages");

    let mut ids: Vec<i64> = tickets.iter().map(|t| t.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), total, "every ticket once");
    assert_eq!(
        sim.requests_to("GET", "tickets"),
        total as u64,
        "one request per page"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn a_limit_stops_paging_early() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);
    let query = TicketQuery {
        paging: Paging {
            page_size: 1,
            limit: Some(2),
        },
        ..TicketQuery::default()
    };

    let tickets = client.list_tickets(&query).await.expect("two");

    assert_eq!(tickets.len(), 2);
    assert_eq!(sim.requests_to("GET", "tickets"), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_ticket_is_created_and_updated() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);
    let before = sim.ticket_count();
    let alice = client
        .find_users_by_email("alice.carter@northwind.example")
        .await
        .expect("alice");
    let new = NewTicket {
        summary: "Chat: cannot log in".to_owned(),
        details_html: Some("<p>Password expired</p>".to_owned()),
        user_id: Some(alice[0].id),
        ..NewTicket::default()
    };

    let created = client.create_ticket(&new).await.expect("created");
    let updated = client
        .update_ticket(&TicketUpdate {
            status_id: Some(halo_sim::CLOSED_STATUS_ID),
            ..TicketUpdate::new(created.id)
        })
        .await
        .expect("updated");

    assert_eq!(sim.ticket_count(), before + 1);
    assert_eq!(created.summary, "Chat: cannot log in");
    assert_eq!(created.user_id, Some(alice[0].id));
    assert_eq!(created.client_id, alice[0].client_id);
    assert!(
        created.dateoccurred.is_some(),
        "seven fractional digits read"
    );
    assert_eq!(created.deadlinedate, None, "the year-1900 sentinel");
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.status_id, Some(halo_sim::CLOSED_STATUS_ID));
    assert_eq!(sim.requests_to("POST", "tickets"), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn actions_are_listed_fetched_and_notes_added_visible_or_private() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);

    let history = client
        .list_actions(PRINTER_TICKET, &ActionQuery::default())
        .await
        .expect("actions");
    let public_only = client
        .list_actions(
            PRINTER_TICKET,
            &ActionQuery {
                exclude_private: true,
                ..ActionQuery::default()
            },
        )
        .await
        .expect("public actions");
    let first = client
        .get_action(PRINTER_TICKET, 1)
        .await
        .expect("action 1");
    let visible = client
        .create_action(&NewAction::visible_note(
            PRINTER_TICKET,
            "Email Update",
            "<p>On it</p>",
        ))
        .await
        .expect("visible note");
    let private = client
        .create_action(&NewAction::private_note(
            PRINTER_TICKET,
            "Private Note",
            "<p>Internal</p>",
        ))
        .await
        .expect("private note");

    assert!(history.len() >= 4, "{history:?}");
    assert!(history.iter().any(|a| a.hiddenfromuser));
    assert!(public_only.iter().all(|a| !a.hiddenfromuser));
    assert_eq!((first.ticket_id, first.id), (PRINTER_TICKET, 1));
    assert_eq!(visible.ticket_id, PRINTER_TICKET);
    assert!(!visible.hiddenfromuser);
    assert!(private.hiddenfromuser);
    assert_eq!(
        private.id,
        visible.id + 1,
        "action ids are numbered per ticket"
    );
    assert_eq!(sim.actions(PRINTER_TICKET).len(), history.len() + 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn an_attachment_round_trips_with_its_file_name() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);
    let contents = "Fehlerprotokoll: Drucker klemmt\n".as_bytes();
    let upload =
        NewAttachment::new("Drucker-Log Ü.txt", "text/plain", contents).for_ticket(PRINTER_TICKET);

    let uploaded = client.upload_attachment(&upload).await.expect("uploaded");
    let listed = client
        .list_attachments(PRINTER_TICKET, None)
        .await
        .expect("listed");
    let file = client
        .download_attachment(uploaded.id)
        .await
        .expect("downloaded");

    assert_eq!(uploaded.filename, "Drucker-Log Ü.txt");
    assert_eq!(uploaded.ticket_id, Some(PRINTER_TICKET));
    assert!(listed.iter().any(|a| a.id == uploaded.id));
    assert!(
        listed.iter().any(|a| a.filename == "printer-log.txt"),
        "the seeded file"
    );
    assert_eq!(file.bytes, contents);
    assert_eq!(file.filename.as_deref(), Some("Drucker-Log Ü.txt"));
    assert!(
        file.content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("text/plain"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_attachment_on_an_action_is_listed_with_that_action() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);
    let note = client
        .create_action(&NewAction::visible_note(
            PRINTER_TICKET,
            "Email Update",
            "<p>Screenshot attached</p>",
        ))
        .await
        .expect("a note to attach to");
    let upload = NewAttachment::new("screen.png", "image/png", &[0x89, b'P', b'N', b'G'])
        .for_ticket(PRINTER_TICKET)
        .on_action(note.id);

    let uploaded = client.upload_attachment(&upload).await.expect("uploaded");
    let on_note = client
        .list_attachments(PRINTER_TICKET, Some(note.id))
        .await
        .expect("listed for the note");
    let on_ticket = client
        .list_attachments(PRINTER_TICKET, None)
        .await
        .expect("listed for the ticket");
    let file = client
        .download_attachment(uploaded.id)
        .await
        .expect("downloaded");

    assert_eq!(uploaded.action_id, Some(note.id));
    assert!(uploaded.isimage);
    assert_eq!(
        on_note.iter().map(|a| a.id).collect::<Vec<_>>(),
        [uploaded.id],
        "only the note's own file"
    );
    assert!(on_ticket.len() > on_note.len());
    assert_eq!(file.bytes, [0x89, b'P', b'N', b'G']);
    assert_eq!(file.content_type.as_deref(), Some("image/png"));
    assert_eq!(sim.requests_to("POST", "attachment"), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn clients_and_their_sites_are_found() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);

    let active = client
        .list_clients(&ClientQuery::default())
        .await
        .expect("clients");
    let with_inactive = client
        .list_clients(&ClientQuery {
            include_inactive: true,
            ..ClientQuery::default()
        })
        .await
        .expect("all clients");
    let northwind = client.search_clients("northwind", 5).await.expect("search");
    let northwind = &northwind[0];
    let fetched = client.get_client(northwind.id).await.expect("one client");
    let sites = client.list_sites(northwind.id).await.expect("sites");
    let site = client.get_site(sites[0].id).await.expect("one site");

    assert_eq!(
        active.len() + 1,
        with_inactive.len(),
        "one demo client is inactive"
    );
    assert_eq!(northwind.name, "Northwind Traders");
    assert_eq!(fetched.name, "Northwind Traders");
    let mut names: Vec<&str> = sites.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Head Office", "Warehouse"]);
    assert!(sites.iter().all(|s| s.client_id == Some(northwind.id)));
    assert_eq!(site.id, sites[0].id);
    sim.shutdown().await;
}

#[tokio::test]
async fn users_are_found_by_exact_email() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);

    let sams = client
        .find_users_by_email("SAM.JONES@consultants.example")
        .await
        .expect("sam");
    let nobody = client
        .find_users_by_email("consultants.example")
        .await
        .expect("like match");
    let listed = client
        .list_users(&UserQuery::default())
        .await
        .expect("users");
    let user = client.get_user(sams[0].id).await.expect("one user");

    assert_eq!(sams.len(), 2, "the same address at two clients");
    assert_ne!(sams[0].client_id, sams[1].client_id);
    assert!(nobody.is_empty(), "a partial address is not an exact match");
    assert!(listed.len() > sams.len());
    assert_eq!(user.name, "Sam Jones");
    assert!(user.site_id.is_some());
    sim.shutdown().await;
}

#[tokio::test]
async fn agents_are_listed_searched_and_the_application_agent_known() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);

    let agents = client
        .list_agents(&AgentQuery::default())
        .await
        .expect("agents");
    let tess = client.search_agents("tess").await.expect("search");
    let one = client.get_agent(tess[0].id).await.expect("one agent");
    let me = client.agent_me().await.expect("me");

    assert!(agents.iter().any(|a| a.name == "Tess Tech"));
    assert_eq!(tess.len(), 1);
    assert_eq!(one.email.as_deref(), Some("tess.tech@msp.example"));
    assert_eq!((me.id, me.name.as_str()), (halo_sim::API_AGENT_ID, "Admin"));
    sim.shutdown().await;
}

#[tokio::test]
async fn setup_lists_are_read_and_priorities_deduplicated() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);

    let statuses = client.list_statuses().await.expect("statuses");
    let ticket_types = client.list_ticket_types().await.expect("ticket types");
    let priorities = client.list_priorities().await.expect("priorities");
    let outcomes = client.list_outcomes().await.expect("outcomes");

    assert!(
        statuses
            .iter()
            .any(|s| s.id == halo_sim::CLOSED_STATUS_ID && s.name == "Closed")
    );
    assert!(ticket_types.iter().any(|t| t.name == "Incident"));
    let mut numbers: Vec<i64> = priorities.iter().map(|p| p.priorityid).collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        [1, 2, 3, 4],
        "one entry per priorityid, not one per SLA"
    );
    assert!(priorities.iter().all(|p| p.id.len() == 36), "GUID ids");
    assert!(
        outcomes
            .iter()
            .any(|o| o.outcome == "Private Note" && o.hidefromuser)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn auth_info_needs_no_token() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);

    let info = client.auth_info().await.expect("authinfo");

    assert_eq!(info.auth_url, Some(format!("{}/auth", sim.url())));
    assert_eq!(sim.requests_to("POST", "auth/token"), 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn missing_records_are_not_found() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);

    let ticket = client
        .get_ticket(999_999)
        .await
        .expect_err("no such ticket");
    let action = client
        .get_action(PRINTER_TICKET, 999)
        .await
        .expect_err("no such action");

    assert!(matches!(ticket, HaloError::NotFound { ref call, .. } if call == "GET Tickets/999999"));
    assert!(matches!(action, HaloError::NotFound { .. }), "{action:?}");
    assert_eq!(sim.requests_to("GET", "tickets"), 1, "a 404 is not retried");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_validation_refusal_keeps_halos_message() {
    let sim = start_sim(&[PARLEY_APP]).await;
    let client = parley_client(&sim);

    let error = client
        .create_action(&NewAction::private_note(
            PRINTER_TICKET,
            "No Such Outcome",
            "<p>x</p>",
        ))
        .await
        .expect_err("unknown outcome");

    match &error {
        HaloError::Validation {
            status, message, ..
        } => {
            assert_eq!(*status, 400);
            assert!(
                message.contains("Outcome 'No Such Outcome' does not exist."),
                "{message}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!error.is_retryable());
    sim.shutdown().await;
}
