//! The chat rules, on a real SQLite store: who may see and do what.

use super::*;
use crate::store::{NewAccount, NewEndUser, Role};
use crate::testing::TestDatabase;

struct Desk {
    _db: TestDatabase,
    chat: Chat,
    dana: Actor,
    eve: Actor,
    alex: Actor,
    sam: Actor,
}

async fn desk() -> Desk {
    let db = TestDatabase::sqlite();
    let store: Arc<dyn Store> = Arc::from(db.open().await.unwrap());
    let ws = store.default_workspace("secret").await.unwrap().id;

    let end_user = |email: &str, name: &str| NewEndUser {
        workspace_id: ws,
        email: email.to_owned(),
        name: name.to_owned(),
        subject: None,
    };
    let dana = store
        .upsert_end_user(end_user("dana@client.example", "Dana"))
        .await
        .unwrap();
    let eve = store
        .upsert_end_user(end_user("eve@other.example", "Eve"))
        .await
        .unwrap();
    let account = |email: &str, name: &str| NewAccount {
        workspace_id: ws,
        email: email.to_owned(),
        name: name.to_owned(),
        role: Role::Technician,
        password_hash: "unused".to_owned(),
    };
    let alex = store
        .create_account(account("alex@msp.example", "Alex"))
        .await
        .unwrap();
    let sam = store
        .create_account(account("sam@msp.example", "Sam"))
        .await
        .unwrap();

    let limits = Limits {
        max_message_chars: 50,
        max_attachment_bytes: 1000,
        ..Limits::default()
    };
    Desk {
        _db: db,
        chat: Chat::new(store, Hub::new(), limits),
        dana: Actor::EndUser(dana),
        eve: Actor::EndUser(eve),
        alex: Actor::Technician(alex),
        sam: Actor::Technician(sam),
    }
}

fn png(bytes: usize) -> Upload {
    Upload {
        file_name: "C:\\Users\\dana\\screen.png".to_owned(),
        content_type: "image/png".to_owned(),
        data: vec![7; bytes],
    }
}

#[tokio::test]
async fn an_end_user_cannot_see_another_users_conversation_or_file() {
    let desk = desk().await;
    let (chat, _) = desk
        .chat
        .start(&desk.dana, None, "My printer is jammed")
        .await
        .unwrap();
    let file = desk
        .chat
        .attach(&desk.dana, chat.id, png(10))
        .await
        .unwrap();
    let attachment_id = file.attachment.unwrap().id;

    let eve = &desk.eve;
    assert!(matches!(
        desk.chat.conversation(eve, chat.id).await,
        Err(ChatError::NotFound(_))
    ));
    assert!(matches!(
        desk.chat.history(eve, chat.id, None, 50).await,
        Err(ChatError::NotFound(_))
    ));
    assert!(matches!(
        desk.chat.post(eve, chat.id, "hi", false).await,
        Err(ChatError::NotFound(_))
    ));
    assert!(matches!(
        desk.chat.attachment(eve, attachment_id).await,
        Err(ChatError::NotFound("attachment"))
    ));
    assert!(
        desk.chat
            .list(eve, InboxView::All, 50)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(desk.chat.missed(eve, 0).await.unwrap().is_empty());

    let own = desk
        .chat
        .attachment(&desk.dana, attachment_id)
        .await
        .unwrap();
    assert_eq!(own.info.file_name, "screen.png");
    assert!(
        desk.chat
            .attachment(&desk.alex, attachment_id)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_end_user_never_sees_an_internal_note() {
    let desk = desk().await;
    let (chat, _) = desk
        .chat
        .start(&desk.dana, Some("VPN"), "VPN is down")
        .await
        .unwrap();
    let note = desk
        .chat
        .post(&desk.alex, chat.id, "their contract lapsed", true)
        .await
        .unwrap();
    let reply = desk
        .chat
        .post(&desk.alex, chat.id, "Looking now", false)
        .await
        .unwrap();
    assert_eq!(note.kind, MessageKind::Note);

    let (history, _) = desk
        .chat
        .history(&desk.dana, chat.id, None, 50)
        .await
        .unwrap();
    assert!(history.iter().all(|m| m.kind != MessageKind::Note));
    assert!(history.iter().any(|m| m.id == reply.id));
    let missed = desk.chat.missed(&desk.dana, 0).await.unwrap();
    assert!(missed.iter().all(|m| m.id != note.id));

    let (desk_history, _) = desk
        .chat
        .history(&desk.alex, chat.id, None, 50)
        .await
        .unwrap();
    assert!(desk_history.iter().any(|m| m.id == note.id));

    assert!(matches!(
        desk.chat.post(&desk.dana, chat.id, "sneaky", true).await,
        Err(ChatError::Forbidden(_))
    ));
}

#[tokio::test]
async fn notes_reach_only_help_desk_sockets() {
    let desk = desk().await;
    let mut events = desk.chat.hub().subscribe();
    let (chat, _) = desk.chat.start(&desk.dana, None, "Help").await.unwrap();
    desk.chat
        .post(&desk.alex, chat.id, "internal only", true)
        .await
        .unwrap();

    let mut seen_by_dana = Vec::new();
    let mut seen_by_desk = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let Event::Message { message, .. } = &*event {
            if event.visible_to(desk.dana.listener()) {
                seen_by_dana.push(message.body.clone());
            }
            if event.visible_to(desk.alex.listener()) {
                seen_by_desk.push(message.body.clone());
            }
        }
    }
    assert_eq!(seen_by_dana, ["Help"]);
    assert_eq!(seen_by_desk, ["Help", "internal only"]);
}

#[tokio::test]
async fn claim_transfer_close_and_reopen() {
    let desk = desk().await;
    let (chat, _) = desk.chat.start(&desk.dana, None, "Help").await.unwrap();

    let claimed = desk.chat.claim(&desk.alex, chat.id).await.unwrap();
    assert_eq!(claimed.status, ConversationStatus::Active);
    assert_eq!(claimed.technician.as_ref().unwrap().name, "Alex");
    assert!(matches!(
        desk.chat.claim(&desk.sam, chat.id).await,
        Err(ChatError::Conflict(_))
    ));
    assert!(matches!(
        desk.chat.claim(&desk.dana, chat.id).await,
        Err(ChatError::Forbidden(_))
    ));

    let Actor::Technician(sam) = &desk.sam else {
        unreachable!()
    };
    let moved = desk
        .chat
        .transfer(&desk.alex, chat.id, sam.id)
        .await
        .unwrap();
    assert_eq!(moved.technician.unwrap().id, sam.id);
    assert!(matches!(
        desk.chat.transfer(&desk.alex, chat.id, 999).await,
        Err(ChatError::Invalid(_))
    ));

    let closed = desk.chat.close(&desk.dana, chat.id).await.unwrap();
    assert_eq!(closed.status, ConversationStatus::Closed);
    desk.chat
        .post(&desk.dana, chat.id, "Still broken", false)
        .await
        .unwrap();
    let reopened = desk.chat.conversation(&desk.alex, chat.id).await.unwrap();
    assert_eq!(reopened.status, ConversationStatus::Waiting);
}

#[tokio::test]
async fn bad_input_is_refused_with_a_reason_and_nothing_is_stored() {
    let desk = desk().await;
    let (chat, _) = desk.chat.start(&desk.dana, None, "Help").await.unwrap();

    let empty = desk.chat.post(&desk.dana, chat.id, "   ", false).await;
    assert!(matches!(empty, Err(ChatError::Invalid(_))), "{empty:?}");
    let long = desk
        .chat
        .post(&desk.dana, chat.id, &"x".repeat(51), false)
        .await;
    assert!(
        matches!(long, Err(ChatError::TooLarge(ref why)) if why.contains("50")),
        "{long:?}"
    );
    let big = desk.chat.attach(&desk.dana, chat.id, png(1001)).await;
    assert!(matches!(big, Err(ChatError::TooLarge(_))), "{big:?}");
    let exe = Upload {
        content_type: "application/x-msdownload".to_owned(),
        ..png(10)
    };
    let exe = desk.chat.attach(&desk.dana, chat.id, exe).await;
    assert!(matches!(exe, Err(ChatError::UnsupportedType(_))), "{exe:?}");

    let (history, _) = desk
        .chat
        .history(&desk.alex, chat.id, None, 50)
        .await
        .unwrap();
    assert_eq!(history.len(), 1, "only the first message is stored");
}

#[tokio::test]
async fn the_subject_comes_from_the_first_line_when_none_is_given() {
    let desk = desk().await;

    let (chat, message) = desk
        .chat
        .start(
            &desk.dana,
            Some("  "),
            "Outlook crashes\nwhen I open the calendar",
        )
        .await
        .unwrap();

    assert_eq!(chat.subject, "Outlook crashes");
    assert_eq!(message.author.name, "Dana");
    assert!(message.body_html.contains("<br>"));
}

#[tokio::test]
async fn history_pages_report_whether_there_is_more() {
    let desk = desk().await;
    let (chat, _) = desk.chat.start(&desk.dana, None, "m0").await.unwrap();
    for n in 1..5 {
        desk.chat
            .post(&desk.dana, chat.id, &format!("m{n}"), false)
            .await
            .unwrap();
    }

    let (page, more) = desk
        .chat
        .history(&desk.dana, chat.id, None, 3)
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["m2", "m3", "m4"]
    );
    assert!(more);
    let (page, more) = desk
        .chat
        .history(&desk.dana, chat.id, Some(page[0].id), 3)
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["m0", "m1"]
    );
    assert!(!more);
}

#[test]
fn file_names_lose_their_path_and_control_characters() {
    assert_eq!(clean_file_name("../../etc/passwd").unwrap(), "passwd");
    assert_eq!(clean_file_name("a\"b\r\n.txt").unwrap(), "ab.txt");
    assert!(clean_file_name("  ").is_err());
    assert!(clean_file_name("dir/..").is_err());
}

#[tokio::test]
async fn read_marks_only_messages_of_that_conversation_the_reader_may_see() {
    let desk = desk().await;
    let (mine, first) = desk.chat.start(&desk.dana, None, "Help").await.unwrap();
    let (_, theirs) = desk.chat.start(&desk.eve, None, "Other").await.unwrap();
    let note = desk
        .chat
        .post(&desk.alex, mine.id, "internal", true)
        .await
        .unwrap();

    assert!(desk.chat.read(&desk.dana, mine.id, first.id).await.is_ok());
    assert!(matches!(
        desk.chat.read(&desk.dana, mine.id, theirs.id).await,
        Err(ChatError::Invalid(_))
    ));
    assert!(matches!(
        desk.chat.read(&desk.dana, mine.id, note.id).await,
        Err(ChatError::Invalid(_))
    ));
    assert!(desk.chat.read(&desk.alex, mine.id, note.id).await.is_ok());
}

#[tokio::test]
async fn claims_transfers_and_closes_are_told_in_the_history() {
    let desk = desk().await;
    let (chat, _) = desk.chat.start(&desk.dana, None, "Help").await.unwrap();
    let Actor::Technician(sam) = &desk.sam else {
        unreachable!()
    };

    desk.chat.claim(&desk.alex, chat.id).await.unwrap();
    desk.chat
        .transfer(&desk.alex, chat.id, sam.id)
        .await
        .unwrap();
    desk.chat.close(&desk.sam, chat.id).await.unwrap();

    let (history, _) = desk
        .chat
        .history(&desk.dana, chat.id, None, 50)
        .await
        .unwrap();
    let told: Vec<_> = history
        .iter()
        .filter(|m| m.kind == MessageKind::System)
        .map(|m| m.body.as_str())
        .collect();
    assert_eq!(
        told,
        [
            "Alex joined the chat.",
            "Alex handed the chat to Sam.",
            "Sam closed the chat."
        ]
    );
    let closed = desk.chat.conversation(&desk.dana, chat.id).await.unwrap();
    assert_eq!(
        closed.status,
        ConversationStatus::Closed,
        "a system message reopens nothing"
    );
}
