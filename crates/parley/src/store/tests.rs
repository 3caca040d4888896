//! One suite for both backends: every test runs on SQLite, and on PostgreSQL
//! when `PARLEY_TEST_POSTGRES_URL` names a server (otherwise it says it
//! skipped that half).

use super::*;
use crate::testing::TestDatabase;

/// Opens a fresh store on each backend available to this run.
async fn stores(test_name: &str) -> Vec<(TestDatabase, Box<dyn Store>)> {
    let mut databases = vec![TestDatabase::sqlite()];
    if let Some(postgres) = TestDatabase::postgres(test_name).await {
        databases.push(postgres);
    }

    let mut stores = Vec::new();
    for database in databases {
        let store = database.open().await.expect("a fresh test database opens");
        stores.push((database, store));
    }
    stores
}

async fn workspace(store: &dyn Store) -> Workspace {
    store.default_workspace("widget-secret").await.unwrap()
}

async fn end_user(store: &dyn Store, workspace: WorkspaceId, email: &str) -> EndUser {
    store
        .upsert_end_user(NewEndUser {
            workspace_id: workspace,
            email: email.to_owned(),
            name: "Dana".to_owned(),
            subject: None,
        })
        .await
        .unwrap()
}

async fn technician(store: &dyn Store, workspace: WorkspaceId, email: &str) -> Account {
    store
        .create_account(NewAccount {
            workspace_id: workspace,
            email: email.to_owned(),
            name: email.split('@').next().unwrap().to_owned(),
            role: Role::Technician,
            password_hash: "$argon2id$test".to_owned(),
        })
        .await
        .unwrap()
}

fn text(
    workspace: WorkspaceId,
    conversation: ConversationId,
    author: AuthorKind,
    body: &str,
) -> NewMessage {
    NewMessage {
        workspace_id: workspace,
        conversation_id: conversation,
        kind: MessageKind::Text,
        author_kind: author,
        author_id: Some(1),
        author_name: None,
        body: body.to_owned(),
        at: now_millis(),
    }
}

async fn conversation(
    store: &dyn Store,
    workspace: WorkspaceId,
    end_user: EndUserId,
) -> (Conversation, Message) {
    store
        .create_conversation(
            NewConversation {
                workspace_id: workspace,
                end_user_id: end_user,
                subject: "Printer".to_owned(),
            },
            text(workspace, 0, AuthorKind::EndUser, "The printer is jammed"),
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn the_default_workspace_is_created_once() {
    for (_db, store) in stores("the_default_workspace_is_created_once").await {
        let first = store.default_workspace("first").await.unwrap();
        let second = store.default_workspace("second").await.unwrap();

        assert_eq!(first.id, second.id);
        assert_eq!(second.widget_secret, "first", "{:?}", store.backend());

        store.set_widget_secret(first.id, "rotated").await.unwrap();
        assert_eq!(
            store.default_workspace("x").await.unwrap().widget_secret,
            "rotated"
        );
    }
}

#[tokio::test]
async fn a_second_account_with_the_same_email_is_a_conflict() {
    for (_db, store) in stores("a_second_account_with_the_same_email_is_a_conflict").await {
        let ws = workspace(&*store).await.id;
        let account = technician(&*store, ws, "alex@msp.example").await;

        let again = store
            .create_account(NewAccount {
                workspace_id: ws,
                email: "alex@msp.example".to_owned(),
                name: "Other".to_owned(),
                role: Role::Admin,
                password_hash: "x".to_owned(),
            })
            .await;

        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
        let found = store
            .account_by_email(ws, "alex@msp.example")
            .await
            .unwrap();
        assert_eq!(found.id, account.id);
        assert_eq!(found.role, Role::Technician);
        assert_eq!(store.count_admins(ws).await.unwrap(), 0);
        assert!(matches!(
            store.account_by_email(ws, "nobody@msp.example").await,
            Err(StoreError::NotFound("account"))
        ));
    }
}

#[tokio::test]
async fn sessions_expire_and_can_be_revoked() {
    for (_db, store) in stores("sessions_expire_and_can_be_revoked").await {
        let ws = workspace(&*store).await.id;
        let account = technician(&*store, ws, "alex@msp.example").await;
        let now = now_millis();
        for (digest, expires_at) in [("live", now + 60_000), ("old", now - 1), ("other", now + 1)] {
            store
                .create_session(NewSession {
                    token_digest: digest.to_owned(),
                    workspace_id: ws,
                    owner: SessionOwner::Account(account.id),
                    expires_at,
                })
                .await
                .unwrap();
        }

        let live = store.session("live", now).await.unwrap();
        assert_eq!(live.owner, SessionOwner::Account(account.id));
        assert!(matches!(
            store.session("old", now).await,
            Err(StoreError::NotFound(_))
        ));

        store
            .delete_other_sessions(account.id, "live")
            .await
            .unwrap();
        assert!(store.session("other", now).await.is_err());
        assert!(store.session("live", now).await.is_ok());

        store.delete_session("live").await.unwrap();
        assert!(store.session("live", now).await.is_err());
    }
}

#[tokio::test]
async fn an_end_user_is_one_row_per_email() {
    for (_db, store) in stores("an_end_user_is_one_row_per_email").await {
        let ws = workspace(&*store).await.id;
        let first = end_user(&*store, ws, "dana@client.example").await;

        let renamed = store
            .upsert_end_user(NewEndUser {
                workspace_id: ws,
                email: "dana@client.example".to_owned(),
                name: "Dana Scully".to_owned(),
                subject: Some("portal-17".to_owned()),
            })
            .await
            .unwrap();

        assert_eq!(renamed.id, first.id);
        assert_eq!(renamed.name, "Dana Scully");
        assert_eq!(renamed.subject.as_deref(), Some("portal-17"));
    }
}

#[tokio::test]
async fn messages_page_oldest_first_and_notes_can_be_left_out() {
    for (_db, store) in stores("messages_page_oldest_first_and_notes_can_be_left_out").await {
        let ws = workspace(&*store).await.id;
        let user = end_user(&*store, ws, "dana@client.example").await;
        let (chat, first) = conversation(&*store, ws, user.id).await;
        assert_eq!(chat.status, ConversationStatus::Waiting);
        assert_eq!(chat.last_message_id, Some(first.id));

        let mut ids = vec![first.id];
        for n in 0..5 {
            let (_, message) = store
                .add_message(text(
                    ws,
                    chat.id,
                    AuthorKind::Technician,
                    &format!("reply {n}"),
                ))
                .await
                .unwrap();
            ids.push(message.id);
        }
        let note = NewMessage {
            kind: MessageKind::Note,
            ..text(ws, chat.id, AuthorKind::Technician, "internal")
        };
        let (_, note) = store.add_message(note).await.unwrap();

        let page = |before, include_notes| MessagePage {
            workspace_id: ws,
            conversation_id: chat.id,
            before,
            limit: 3,
            include_notes,
        };
        let newest = store.messages(page(None, false)).await.unwrap();
        assert_eq!(newest.iter().map(|m| m.id).collect::<Vec<_>>(), ids[3..]);
        let older = store.messages(page(Some(ids[3]), false)).await.unwrap();
        assert_eq!(older.iter().map(|m| m.id).collect::<Vec<_>>(), ids[..3]);
        let with_notes = store.messages(page(None, true)).await.unwrap();
        assert_eq!(with_notes.last().unwrap().id, note.id);
        assert_eq!(with_notes.last().unwrap().kind, MessageKind::Note);

        // The note leaves the conversation's visible state alone.
        let after = store.conversation(ws, chat.id).await.unwrap();
        assert_eq!(after.last_message_id, Some(ids[5]));
    }
}

#[tokio::test]
async fn resuming_replays_only_what_the_reader_may_see() {
    for (_db, store) in stores("resuming_replays_only_what_the_reader_may_see").await {
        let ws = workspace(&*store).await.id;
        let dana = end_user(&*store, ws, "dana@client.example").await;
        let eve = end_user(&*store, ws, "eve@other.example").await;
        let (dana_chat, dana_first) = conversation(&*store, ws, dana.id).await;
        let (_eve_chat, eve_first) = conversation(&*store, ws, eve.id).await;
        let note = NewMessage {
            kind: MessageKind::Note,
            ..text(ws, dana_chat.id, AuthorKind::Technician, "internal")
        };
        let (_, note) = store.add_message(note).await.unwrap();

        let resume = |end_user, include_notes| ResumeQuery {
            workspace_id: ws,
            end_user,
            after: 0,
            include_notes,
            limit: 100,
        };
        let for_dana = store
            .messages_after(resume(Some(dana.id), false))
            .await
            .unwrap();
        assert_eq!(
            for_dana.iter().map(|m| m.id).collect::<Vec<_>>(),
            [dana_first.id]
        );

        let for_desk = store.messages_after(resume(None, true)).await.unwrap();
        assert_eq!(
            for_desk.iter().map(|m| m.id).collect::<Vec<_>>(),
            [dana_first.id, eve_first.id, note.id]
        );

        assert_eq!(store.newest_message_id(ws).await.unwrap(), note.id);
        assert_eq!(store.newest_message_id(ws + 1).await.unwrap(), 0);

        let later = ResumeQuery {
            after: eve_first.id,
            ..resume(None, true)
        };
        assert_eq!(store.messages_after(later).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn only_one_of_two_claims_wins() {
    for (_db, store) in stores("only_one_of_two_claims_wins").await {
        let ws = workspace(&*store).await.id;
        let user = end_user(&*store, ws, "dana@client.example").await;
        let alex = technician(&*store, ws, "alex@msp.example").await;
        let sam = technician(&*store, ws, "sam@msp.example").await;
        let (chat, _) = conversation(&*store, ws, user.id).await;

        let claim = |by: AccountId| ConversationChange {
            workspace_id: ws,
            id: chat.id,
            expected_status: vec![ConversationStatus::Waiting],
            expected_technician: Some(None),
            status: ConversationStatus::Active,
            technician_id: Some(by),
            psa_status: None,
            at: now_millis(),
        };
        let (first, second) = tokio::join!(
            store.change_conversation(claim(alex.id)),
            store.change_conversation(claim(sam.id))
        );

        let wins = [&first, &second].iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "{first:?} {second:?}");
        let loser = if first.is_ok() { second } else { first };
        assert!(matches!(loser, Err(StoreError::Conflict(_))), "{loser:?}");
        let now = store.conversation(ws, chat.id).await.unwrap();
        assert_eq!(now.status, ConversationStatus::Active);
        assert!(now.technician_id == Some(alex.id) || now.technician_id == Some(sam.id));
    }
}

#[tokio::test]
async fn an_end_user_writing_to_a_closed_chat_reopens_it() {
    for (_db, store) in stores("an_end_user_writing_to_a_closed_chat_reopens_it").await {
        let ws = workspace(&*store).await.id;
        let user = end_user(&*store, ws, "dana@client.example").await;
        let alex = technician(&*store, ws, "alex@msp.example").await;
        let (chat, _) = conversation(&*store, ws, user.id).await;
        store
            .change_conversation(ConversationChange {
                workspace_id: ws,
                id: chat.id,
                expected_status: vec![ConversationStatus::Waiting],
                expected_technician: None,
                status: ConversationStatus::Closed,
                technician_id: Some(alex.id),
                psa_status: None,
                at: now_millis(),
            })
            .await
            .unwrap();

        let (after_technician, _) = store
            .add_message(text(ws, chat.id, AuthorKind::Technician, "one more thing"))
            .await
            .unwrap();
        assert_eq!(after_technician.status, ConversationStatus::Closed);

        let (after_user, message) = store
            .add_message(text(ws, chat.id, AuthorKind::EndUser, "it jammed again"))
            .await
            .unwrap();
        assert_eq!(after_user.status, ConversationStatus::Waiting);
        assert_eq!(after_user.technician_id, None);
        assert_eq!(after_user.last_message_id, Some(message.id));

        let waiting = store
            .conversations(ConversationQuery {
                workspace_id: ws,
                filter: ConversationFilter::Waiting,
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(waiting.iter().map(|c| c.id).collect::<Vec<_>>(), [chat.id]);
    }
}

#[tokio::test]
async fn conversation_lists_filter_by_owner_and_state() {
    for (_db, store) in stores("conversation_lists_filter_by_owner_and_state").await {
        let ws = workspace(&*store).await.id;
        let dana = end_user(&*store, ws, "dana@client.example").await;
        let eve = end_user(&*store, ws, "eve@other.example").await;
        let alex = technician(&*store, ws, "alex@msp.example").await;
        let (dana_chat, _) = conversation(&*store, ws, dana.id).await;
        let (eve_chat, _) = conversation(&*store, ws, eve.id).await;
        store
            .change_conversation(ConversationChange {
                workspace_id: ws,
                id: eve_chat.id,
                expected_status: vec![ConversationStatus::Waiting],
                expected_technician: Some(None),
                status: ConversationStatus::Active,
                technician_id: Some(alex.id),
                psa_status: None,
                at: now_millis(),
            })
            .await
            .unwrap();

        let list = |filter| {
            let store = &store;
            async move {
                store
                    .conversations(ConversationQuery {
                        workspace_id: ws,
                        filter,
                        limit: 10,
                    })
                    .await
                    .unwrap()
                    .iter()
                    .map(|c| c.id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(
            list(ConversationFilter::EndUser(dana.id)).await,
            [dana_chat.id]
        );
        assert_eq!(list(ConversationFilter::Waiting).await, [dana_chat.id]);
        assert_eq!(
            list(ConversationFilter::ClaimedBy(alex.id)).await,
            [eve_chat.id]
        );
        assert_eq!(list(ConversationFilter::Open).await.len(), 2);
        assert!(list(ConversationFilter::Closed).await.is_empty());
    }
}

#[tokio::test]
async fn attachments_keep_their_bytes_and_stay_in_their_workspace() {
    for (_db, store) in stores("attachments_keep_their_bytes_and_stay_in_their_workspace").await {
        let ws = workspace(&*store).await.id;
        let user = end_user(&*store, ws, "dana@client.example").await;
        let (chat, _) = conversation(&*store, ws, user.id).await;
        let bytes: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();

        let (_, message) = store
            .add_attachment(
                NewAttachment {
                    workspace_id: ws,
                    conversation_id: chat.id,
                    file_name: "jam.png".to_owned(),
                    content_type: "image/png".to_owned(),
                    data: bytes.clone(),
                },
                NewMessage {
                    kind: MessageKind::Attachment,
                    ..text(ws, chat.id, AuthorKind::EndUser, "")
                },
            )
            .await
            .unwrap();

        let info = message
            .attachment
            .clone()
            .expect("the message carries its attachment");
        assert_eq!(info.file_name, "jam.png");
        assert_eq!(info.size, 10_000);
        let stored = store.attachment(ws, info.id).await.unwrap();
        assert_eq!(stored.data, bytes);
        assert_eq!(stored.conversation_id, chat.id);
        assert_eq!(stored.sha256.len(), 64);
        assert!(matches!(
            store.attachment(ws + 1, info.id).await,
            Err(StoreError::NotFound("attachment"))
        ));
    }
}

#[tokio::test]
async fn a_message_cannot_land_in_a_missing_conversation() {
    for (_db, store) in stores("a_message_cannot_land_in_a_missing_conversation").await {
        let ws = workspace(&*store).await.id;

        let result = store
            .add_message(text(ws, 999, AuthorKind::EndUser, "hello?"))
            .await;

        assert!(
            matches!(result, Err(StoreError::NotFound("conversation"))),
            "{result:?}"
        );
    }
}

#[tokio::test]
async fn read_receipts_never_move_backwards() {
    for (_db, store) in stores("read_receipts_never_move_backwards").await {
        let ws = workspace(&*store).await.id;
        let user = end_user(&*store, ws, "dana@client.example").await;
        let (chat, first) = conversation(&*store, ws, user.id).await;
        let receipt = |message_id| ReadReceipt {
            conversation_id: chat.id,
            reader_kind: AuthorKind::Technician,
            reader_id: 1,
            message_id,
            at: now_millis(),
        };

        store.mark_read(receipt(first.id + 5)).await.unwrap();
        store.mark_read(receipt(first.id)).await.unwrap();

        let receipts = store.read_receipts(chat.id).await.unwrap();
        assert_eq!(receipts.len(), 1);
        assert_eq!(receipts[0].message_id, first.id + 5);
        assert_eq!(receipts[0].reader_kind, AuthorKind::Technician);
    }
}

#[tokio::test]
async fn unknown_database_urls_are_refused_with_what_is_accepted() {
    let error = open("mysql://root@localhost/parley").await.unwrap_err();
    assert!(error.to_string().contains("sqlite://"), "{error}");
    assert!(
        !error.to_string().contains("root@"),
        "no credentials echoed: {error}"
    );

    let error = open("sqlite:///no/such/dir/parley.db").await.unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
}

fn connector(workspace: WorkspaceId, client_id: &str) -> StoredConnector {
    StoredConnector {
        workspace_id: workspace,
        kind: "halopsa".to_owned(),
        site_url: "https://acme.halopsa.com".to_owned(),
        client_id: client_id.to_owned(),
        tenant: None,
        client_secret_sealed: "v1:abcd:sealed".to_owned(),
        allow_private: false,
        defaults: "{}".to_owned(),
        created_at: 1,
        updated_at: 1,
        last_success_at: None,
        failing_since: None,
        last_error: None,
    }
}

#[tokio::test]
async fn one_connector_per_workspace_with_its_health() {
    for (_db, store) in stores("one_connector_per_workspace_with_its_health").await {
        let ws = workspace(&*store).await.id;
        assert!(store.connector(ws).await.unwrap().is_none());

        store.save_connector(connector(ws, "first")).await.unwrap();
        store.save_connector(connector(ws, "second")).await.unwrap();
        let saved = store.connector(ws).await.unwrap().unwrap();
        assert_eq!(saved.client_id, "second");

        store
            .record_connector_health(ws, 10, Some("401"))
            .await
            .unwrap();
        store
            .record_connector_health(ws, 20, Some("401 again"))
            .await
            .unwrap();
        let failing = store.connector(ws).await.unwrap().unwrap();
        assert_eq!(
            failing.failing_since,
            Some(10),
            "the first failure's time stays"
        );
        assert_eq!(failing.last_error.as_deref(), Some("401 again"));
        store.record_connector_health(ws, 30, None).await.unwrap();
        let healthy = store.connector(ws).await.unwrap().unwrap();
        assert_eq!(
            (healthy.last_success_at, healthy.failing_since),
            (Some(30), None)
        );

        store.delete_connector(ws).await.unwrap();
        assert!(store.connector(ws).await.unwrap().is_none());
        assert!(matches!(
            store.delete_connector(ws).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn the_audit_log_lists_newest_first() {
    for (_db, store) in stores("the_audit_log_lists_newest_first").await {
        let ws = workspace(&*store).await.id;
        store
            .add_audit(ws, "Morgan", "connector.created", "{}")
            .await
            .unwrap();
        store
            .add_audit(ws, "Morgan", "connector.tested", "{\"ok\":true}")
            .await
            .unwrap();

        let log = store.audit_log(ws, 10).await.unwrap();

        let actions: Vec<_> = log.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["connector.tested", "connector.created"]);
        assert_eq!(log[0].actor, "Morgan");
    }
}

#[tokio::test]
async fn sealed_fields_are_replaced_together() {
    for (_db, store) in stores("sealed_fields_are_replaced_together").await {
        let ws = workspace(&*store).await.id;
        store.save_connector(connector(ws, "c")).await.unwrap();

        let fields = store.sealed_fields().await.unwrap();
        assert_eq!(fields.len(), 2, "{fields:?}");
        let resealed = fields
            .into_iter()
            .map(|(field, value)| (field, format!("new-{value}")))
            .collect();
        store.replace_sealed(resealed).await.unwrap();

        assert_eq!(
            store.default_workspace("x").await.unwrap().widget_secret,
            "new-widget-secret"
        );
        let saved = store.connector(ws).await.unwrap().unwrap();
        assert_eq!(saved.client_secret_sealed, "new-v1:abcd:sealed");
    }
}

#[tokio::test]
async fn racing_first_admins_make_one() {
    for (_db, store) in stores("racing_first_admins_make_one").await {
        let ws = workspace(&*store).await.id;
        let admin = |n: usize| NewAccount {
            workspace_id: ws,
            email: format!("admin{n}@msp.example"),
            name: format!("Admin {n}"),
            role: Role::Admin,
            password_hash: "x".to_owned(),
        };

        let attempts =
            futures_util::future::join_all((0..6).map(|n| store.create_first_admin(admin(n))))
                .await;

        let created = attempts.iter().filter(|r| matches!(r, Ok(Some(_)))).count();
        assert_eq!(created, 1, "{:?}", store.backend());
        assert!(attempts.iter().all(Result::is_ok), "{attempts:?}");
        assert_eq!(store.count_admins(ws).await.unwrap(), 1);
    }
}

fn ticket_request(ws: WorkspaceId, conversation: ConversationId) -> TicketRequest {
    TicketRequest {
        workspace_id: ws,
        conversation_id: conversation,
        marker: format!("parley-{conversation}-marker"),
        requested_by: "end_user".to_owned(),
        payload: "{}".to_owned(),
        at: now_millis(),
    }
}

#[tokio::test]
async fn a_ticket_request_queues_its_creation_and_then_every_message() {
    for (_db, store) in stores("a_ticket_request_queues_its_creation_and_then_every_message").await
    {
        let ws = workspace(&*store).await.id;
        let user = end_user(&*store, ws, "dana@client.example").await;
        let (chat, _) = conversation(&*store, ws, user.id).await;
        let before = store
            .add_message(text(ws, chat.id, AuthorKind::EndUser, "before the ticket"))
            .await
            .unwrap()
            .1;

        let link = store
            .request_ticket(ticket_request(ws, chat.id))
            .await
            .unwrap();
        assert_eq!(link.ticket_id, None);
        let again = store.request_ticket(ticket_request(ws, chat.id)).await;
        assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");

        let after = store
            .add_message(text(ws, chat.id, AuthorKind::EndUser, "after"))
            .await
            .unwrap()
            .1;
        let system = NewMessage {
            kind: MessageKind::System,
            ..text(ws, chat.id, AuthorKind::System, "Ticket requested")
        };
        store.add_message(system).await.unwrap();

        let pending = store.jobs(ws, JobState::Pending, 10).await.unwrap();
        let kinds: Vec<_> = pending.iter().map(|j| (j.kind, j.message_id)).collect();
        assert_eq!(
            kinds,
            [
                (JobKind::CreateTicket, None),
                (JobKind::AddNote, Some(after.id))
            ]
        );
        assert!(pending.iter().all(|j| j.message_id != Some(before.id)));

        let sync = store.message_sync(chat.id).await.unwrap();
        assert_eq!(sync.len(), 1);
        assert_eq!(
            (sync[0].message_id, sync[0].state),
            (after.id, JobState::Pending)
        );
    }
}

#[tokio::test]
async fn jobs_of_one_conversation_run_in_order_and_a_dead_worker_is_replaced() {
    for (_db, store) in
        stores("jobs_of_one_conversation_run_in_order_and_a_dead_worker_is_replaced").await
    {
        let ws = workspace(&*store).await.id;
        let user = end_user(&*store, ws, "dana@client.example").await;
        let (one, _) = conversation(&*store, ws, user.id).await;
        let (two, _) = conversation(&*store, ws, user.id).await;
        store
            .request_ticket(ticket_request(ws, one.id))
            .await
            .unwrap();
        store
            .add_message(text(ws, one.id, AuthorKind::EndUser, "n1"))
            .await
            .unwrap();
        store
            .request_ticket(ticket_request(ws, two.id))
            .await
            .unwrap();
        let now = now_millis();

        let first = store.claim_job(now, now + 1000).await.unwrap().unwrap();
        assert_eq!(
            (first.conversation_id, first.kind),
            (one.id, JobKind::CreateTicket)
        );
        assert_eq!(first.attempts, 1);
        // The note of conversation one waits for its ticket; two's job may run.
        let second = store.claim_job(now, now + 1000).await.unwrap().unwrap();
        assert_eq!(second.conversation_id, two.id);
        assert!(store.claim_job(now, now + 1000).await.unwrap().is_none());

        // The first worker died: after its lease, the job is claimed again.
        let later = now + 2000;
        let again = store.claim_job(later, later + 1000).await.unwrap().unwrap();
        assert_eq!((again.id, again.attempts), (first.id, 2));

        store
            .job_done(again.id, "{\"ticket_id\":1}", later)
            .await
            .unwrap();
        let note = store.claim_job(later, later + 1000).await.unwrap().unwrap();
        assert_eq!(note.kind, JobKind::AddNote);
    }
}

#[tokio::test]
async fn a_retry_waits_remembers_a_possible_send_and_a_parked_job_blocks_its_successors() {
    for (_db, store) in
        stores("a_retry_waits_remembers_a_possible_send_and_a_parked_job_blocks_its_successors")
            .await
    {
        let ws = workspace(&*store).await.id;
        let user = end_user(&*store, ws, "dana@client.example").await;
        let (chat, _) = conversation(&*store, ws, user.id).await;
        store
            .request_ticket(ticket_request(ws, chat.id))
            .await
            .unwrap();
        store
            .add_message(text(ws, chat.id, AuthorKind::EndUser, "n1"))
            .await
            .unwrap();
        let now = now_millis();

        let job = store.claim_job(now, now + 1000).await.unwrap().unwrap();
        store.job_sending(job.id).await.unwrap();
        store
            .job_retry(job.id, now + 500, "timeout", false)
            .await
            .unwrap();
        assert!(
            store.claim_job(now, now + 1000).await.unwrap().is_none(),
            "not due yet"
        );
        let retried = store
            .claim_job(now + 500, now + 1500)
            .await
            .unwrap()
            .unwrap();
        assert!(retried.maybe_sent, "a possible send is never forgotten");
        assert_eq!(retried.last_error.as_deref(), Some("timeout"));

        store
            .job_failed(retried.id, "refused", now + 600)
            .await
            .unwrap();
        assert!(
            store
                .claim_job(now + 9000, now + 9999)
                .await
                .unwrap()
                .is_none()
        );
        let failed = store.jobs(ws, JobState::Failed, 10).await.unwrap();
        assert_eq!(failed.len(), 1);

        store.retry_failed_job(ws, retried.id).await.unwrap();
        let back = store
            .claim_job(now_millis(), now_millis() + 1000)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(back.id, retried.id);
    }
}

#[tokio::test]
async fn concurrent_workers_never_claim_the_same_job() {
    for (_db, store) in stores("concurrent_workers_never_claim_the_same_job").await {
        let ws = workspace(&*store).await.id;
        let user = end_user(&*store, ws, "dana@client.example").await;
        for _ in 0..8 {
            let (chat, _) = conversation(&*store, ws, user.id).await;
            store
                .request_ticket(ticket_request(ws, chat.id))
                .await
                .unwrap();
        }
        let now = now_millis();

        let claims =
            futures_util::future::join_all((0..12).map(|_| store.claim_job(now, now + 60_000)))
                .await;

        let mut ids: Vec<i64> = claims
            .into_iter()
            .filter_map(|claim| claim.unwrap())
            .map(|job| job.id)
            .collect();
        assert_eq!(ids.len(), 8, "{:?}", store.backend());
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 8, "a job was claimed twice");
    }
}

fn match_row(
    workspace: WorkspaceId,
    end_user: EndUserId,
    state: ContactMatchState,
    rule: Option<MatchRule>,
    checked_at: Millis,
) -> ContactMatchRow {
    let matched = state == ContactMatchState::Matched;
    ContactMatchRow {
        workspace_id: workspace,
        end_user_id: end_user,
        state,
        contact: matched.then(|| "{\"id\":38}".to_owned()),
        rule,
        chosen_by: (rule == Some(MatchRule::Technician)).then(|| "Tess Tech".to_owned()),
        catch_all: false,
        matched_at: matched.then_some(checked_at),
        checked_at,
        candidates: "[]".to_owned(),
    }
}

#[tokio::test]
async fn a_contact_match_is_stored_and_replaced_by_a_later_lookup() {
    for (_db, store) in stores("a_contact_match_is_stored_and_replaced_by_a_later_lookup").await {
        let ws = workspace(&*store).await.id;
        let dana = end_user(&*store, ws, "dana@northwind.example").await;
        assert_eq!(store.contact_match(ws, dana.id).await.unwrap(), None);

        let queued = ContactMatchRow {
            candidates: "[{\"id\":39},{\"id\":45}]".to_owned(),
            ..match_row(ws, dana.id, ContactMatchState::Ambiguous, None, 100)
        };
        assert!(store.save_checked_match(queued.clone()).await.unwrap());
        assert_eq!(
            store.contact_match(ws, dana.id).await.unwrap(),
            Some(queued)
        );

        let matched = match_row(
            ws,
            dana.id,
            ContactMatchState::Matched,
            Some(MatchRule::Email),
            200,
        );
        assert!(store.save_checked_match(matched.clone()).await.unwrap());

        assert_eq!(
            store.contact_match(ws, dana.id).await.unwrap(),
            Some(matched),
            "{:?}",
            store.backend()
        );
    }
}

#[tokio::test]
async fn a_lookup_never_overwrites_a_technicians_choice() {
    for (_db, store) in stores("a_lookup_never_overwrites_a_technicians_choice").await {
        let ws = workspace(&*store).await.id;
        let dana = end_user(&*store, ws, "dana@northwind.example").await;
        let chosen = ContactMatchRow {
            catch_all: true,
            ..match_row(
                ws,
                dana.id,
                ContactMatchState::Matched,
                Some(MatchRule::Technician),
                100,
            )
        };
        store.save_chosen_match(chosen.clone()).await.unwrap();

        let lookup = match_row(ws, dana.id, ContactMatchState::NoMatch, None, 200);
        let written = store.save_checked_match(lookup).await.unwrap();

        assert!(!written, "{:?}", store.backend());
        assert_eq!(
            store.contact_match(ws, dana.id).await.unwrap(),
            Some(chosen)
        );

        // Another choice does replace it, and forgetting clears it.
        let again = match_row(ws, dana.id, ContactMatchState::NoMatch, None, 300);
        store.save_chosen_match(again.clone()).await.unwrap();
        assert_eq!(store.contact_match(ws, dana.id).await.unwrap(), Some(again));
        store.delete_contact_match(ws, dana.id).await.unwrap();
        assert_eq!(store.contact_match(ws, dana.id).await.unwrap(), None);
        assert!(matches!(
            store.delete_contact_match(ws, dana.id).await,
            Err(StoreError::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn the_contact_queue_holds_the_unmatched_longest_waiting_first() {
    for (_db, store) in stores("the_contact_queue_holds_the_unmatched_longest_waiting_first").await
    {
        let ws = workspace(&*store).await.id;
        let matched = end_user(&*store, ws, "alice@northwind.example").await;
        let late = end_user(&*store, ws, "sam@consultants.example").await;
        let early = end_user(&*store, ws, "nobody@unknown.example").await;
        store
            .save_checked_match(match_row(
                ws,
                matched.id,
                ContactMatchState::Matched,
                Some(MatchRule::Email),
                50,
            ))
            .await
            .unwrap();
        store
            .save_checked_match(match_row(
                ws,
                late.id,
                ContactMatchState::Ambiguous,
                None,
                300,
            ))
            .await
            .unwrap();
        store
            .save_checked_match(match_row(
                ws,
                early.id,
                ContactMatchState::NoMatch,
                None,
                100,
            ))
            .await
            .unwrap();

        let queue = store.contact_queue(ws, 10).await.unwrap();

        let emails: Vec<&str> = queue.iter().map(|(user, _)| user.email.as_str()).collect();
        assert_eq!(
            emails,
            ["nobody@unknown.example", "sam@consultants.example"],
            "{:?}",
            store.backend()
        );
        assert_eq!(queue[1].1.state, ContactMatchState::Ambiguous);
        assert_eq!(store.contact_queue(ws, 1).await.unwrap().len(), 1);
    }
}

/// A message from an agent in the PSA: named, without a Parley account.
fn from_agent(workspace: WorkspaceId, conversation: ConversationId, body: &str) -> NewMessage {
    NewMessage {
        author_id: None,
        author_name: Some("Marco Rossi".to_owned()),
        ..text(workspace, conversation, AuthorKind::Technician, body)
    }
}

#[tokio::test]
async fn a_psa_note_is_brought_into_every_linked_chat_once_and_never_sent_back() {
    for (_db, store) in
        stores("a_psa_note_is_brought_into_every_linked_chat_once_and_never_sent_back").await
    {
        let ws = workspace(&*store).await.id;
        let user = end_user(&*store, ws, "dana@client.example").await;
        let (one, _) = conversation(&*store, ws, user.id).await;
        let (two, _) = conversation(&*store, ws, user.id).await;
        for chat in [one.id, two.id] {
            store
                .request_ticket(ticket_request(ws, chat))
                .await
                .unwrap();
            store
                .set_linked_ticket(chat, 1001, "Printer", Some("New"), now_millis())
                .await
                .unwrap();
        }
        let jobs_before = store.jobs(ws, JobState::Pending, 100).await.unwrap().len();

        let first = store
            .bring_in_psa_note(
                ws,
                1001,
                7,
                vec![
                    from_agent(ws, one.id, "Rebooted it"),
                    from_agent(ws, two.id, "Rebooted it"),
                ],
            )
            .await
            .unwrap()
            .expect("the first sight brings it in");
        let again = store
            .bring_in_psa_note(ws, 1001, 7, vec![from_agent(ws, one.id, "Rebooted it")])
            .await
            .unwrap();
        store
            .record_psa_note(ws, 1001, 8, NoteDirection::Out, None)
            .await
            .unwrap();
        let own = store
            .bring_in_psa_note(ws, 1001, 8, vec![from_agent(ws, one.id, "Parley's own")])
            .await
            .unwrap();

        assert_eq!(first.len(), 2);
        let (after, message) = &first[0];
        assert_eq!(after.last_message_id, Some(message.id));
        assert_eq!(message.author_name.as_deref(), Some("Marco Rossi"));
        assert_eq!(message.author_id, None);
        assert!(again.is_none(), "{again:?}");
        assert!(own.is_none(), "a note Parley wrote is never brought in");
        assert!(store.psa_note_known(ws, 1001, 7).await.unwrap());
        let jobs_after = store.jobs(ws, JobState::Pending, 100).await.unwrap().len();
        assert_eq!(jobs_after, jobs_before, "nothing goes back to the PSA");
        let plain = store
            .add_message(from_agent(ws, one.id, "through add_message"))
            .await
            .unwrap();
        assert_eq!(plain.0.last_message_id, Some(plain.1.id));
        assert_eq!(
            store.jobs(ws, JobState::Pending, 100).await.unwrap().len(),
            jobs_before,
            "an agent's message from the PSA is never queued, however added"
        );
    }
}

#[tokio::test]
async fn a_linked_status_moves_once_with_its_message() {
    for (_db, store) in stores("a_linked_status_moves_once_with_its_message").await {
        let ws = workspace(&*store).await.id;
        let user = end_user(&*store, ws, "dana@client.example").await;
        let (chat, _) = conversation(&*store, ws, user.id).await;
        store
            .request_ticket(ticket_request(ws, chat.id))
            .await
            .unwrap();
        store
            .set_linked_ticket(chat.id, 1001, "Printer", None, now_millis())
            .await
            .unwrap();
        let said = |body: &str| NewMessage {
            kind: MessageKind::System,
            author_id: None,
            ..text(ws, chat.id, AuthorKind::System, body)
        };

        let quiet = store
            .move_linked_status(ws, chat.id, None, "New", None)
            .await
            .unwrap();
        let moved = store
            .move_linked_status(
                ws,
                chat.id,
                Some("New"),
                "In Progress",
                Some(said("Ticket #1001 is now In Progress")),
            )
            .await
            .unwrap();
        let stale = store
            .move_linked_status(
                ws,
                chat.id,
                Some("New"),
                "In Progress",
                Some(said("Ticket #1001 is now In Progress")),
            )
            .await
            .unwrap();

        assert_eq!(quiet, StatusMove::Moved(None));
        let StatusMove::Moved(Some(message)) = moved else {
            panic!("the status moves: {moved:?}");
        };
        assert_eq!(message.kind, MessageKind::System);
        let after = store.conversation(ws, chat.id).await.unwrap();
        assert_eq!(after.last_message_id, Some(message.id));
        assert_eq!(stale, StatusMove::Stale);
        let link = store.ticket_link(ws, chat.id).await.unwrap().unwrap();
        assert_eq!(link.ticket_status.as_deref(), Some("In Progress"));
        let history = store
            .messages(MessagePage {
                workspace_id: ws,
                conversation_id: chat.id,
                before: None,
                limit: 50,
                include_notes: true,
            })
            .await
            .unwrap();
        let said: Vec<&str> = history
            .iter()
            .filter(|m| m.kind == MessageKind::System)
            .map(|m| m.body.as_str())
            .collect();
        assert_eq!(said, ["Ticket #1001 is now In Progress"]);
    }
}

#[tokio::test]
async fn the_webhook_secret_is_made_once_shown_once_and_resealed_with_the_rest() {
    for (_db, store) in
        stores("the_webhook_secret_is_made_once_shown_once_and_resealed_with_the_rest").await
    {
        let ws = workspace(&*store).await.id;
        assert!(store.webhook_secret(ws).await.unwrap().is_none());

        let made = store.save_webhook_secret(ws, "sealed-1", 10, false).await;
        let second = store.save_webhook_secret(ws, "sealed-2", 11, false).await;
        let shown = store.mark_webhook_secret_revealed(ws, "sealed-1", 12).await;
        let shown_again = store.mark_webhook_secret_revealed(ws, "sealed-1", 13).await;
        store.record_webhook_received(ws, 14).await.unwrap();

        assert!(made.unwrap());
        assert!(
            !second.unwrap(),
            "a second first use keeps the first secret"
        );
        assert!(shown.unwrap());
        assert!(!shown_again.unwrap());
        let stored = store.webhook_secret(ws).await.unwrap().unwrap();
        assert_eq!(stored.secret_sealed, "sealed-1");
        assert_eq!(stored.revealed_at, Some(12));
        assert_eq!(stored.last_received_at, Some(14));
        assert!(!format!("{stored:?}").contains("sealed-1"));

        // A rotation replaces it, to be shown again; a stale reveal fails.
        assert!(
            store
                .save_webhook_secret(ws, "sealed-3", 20, true)
                .await
                .unwrap()
        );
        let rotated = store.webhook_secret(ws).await.unwrap().unwrap();
        assert_eq!(
            (rotated.secret_sealed.as_str(), rotated.revealed_at),
            ("sealed-3", None)
        );
        assert!(
            !store
                .mark_webhook_secret_revealed(ws, "sealed-1", 21)
                .await
                .unwrap()
        );

        let fields = store.sealed_fields().await.unwrap();
        assert!(fields.contains(&(SealedField::WebhookSecret(ws), "sealed-3".to_owned())));
        store
            .replace_sealed(vec![(
                SealedField::WebhookSecret(ws),
                "resealed".to_owned(),
            )])
            .await
            .unwrap();
        let resealed = store.webhook_secret(ws).await.unwrap().unwrap();
        assert_eq!(resealed.secret_sealed, "resealed");
    }
}

// --- many writers at once (group commit on SQLite)

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_messages_all_land_once_with_each_writers_order_kept() {
    for (_db, store) in
        stores("concurrent_messages_all_land_once_with_each_writers_order_kept").await
    {
        let store: std::sync::Arc<dyn Store> = std::sync::Arc::from(store);
        let ws = workspace(&*store).await.id;
        let user = end_user(&*store, ws, "dana@client.example").await;
        let mut chats = Vec::new();
        for _ in 0..4 {
            chats.push(conversation(&*store, ws, user.id).await.0.id);
        }

        // Several writers per conversation, so that batches mix writers and
        // conversations; each writer waits for one message before the next.
        let mut writers = tokio::task::JoinSet::new();
        for (index, &chat) in chats.iter().cycle().take(24).enumerate() {
            let store = std::sync::Arc::clone(&store);
            writers.spawn(async move {
                let mut sent = Vec::new();
                for sequence in 0..10 {
                    let body = format!("writer {index} message {sequence}");
                    let (_, message) = store
                        .add_message(text(ws, chat, AuthorKind::EndUser, &body))
                        .await
                        .unwrap();
                    sent.push(message);
                }
                sent
            });
        }
        let mut sent = Vec::new();
        while let Some(batch) = writers.join_next().await {
            sent.extend(batch.unwrap());
        }

        let mut ids: Vec<_> = sent.iter().map(|message| message.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 240, "every message has its own id");
        for message in &sent {
            assert_eq!(
                &store.message(ws, message.id).await.unwrap(),
                message,
                "what add_message returned is what is stored"
            );
        }

        for &chat in &chats {
            let history = store
                .messages(MessagePage {
                    workspace_id: ws,
                    conversation_id: chat,
                    before: None,
                    limit: 1000,
                    include_notes: true,
                })
                .await
                .unwrap();
            assert_eq!(
                history.len(),
                1 + 60,
                "the first message and six writers' ten"
            );
            for writer in 0..24 {
                let prefix = format!("writer {writer} message ");
                let order: Vec<_> = history
                    .iter()
                    .filter_map(|message| message.body.strip_prefix(&prefix))
                    .collect();
                let expected: Vec<_> = (0..10).map(|n| n.to_string()).collect();
                if !order.is_empty() {
                    assert_eq!(order, expected, "writer {writer}'s messages in order");
                }
            }

            let newest = history.last().unwrap().id;
            let after = store.conversation(ws, chat).await.unwrap();
            assert_eq!(after.last_message_id, Some(newest));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_a_missing_conversation_fails_alone_among_concurrent_ones() {
    for (_db, store) in
        stores("a_message_to_a_missing_conversation_fails_alone_among_concurrent_ones").await
    {
        let store: std::sync::Arc<dyn Store> = std::sync::Arc::from(store);
        let ws = workspace(&*store).await.id;
        let user = end_user(&*store, ws, "dana@client.example").await;
        let (chat, _) = conversation(&*store, ws, user.id).await;

        let mut writers = tokio::task::JoinSet::new();
        for index in 0..40 {
            let store = std::sync::Arc::clone(&store);
            let target = if index % 10 == 3 {
                chat.id + 1000
            } else {
                chat.id
            };
            writers.spawn(async move {
                let body = format!("message {index}");
                let outcome = store
                    .add_message(text(ws, target, AuthorKind::EndUser, &body))
                    .await;
                (target, outcome)
            });
        }

        let mut stored = 0;
        while let Some(joined) = writers.join_next().await {
            let (target, outcome) = joined.unwrap();
            if target == chat.id {
                outcome.unwrap();
                stored += 1;
            } else {
                assert!(
                    matches!(outcome, Err(StoreError::NotFound("conversation"))),
                    "{outcome:?}"
                );
            }
        }
        assert_eq!(stored, 36);
        let newest = store.newest_message_id(ws).await.unwrap();
        let history = store
            .messages(MessagePage {
                workspace_id: ws,
                conversation_id: chat.id,
                before: None,
                limit: 100,
                include_notes: true,
            })
            .await
            .unwrap();
        assert_eq!(history.len(), 1 + 36);
        assert_eq!(history.last().unwrap().id, newest);
    }
}
