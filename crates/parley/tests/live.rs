//! Live chat stories over real WebSockets: what one side posts over HTTP
//! arrives on the other side's socket, typing and read receipts flow, a
//! reconnecting socket resumes without gaps or doubles, and a socket that
//! does not authenticate and resume is closed.

mod common;

use common::{Party, TestServer, WAIT, ids};
use serde_json::json;
use std::time::Duration;

/// Close code 1008: policy violation (not authenticated).
const CLOSE_UNAUTHORIZED: u16 = 1008;

struct Desk {
    server: TestServer,
    alice: Party,
    tech: Party,
    chat: i64,
    first: i64,
}

async fn desk() -> Desk {
    let server = TestServer::start().await;
    let alice = server
        .end_user("alice@northwind.example", "Alice Carter")
        .await;
    let tech = server.technician("tess@msp.example", "Tess Tech").await;
    let (chat, first) = alice.start_conversation("Outlook keeps crashing").await;
    Desk {
        server,
        alice,
        tech,
        chat,
        first,
    }
}

#[tokio::test]
async fn a_message_posted_over_http_arrives_on_the_other_sides_socket() {
    let d = desk().await;
    let (mut alices_socket, _) = d.alice.socket(d.first).await;
    let (mut techs_socket, _) = d.tech.socket(d.first).await;

    let from_alice = d.alice.say(d.chat, "it crashed again").await;
    let arrived = techs_socket.next_event_of_type("message", WAIT).await;
    assert_eq!(arrived["message"]["id"], from_alice);
    assert_eq!(arrived["message"]["body"], "it crashed again");
    assert_eq!(arrived["message"]["author"]["kind"], "end_user");

    let from_tech = d
        .tech
        .say(d.chat, "try safe mode: https://example.com/safe")
        .await;
    let arrived = alices_socket
        .next_event_matching(
            |e| e["type"] == "message" && e["message"]["id"] == from_tech,
            WAIT,
        )
        .await;
    assert_eq!(arrived["message"]["author"]["name"], "Tess Tech");
    assert!(
        arrived["message"]["body_html"]
            .as_str()
            .unwrap()
            .contains(r#"href="https://example.com/safe""#),
        "{arrived:#?}"
    );
}

#[tokio::test]
async fn a_new_chat_and_its_claim_reach_both_sides_live() {
    let server = TestServer::start().await;
    let alice = server.end_user("alice@northwind.example", "Alice").await;
    let tech = server.technician("tess@msp.example", "Tess Tech").await;
    let (mut techs_socket, _) = tech.socket(0).await;
    let (mut alices_socket, _) = alice.socket(0).await;

    let (chat, first) = alice.start_conversation("VPN is down").await;
    let announced = techs_socket.next_event_of_type("conversation", WAIT).await;
    assert_eq!(announced["conversation"]["id"], chat);
    assert_eq!(announced["conversation"]["status"], "waiting");
    let message = techs_socket.next_event_of_type("message", WAIT).await;
    assert_eq!(message["message"]["id"], first);

    tech.post(&format!("/api/v1/conversations/{chat}/claim"), json!({}))
        .await
        .expect(200);
    let claimed = alices_socket
        .events_until(
            |e| e["type"] == "conversation" && e["conversation"]["status"] == "active",
            WAIT,
        )
        .await
        .unwrap_or_else(|seen| panic!("no claim event; saw {seen:#?}"));
    let claimed = claimed.last().unwrap();
    assert_eq!(claimed["conversation"]["technician"]["name"], "Tess Tech");
}

#[tokio::test]
async fn an_end_user_sees_the_help_desk_come_online() {
    let d = desk().await;
    let (mut alices_socket, _) = d.alice.socket(d.first).await;

    let (_techs_socket, _) = d.tech.socket(d.first).await;

    let presence = alices_socket.next_event_of_type("presence", WAIT).await;
    assert_eq!(presence["online"], true);
}

#[tokio::test]
async fn typing_flows_both_ways() {
    let d = desk().await;
    let (mut alices_socket, _) = d.alice.socket(d.first).await;
    let (mut techs_socket, _) = d.tech.socket(d.first).await;

    alices_socket
        .send(json!({ "type": "typing", "conversation_id": d.chat }))
        .await;
    let typing = techs_socket
        .next_event_matching(
            |e| e["type"] == "typing" && e["author"]["kind"] == "end_user",
            WAIT,
        )
        .await;
    assert_eq!(typing["conversation_id"], d.chat);
    assert_eq!(typing["author"]["kind"], "end_user");
    assert_eq!(typing["author"]["id"], d.alice.id);

    techs_socket
        .send(json!({ "type": "typing", "conversation_id": d.chat }))
        .await;
    let typing = alices_socket
        .next_event_matching(
            |e| e["type"] == "typing" && e["author"]["kind"] == "technician",
            WAIT,
        )
        .await;
    assert_eq!(typing["author"]["name"], "Tess Tech");
}

#[tokio::test]
async fn read_receipts_flow_both_ways() {
    let d = desk().await;
    let reply = d.tech.say(d.chat, "restart it please").await;
    let (mut alices_socket, _) = d.alice.socket(reply).await;
    let (mut techs_socket, _) = d.tech.socket(reply).await;

    alices_socket
        .send(json!({ "type": "read", "conversation_id": d.chat, "message_id": reply }))
        .await;
    let read = techs_socket
        .next_event_matching(
            |e| e["type"] == "read" && e["reader"]["kind"] == "end_user",
            WAIT,
        )
        .await;
    assert_eq!(read["conversation_id"], d.chat);
    assert_eq!(read["message_id"], reply);
    assert_eq!(read["reader"]["kind"], "end_user");

    techs_socket
        .send(json!({ "type": "read", "conversation_id": d.chat, "message_id": d.first }))
        .await;
    let read = alices_socket
        .next_event_matching(
            |e| e["type"] == "read" && e["reader"]["kind"] == "technician",
            WAIT,
        )
        .await;
    assert_eq!(read["message_id"], d.first);
    assert_eq!(read["reader"]["name"], "Tess Tech");

    // A receipt for a message that does not exist yet is refused.
    alices_socket
        .send(json!({ "type": "read", "conversation_id": d.chat, "message_id": reply + 100 }))
        .await;
    let refused = alices_socket.next_event_of_type("error", WAIT).await;
    assert_eq!(refused["error"]["code"], "invalid");
}

#[tokio::test]
async fn a_resumed_socket_gets_exactly_what_it_missed_in_order_and_once() {
    let d = desk().await;
    let (mut alices_socket, _) = d.alice.socket(d.first).await;
    let seen = d.tech.say(d.chat, "one").await;
    let arrived = alices_socket.next_event_of_type("message", WAIT).await;
    assert_eq!(arrived["message"]["id"], seen);

    drop(alices_socket);
    let mut missed = Vec::new();
    missed.push(d.tech.say(d.chat, "two").await);
    d.tech.note(d.chat, "internal: she will not see this").await;
    missed.push(d.tech.say(d.chat, "three").await);
    missed.push(d.alice.say(d.chat, "four, from another tab").await);
    let (mut resumed, replayed) = d.alice.socket(seen).await;

    assert_eq!(ids(&replayed), missed);
    assert!(replayed.iter().all(|m| m["kind"] != "note"));
    assert_eq!(replayed[0]["body"], "two");

    // Live delivery carries on after the replay, with no second copies.
    let next = d.tech.say(d.chat, "five").await;
    let after_ready = resumed
        .events_until(|e| e["type"] == "message", WAIT)
        .await
        .unwrap();
    assert_eq!(after_ready.last().unwrap()["message"]["id"], next);
}

#[tokio::test]
async fn a_technicians_resumed_socket_also_gets_the_notes_it_missed() {
    let d = desk().await;
    let (techs_socket, _) = d.tech.socket(d.first).await;
    drop(techs_socket);

    let reply = d.tech.say(d.chat, "checking").await;
    let note = d.tech.note(d.chat, "internal: escalate").await;
    let answer = d.alice.say(d.chat, "thanks").await;
    let (_resumed, replayed) = d.tech.socket(d.first).await;

    assert_eq!(ids(&replayed), [reply, note, answer]);
}

#[tokio::test]
async fn writing_into_a_closed_chat_reopens_it_live() {
    let d = desk().await;
    let (mut techs_socket, _) = d.tech.socket(d.first).await;
    d.alice
        .post(
            &format!("/api/v1/conversations/{}/close", d.chat),
            json!({}),
        )
        .await
        .expect(200);
    let closed = techs_socket.next_event_of_type("conversation", WAIT).await;
    assert_eq!(closed["conversation"]["status"], "closed");

    d.alice.say(d.chat, "actually, one more thing").await;

    let reopened = techs_socket.next_event_of_type("conversation", WAIT).await;
    assert_ne!(reopened["conversation"]["status"], "closed");
}

#[tokio::test]
async fn a_socket_that_resumes_without_authenticating_is_closed() {
    let server = TestServer::start().await;
    let mut socket = server.socket(None).await;

    socket.send(json!({ "type": "resume", "after": 0 })).await;

    let (code, before) = socket.closed(WAIT).await;
    assert_eq!(code, Some(CLOSE_UNAUTHORIZED));
    assert_eq!(before.len(), 1, "{before:#?}");
    assert_eq!(before[0]["type"], "error");
    assert_eq!(before[0]["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn a_socket_with_a_wrong_access_token_is_closed() {
    let server = TestServer::start().await;
    // A portal's widget token is not an access token either.
    let widget_token = server.widget_token("alice@northwind.example", "Alice");

    for token in ["made-up", widget_token.as_str()] {
        let mut socket = server.socket(None).await;
        socket
            .send(json!({ "type": "auth", "access_token": token }))
            .await;

        let (code, before) = socket.closed(WAIT).await;
        assert_eq!(code, Some(CLOSE_UNAUTHORIZED));
        assert!(before.iter().all(|e| e["type"] == "error"), "{before:#?}");
    }
}

#[tokio::test]
async fn a_socket_with_a_signed_out_cookie_is_closed() {
    let d = desk().await;
    let cookie = d.tech.cookie().unwrap().to_owned();
    common::http()
        .post(d.server.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", d.tech.csrf().unwrap())])
        .send()
        .await
        .unwrap();
    let mut socket = d.server.socket(Some(&cookie)).await;

    socket.send(json!({ "type": "resume", "after": 0 })).await;

    let (code, before) = socket.closed(WAIT).await;
    assert_eq!(code, Some(CLOSE_UNAUTHORIZED));
    assert!(before.iter().all(|e| e["type"] != "message"), "{before:#?}");
}

/// The handshake time is 10 s and not configurable, so this story takes
/// that long (it runs beside the others).
#[tokio::test]
async fn a_socket_that_never_resumes_is_closed_after_the_handshake_time() {
    let d = desk().await;
    let mut socket = d.server.socket(d.tech.cookie()).await;

    let (code, before) = socket.closed(Duration::from_secs(15)).await;

    assert_eq!(code, Some(CLOSE_UNAUTHORIZED));
    assert!(
        before.is_empty(),
        "nothing flows before resume: {before:#?}"
    );
}

#[tokio::test]
async fn a_socket_that_missed_more_than_a_thousand_messages_still_gets_them_all() {
    let d = desk().await;
    let tess = d.tech.clone();
    let chat = &d.server.running.state.chat;
    let technician = parley::chat::Actor::Technician(
        d.server
            .running
            .state
            .chat
            .store()
            .account(d.server.running.state.accounts.workspace_id(), tess.id)
            .await
            .unwrap(),
    );

    // Posted through the chat service directly, to be quick about it.
    let mut missed = Vec::new();
    for n in 0..1010 {
        let message = chat
            .post(&technician, d.chat, &format!("update {n}"), false)
            .await
            .unwrap();
        missed.push(message.id);
    }
    let (_socket, replayed) = d.alice.socket(d.first).await;

    assert_eq!(replayed.len(), missed.len());
    assert_eq!(ids(&replayed), missed);
}
