//! Halo to chat, told against the simulator with a saved connector: an
//! agent's visible reply in Halo reaches the end user's chat live, through
//! the webhook and through the poller; private notes never do; Parley's own
//! notes never come back; a note seen by both the webhook and the poller
//! arrives once; a status change is said once; and a delivery without the
//! webhook's secret is refused with 401 (and a warning that never quotes a
//! secret). Every wait is bounded.

mod common;

use common::{WAIT, http};
use halo_sim::HaloAction;
use parley::psa::{HaloPsa, NewPsaNote, NewPsaTicket, Psa, TicketDefaults};
use parley::store::{NoteDirection, TicketRequest, now_millis};
use serde_json::{Value, json};
use std::time::Duration;

mod inbound_world;

use inbound_world::*;

/// Messages from agents in Halo (no Parley account), by body.
fn from_halo(history: &[Value]) -> Vec<String> {
    history
        .iter()
        .filter(|m| m["author"]["kind"] == "technician" && m["author"]["id"].is_null())
        .map(|m| m["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn an_agents_reply_in_halo_reaches_the_chat_live_through_the_webhook() {
    let world = World::new(Sources::Webhook).await;
    let (chat, ticket) = world.linked_chat("The printer on floor 2 is jammed").await;
    let (mut socket, _) = world.alice.socket(0).await;
    let before = world
        .alice
        .get(&format!("/api/v1/conversations/{chat}"))
        .await
        .expect(200);

    world.agent_note(ticket, "I have cleared the print queue.", false);

    let event = socket
        .next_event_matching(
            |event| {
                event["type"] == "message"
                    && event["message"]["body"] == "I have cleared the print queue."
            },
            ARRIVES,
        )
        .await;
    let message = &event["message"];
    assert_eq!(message["kind"], "text");
    assert_eq!(message["conversation_id"], chat);
    assert_eq!(message["author"]["kind"], "technician");
    assert!(message["author"]["id"].is_null());
    let written = world.sim.actions(ticket);
    let who = written
        .iter()
        .find(|action| action["note"] == "I have cleared the print queue.")
        .and_then(|action| action["who"].as_str())
        .expect("Halo names the agent");
    assert_eq!(message["author"]["name"], who);
    assert_eq!(who, "Marco Rossi");

    // The chat moved on like for any reply: its last message and time.
    let after = world
        .alice
        .get(&format!("/api/v1/conversations/{chat}"))
        .await
        .expect(200);
    let conversation = after.get("conversation").unwrap_or(&after);
    let earlier = before.get("conversation").unwrap_or(&before);
    assert_eq!(conversation["last_message_id"], message["id"]);
    assert!(
        conversation["updated_at"].as_str() >= earlier["updated_at"].as_str(),
        "{conversation} after {earlier}"
    );
    // Technicians see it too, and it is not sent back to Halo.
    let seen_by_tech = world.tech.history(chat).await;
    assert_eq!(count(&seen_by_tech, "I have cleared the print queue."), 1);
    let notes_in_halo = world
        .sim
        .actions(ticket)
        .iter()
        .filter(|action| action["note"] == "I have cleared the print queue.")
        .count();
    assert_eq!(notes_in_halo, 1, "the reply is never written back to Halo");
}

#[tokio::test]
async fn private_notes_and_parleys_own_notes_never_come_back() {
    let world = World::new(Sources::Both).await;
    let (chat, ticket) = world.linked_chat("My laptop will not start").await;

    // Both sides write in the chat; the outbox puts it in Halo, whose
    // webhooks and the poller then see Parley's own notes.
    world.alice.say(chat, "It beeps three times").await;
    world.tech.say(chat, "Please hold the power button").await;
    world.tech.note(chat, "Probably the RAM").await;
    world.synced(chat).await;
    world.agent_note(ticket, "Internal: order a new RAM module", true);
    world.agent_note(ticket, "A new module is on its way.", false);

    world.arrives(chat, "A new module is on its way.").await;
    // Another round of webhooks and polls has every chance to echo.
    world.agent_note(ticket, "It ships tomorrow.", false);
    world.arrives(chat, "It ships tomorrow.").await;

    let history = world.tech.history(chat).await;
    assert_eq!(
        from_halo(&history),
        ["A new module is on its way.", "It ships tomorrow."],
        "only the agent's visible notes came in: {history:#?}"
    );
    for own in [
        "It beeps three times",
        "Please hold the power button",
        "Probably the RAM",
    ] {
        assert_eq!(count(&history, own), 1, "{own:?} once: {history:#?}");
    }
    let alice_sees = world.alice.history(chat).await;
    assert!(
        alice_sees.iter().all(|m| !m["body"]
            .as_str()
            .unwrap_or_default()
            .contains("RAM module")),
        "a private note never reaches the end user"
    );
    assert!(
        !history.iter().any(|m| m["body"]
            .as_str()
            .unwrap_or_default()
            .contains("Parley chat reference")),
        "the ticket's transcript is not brought back"
    );
}

#[tokio::test]
async fn the_poller_alone_brings_replies_and_remembers_where_it_was() {
    let world = World::new(Sources::Poller).await;
    let (chat, ticket) = world.linked_chat("The VPN drops every hour").await;

    world.agent_note(ticket, "Try the new VPN profile.", false);

    let message = world.arrives(chat, "Try the new VPN profile.").await;
    assert_eq!(message["author"]["name"], "Marco Rossi");
    assert_eq!(
        world.sim.webhook_stats().delivered,
        0,
        "no webhook involved"
    );
    let state = &world.server.running.state;
    let store = state.chat.store();
    let workspace = state.accounts.workspace_id();
    let cursor = store.psa_cursor(workspace).await.unwrap();
    assert!(cursor.is_some(), "the poller keeps its cursor in the store");

    // A poll after a restart starts from the stored cursor: nothing it
    // already brought in comes again.
    let report = state.inbound.poll_once().await.expect("a poll");
    assert!(report.complete, "{report:?}");
    let history = world.alice.history(chat).await;
    assert_eq!(count(&history, "Try the new VPN profile."), 1);
}

#[tokio::test]
async fn a_note_seen_by_the_webhook_and_the_poller_arrives_once() {
    let world = World::new(Sources::Both).await;
    let (chat, ticket) = world
        .linked_chat("Outlook keeps asking for my password")
        .await;
    let inbound = &world.server.running.state.inbound;

    world.agent_note(ticket, "I reset your mailbox rules.", false);
    // Webhook, poller and extra passes all race for the same note.
    let (one, two, three, four) = tokio::join!(
        inbound.process_ticket(ticket),
        inbound.poll_once(),
        inbound.process_ticket(ticket),
        inbound.poll_once(),
    );
    for result in [
        one.map(drop),
        two.map(drop),
        three.map(drop),
        four.map(drop),
    ] {
        result.expect("a pass over the ticket");
    }
    world.arrives(chat, "I reset your mailbox rules.").await;

    // The webhook delivered again, by hand, as Halo's "re-send" would.
    let secret = world.secret.clone().expect("the webhook is on");
    let resent = http()
        .post(world.server.url("/api/v1/psa/webhook"))
        .basic_auth("parley", Some(&secret))
        .json(&json!({"event": "Action Added", "ticket_id": ticket}))
        .send()
        .await
        .expect("Parley answers");
    assert_eq!(resent.status(), 202);
    let again = inbound.process_ticket(ticket).await.expect("a pass");
    assert_eq!(again.notes_brought_in, 0);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let history = world.alice.history(chat).await;
    assert_eq!(
        count(&history, "I reset your mailbox rules."),
        1,
        "{history:#?}"
    );
}

#[tokio::test]
async fn a_status_change_in_halo_is_said_once_in_the_chat() {
    let world = World::new(Sources::Both).await;
    let (chat, ticket) = world.linked_chat("Need access to the shared drive").await;
    let (mut socket, _) = world.alice.socket(0).await;

    world
        .sim
        .add_action(
            ticket,
            &HaloAction {
                agent_id: Some(MARCO),
                new_status: Some(WAITING_ON_USER),
                ..HaloAction::default()
            },
        )
        .expect("the status changes");

    let said = format!("Ticket #{ticket} is now Waiting on User");
    let event = socket
        .next_event_matching(
            |event| event["type"] == "message" && event["message"]["body"] == said.as_str(),
            ARRIVES,
        )
        .await;
    assert_eq!(event["message"]["kind"], "system");
    let link = world
        .alice
        .get(&format!("/api/v1/conversations/{chat}/ticket"))
        .await
        .expect(200);
    assert_eq!(link["ticket"]["status"], "Waiting on User");
    // More passes (and the poller) find nothing new to say.
    world
        .server
        .running
        .state
        .inbound
        .process_ticket(ticket)
        .await
        .expect("a pass");
    world.agent_note(ticket, "Please confirm the folder name.", false);
    world.arrives(chat, "Please confirm the folder name.").await;
    let history = world.alice.history(chat).await;
    assert_eq!(count(&history, &said), 1, "{history:#?}");
}

#[tokio::test]
async fn deliveries_without_the_webhook_secret_are_refused() {
    let world = World::new(Sources::Webhook).await;
    let secret = world.secret.clone().expect("the webhook is on");
    let url = world.server.url("/api/v1/psa/webhook");
    let payload = json!({"event": "Action Added", "ticket_id": 1001});
    let post = || http().post(&url).json(&payload);

    let wrong_password = post()
        .basic_auth("parley", Some("not-the-secret"))
        .send()
        .await
        .unwrap();
    let wrong_user = post()
        .basic_auth("halo", Some(&secret))
        .send()
        .await
        .unwrap();
    let none = post().send().await.unwrap();
    let wrong_query = http()
        .post(format!("{url}?secret=guess"))
        .json(&payload)
        .send()
        .await
        .unwrap();
    let by_query = http()
        .post(format!("{url}?secret={secret}"))
        .json(&payload)
        .send()
        .await
        .unwrap();
    let by_header = post()
        .header("x-parley-webhook-secret", &secret)
        .send()
        .await
        .unwrap();

    for refused in [wrong_password, wrong_user, none, wrong_query] {
        assert_eq!(refused.status(), 401);
        assert!(
            refused
                .headers()
                .get("www-authenticate")
                .is_some_and(|h| h.to_str().unwrap().starts_with("Basic"))
        );
    }
    assert_eq!(by_query.status(), 202);
    assert_eq!(by_header.status(), 202);
    let not_json = http()
        .post(&url)
        .basic_auth("parley", Some(&secret))
        .body("ticket=1001")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);

    // The secret is shown once; a rotation shows a new one and retires the old.
    let twice = world
        .admin
        .post("/api/v1/connector/webhook/reveal", json!({}))
        .await;
    assert_eq!(twice.status, 409, "{}", twice.text());
    let by_tech = world.tech.get("/api/v1/connector/webhook").await;
    assert_eq!(by_tech.status, 403);
    let info = world
        .admin
        .get("/api/v1/connector/webhook")
        .await
        .expect(200);
    assert_eq!(info["webhook"]["path"], "/api/v1/psa/webhook");
    assert_eq!(info["webhook"]["username"], "parley");
    assert_eq!(info["webhook"]["secret_set"], true);
    assert_eq!(info["webhook"]["revealed"], true);
    assert!(!info.to_string().contains(&secret));
    let rotated = world
        .admin
        .post("/api/v1/connector/webhook/rotate", json!({}))
        .await
        .expect(200);
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    let old = post()
        .basic_auth("parley", Some(&secret))
        .send()
        .await
        .unwrap();
    let new = post()
        .basic_auth("parley", Some(&new_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(old.status(), 401);
    assert_eq!(new.status(), 202);

    // The page says what to set in Halo, and shows the secret only when asked.
    let page = world.admin.get("/admin/connectors/webhook").await;
    assert_eq!(page.status, 200);
    let page = page.text();
    assert!(page.contains("/api/v1/psa/webhook"), "{page}");
    assert!(page.contains("Basic"));
    assert!(!page.contains(&new_secret));
    let csrf = world.admin.csrf().unwrap().to_owned();
    let shown_page = http()
        .post(world.server.url("/admin/connectors/webhook/rotate"))
        .header("cookie", world.admin.cookie().unwrap())
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(shown_page.status(), 200);
    assert_eq!(
        shown_page.headers()["cache-control"].to_str().unwrap(),
        "no-store"
    );
    let shown_page = shown_page.text().await.unwrap();
    assert!(
        shown_page.contains(r#"id="webhook-secret""#),
        "{shown_page}"
    );

    // Each refusal was a warning; no line quotes a secret.
    let logged = logs().text();
    assert!(
        logged.contains("WARN") && logged.contains("PSA webhook refused"),
        "{logged}"
    );
    for secret in [&secret, &new_secret] {
        assert!(!logged.contains(secret.as_str()), "a secret was logged");
    }
}

#[tokio::test]
async fn a_note_parley_is_still_writing_is_left_for_the_outbox_to_record() {
    let world = World::new(Sources::Manual).await;
    let state = &world.server.running.state;
    let store = state.chat.store();
    let workspace = state.accounts.workspace_id();
    let site = halo::SiteUrl::parse(&world.sim.url(), halo::HostPolicy::AllowPrivate)
        .unwrap()
        .site;
    let psa = HaloPsa::new(
        halo::HaloConfig::new(site, CLIENT_ID, halo::Secret::new(CLIENT_SECRET)),
        TicketDefaults::default(),
    )
    .unwrap();

    // The outbox's steps by hand: the chat asks for a ticket, Halo makes it.
    eventually("Alice's contact match", WAIT, || async {
        let contact = world.alice.get("/api/v1/me/contact").await.expect(200);
        (contact["linked"] == true).then_some(())
    })
    .await;
    let (chat, _) = world
        .alice
        .start_conversation("The scanner is offline")
        .await;
    let marker = format!("parley-test-{chat}");
    store
        .request_ticket(TicketRequest {
            workspace_id: workspace,
            conversation_id: chat,
            marker: marker.clone(),
            requested_by: "end_user".to_owned(),
            payload: "{}".to_owned(),
            at: now_millis(),
        })
        .await
        .unwrap();
    let contact = psa.contacts_by_email(ALICE).await.unwrap().remove(0);
    let ticket = psa
        .create_ticket(&NewPsaTicket {
            summary: "The scanner is offline".to_owned(),
            details: "Alice Carter: The scanner is offline".to_owned(),
            contact,
            defaults: TicketDefaults::default(),
            marker,
        })
        .await
        .unwrap();
    store
        .set_linked_ticket(
            chat,
            ticket.id,
            &ticket.summary,
            ticket.status_name.as_deref(),
            now_millis(),
        )
        .await
        .unwrap();
    let lease = now_millis() + 60_000;
    let creation = store.claim_job(now_millis(), lease).await.unwrap().unwrap();
    store
        .job_done(creation.id, "{}", now_millis())
        .await
        .unwrap();

    // Alice writes; a worker has sent her note to Halo but not yet recorded
    // it, while an agent answers.
    let said = world.alice.say(chat, "Is it fixed yet?").await;
    let job = store.claim_job(now_millis(), lease).await.unwrap().unwrap();
    assert_eq!(job.message_id, Some(said));
    let written = psa
        .add_note(
            &NewPsaNote {
                ticket_id: ticket.id,
                text: "Is it fixed yet?".to_owned(),
                author: "Alice Carter".to_owned(),
                visible_to_user: true,
            },
            None,
        )
        .await
        .unwrap();
    world.agent_note(ticket.id, "Almost: it is rebooting.", false);

    let during = state.inbound.process_ticket(ticket.id).await.unwrap();

    assert_eq!(during.deferred, 1, "{during:?}");
    assert_eq!(during.notes_brought_in, 1, "{during:?}");
    let history = world.tech.history(chat).await;
    assert_eq!(count(&history, "Is it fixed yet?"), 1, "{history:#?}");
    assert_eq!(from_halo(&history), ["Almost: it is rebooting."]);

    // The worker records its note; later passes leave it out for good.
    store
        .record_psa_note(
            workspace,
            ticket.id,
            written.id,
            NoteDirection::Out,
            Some(said),
        )
        .await
        .unwrap();
    store.job_done(job.id, "{}", now_millis()).await.unwrap();
    let after = state.inbound.process_ticket(ticket.id).await.unwrap();

    assert_eq!(
        (after.deferred, after.notes_brought_in),
        (0, 0),
        "{after:?}"
    );
    let history = world.tech.history(chat).await;
    assert_eq!(count(&history, "Is it fixed yet?"), 1, "{history:#?}");
    assert!(
        !history.iter().any(|m| m["body"]
            .as_str()
            .unwrap_or_default()
            .contains("Parley chat reference")),
        "the ticket's transcript is not brought back"
    );
}
