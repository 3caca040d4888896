//! Group commit on SQLite: concurrent [`Store::add_message`] calls share one
//! transaction, so that one wait for the disk makes a whole batch durable.
//!
//! SQLite commits one transaction at a time, and with `synchronous = FULL`
//! every commit waits for the disk to say the write is down. Paying that wait
//! once per message caps a server at a few hundred messages a second. So
//! callers queue their message with a channel for the answer; one writer task
//! takes everything queued (up to [`MAX_BATCH`]), writes it in one
//! transaction during the store's writer turn, commits, and only then answers
//! each caller. Nobody hears that a message is stored before the commit that
//! stored it, so a crash mid-batch loses only messages nobody was told about,
//! and since nothing is retried after a commit was attempted, nothing is
//! written twice.
//!
//! Each message keeps its own outcome. One naming a missing conversation is
//! refused before anything of it is written, so the rest of the batch goes
//! on. Any other failure part way through a message could leave half of it in
//! the transaction; then the batch is rolled back and its messages written
//! one transaction each, so that only the one at fault fails. When the commit
//! itself fails, every caller in the batch hears so.
//!
//! Messages are written in the order they were queued, so two messages to one
//! conversation keep the order their callers sent them in.
//!
//! [`Store::add_message`]: super::Store::add_message

use super::sql::{
    CONVERSATION_COLUMNS, advance_conversation, conversation_from, insert_message, outbox_job_kind,
    require_conversation, stored_message,
};
use super::{
    Conversation, ConversationId, JobKind, JobState, Message, MessageId, NewMessage, StoreError,
    StoreResult,
};
use sqlx::{Any, AnyPool, AssertSqlSafe, Row, Transaction};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// The most messages one transaction carries: enough to spread a commit's
/// wait thin, few enough that the writer turn is never held for long.
const MAX_BATCH: usize = 512;

/// The most rows one statement writes: 64 messages bind 576 values, far
/// below SQLite's limit of 32,766, and cut the round trips per message to a
/// few hundredths.
const MAX_RUN: usize = 64;

/// How many messages may wait for the writer before callers wait to queue.
const QUEUE_DEPTH: usize = 4096;

/// What a caller hears back.
type Outcome = StoreResult<(Conversation, Message)>;

/// What the writer has once a message's rows are in the transaction; the
/// [`Message`] is built from the queued one only after the commit.
type Written = StoreResult<(Conversation, MessageId)>;

/// A message waiting for the writer, with the way to answer its caller.
struct Pending {
    message: NewMessage,
    reply: oneshot::Sender<Outcome>,
}

/// The queue in front of the writer task.
#[derive(Debug)]
pub(super) struct MessageBatcher {
    queue: mpsc::Sender<Pending>,
}

impl MessageBatcher {
    /// Starts the writer task on the current Tokio runtime. It ends when the
    /// batcher is dropped and the queue is empty.
    pub(super) fn start(pool: AnyPool, write_turn: Arc<Mutex<()>>) -> Self {
        let (queue, waiting) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(write_batches(pool, write_turn, waiting));
        Self { queue }
    }

    /// Queues a message and waits until it is committed or refused.
    pub(super) async fn add(&self, message: NewMessage) -> Outcome {
        let (reply, answer) = oneshot::channel();

        self.queue
            .send(Pending { message, reply })
            .await
            .map_err(|_| writer_gone())?;

        answer.await.map_err(|_| writer_gone())?
    }
}

/// The writer's task has ended (its runtime is shutting down, or it
/// panicked), so nothing queued was or will be committed.
fn writer_gone() -> StoreError {
    StoreError::Database(sqlx::Error::WorkerCrashed)
}

/// The writer task: one batch after another, for as long as anyone can queue.
async fn write_batches(
    pool: AnyPool,
    write_turn: Arc<Mutex<()>>,
    mut waiting: mpsc::Receiver<Pending>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Messages queued during this batch's commit make up the next one,
        // which is how batches grow with the load without any timer.
        let turn = write_turn.lock().await;

        // A caller that stopped waiting (its request was cancelled) before
        // its turn came expects its message not to appear later on.
        batch.retain(|pending: &Pending| !pending.reply.is_closed());
        if batch.is_empty() {
            continue;
        }

        let written = write_batch(&pool, &batch).await;
        drop(turn);

        for (pending, written) in batch.drain(..).zip(written) {
            let outcome = written
                .map(|(conversation, id)| (conversation, stored_message(pending.message, id)));
            // The caller may have stopped waiting meanwhile; the message is
            // stored all the same, as it would be without the batch.
            let _ = pending.reply.send(outcome);
        }
    }
}

/// Writes a batch, one outcome per message in the batch's order.
// TODO(when the batch write itself, not the commit, is the limit again):
// try holding one connection for the writer. The pool hands out its
// connections in turn, and a SQLite connection drops its page cache whenever
// another one has written, so each batch may start with a cold cache.
async fn write_batch(pool: &AnyPool, batch: &[Pending]) -> Vec<Written> {
    let mut tx = match pool.begin().await {
        Ok(tx) => tx,
        Err(error) => return shared_failure(batch.len(), error),
    };

    match write_together(&mut tx, batch).await {
        Ok(written) => match tx.commit().await {
            Ok(()) => written,
            Err(error) => {
                // Not retried: a failed commit may still have reached the
                // disk, and a retry could then store the batch twice.
                tracing::error!(messages = batch.len(), %error, "a batch of messages did not commit");
                shared_failure(batch.len(), error)
            }
        },
        Err(error) => {
            tracing::warn!(
                messages = batch.len(),
                %error,
                "a message failed part way through a batch; writing the batch one message at a time"
            );
            if let Err(error) = tx.rollback().await {
                // Dropping the transaction rolls it back all the same; the
                // messages alone below then show whether the database works.
                tracing::warn!(%error, "rolling back a failed batch of messages failed");
            }

            let mut written = Vec::with_capacity(batch.len());
            for pending in batch {
                written.push(write_alone(pool, &pending.message).await);
            }
            written
        }
    }
}

/// Puts every message of the batch in one transaction. A missing
/// conversation fails only its message; any other error fails the batch.
///
/// Each statement is a round trip to sqlx's SQLite thread, which costs more
/// than the row it writes, so the batch is written a table at a time: its
/// conversations are read once, its messages and outbox jobs inserted many
/// rows to a statement, and each conversation updated once, to the state its
/// last message leaves it in. Each caller still gets the conversation as it
/// was just after their own message, worked out in memory.
async fn write_together(
    tx: &mut Transaction<'static, Any>,
    batch: &[Pending],
) -> StoreResult<Vec<Written>> {
    let mut chats = read_chats(tx, batch).await?;

    let (mut next_message, mut next_job) = next_ids(tx).await?;

    let mut written = Vec::with_capacity(batch.len());
    let mut messages = Vec::with_capacity(batch.len());
    let mut jobs = Vec::new();
    for Pending { message, .. } in batch {
        // Checked before any of the message's rows are planned, so refusing
        // it leaves nothing to undo.
        let chat = match chats.get_mut(&message.conversation_id) {
            Some(chat) if chat.conversation.workspace_id == message.workspace_id => chat,
            _ => {
                written.push(Err(StoreError::NotFound("conversation")));
                continue;
            }
        };

        let id = take_id(&mut next_message)?;
        messages.push((id, message));
        if chat.has_ticket
            && let Some(kind) = outbox_job_kind(message)
        {
            jobs.push(Job {
                id: take_id(&mut next_job)?,
                kind,
                message_id: id,
                message,
            });
        }
        chat.changed |= advance_conversation(&mut chat.conversation, message, id);
        written.push(Ok((chat.conversation.clone(), id)));
    }

    insert_messages(tx, &messages).await?;
    insert_jobs(tx, &jobs).await?;
    let changed: Vec<&Conversation> = chats
        .values()
        .filter(|chat| chat.changed)
        .map(|chat| &chat.conversation)
        .collect();
    update_conversations(tx, &changed).await?;
    Ok(written)
}

/// A conversation a batch writes to, as the batch has left it so far.
struct Chat {
    conversation: Conversation,
    has_ticket: bool,
    changed: bool,
}

/// An outbox job the batch queues, sending one of its messages to the PSA.
struct Job<'a> {
    id: i64,
    kind: JobKind,
    message_id: MessageId,
    message: &'a NewMessage,
}

/// The conversations the batch's messages name, by id, and whether each has
/// a ticket. Nothing else writes during the batch, so what is read here holds
/// until the commit.
async fn read_chats(
    tx: &mut Transaction<'static, Any>,
    batch: &[Pending],
) -> StoreResult<HashMap<ConversationId, Chat>> {
    let mut ids: Vec<ConversationId> = batch
        .iter()
        .map(|pending| pending.message.conversation_id)
        .collect();
    ids.sort_unstable();
    ids.dedup();

    let mut chats = HashMap::with_capacity(ids.len());
    for run in runs(&ids) {
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS}, \
             EXISTS (SELECT 1 FROM ticket_links t WHERE t.conversation_id = c.id) AS has_ticket \
             FROM conversations c WHERE c.id IN ({})",
            placeholders(run.len(), 1)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for &id in run {
            query = query.bind(id);
        }

        for row in query.fetch_all(&mut **tx).await? {
            let conversation = conversation_from(&row)?;
            let has_ticket: i64 = row.try_get("has_ticket")?;
            chats.insert(
                conversation.id,
                Chat {
                    conversation,
                    has_ticket: has_ticket != 0,
                    changed: false,
                },
            );
        }
    }
    Ok(chats)
}

/// The ids SQLite's AUTOINCREMENT would give the next message and the next
/// outbox job: one past the largest ever used. Assigning them here, rather
/// than reading them back from a many-row insert (whose RETURNING order
/// SQLite does not promise), keeps them in queue order. They cannot clash:
/// the writer turn keeps other writers out, and a writer in another process
/// would make this transaction's first write fail on its stale snapshot.
async fn next_ids(tx: &mut Transaction<'static, Any>) -> StoreResult<(i64, i64)> {
    let row = sqlx::query(
        "SELECT \
         max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'messages'), 0), \
         coalesce((SELECT max(id) FROM messages), 0)) AS messages, \
         max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0), \
         coalesce((SELECT max(id) FROM outbox), 0)) AS outbox",
    )
    .fetch_one(&mut **tx)
    .await?;
    let messages: i64 = row.try_get("messages")?;
    let outbox: i64 = row.try_get("outbox")?;
    Ok((messages, outbox))
}

/// The id after `last`, which it then becomes.
fn take_id(last: &mut i64) -> StoreResult<i64> {
    // SQLite's AUTOINCREMENT fails too once ids run out.
    *last = last.checked_add(1).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Protocol(
            "the table has run out of ids".to_owned(),
        ))
    })?;
    Ok(*last)
}

async fn insert_messages(
    tx: &mut Transaction<'static, Any>,
    messages: &[(MessageId, &NewMessage)],
) -> StoreResult<()> {
    for run in runs(messages) {
        let sql = format!(
            "INSERT INTO messages (id, workspace_id, conversation_id, kind, author_kind, \
             author_id, author_name, body, created_at) VALUES {}",
            placeholders(run.len(), 9)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for &(id, message) in run {
            query = query
                .bind(id)
                .bind(message.workspace_id)
                .bind(message.conversation_id)
                .bind(message.kind.as_str())
                .bind(message.author_kind.as_str())
                .bind(message.author_id)
                .bind(&message.author_name)
                .bind(&message.body)
                .bind(message.at);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

async fn insert_jobs(tx: &mut Transaction<'static, Any>, jobs: &[Job<'_>]) -> StoreResult<()> {
    for run in runs(jobs) {
        let sql = format!(
            "INSERT INTO outbox (id, workspace_id, conversation_id, kind, message_id, payload, \
             state, attempts, next_attempt_at, maybe_sent, created_at) VALUES {}",
            placeholders(run.len(), 11)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for job in run {
            query = query
                .bind(job.id)
                .bind(job.message.workspace_id)
                .bind(job.message.conversation_id)
                .bind(job.kind.as_str())
                .bind(job.message_id)
                .bind("{}")
                .bind(JobState::Pending.as_str())
                .bind(0_i64)
                .bind(job.message.at)
                .bind(0_i64)
                .bind(job.message.at);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Writes each conversation's state as the batch left it.
async fn update_conversations(
    tx: &mut Transaction<'static, Any>,
    conversations: &[&Conversation],
) -> StoreResult<()> {
    for run in runs(conversations) {
        let sql = format!(
            "WITH v (id, status, technician_id, updated_at, last_message_id) AS (VALUES {}) \
             UPDATE conversations SET status = v.status, technician_id = v.technician_id, \
             updated_at = v.updated_at, last_message_id = v.last_message_id \
             FROM v WHERE conversations.id = v.id",
            placeholders(run.len(), 5)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for conversation in run {
            query = query
                .bind(conversation.id)
                .bind(conversation.status.as_str())
                .bind(conversation.technician_id)
                .bind(conversation.updated_at)
                .bind(conversation.last_message_id);
        }
        let updated = query.execute(&mut **tx).await?.rows_affected();

        // Each was read in this transaction; one gone missing means the
        // batch's picture is wrong, and the one-by-one path should decide.
        if updated != run.len() as u64 {
            return Err(StoreError::NotFound("conversation"));
        }
    }
    Ok(())
}

/// Splits `rows` into runs of a power of two rows, at most [`MAX_RUN`], so
/// that a handful of statement shapes cover every batch and stay in sqlx's
/// per-connection statement cache instead of being prepared again each time.
fn runs<T>(mut rows: &[T]) -> impl Iterator<Item = &[T]> {
    std::iter::from_fn(move || {
        if rows.is_empty() {
            return None;
        }
        let len = if rows.len() >= MAX_RUN {
            MAX_RUN
        } else {
            1 << rows.len().ilog2()
        };
        let (run, rest) = rows.split_at(len);
        rows = rest;
        Some(run)
    })
}

/// `rows` groups of `columns` placeholders, numbered on from `$1`: a list of
/// rows for `VALUES`, or with one column a plain list for `IN`.
fn placeholders(rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 6);
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        if columns > 1 {
            sql.push('(');
        }
        for column in 0..columns {
            if column > 0 {
                sql.push_str(", ");
            }
            // Writing to a String cannot fail.
            let _ = write!(sql, "${}", row * columns + column + 1);
        }
        if columns > 1 {
            sql.push(')');
        }
    }
    sql
}

/// One message in a transaction of its own, as before batching.
async fn write_alone(pool: &AnyPool, message: &NewMessage) -> Written {
    let mut tx = pool.begin().await?;

    let written = match write_one(&mut tx, message).await {
        Ok(written) => written,
        Err(error) => {
            // Dropping the transaction would only queue its rollback, and
            // the next message could then find the write lock still held.
            if let Err(rollback) = tx.rollback().await {
                tracing::warn!(error = %rollback, "rolling back a failed message failed");
            }
            return Err(error);
        }
    };

    tx.commit().await?;
    Ok(written)
}

async fn write_one(tx: &mut Transaction<'static, Any>, message: &NewMessage) -> Written {
    require_conversation(tx, message.workspace_id, message.conversation_id).await?;
    insert_message(tx, message, message.conversation_id, None).await
}

/// The same failure for each of `count` callers.
fn shared_failure(count: usize, error: sqlx::Error) -> Vec<Written> {
    let error = Arc::new(error);
    (0..count)
        .map(|_| Err(StoreError::Shared(Arc::clone(&error))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{
        AuthorKind, ConversationChange, ConversationStatus, MessageKind, MessagePage, NewAccount,
        NewConversation, NewEndUser, Role, Store, TicketRequest, now_millis,
    };
    use crate::testing::TempDir;

    /// A SQLite store with one conversation, and that conversation's id.
    async fn store_with_chat(dir: &TempDir) -> (crate::store::sql::SqlStore, i64, i64) {
        sqlx::any::install_default_drivers();
        let store = crate::store::sqlite::open(&dir.path().join("parley.db"))
            .await
            .unwrap();
        let ws = store.default_workspace("secret").await.unwrap().id;
        let chat = chat_of(&store, ws, "dana@client.example", "first").await;
        (store, ws, chat)
    }

    fn text(ws: i64, conversation: i64, body: &str) -> NewMessage {
        NewMessage {
            workspace_id: ws,
            conversation_id: conversation,
            kind: MessageKind::Text,
            author_kind: AuthorKind::EndUser,
            author_id: Some(1),
            author_name: None,
            body: body.to_owned(),
            at: now_millis(),
        }
    }

    /// A batch as the writer would take it from the queue; the answers are
    /// not needed, since [`write_batch`] returns them.
    fn batch(messages: Vec<NewMessage>) -> Vec<Pending> {
        messages
            .into_iter()
            .map(|message| Pending {
                message,
                reply: oneshot::channel().0,
            })
            .collect()
    }

    /// Writes a batch the batched way only, failing the test if that fails:
    /// [`write_batch`] would hide such a failure by writing one by one.
    async fn write_in_one(pool: &AnyPool, batch: &[Pending]) -> Vec<Written> {
        let mut tx = pool.begin().await.unwrap();
        let written = write_together(&mut tx, batch).await.unwrap();
        tx.commit().await.unwrap();
        written
    }

    async fn bodies(store: &dyn Store, ws: i64, chat: i64) -> Vec<String> {
        store
            .messages(MessagePage {
                workspace_id: ws,
                conversation_id: chat,
                before: None,
                limit: 100,
                include_notes: true,
            })
            .await
            .unwrap()
            .into_iter()
            .map(|message| message.body)
            .collect()
    }

    #[tokio::test]
    async fn a_missing_conversation_fails_only_its_own_message_of_a_batch() {
        let dir = TempDir::new("batch");
        let (store, ws, chat) = store_with_chat(&dir).await;

        let messages = batch(vec![
            text(ws, chat, "one"),
            text(ws, chat + 1000, "lost"),
            text(ws, chat, "two"),
            text(ws, chat, "three"),
        ]);
        let written = write_in_one(store.pool(), &messages).await;

        assert!(
            matches!(written[1], Err(StoreError::NotFound("conversation"))),
            "{:?}",
            written[1]
        );
        let ids: Vec<_> = [&written[0], &written[2], &written[3]]
            .into_iter()
            .map(|outcome| outcome.as_ref().unwrap().1)
            .collect();
        assert!(ids.is_sorted() && ids[0] < ids[2], "queue order: {ids:?}");
        assert_eq!(
            bodies(&store, ws, chat).await,
            ["first", "one", "two", "three"]
        );
        let (conversation, _) = written[3].as_ref().unwrap();
        assert_eq!(conversation.last_message_id, Some(ids[2]));
    }

    #[tokio::test]
    async fn a_message_failing_part_way_fails_alone_and_the_rest_are_stored_once() {
        let dir = TempDir::new("batch");
        let (store, ws, chat) = store_with_chat(&dir).await;
        // A failure after the conversation check, inside the message's own
        // writes: the batch must not keep half of it.
        sqlx::query(
            "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.body = 'poison' \
             BEGIN SELECT RAISE(ABORT, 'poisoned'); END",
        )
        .execute(store.pool())
        .await
        .unwrap();

        let messages = batch(vec![
            text(ws, chat, "one"),
            text(ws, chat, "poison"),
            text(ws, chat, "two"),
        ]);
        let written = write_batch(store.pool(), &messages).await;

        assert!(written[0].is_ok() && written[2].is_ok(), "{written:?}");
        assert!(
            matches!(written[1], Err(StoreError::Database(_))),
            "{:?}",
            written[1]
        );
        assert_eq!(bodies(&store, ws, chat).await, ["first", "one", "two"]);
    }

    /// A second conversation in the workspace of [`store_with_chat`].
    async fn another_chat(store: &dyn Store, ws: i64, email: &str) -> i64 {
        chat_of(store, ws, email, "hello").await
    }

    /// A new end user's conversation, opened with `first`.
    async fn chat_of(store: &dyn Store, ws: i64, email: &str, first: &str) -> i64 {
        let user = store
            .upsert_end_user(NewEndUser {
                workspace_id: ws,
                email: email.to_owned(),
                name: "Dana".to_owned(),
                subject: None,
            })
            .await
            .unwrap();
        let (chat, _) = store
            .create_conversation(
                NewConversation {
                    workspace_id: ws,
                    end_user_id: user.id,
                    subject: "Printer".to_owned(),
                },
                text(ws, 0, first),
            )
            .await
            .unwrap();
        chat.id
    }

    async fn link_ticket(store: &dyn Store, ws: i64, chat: i64) {
        store
            .request_ticket(TicketRequest {
                workspace_id: ws,
                conversation_id: chat,
                marker: format!("marker-{chat}"),
                requested_by: "Sam".to_owned(),
                payload: "{}".to_owned(),
                at: now_millis(),
            })
            .await
            .unwrap();
    }

    /// The note jobs of the workspace, as (conversation, message).
    async fn note_jobs(store: &dyn Store, ws: i64) -> Vec<(i64, Option<i64>)> {
        store
            .jobs(ws, JobState::Pending, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|job| job.kind == JobKind::AddNote)
            .map(|job| (job.conversation_id, job.message_id))
            .collect()
    }

    #[tokio::test]
    async fn only_messages_to_a_conversation_with_a_ticket_are_queued_for_the_psa() {
        let dir = TempDir::new("batch");
        let (store, ws, plain) = store_with_chat(&dir).await;
        let ticketed = another_chat(&store, ws, "robin@client.example").await;
        let other = another_chat(&store, ws, "kim@client.example").await;
        link_ticket(&store, ws, ticketed).await;

        let messages = batch(vec![
            text(ws, plain, "one"),
            text(ws, ticketed, "two"),
            text(ws, other, "three"),
            text(ws, ticketed, "four"),
            NewMessage {
                kind: MessageKind::System,
                author_kind: AuthorKind::System,
                author_id: None,
                ..text(ws, ticketed, "Sam joined")
            },
        ]);
        let written = write_in_one(store.pool(), &messages).await;

        let ids: Vec<i64> = written
            .iter()
            .map(|outcome| outcome.as_ref().unwrap().1)
            .collect();
        assert_eq!(
            note_jobs(&store, ws).await,
            [(ticketed, Some(ids[1])), (ticketed, Some(ids[3]))]
        );
        assert_eq!(bodies(&store, ws, other).await, ["hello", "three"]);
    }

    /// Closes a conversation that `technician` had claimed.
    async fn close(store: &dyn Store, ws: i64, chat: i64, technician: i64) {
        for (from, to, who) in [
            (
                ConversationStatus::Waiting,
                ConversationStatus::Active,
                Some(technician),
            ),
            (
                ConversationStatus::Active,
                ConversationStatus::Closed,
                Some(technician),
            ),
        ] {
            store
                .change_conversation(ConversationChange {
                    workspace_id: ws,
                    id: chat,
                    expected_status: vec![from],
                    expected_technician: None,
                    status: to,
                    technician_id: who,
                    psa_status: None,
                    at: 5,
                })
                .await
                .unwrap();
        }
    }

    /// Two stores alike: each with two conversations, the first closed by a
    /// technician and linked to a ticket.
    async fn alike(dir: &TempDir) -> (crate::store::sql::SqlStore, i64, i64, i64) {
        let (store, ws, closed) = store_with_chat(dir).await;
        let open = another_chat(&store, ws, "robin@client.example").await;
        let technician = store
            .create_account(NewAccount {
                workspace_id: ws,
                email: "sam@msp.example".to_owned(),
                name: "Sam".to_owned(),
                role: Role::Technician,
                password_hash: "x".to_owned(),
            })
            .await
            .unwrap()
            .id;
        close(&store, ws, closed, technician).await;
        link_ticket(&store, ws, closed).await;
        (store, ws, closed, open)
    }

    #[tokio::test]
    async fn a_batch_leaves_each_caller_and_conversation_as_one_by_one_would() {
        let (one_dir, batch_dir) = (TempDir::new("alone"), TempDir::new("batch"));
        let (alone, ws, closed, open) = alike(&one_dir).await;
        let (together, _, _, _) = alike(&batch_dir).await;
        let technician = |conversation, body: &str, at| NewMessage {
            author_kind: AuthorKind::Technician,
            author_id: Some(7),
            at,
            ..text(ws, conversation, body)
        };
        let messages = vec![
            technician(closed, "Anything else?", 10),
            NewMessage {
                kind: MessageKind::Note,
                ..technician(closed, "internal", 11)
            },
            NewMessage {
                at: 12,
                ..text(ws, closed, "Yes, the scanner")
            },
            NewMessage {
                at: 13,
                ..text(ws, open, "Still broken")
            },
            NewMessage {
                kind: MessageKind::Note,
                ..technician(open, "looking", 14)
            },
            NewMessage {
                author_id: None,
                author_name: Some("Sam in the PSA".to_owned()),
                ..technician(closed, "On my way", 15)
            },
            NewMessage {
                at: 16,
                ..text(ws, closed + open + 1000, "lost")
            },
        ];

        // The two stores were set up at different times.
        let undated = |conversation: Conversation| Conversation {
            created_at: 0,
            ..conversation
        };
        let comparable = |outcome: Written| {
            outcome
                .map(|(conversation, id)| (undated(conversation), id))
                .map_err(|error| error.to_string())
        };

        let mut expected = Vec::new();
        for message in &messages {
            expected.push(comparable(write_alone(alone.pool(), message).await));
        }
        let written: Vec<_> = write_in_one(together.pool(), &batch(messages))
            .await
            .into_iter()
            .map(comparable)
            .collect();

        assert_eq!(written, expected);
        for chat in [closed, open] {
            assert_eq!(
                undated(together.conversation(ws, chat).await.unwrap()),
                undated(alone.conversation(ws, chat).await.unwrap())
            );
            assert_eq!(
                bodies(&together, ws, chat).await,
                bodies(&alone, ws, chat).await
            );
        }
        assert_eq!(note_jobs(&together, ws).await, note_jobs(&alone, ws).await);
        let (reopened, _) = written[2].as_ref().unwrap();
        assert_eq!(
            (reopened.status, reopened.technician_id),
            (ConversationStatus::Waiting, None)
        );
    }

    #[tokio::test]
    async fn a_batch_larger_than_one_statement_keeps_queue_order() {
        let dir = TempDir::new("batch");
        let (store, ws, chat) = store_with_chat(&dir).await;
        let other = another_chat(&store, ws, "robin@client.example").await;

        let sent: Vec<String> = (0..MAX_BATCH).map(|n| format!("m{n}")).collect();
        let messages = batch(
            sent.iter()
                .enumerate()
                .map(|(n, body)| text(ws, if n % 3 == 0 { other } else { chat }, body))
                .collect(),
        );
        let written = write_in_one(store.pool(), &messages).await;

        let ids: Vec<i64> = written
            .iter()
            .map(|outcome| outcome.as_ref().unwrap().1)
            .collect();
        assert!(ids.windows(2).all(|pair| pair[1] == pair[0] + 1), "{ids:?}");
        for (id, body) in ids.iter().zip(&sent) {
            assert_eq!(&store.message(ws, *id).await.unwrap().body, body);
        }
        assert_eq!(
            store.conversation(ws, chat).await.unwrap().last_message_id,
            ids.last().copied()
        );
    }

    #[test]
    fn runs_are_powers_of_two_up_to_the_limit_and_cover_every_row() {
        let rows: Vec<usize> = (0..MAX_RUN * 2 + 7).collect();
        let lengths: Vec<usize> = runs(&rows).map(<[usize]>::len).collect();

        assert_eq!(lengths, [MAX_RUN, MAX_RUN, 4, 2, 1]);
        assert_eq!(runs(&rows).flatten().copied().collect::<Vec<_>>(), rows);
        assert_eq!(placeholders(2, 2), "($1, $2), ($3, $4)");
        assert_eq!(placeholders(3, 1), "$1, $2, $3");
    }

    #[tokio::test]
    async fn the_stored_message_is_what_reading_it_back_gives() {
        let dir = TempDir::new("batch");
        let (store, ws, chat) = store_with_chat(&dir).await;

        let from_psa = NewMessage {
            author_kind: AuthorKind::Technician,
            author_id: None,
            author_name: Some("Sam at the help desk".to_owned()),
            ..text(ws, chat, "Looking at it now")
        };
        let (_, returned) = store.add_message(from_psa).await.unwrap();

        assert_eq!(store.message(ws, returned.id).await.unwrap(), returned);
    }
}
