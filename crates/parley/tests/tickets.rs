//! Chats become tickets, told as stories against the simulator with its demo
//! seed and a saved connector: an end user asks for a ticket and every later
//! message, note and file follows it to Halo in order; a technician makes one
//! from the console; a follow-up joins an open ticket; the email two clients
//! share waits for a technician to pick the contact; "My tickets" shows a
//! matched user their own tickets and an unmatched one why there are none;
//! and nobody reads another contact's ticket or a private action.

mod common;
mod sync_world;

use common::{TestServer, WAIT};
use serde_json::{Value, json};
use std::time::Duration;
use sync_world::{
    ALICE, CHLOE, SAM, eventually, linked, looked_up, note_texts, notes, settled, simulator, sync,
    ticket_id,
};

const SETTLE: Duration = Duration::from_secs(15);

async fn world() -> (halo_sim::RunningSim, TestServer) {
    let sim = simulator(|_| {}).await;
    let server = sync_world::parley(&sim, parley::server::Options::default()).await;
    (sim, server)
}

fn history_has(history: &[Value], text: &str) -> bool {
    history
        .iter()
        .any(|m| m["body"].as_str().is_some_and(|b| b.contains(text)))
}

#[tokio::test]
async fn a_chat_becomes_a_ticket_and_every_message_follows_it_in_order() {
    let (sim, server) = world().await;
    let alice = server.end_user(ALICE, "Alice Carter").await;
    let tess = server.technician("tess@msp.example", "Tess Tech").await;

    let (chat, first) = alice
        .start_conversation("The scanner on floor 3 shows error E42")
        .await;
    let second = alice
        .say(chat, "It started after the update last night")
        .await;
    linked(&alice).await;
    let tickets_before = sim.ticket_count();

    // The end user asks; the answer comes at once, the ticket a moment later.
    let asked = alice
        .post(&format!("/api/v1/conversations/{chat}/ticket"), json!({}))
        .await
        .expect(202);
    assert_eq!(asked["ticket"]["pending"], true, "{asked}");
    let ticket = ticket_id(&alice, chat, SETTLE).await;
    assert_eq!(sim.ticket_count(), tickets_before + 1);

    // In Halo: the summary, the transcript with the marker, Alice's contact.
    let halo = sim.ticket(ticket).expect("the ticket is in Halo");
    assert_eq!(halo["summary"], "The scanner on floor 3 shows error E42");
    let details = halo["details"].as_str().expect("details");
    assert!(
        details.contains("The scanner on floor 3 shows error E42"),
        "{details}"
    );
    assert!(
        details.contains("It started after the update last night"),
        "{details}"
    );
    assert!(
        details.contains("Parley chat reference: parley-"),
        "{details}"
    );
    let contacts = server
        .running
        .state
        .tickets
        .contacts()
        .search("Alice Carter")
        .await
        .expect("contacts");
    let contact = contacts
        .iter()
        .find(|c| c.email == ALICE)
        .expect("Alice's contact");
    assert_eq!(halo["user_id"], contact.id);
    assert_eq!(halo["client_id"], contact.client_id);
    assert_eq!(halo["site_id"], json!(contact.site_id));

    // In the chat: a system message with the number, and the link.
    let number = format!("#{ticket}");
    let history = eventually("the ticket number in the chat", WAIT, || async {
        let history = alice.history(chat).await;
        history_has(&history, &number).then_some(history)
    })
    .await;
    let announced = history
        .iter()
        .find(|m| m["body"].as_str().is_some_and(|b| b.contains(&number)))
        .unwrap();
    assert_eq!(announced["kind"], "system");
    let link = tess
        .get(&format!("/api/v1/conversations/{chat}/ticket"))
        .await
        .expect(200);
    assert_eq!(link["ticket"]["ticket_id"], ticket);
    assert_eq!(link["ticket"]["pending"], false);
    // The messages before the ticket are in its details, not notes.
    assert!(
        sync(&tess, chat)
            .await
            .iter()
            .all(|s| s["message_id"] != first && s["message_id"] != second)
    );

    // Every later message: a visible action for the user and the technician
    // (naming them), a private one for a note, an upload for a file.
    let reply = tess.say(chat, "Thanks Alice, I'm looking at it now.").await;
    let states = sync(&tess, chat).await;
    let reply_state = states.iter().find(|s| s["message_id"] == reply);
    assert!(
        reply_state.is_some_and(|s| s["state"] == "pending" || s["state"] == "synced"),
        "a new message has a sync state at once: {states:?}"
    );
    let answer = alice.say(chat, "Great, thank you!").await;
    let note = tess.note(chat, "Probably the driver from KB5034441.").await;
    let file = alice
        .upload(
            chat,
            "scanner.log",
            "text/plain",
            b"E42 at 02:13\n".to_vec(),
        )
        .await
        .expect(201)["id"]
        .as_i64()
        .expect("an id");
    let last = alice.say(chat, "Attached the log.").await;

    let states = settled(&tess, chat, SETTLE).await;
    let mine: Vec<i64> = states
        .iter()
        .map(|s| s["message_id"].as_i64().unwrap())
        .collect();
    assert_eq!(mine, [reply, answer, note, file, last], "{states:?}");
    assert!(
        states
            .iter()
            .all(|s| s["state"] == "synced" && s["note_id"].is_i64() && s["error"].is_null()),
        "{states:?}"
    );

    let written = notes(&sim, ticket);
    let texts = note_texts(&sim, ticket);
    let at = |text: &str| {
        texts
            .iter()
            .position(|t| t.contains(text))
            .unwrap_or_else(|| panic!("{text:?} is not in Halo: {texts:#?}"))
    };
    let order = [
        at("Thanks Alice, I'm looking at it now."),
        at("Great, thank you!"),
        at("Probably the driver from KB5034441."),
        at("sent the file scanner.log"),
        at("Attached the log."),
    ];
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "in order: {texts:#?}"
    );
    let action = |i: usize| &written[order[i]];
    assert_eq!(action(0)["who"], "Tess Tech");
    assert_eq!(action(0)["hiddenfromuser"], false);
    assert_eq!(action(1)["who"], "Alice Carter");
    assert_eq!(action(1)["hiddenfromuser"], false);
    assert_eq!(
        action(2)["hiddenfromuser"],
        true,
        "an internal note is private"
    );
    assert_eq!(action(3)["hiddenfromuser"], false);
    assert_eq!(
        action(3)["attachment_count"],
        1,
        "the file is on its action"
    );
    // Each synced note id is the action's id in Halo, and each once.
    for (state, i) in states.iter().zip(0..) {
        assert_eq!(state["note_id"], action(i)["id"], "{state}");
    }
    for text in ["Great, thank you!", "Attached the log."] {
        assert_eq!(texts.iter().filter(|t| t.contains(text)).count(), 1);
    }
    // One ticket only, however often the outbox was woken.
    assert_eq!(sim.ticket_count(), tickets_before + 1);
    assert_eq!(sim.requests_to("POST", "tickets"), 1);

    // Asking again is refused: the chat has its ticket.
    let again = alice
        .post(&format!("/api/v1/conversations/{chat}/ticket"), json!({}))
        .await;
    assert_eq!(again.status, 409, "{}", again.text());
}

#[tokio::test]
async fn a_technician_makes_a_ticket_and_a_follow_up_joins_an_open_one() {
    let (sim, server) = world().await;
    let alice = server.end_user(ALICE, "Alice Carter").await;
    let tess = server.technician("tess@msp.example", "Tess Tech").await;

    let (chat, _) = alice
        .start_conversation("Outlook asks for my password")
        .await;
    linked(&alice).await;
    let before = sim.ticket_count();
    tess.post(&format!("/api/v1/conversations/{chat}/ticket"), json!({}))
        .await
        .expect(202);
    let ticket = ticket_id(&tess, chat, SETTLE).await;
    assert_eq!(sim.ticket_count(), before + 1);
    let halo = sim.ticket(ticket).unwrap();
    assert_eq!(halo["summary"], "Outlook asks for my password");

    // A follow-up chat: Alice's open tickets are offered and she joins one.
    let (follow_up, _) = alice.start_conversation("Outlook again").await;
    let mine = alice.get("/api/v1/me/tickets").await.expect(200);
    let ids: Vec<i64> = mine["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert!(ids.contains(&ticket), "{mine}");
    let joined = alice
        .post(
            &format!("/api/v1/conversations/{follow_up}/ticket/join"),
            json!({ "ticket_id": ticket }),
        )
        .await
        .expect(200);
    assert_eq!(joined["ticket"]["ticket_id"], ticket);
    let said = alice.say(follow_up, "It happened again this morning").await;
    let states = settled(&tess, follow_up, SETTLE).await;
    assert_eq!(states.len(), 1);
    assert_eq!(states[0]["message_id"], said);
    assert_eq!(states[0]["state"], "synced");
    assert!(
        note_texts(&sim, ticket)
            .iter()
            .any(|t| t.contains("It happened again this morning"))
    );
    assert_eq!(sim.ticket_count(), before + 1, "joining made no ticket");
    assert_eq!(sim.requests_to("POST", "tickets"), 1);

    // Alice cannot join someone else's ticket.
    let chloe_tickets = {
        let chloe = server.end_user(CHLOE, "Chloe Kim").await;
        linked(&chloe).await;
        chloe.get("/api/v1/me/tickets").await.expect(200)["tickets"]
            .as_array()
            .unwrap()
            .clone()
    };
    let theirs = chloe_tickets[0]["id"].as_i64().unwrap();
    let (third, _) = alice.start_conversation("Something else").await;
    let refused = alice
        .post(
            &format!("/api/v1/conversations/{third}/ticket/join"),
            json!({ "ticket_id": theirs }),
        )
        .await;
    assert_eq!(refused.status, 404, "{}", refused.text());
}

#[tokio::test]
async fn the_email_two_clients_share_waits_for_a_technician_to_pick_the_contact() {
    let (sim, server) = world().await;
    let sam = server.end_user(SAM, "Sam Jones").await;
    let tess = server.technician("tess@msp.example", "Tess Tech").await;

    // Sam can chat, but a ticket waits: nobody guesses which Sam he is.
    let (chat, _) = sam.start_conversation("My mailbox is full").await;
    let state = looked_up(&sam).await;
    assert_eq!(state["linked"], false);
    let refused = sam
        .post(&format!("/api/v1/conversations/{chat}/ticket"), json!({}))
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text());
    let why = refused.error_message();
    assert!(why.contains("more than one contact"), "{why}");
    assert!(why.contains("technician"), "{why}");
    assert!(
        tess.get(&format!("/api/v1/conversations/{chat}/ticket"))
            .await
            .expect(200)["ticket"]
            .is_null()
    );
    let mine = sam.get("/api/v1/me/tickets").await.expect(200);
    assert_eq!(mine["linked"], false);
    assert_eq!(mine["tickets"], json!([]));
    assert!(
        mine["explanation"]
            .as_str()
            .unwrap()
            .contains("more than one contact")
    );

    // He is in the technicians' queue; Tess picks his Northwind contact.
    let queue = tess.get("/api/v1/contacts/queue").await.expect(200);
    assert!(
        queue["queue"].to_string().contains(SAM),
        "Sam waits in the queue: {queue}"
    );
    let found = tess
        .get("/api/v1/contacts/search?q=Sam%20Jones")
        .await
        .expect(200);
    let northwind = found["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_name"] == "Northwind Traders")
        .expect("Sam at Northwind")
        .clone();
    let chosen = tess
        .post(
            &format!("/api/v1/end-users/{}/contact", sam.id),
            json!({ "contact_id": northwind["id"] }),
        )
        .await
        .expect(200);
    assert_eq!(chosen["linked"], true);

    // Now the ticket is made, for the contact Tess picked.
    sam.post(&format!("/api/v1/conversations/{chat}/ticket"), json!({}))
        .await
        .expect(202);
    let ticket = ticket_id(&sam, chat, SETTLE).await;
    let halo = sim.ticket(ticket).unwrap();
    assert_eq!(halo["user_id"], northwind["id"]);
    assert_eq!(halo["client_id"], northwind["client_id"]);
    let mine = sam.get("/api/v1/me/tickets").await.expect(200);
    assert_eq!(mine["linked"], true);
    assert!(
        mine["tickets"].to_string().contains("My mailbox is full"),
        "{mine}"
    );
}

#[tokio::test]
async fn my_tickets_shows_only_the_users_own_tickets_and_never_a_private_action() {
    let (sim, server) = world().await;
    let alice = server.end_user(ALICE, "Alice Carter").await;
    let chloe = server.end_user(CHLOE, "Chloe Kim").await;
    let stranger = server.end_user("pat@unknown.example", "Pat").await;
    linked(&alice).await;
    linked(&chloe).await;
    let state = looked_up(&stranger).await;
    assert_eq!(state["linked"], false);

    // Alice's: open ones first, each hers in Halo.
    let mine = alice.get("/api/v1/me/tickets").await.expect(200);
    assert_eq!(mine["linked"], true);
    let tickets = mine["tickets"].as_array().unwrap().clone();
    assert!(!tickets.is_empty(), "{mine}");
    let closed: Vec<bool> = tickets.iter().map(|t| t["closed"] == true).collect();
    assert!(
        closed.windows(2).all(|w| !w[0] || w[1]),
        "open first: {mine}"
    );
    let alice_contact = sim.ticket(tickets[0]["id"].as_i64().unwrap()).unwrap()["user_id"].clone();
    for ticket in &tickets {
        let halo = sim.ticket(ticket["id"].as_i64().unwrap()).unwrap();
        assert_eq!(halo["user_id"], alice_contact, "{ticket}");
        assert!(ticket["status"].is_string(), "{ticket}");
    }

    // Chloe's list has a closed one, after her open ones.
    let theirs = chloe.get("/api/v1/me/tickets").await.expect(200);
    let chloe_tickets = theirs["tickets"].as_array().unwrap().clone();
    assert!(
        chloe_tickets.iter().any(|t| t["closed"] == true),
        "{theirs}"
    );
    let closed: Vec<bool> = chloe_tickets.iter().map(|t| t["closed"] == true).collect();
    assert!(
        closed.windows(2).all(|w| !w[0] || w[1]),
        "open first: {theirs}"
    );

    // The printer ticket has a private note in Halo; Alice never sees it.
    let printer = tickets
        .iter()
        .find(|t| t["summary"].as_str().unwrap().contains("Printer"))
        .expect("the printer ticket")["id"]
        .as_i64()
        .unwrap();
    assert!(
        sim.actions(printer)
            .iter()
            .any(|a| a["hiddenfromuser"] == true && !a["note"].as_str().unwrap().is_empty()),
        "the seed has a private note"
    );
    let opened = alice
        .get(&format!("/api/v1/me/tickets/{printer}"))
        .await
        .expect(200);
    let shown = opened["notes"].as_array().unwrap();
    assert!(!shown.is_empty());
    assert!(
        shown
            .iter()
            .any(|n| n["text"].as_str().unwrap().contains("tray 2"))
    );
    assert!(
        !opened.to_string().contains("Roller kit") && !opened.to_string().contains("PO 4471"),
        "a private action leaked: {opened}"
    );

    // Another contact's ticket is "not found", exactly like a missing one;
    // and so is every ticket to someone without a confirmed contact.
    let chloes = chloe_tickets[0]["id"].as_i64().unwrap();
    for (who, id) in [(&alice, chloes), (&chloe, printer), (&stranger, printer)] {
        let answer = who.get(&format!("/api/v1/me/tickets/{id}")).await;
        assert!(
            answer.status == 404 || answer.status == 409,
            "{} read ticket {id}: {}",
            who.email,
            answer.text()
        );
        assert!(!answer.text().contains("Roller kit"));
        let chat = who
            .post(&format!("/api/v1/me/tickets/{id}/chat"), json!({}))
            .await;
        assert!(chat.status == 404 || chat.status == 409, "{}", chat.text());
    }
    let missing = alice.get("/api/v1/me/tickets/999999").await;
    assert_eq!(missing.status, 404);
    let forbidden = alice.get(&format!("/api/v1/me/tickets/{chloes}")).await;
    assert_eq!(forbidden.status, 404, "the same answer as a missing ticket");
    assert_eq!(
        forbidden.body, missing.body,
        "the same answer as a missing ticket"
    );

    // The unmatched user sees none, and is told why in plain words.
    let none = stranger.get("/api/v1/me/tickets").await.expect(200);
    assert_eq!(none["linked"], false);
    assert_eq!(none["tickets"], json!([]));
    let why = none["explanation"].as_str().unwrap();
    assert!(why.contains("no contact with your email"), "{why}");

    // Alice answers her printer ticket from "My tickets": the chat about it
    // carries her words to the ticket as a visible note from her.
    let tess = server.technician("tess@msp.example", "Tess Tech").await;
    let chat = alice
        .post(&format!("/api/v1/me/tickets/{printer}/chat"), json!({}))
        .await
        .expect(200)["conversation"]["id"]
        .as_i64()
        .unwrap();
    alice.say(chat, "The jam is back since this morning").await;
    let states = settled(&tess, chat, SETTLE).await;
    assert_eq!(states.len(), 1);
    assert_eq!(states[0]["state"], "synced");
    let action = notes(&sim, printer)
        .into_iter()
        .find(|a| a["note"].as_str().unwrap().contains("The jam is back"))
        .expect("the reply is in Halo");
    assert_eq!(action["hiddenfromuser"], false);
    assert_eq!(action["who"], "Alice Carter");
}

/// What a chat-to-ticket flow costs in Halo requests, read from the
/// simulator's counters: cold (a fresh server: token, contact lookup, setup
/// lists) and warm (a second chat by the same, already matched user).
#[tokio::test]
async fn a_chat_to_ticket_flow_costs_few_halo_requests() {
    let (sim, server) = world().await;
    let tess = server.technician("tess@msp.example", "Tess Tech").await;
    // Saving the connector ran the connection doctor; count from here.
    sim.reset();

    let flow = |subject: &'static str| {
        let (server, tess) = (&server, &tess);
        async move {
            let alice = server.end_user(ALICE, "Alice Carter").await;
            let (chat, _) = alice.start_conversation(subject).await;
            linked(&alice).await;
            alice
                .post(&format!("/api/v1/conversations/{chat}/ticket"), json!({}))
                .await
                .expect(202);
            ticket_id(&alice, chat, SETTLE).await;
            alice.say(chat, "One more detail").await;
            tess.say(chat, "On it").await;
            settled(tess, chat, SETTLE).await;
        }
    };

    flow("Cold: the printer is offline").await;
    let cold = sim.counters();
    let cold_total = sim.total_requests();
    sim.reset();
    flow("Warm: the printer is offline again").await;
    let warm = sim.counters();
    let warm_total = sim.total_requests();

    println!("chat to ticket with two notes, cold: {cold_total} Halo requests {cold:?}");
    println!("chat to ticket with two notes, warm: {warm_total} Halo requests {warm:?}");
    let count = |counters: &std::collections::BTreeMap<String, u64>, key: &str| {
        counters.get(key).copied().unwrap_or(0)
    };
    assert_eq!(count(&cold, "POST tickets"), 1);
    assert_eq!(count(&warm, "POST tickets"), 1);
    assert_eq!(count(&cold, "POST actions"), 2);
    assert_eq!(count(&warm, "POST actions"), 2);
    assert!(count(&cold, "POST auth/token") <= 1, "{cold:?}");
    assert_eq!(count(&warm, "POST auth/token"), 0, "the token is reused");
    assert_eq!(count(&warm, "GET users"), 0, "the contact match is cached");
    assert!(cold_total <= 10, "cold: {cold:?}");
    assert!(warm_total <= 4, "warm: {warm:?}");
    assert!(warm_total < cold_total);
}
