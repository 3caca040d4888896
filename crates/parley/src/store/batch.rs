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

use super::sql::{insert_message, require_conversation, stored_message};
use super::{Conversation, Message, MessageId, NewMessage, StoreError, StoreResult};
use sqlx::{Any, AnyPool, Transaction};
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// The most messages one transaction carries: enough to spread a commit's
/// wait thin, few enough that the writer turn is never held for long.
const MAX_BATCH: usize = 512;

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
async fn write_together(
    tx: &mut Transaction<'static, Any>,
    batch: &[Pending],
) -> StoreResult<Vec<Written>> {
    let mut written = Vec::with_capacity(batch.len());
    for Pending { message, .. } in batch {
        // Checked before any of the message's rows are written, so refusing
        // it leaves nothing in the transaction to undo.
        match require_conversation(tx, message.workspace_id, message.conversation_id).await {
            Ok(()) => {}
            Err(StoreError::NotFound(what)) => {
                written.push(Err(StoreError::NotFound(what)));
                continue;
            }
            Err(error) => return Err(error),
        }

        written.push(Ok(insert_message(
            tx,
            message,
            message.conversation_id,
            None,
        )
        .await?));
    }
    Ok(written)
}

/// One message in a transaction of its own, as before batching.
async fn write_alone(pool: &AnyPool, message: &NewMessage) -> Written {
    let mut tx = pool.begin().await?;

    require_conversation(&mut tx, message.workspace_id, message.conversation_id).await?;
    let written = insert_message(&mut tx, message, message.conversation_id, None).await?;

    tx.commit().await?;
    Ok(written)
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
        AuthorKind, MessageKind, MessagePage, NewConversation, NewEndUser, Store, now_millis,
    };
    use crate::testing::TempDir;

    /// A SQLite store with one conversation, and that conversation's id.
    async fn store_with_chat(dir: &TempDir) -> (crate::store::sql::SqlStore, i64, i64) {
        sqlx::any::install_default_drivers();
        let store = crate::store::sqlite::open(&dir.path().join("parley.db"))
            .await
            .unwrap();
        let ws = store.default_workspace("secret").await.unwrap().id;
        let user = store
            .upsert_end_user(NewEndUser {
                workspace_id: ws,
                email: "dana@client.example".to_owned(),
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
                text(ws, 0, "first"),
            )
            .await
            .unwrap();
        (store, ws, chat.id)
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
        let written = write_batch(store.pool(), &messages).await;

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
