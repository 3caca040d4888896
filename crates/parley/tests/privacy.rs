//! Privacy stories: an end user never reads another user's conversation,
//! history or attachment, nor a technician-only note, over the API or the
//! WebSocket. Someone else's ids answer exactly like ids that do not exist,
//! so they cannot even be probed.

mod common;

use common::{Answer, Party, TestServer, WAIT, ids};
use serde_json::{Value, json};

/// An id no conversation, message or attachment has.
const MISSING: i64 = 999_999;

/// Alice's conversation, with a note and an attachment in it, and Bob, who
/// has a conversation of his own.
struct Scene {
    server: TestServer,
    alice: Party,
    bob: Party,
    tech: Party,
    alice_chat: i64,
    bob_chat: i64,
    note_id: i64,
    attachment_id: i64,
}

const NOTE: &str = "internal: Alice's laptop is out of warranty";

async fn scene() -> Scene {
    let server = TestServer::start().await;
    let alice = server
        .end_user("alice@northwind.example", "Alice Carter")
        .await;
    let bob = server.end_user("bob@contoso.example", "Bob Stone").await;
    let tech = server.technician("tess@msp.example", "Tess Tech").await;

    let (alice_chat, _) = alice.start_conversation("My laptop will not boot").await;
    let note_id = tech.note(alice_chat, NOTE).await;
    let uploaded = alice
        .upload(
            alice_chat,
            "screen.png",
            "image/png",
            b"\x89PNG fake".to_vec(),
        )
        .await
        .expect(201);
    let attachment_id = uploaded["attachment"]["id"].as_i64().unwrap();
    let (bob_chat, _) = bob.start_conversation("Printer jam").await;

    Scene {
        server,
        alice,
        bob,
        tech,
        alice_chat,
        bob_chat,
        note_id,
        attachment_id,
    }
}

/// Fails unless two answers are the same 404, status and body alike.
#[track_caller]
fn same_not_found(theirs: &Answer, missing: &Answer) {
    assert_eq!(theirs.status, 404, "{}", theirs.text());
    assert_eq!(theirs.error_code(), "not_found");
    assert_eq!(
        (theirs.status, theirs.json()),
        (missing.status, missing.json()),
        "someone else's id must look exactly like a missing one"
    );
}

#[tokio::test]
async fn another_users_conversation_answers_404_like_a_missing_one_on_every_endpoint() {
    let s = scene().await;
    let (alice_chat, bob) = (s.alice_chat, &s.bob);

    for path in [
        "/api/v1/conversations/{id}",
        "/api/v1/conversations/{id}/messages",
    ] {
        let theirs = bob
            .get(&path.replace("{id}", &alice_chat.to_string()))
            .await;
        let missing = bob.get(&path.replace("{id}", &MISSING.to_string())).await;
        same_not_found(&theirs, &missing);
    }

    let say = json!({ "body": "let me in" });
    let theirs = bob
        .post(
            &format!("/api/v1/conversations/{alice_chat}/messages"),
            say.clone(),
        )
        .await;
    let missing = bob
        .post(&format!("/api/v1/conversations/{MISSING}/messages"), say)
        .await;
    same_not_found(&theirs, &missing);

    let theirs = bob
        .upload(alice_chat, "x.txt", "text/plain", b"hi".to_vec())
        .await;
    let missing = bob
        .upload(MISSING, "x.txt", "text/plain", b"hi".to_vec())
        .await;
    same_not_found(&theirs, &missing);

    let theirs = bob
        .post(
            &format!("/api/v1/conversations/{alice_chat}/close"),
            json!({}),
        )
        .await;
    let missing = bob
        .post(&format!("/api/v1/conversations/{MISSING}/close"), json!({}))
        .await;
    same_not_found(&theirs, &missing);

    let theirs = bob
        .get(&format!("/api/v1/attachments/{}", s.attachment_id))
        .await;
    let missing = bob.get(&format!("/api/v1/attachments/{MISSING}")).await;
    same_not_found(&theirs, &missing);

    // Nothing Bob tried changed Alice's conversation.
    let seen_by_tech = s.tech.history(alice_chat).await;
    assert_eq!(seen_by_tech.len(), 3, "{seen_by_tech:#?}");
    assert!(
        seen_by_tech
            .iter()
            .all(|m| m["author"]["id"] != bob.id || m["author"]["kind"] != "end_user")
    );
    let conversation = s
        .tech
        .get(&format!("/api/v1/conversations/{alice_chat}"))
        .await
        .expect(200);
    assert_eq!(conversation["status"], "waiting");
}

#[tokio::test]
async fn an_end_users_list_holds_only_their_own_conversations() {
    let s = scene().await;

    let bobs = s.bob.get("/api/v1/conversations").await.expect(200);
    let alices = s.alice.get("/api/v1/conversations").await.expect(200);

    let listed = |list: &Value| -> Vec<i64> {
        list["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(listed(&bobs), [s.bob_chat]);
    assert_eq!(listed(&alices), [s.alice_chat]);

    // A technician's view does not widen an end user's list.
    let bobs_all = s
        .bob
        .get("/api/v1/conversations?view=all")
        .await
        .expect(200);
    assert_eq!(listed(&bobs_all), [s.bob_chat]);
}

#[tokio::test]
async fn a_note_is_in_the_technicians_history_and_never_in_the_end_users() {
    let s = scene().await;

    let technician_sees = s.tech.history(s.alice_chat).await;
    let alice_sees = s.alice.history(s.alice_chat).await;

    assert!(ids(&technician_sees).contains(&s.note_id));
    assert!(!ids(&alice_sees).contains(&s.note_id));
    assert!(alice_sees.iter().all(|m| m["kind"] != "note"));
    assert_eq!(alice_sees.len(), technician_sees.len() - 1);

    // Not by paging around it either, nor in the conversation or the list.
    let around = s
        .alice
        .get(&format!(
            "/api/v1/conversations/{}/messages?before={}&limit=1",
            s.alice_chat,
            s.note_id + 1
        ))
        .await
        .expect(200);
    assert!(!around.to_string().contains(NOTE));
    let conversation = s
        .alice
        .get(&format!("/api/v1/conversations/{}", s.alice_chat))
        .await
        .expect(200);
    assert!(!conversation.to_string().contains(NOTE));
    let list = s.alice.get("/api/v1/conversations").await.expect(200);
    assert!(!list.to_string().contains(NOTE));
}

#[tokio::test]
async fn an_end_user_cannot_write_a_note() {
    let s = scene().await;
    let before = s.tech.history(s.alice_chat).await;

    let refused = s
        .alice
        .post(
            &format!("/api/v1/conversations/{}/messages", s.alice_chat),
            json!({ "body": "pretend I am staff", "internal": true }),
        )
        .await;

    assert_eq!(refused.status, 403, "{}", refused.text());
    assert_eq!(refused.error_code(), "forbidden");
    assert_eq!(s.tech.history(s.alice_chat).await, before);
}

#[tokio::test]
async fn an_attachment_is_downloadable_by_its_participants_and_technicians_only() {
    let s = scene().await;
    let path = format!("/api/v1/attachments/{}", s.attachment_id);

    let by_alice = s.alice.get(&path).await;
    let by_tech = s.tech.get(&path).await;
    let by_bob = s.bob.get(&path).await;

    assert_eq!(by_alice.status, 200);
    assert_eq!(by_alice.body, b"\x89PNG fake");
    assert_eq!(by_tech.status, 200);
    assert_eq!(by_tech.body, b"\x89PNG fake");
    assert_eq!(by_bob.status, 404);
    assert!(by_bob.body != b"\x89PNG fake");
}

#[tokio::test]
async fn nobody_without_a_session_reads_anything() {
    let s = scene().await;

    for path in [
        "/api/v1/conversations".to_owned(),
        format!("/api/v1/conversations/{}", s.alice_chat),
        format!("/api/v1/conversations/{}/messages", s.alice_chat),
        format!("/api/v1/attachments/{}", s.attachment_id),
    ] {
        let anonymous = s.server.get(&path).await;
        assert_eq!(anonymous.status, 401, "{path}: {}", anonymous.text());
        assert_eq!(anonymous.error_code(), "unauthorized");
    }
}

#[tokio::test]
async fn live_events_of_another_users_conversation_never_reach_an_end_users_socket() {
    let s = scene().await;
    let after = s.tech.history(s.alice_chat).await.last().unwrap()["id"]
        .as_i64()
        .unwrap();
    let (mut bobs_socket, _) = s.bob.socket(after).await;
    let (mut techs_socket, _) = s.tech.socket(after).await;

    // Everything that can happen in Alice's conversation...
    s.alice.say(s.alice_chat, "still broken").await;
    s.tech.note(s.alice_chat, "internal: order a new one").await;
    s.tech.say(s.alice_chat, "on it").await;
    s.tech
        .post(
            &format!("/api/v1/conversations/{}/claim", s.alice_chat),
            json!({}),
        )
        .await
        .expect(200);
    techs_socket
        .send(json!({ "type": "typing", "conversation_id": s.alice_chat }))
        .await;
    s.alice
        .upload(s.alice_chat, "log.txt", "text/plain", b"boot log".to_vec())
        .await
        .expect(201);

    // ...then something in Bob's own, which comes after it on every socket.
    let marker = s.bob.say(s.bob_chat, "any news?").await;
    let seen = bobs_socket
        .events_until(
            |e| e["type"] == "message" && e["message"]["id"] == marker,
            WAIT,
        )
        .await
        .unwrap_or_else(|seen| panic!("Bob never saw his own message; saw {seen:#?}"));

    for event in &seen {
        let conversation = event
            .get("conversation_id")
            .or_else(|| event["message"].get("conversation_id"))
            .or_else(|| event["conversation"].get("id"));
        if let Some(conversation) = conversation {
            assert_eq!(conversation, s.bob_chat, "Bob saw {event:#?}");
        }
        assert!(!event.to_string().contains("Alice"), "Bob saw {event:#?}");
    }
}

#[tokio::test]
async fn a_note_reaches_the_technicians_socket_and_never_the_end_users() {
    let s = scene().await;
    let (mut alices_socket, _) = s.alice.socket(s.note_id).await;
    let (mut techs_socket, _) = s.tech.socket(s.note_id).await;

    let note = s
        .tech
        .note(s.alice_chat, "internal: she is a VIP, be quick")
        .await;
    let reply = s.tech.say(s.alice_chat, "looking now").await;

    let tech_got = techs_socket.next_event_of_type("message", WAIT).await;
    assert_eq!(tech_got["message"]["id"], note);
    assert_eq!(tech_got["message"]["kind"], "note");

    let alice_got = alices_socket
        .events_until(|e| e["type"] == "message", WAIT)
        .await
        .unwrap();
    assert_eq!(alice_got.last().unwrap()["message"]["id"], reply);
    assert!(
        alice_got
            .iter()
            .all(|e| !e.to_string().contains("VIP") && e["message"]["kind"] != "note"),
        "{alice_got:#?}"
    );
}

#[tokio::test]
async fn the_resume_replay_holds_only_the_end_users_own_visible_messages() {
    let s = scene().await;
    s.tech.say(s.alice_chat, "we have a spare").await;
    s.tech.say(s.bob_chat, "printer fixed?").await;
    s.tech
        .note(s.bob_chat, "internal: Bob jams it weekly")
        .await;

    let (_bobs_socket, bob_replayed) = s.bob.socket(0).await;
    let (_alices_socket, alice_replayed) = s.alice.socket(0).await;
    let (_techs_socket, tech_replayed) = s.tech.socket(0).await;

    assert!(
        bob_replayed
            .iter()
            .all(|m| m["conversation_id"] == s.bob_chat && m["kind"] != "note"),
        "{bob_replayed:#?}"
    );
    assert_eq!(ids(&bob_replayed), ids(&s.bob.history(s.bob_chat).await));
    assert!(
        alice_replayed
            .iter()
            .all(|m| m["conversation_id"] == s.alice_chat && m["kind"] != "note"),
        "{alice_replayed:#?}"
    );
    assert_eq!(
        ids(&alice_replayed),
        ids(&s.alice.history(s.alice_chat).await)
    );

    // The help desk's replay has both conversations, notes included.
    let notes = tech_replayed.iter().filter(|m| m["kind"] == "note").count();
    assert_eq!(notes, 2);
    assert_eq!(
        tech_replayed.len(),
        s.tech.history(s.alice_chat).await.len() + s.tech.history(s.bob_chat).await.len()
    );
}

#[tokio::test]
async fn an_end_user_cannot_type_or_read_in_another_users_conversation() {
    let s = scene().await;
    let (mut bobs_socket, _) = s.bob.socket(s.attachment_id).await;
    let (mut techs_socket, _) = s.tech.socket(s.attachment_id).await;

    bobs_socket
        .send(json!({ "type": "typing", "conversation_id": s.alice_chat }))
        .await;
    let refused = bobs_socket.next_event_of_type("error", WAIT).await;
    assert_eq!(refused["error"]["code"], "not_found");

    bobs_socket
        .send(json!({ "type": "read", "conversation_id": s.alice_chat, "message_id": s.note_id }))
        .await;
    let refused = bobs_socket.next_event_of_type("error", WAIT).await;
    assert_eq!(refused["error"]["code"], "not_found");

    // The help desk heard nothing of it: the next thing it sees is Bob's
    // typing in his own conversation.
    bobs_socket
        .send(json!({ "type": "typing", "conversation_id": s.bob_chat }))
        .await;
    let heard = techs_socket
        .events_until(|e| e["type"] == "typing", WAIT)
        .await
        .unwrap();
    assert_eq!(heard.last().unwrap()["conversation_id"], s.bob_chat);
    assert!(heard.iter().all(|e| e["type"] != "read"), "{heard:#?}");
}
