//! The store's SQL, shared by both backends through sqlx's `Any` driver.
//!
//! Placeholders are `$1, $2, ...` in order of appearance, which SQLite and
//! PostgreSQL both accept. Only integers, text and bytes cross the driver, so
//! that both backends read back exactly what they were given.

use super::batch::MessageBatcher;
use super::*;
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use sqlx::AnyPool;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use std::sync::Arc;
use tokio::sync::Mutex;

pub(super) const CONVERSATION_COLUMNS: &str = "id, workspace_id, end_user_id, subject, status, \
     technician_id, created_at, updated_at, last_message_id";

const JOB_COLUMNS: &str = "id, workspace_id, conversation_id, kind, message_id, payload, state, \
     attempts, maybe_sent, last_error, result, created_at, next_attempt_at";

const LINK_COLUMNS: &str = "conversation_id, workspace_id, marker, ticket_id, ticket_summary, \
     ticket_status, requested_by, created_at, linked_at";

const MESSAGE_SELECT: &str = "SELECT m.id, m.workspace_id, m.conversation_id, m.kind, \
     m.author_kind, m.author_id, m.author_name, m.body, m.created_at, a.id AS attachment_id, a.file_name, \
     a.content_type, a.size FROM messages m LEFT JOIN attachments a ON a.id = m.attachment_id";

/// A store on one database, SQLite or PostgreSQL.
#[derive(Debug)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has one writer at a time; taking turns here, rather than in the
    /// database's busy loop, keeps writes fair and never fails with "locked".
    /// PostgreSQL needs no such lock.
    write_turn: Option<Arc<Mutex<()>>>,
    /// SQLite's messages are committed in batches, during the same writer
    /// turns, so that one wait for the disk serves many messages. On
    /// PostgreSQL concurrent commits already share the server's WAL flushes.
    batcher: Option<MessageBatcher>,
}

impl SqlStore {
    /// Must run inside a Tokio runtime: on SQLite it starts the message
    /// writer task.
    pub(super) fn new(pool: AnyPool, backend: Backend) -> Self {
        let write_turn = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        let batcher = write_turn
            .as_ref()
            .map(|turn| MessageBatcher::start(pool.clone(), Arc::clone(turn)));
        Self {
            pool,
            backend,
            write_turn,
            batcher,
        }
    }

    /// The pool, for tests that drive the message writer directly.
    #[cfg(test)]
    pub(super) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a write transaction, after waiting for SQLite's writer turn.
    async fn write(&self) -> StoreResult<WriteTx<'_>> {
        let turn = match &self.write_turn {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let tx = self.pool.begin().await?;
        Ok(WriteTx { tx, _turn: turn })
    }
}

/// A write transaction that holds the writer turn until it ends.
struct WriteTx<'a> {
    tx: Transaction<'static, Any>,
    _turn: Option<tokio::sync::MutexGuard<'a, ()>>,
}

impl WriteTx<'_> {
    async fn commit(self) -> StoreResult<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

fn word<T: std::str::FromStr<Err = UnknownWord>>(row: &AnyRow, column: &str) -> StoreResult<T> {
    let text: String = row.try_get(column)?;
    text.parse()
        .map_err(|error: UnknownWord| StoreError::Database(sqlx::Error::Decode(Box::new(error))))
}

fn account_from(row: &AnyRow) -> StoreResult<Account> {
    Ok(Account {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        role: word(row, "role")?,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get("created_at")?,
    })
}

fn job_from(row: &AnyRow) -> StoreResult<OutboxJob> {
    let maybe_sent: i64 = row.try_get("maybe_sent")?;
    Ok(OutboxJob {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        conversation_id: row.try_get("conversation_id")?,
        kind: word(row, "kind")?,
        message_id: row.try_get("message_id")?,
        payload: row.try_get("payload")?,
        state: word(row, "state")?,
        attempts: row.try_get("attempts")?,
        maybe_sent: maybe_sent != 0,
        last_error: row.try_get("last_error")?,
        result: row.try_get("result")?,
        created_at: row.try_get("created_at")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
    })
}

fn link_from(row: &AnyRow) -> StoreResult<TicketLink> {
    Ok(TicketLink {
        conversation_id: row.try_get("conversation_id")?,
        workspace_id: row.try_get("workspace_id")?,
        marker: row.try_get("marker")?,
        ticket_id: row.try_get("ticket_id")?,
        ticket_summary: row.try_get("ticket_summary")?,
        ticket_status: row.try_get("ticket_status")?,
        requested_by: row.try_get("requested_by")?,
        created_at: row.try_get("created_at")?,
        linked_at: row.try_get("linked_at")?,
    })
}

fn end_user_from(row: &AnyRow) -> StoreResult<EndUser> {
    Ok(EndUser {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        email: row.try_get("email")?,
        name: row.try_get("name")?,
        subject: row.try_get("subject")?,
    })
}

pub(super) fn conversation_from(row: &AnyRow) -> StoreResult<Conversation> {
    Ok(Conversation {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        end_user_id: row.try_get("end_user_id")?,
        subject: row.try_get("subject")?,
        status: word(row, "status")?,
        technician_id: row.try_get("technician_id")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        last_message_id: row.try_get("last_message_id")?,
    })
}

fn message_from(row: &AnyRow) -> StoreResult<Message> {
    let attachment_id: Option<i64> = row.try_get("attachment_id")?;
    let attachment = match attachment_id {
        Some(id) => Some(AttachmentInfo {
            id,
            file_name: row.try_get("file_name")?,
            content_type: row.try_get("content_type")?,
            size: row.try_get("size")?,
        }),
        None => None,
    };
    Ok(Message {
        id: row.try_get("id")?,
        workspace_id: row.try_get("workspace_id")?,
        conversation_id: row.try_get("conversation_id")?,
        kind: word(row, "kind")?,
        author_kind: word(row, "author_kind")?,
        author_id: row.try_get("author_id")?,
        author_name: row.try_get("author_name")?,
        body: row.try_get("body")?,
        attachment,
        created_at: row.try_get("created_at")?,
    })
}

/// Turns a unique-constraint violation into a conflict the user can act on.
fn conflict_on_duplicate(error: sqlx::Error, what: &str) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Conflict(format!("{what} already exists"))
        }
        _ => StoreError::Database(error),
    }
}

fn not_found_if_missing<T>(row: Option<T>, what: &'static str) -> StoreResult<T> {
    row.ok_or(StoreError::NotFound(what))
}

/// Inserts one message inside a transaction and moves its conversation on.
pub(super) async fn insert_message(
    tx: &mut Transaction<'static, Any>,
    message: &NewMessage,
    conversation_id: ConversationId,
    attachment_id: Option<AttachmentId>,
) -> StoreResult<(Conversation, MessageId)> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (workspace_id, conversation_id, kind, author_kind, author_id, \
         author_name, body, attachment_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(message.workspace_id)
    .bind(conversation_id)
    .bind(message.kind.as_str())
    .bind(message.author_kind.as_str())
    .bind(message.author_id)
    .bind(&message.author_name)
    .bind(&message.body)
    .bind(attachment_id)
    .bind(message.at)
    .fetch_one(&mut **tx)
    .await?;

    // In a conversation with a ticket (or one being made), the message goes
    // to the PSA too: queued here, in the same transaction, so it is never
    // lost.
    if let Some(kind) = outbox_job_kind(message) {
        sqlx::query(
            "INSERT INTO outbox (workspace_id, conversation_id, kind, message_id, payload, state, \
             attempts, next_attempt_at, maybe_sent, created_at) \
             SELECT $1, $2, $3, $4, '{}', 'pending', 0, $5, 0, $6 \
             WHERE EXISTS (SELECT 1 FROM ticket_links WHERE conversation_id = $7)",
        )
        .bind(message.workspace_id)
        .bind(conversation_id)
        .bind(kind.as_str())
        .bind(id)
        .bind(message.at)
        .bind(message.at)
        .bind(conversation_id)
        .execute(&mut **tx)
        .await?;
    }

    // A note leaves the conversation as the end user sees it: its last
    // message and update time would otherwise tell them a note exists.
    if message.kind == MessageKind::Note {
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 AND workspace_id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(conversation_id)
            .bind(message.workspace_id)
            .fetch_optional(&mut **tx)
            .await?;
        let conversation = conversation_from(&not_found_if_missing(row, "conversation")?)?;
        return Ok((conversation, id));
    }

    // An end user writing to a closed chat reopens it for the whole help desk,
    // so it goes back to waiting for a technician to claim it. On PostgreSQL
    // two messages' transactions may commit in the other order than their
    // ids were drawn, so the last message only ever moves forwards. The
    // batch writer does the same in memory: see `advance_conversation`.
    let reopens = message.author_kind == AuthorKind::EndUser;
    let row = sqlx::query(
        "UPDATE conversations SET \
         last_message_id = CASE WHEN last_message_id > $1 THEN last_message_id ELSE $2 END, \
         updated_at = $3, \
         status = CASE WHEN status = 'closed' AND $4 = 1 THEN 'waiting' ELSE status END, \
         technician_id = CASE WHEN status = 'closed' AND $5 = 1 THEN NULL ELSE technician_id END \
         WHERE id = $6 AND workspace_id = $7 \
         RETURNING id, workspace_id, end_user_id, subject, status, technician_id, created_at, \
         updated_at, last_message_id",
    )
    .bind(id)
    .bind(id)
    .bind(message.at)
    .bind(i64::from(reopens))
    .bind(i64::from(reopens))
    .bind(conversation_id)
    .bind(message.workspace_id)
    .fetch_optional(&mut **tx)
    .await?;
    let conversation = conversation_from(&not_found_if_missing(row, "conversation")?)?;

    Ok((conversation, id))
}

/// The outbox job that sends `message` to the PSA, if its conversation has a
/// ticket (or one being made). System messages are Parley's own and stay in
/// the chat; a message an agent wrote in the PSA (a technician without a
/// Parley account) came from there, and sending it back would echo it.
pub(super) fn outbox_job_kind(message: &NewMessage) -> Option<JobKind> {
    let from_psa = message.author_kind == AuthorKind::Technician && message.author_id.is_none();
    match message.kind {
        _ if from_psa => None,
        MessageKind::Text | MessageKind::Note => Some(JobKind::AddNote),
        MessageKind::Attachment => Some(JobKind::AddFile),
        MessageKind::System => None,
    }
}

/// Moves `conversation` on as [`insert_message`]'s UPDATE does when `message`
/// is stored under `id`, for writers that keep the row in memory and write
/// it once; the two must change together. Returns whether anything changed
/// (a note changes nothing).
pub(super) fn advance_conversation(
    conversation: &mut Conversation,
    message: &NewMessage,
    id: MessageId,
) -> bool {
    if message.kind == MessageKind::Note {
        return false;
    }

    conversation.last_message_id =
        Some(conversation.last_message_id.map_or(id, |last| last.max(id)));
    conversation.updated_at = message.at;
    if conversation.status == ConversationStatus::Closed
        && message.author_kind == AuthorKind::EndUser
    {
        conversation.status = ConversationStatus::Waiting;
        conversation.technician_id = None;
    }
    true
}

/// The message as [`Store::message`] would read it back once `message` is
/// stored (without an attachment) under `id`: every column is written exactly
/// as given, so reading it again would only cost a round trip.
pub(super) fn stored_message(message: NewMessage, id: MessageId) -> Message {
    Message {
        id,
        workspace_id: message.workspace_id,
        conversation_id: message.conversation_id,
        kind: message.kind,
        author_kind: message.author_kind,
        author_id: message.author_id,
        author_name: message.author_name,
        body: message.body,
        attachment: None,
        created_at: message.at,
    }
}

/// Fails with "not found" unless the conversation exists in the workspace, so
/// a message can never be written into another workspace's conversation.
pub(super) async fn require_conversation(
    tx: &mut Transaction<'static, Any>,
    workspace: WorkspaceId,
    id: ConversationId,
) -> StoreResult<()> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM conversations WHERE id = $1 AND workspace_id = $2")
            .bind(id)
            .bind(workspace)
            .fetch_optional(&mut **tx)
            .await?;
    not_found_if_missing(found, "conversation").map(drop)
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        self.backend
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn default_workspace(&self, new_widget_secret: &str) -> StoreResult<Workspace> {
        let mut tx = self.write().await?;

        let existing = sqlx::query("SELECT id, name, widget_secret FROM workspaces ORDER BY id")
            .fetch_optional(&mut *tx.tx)
            .await?;
        let row = match existing {
            Some(row) => row,
            None => {
                sqlx::query(
                    "INSERT INTO workspaces (name, widget_secret, created_at) \
                     VALUES ($1, $2, $3) RETURNING id, name, widget_secret",
                )
                .bind("Help desk")
                .bind(new_widget_secret)
                .bind(now_millis())
                .fetch_one(&mut *tx.tx)
                .await?
            }
        };
        let workspace = Workspace {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            widget_secret: row.try_get("widget_secret")?,
        };

        tx.commit().await?;
        Ok(workspace)
    }

    async fn set_widget_secret(&self, workspace: WorkspaceId, secret: &str) -> StoreResult<()> {
        let mut tx = self.write().await?;
        let changed = sqlx::query("UPDATE workspaces SET widget_secret = $1 WHERE id = $2")
            .bind(secret)
            .bind(workspace)
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
        tx.commit().await?;

        if changed == 0 {
            return Err(StoreError::NotFound("workspace"));
        }
        Ok(())
    }

    async fn create_account(&self, account: NewAccount) -> StoreResult<Account> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "INSERT INTO accounts (workspace_id, email, name, role, password_hash, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             RETURNING id, workspace_id, email, name, role, password_hash, created_at",
        )
        .bind(account.workspace_id)
        .bind(&account.email)
        .bind(&account.name)
        .bind(account.role.as_str())
        .bind(&account.password_hash)
        .bind(now_millis())
        .fetch_one(&mut *tx.tx)
        .await
        .map_err(|error| {
            conflict_on_duplicate(error, &format!("an account for {}", account.email))
        })?;
        tx.commit().await?;

        account_from(&row)
    }

    async fn create_first_admin(&self, account: NewAccount) -> StoreResult<Option<Account>> {
        let mut tx = self.write().await?;

        // Locking the workspace's row makes a second instance's transaction
        // wait here until this one has committed, and then see its admin.
        sqlx::query("UPDATE workspaces SET name = name WHERE id = $1")
            .bind(account.workspace_id)
            .execute(&mut *tx.tx)
            .await?;
        let admins: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM accounts WHERE workspace_id = $1 AND role = 'admin'",
        )
        .bind(account.workspace_id)
        .fetch_one(&mut *tx.tx)
        .await?;
        if admins > 0 {
            return Ok(None);
        }

        let row = sqlx::query(
            "INSERT INTO accounts (workspace_id, email, name, role, password_hash, created_at) \
             VALUES ($1, $2, $3, 'admin', $4, $5) \
             RETURNING id, workspace_id, email, name, role, password_hash, created_at",
        )
        .bind(account.workspace_id)
        .bind(&account.email)
        .bind(&account.name)
        .bind(&account.password_hash)
        .bind(now_millis())
        .fetch_one(&mut *tx.tx)
        .await
        .map_err(|error| {
            conflict_on_duplicate(error, &format!("an account for {}", account.email))
        })?;
        tx.commit().await?;

        Ok(Some(account_from(&row)?))
    }

    async fn account(&self, workspace: WorkspaceId, id: AccountId) -> StoreResult<Account> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = $1 AND workspace_id = $2")
            .bind(id)
            .bind(workspace)
            .fetch_optional(&self.pool)
            .await?;
        account_from(&not_found_if_missing(row, "account")?)
    }

    async fn account_by_email(&self, workspace: WorkspaceId, email: &str) -> StoreResult<Account> {
        let row = sqlx::query("SELECT * FROM accounts WHERE workspace_id = $1 AND email = $2")
            .bind(workspace)
            .bind(email)
            .fetch_optional(&self.pool)
            .await?;
        account_from(&not_found_if_missing(row, "account")?)
    }

    async fn accounts(&self, workspace: WorkspaceId) -> StoreResult<Vec<Account>> {
        let rows = sqlx::query("SELECT * FROM accounts WHERE workspace_id = $1 ORDER BY name, id")
            .bind(workspace)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(account_from).collect()
    }

    async fn count_admins(&self, workspace: WorkspaceId) -> StoreResult<i64> {
        let count = sqlx::query_scalar(
            "SELECT COUNT(*) FROM accounts WHERE workspace_id = $1 AND role = 'admin'",
        )
        .bind(workspace)
        .fetch_one(&self.pool)
        .await?;
        Ok(count)
    }

    async fn set_password_hash(&self, id: AccountId, password_hash: &str) -> StoreResult<()> {
        let mut tx = self.write().await?;
        let changed = sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id)
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
        tx.commit().await?;

        if changed == 0 {
            return Err(StoreError::NotFound("account"));
        }
        Ok(())
    }

    async fn create_session(&self, session: NewSession) -> StoreResult<()> {
        let (account, end_user) = match session.owner {
            SessionOwner::Account(id) => (Some(id), None),
            SessionOwner::EndUser(id) => (None, Some(id)),
        };

        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO sessions (token_digest, workspace_id, account_id, end_user_id, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&session.token_digest)
        .bind(session.workspace_id)
        .bind(account)
        .bind(end_user)
        .bind(now_millis())
        .bind(session.expires_at)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await
    }

    async fn session(&self, token_digest: &str, now: Millis) -> StoreResult<Session> {
        let row = sqlx::query(
            "SELECT workspace_id, account_id, end_user_id, created_at, expires_at \
             FROM sessions WHERE token_digest = $1 AND expires_at > $2",
        )
        .bind(token_digest)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let row = not_found_if_missing(row, "session")?;

        let account: Option<i64> = row.try_get("account_id")?;
        let end_user: Option<i64> = row.try_get("end_user_id")?;
        let owner = match (account, end_user) {
            (Some(id), _) => SessionOwner::Account(id),
            (None, Some(id)) => SessionOwner::EndUser(id),
            // The schema's CHECK makes this impossible; treat it as no session.
            (None, None) => return Err(StoreError::NotFound("session")),
        };
        Ok(Session {
            workspace_id: row.try_get("workspace_id")?,
            owner,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
        })
    }

    async fn delete_session(&self, token_digest: &str) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM sessions WHERE token_digest = $1")
            .bind(token_digest)
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await
    }

    async fn delete_other_sessions(
        &self,
        account: AccountId,
        keep_digest: &str,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND token_digest <> $2")
            .bind(account)
            .bind(keep_digest)
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await
    }

    async fn delete_expired_sessions(&self, now: Millis) -> StoreResult<u64> {
        let mut tx = self.write().await?;
        let deleted = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }

    async fn upsert_end_user(&self, end_user: NewEndUser) -> StoreResult<EndUser> {
        let now = now_millis();

        let mut tx = self.write().await?;
        let row = sqlx::query(
            "INSERT INTO end_users (workspace_id, email, name, subject, created_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (workspace_id, email) DO UPDATE SET name = excluded.name, \
             subject = COALESCE(excluded.subject, end_users.subject), \
             last_seen_at = excluded.last_seen_at \
             RETURNING id, workspace_id, email, name, subject",
        )
        .bind(end_user.workspace_id)
        .bind(&end_user.email)
        .bind(&end_user.name)
        .bind(&end_user.subject)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx.tx)
        .await?;
        tx.commit().await?;

        end_user_from(&row)
    }

    async fn end_user(&self, workspace: WorkspaceId, id: EndUserId) -> StoreResult<EndUser> {
        let row = sqlx::query(
            "SELECT id, workspace_id, email, name, subject FROM end_users \
             WHERE id = $1 AND workspace_id = $2",
        )
        .bind(id)
        .bind(workspace)
        .fetch_optional(&self.pool)
        .await?;
        end_user_from(&not_found_if_missing(row, "end user")?)
    }

    async fn create_conversation(
        &self,
        conversation: NewConversation,
        first: NewMessage,
    ) -> StoreResult<(Conversation, Message)> {
        let mut tx = self.write().await?;

        let id: i64 = sqlx::query_scalar(
            "INSERT INTO conversations (workspace_id, end_user_id, subject, status, created_at, \
             updated_at) VALUES ($1, $2, $3, 'waiting', $4, $5) RETURNING id",
        )
        .bind(conversation.workspace_id)
        .bind(conversation.end_user_id)
        .bind(&conversation.subject)
        .bind(first.at)
        .bind(first.at)
        .fetch_one(&mut *tx.tx)
        .await?;
        let (conversation, message_id) = insert_message(&mut tx.tx, &first, id, None).await?;

        tx.commit().await?;
        let message = self.message(conversation.workspace_id, message_id).await?;
        Ok((conversation, message))
    }

    async fn conversation(
        &self,
        workspace: WorkspaceId,
        id: ConversationId,
    ) -> StoreResult<Conversation> {
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 AND workspace_id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(workspace)
            .fetch_optional(&self.pool)
            .await?;
        conversation_from(&not_found_if_missing(row, "conversation")?)
    }

    async fn conversations(&self, query: ConversationQuery) -> StoreResult<Vec<Conversation>> {
        let (condition, argument) = match query.filter {
            ConversationFilter::EndUser(id) => ("end_user_id = $2", Some(id)),
            ConversationFilter::Waiting => ("status = 'waiting'", None),
            ConversationFilter::ClaimedBy(id) => {
                ("status = 'active' AND technician_id = $2", Some(id))
            }
            ConversationFilter::Open => ("status <> 'closed'", None),
            ConversationFilter::Closed => ("status = 'closed'", None),
        };
        // The conditions and columns are fixed text chosen above; only ids
        // travel as bound arguments.
        let limit_placeholder = if argument.is_some() { "$3" } else { "$2" };
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE workspace_id = $1 AND \
             {condition} ORDER BY updated_at DESC, id DESC LIMIT {limit_placeholder}"
        );

        let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(query.workspace_id);
        if let Some(argument) = argument {
            statement = statement.bind(argument);
        }
        let rows = statement.bind(query.limit).fetch_all(&self.pool).await?;
        rows.iter().map(conversation_from).collect()
    }

    async fn add_message(&self, message: NewMessage) -> StoreResult<(Conversation, Message)> {
        if let Some(batcher) = &self.batcher {
            return batcher.add(message).await;
        }

        let mut tx = self.write().await?;
        require_conversation(&mut tx.tx, message.workspace_id, message.conversation_id).await?;
        let (conversation, id) =
            insert_message(&mut tx.tx, &message, message.conversation_id, None).await?;
        tx.commit().await?;

        Ok((conversation, stored_message(message, id)))
    }

    async fn add_attachment(
        &self,
        attachment: NewAttachment,
        message: NewMessage,
    ) -> StoreResult<(Conversation, Message)> {
        let sha256 = hex_digest(&attachment.data);
        let size = i64::try_from(attachment.data.len())
            .map_err(|_| StoreError::Conflict("the file is too large".to_owned()))?;

        let mut tx = self.write().await?;
        require_conversation(
            &mut tx.tx,
            attachment.workspace_id,
            attachment.conversation_id,
        )
        .await?;
        let attachment_id: i64 = sqlx::query_scalar(
            "INSERT INTO attachments (workspace_id, conversation_id, file_name, content_type, \
             size, sha256, data, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(attachment.workspace_id)
        .bind(attachment.conversation_id)
        .bind(&attachment.file_name)
        .bind(&attachment.content_type)
        .bind(size)
        .bind(&sha256)
        .bind(&attachment.data)
        .bind(message.at)
        .fetch_one(&mut *tx.tx)
        .await?;
        let (conversation, id) = insert_message(
            &mut tx.tx,
            &message,
            attachment.conversation_id,
            Some(attachment_id),
        )
        .await?;
        tx.commit().await?;

        let message = self.message(message.workspace_id, id).await?;
        Ok((conversation, message))
    }

    async fn attachment(
        &self,
        workspace: WorkspaceId,
        id: AttachmentId,
    ) -> StoreResult<Attachment> {
        let row = sqlx::query(
            "SELECT id, workspace_id, conversation_id, file_name, content_type, size, sha256, \
             data FROM attachments WHERE id = $1 AND workspace_id = $2",
        )
        .bind(id)
        .bind(workspace)
        .fetch_optional(&self.pool)
        .await?;
        let row = not_found_if_missing(row, "attachment")?;

        Ok(Attachment {
            info: AttachmentInfo {
                id: row.try_get("id")?,
                file_name: row.try_get("file_name")?,
                content_type: row.try_get("content_type")?,
                size: row.try_get("size")?,
            },
            workspace_id: row.try_get("workspace_id")?,
            conversation_id: row.try_get("conversation_id")?,
            sha256: row.try_get("sha256")?,
            data: row.try_get("data")?,
        })
    }

    async fn messages(&self, query: MessagePage) -> StoreResult<Vec<Message>> {
        let notes = if query.include_notes {
            ""
        } else {
            " AND m.kind <> 'note'"
        };
        // The newest page first, then turned around: history reads oldest first.
        let sql = format!(
            "{MESSAGE_SELECT} WHERE m.workspace_id = $1 AND m.conversation_id = $2 \
             AND m.id < $3{notes} ORDER BY m.id DESC LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(query.workspace_id)
            .bind(query.conversation_id)
            .bind(query.before.unwrap_or(i64::MAX))
            .bind(query.limit)
            .fetch_all(&self.pool)
            .await?;

        let mut messages = rows
            .iter()
            .map(message_from)
            .collect::<StoreResult<Vec<_>>>()?;
        messages.reverse();
        Ok(messages)
    }

    // FIXME(until resume has a commit-ordered cursor): on PostgreSQL a message
    // id is drawn before its transaction commits, so a lower id can become
    // visible after a higher one; a socket that resumes in that window, after
    // the higher id, never replays the lower one. SQLite assigns ids inside
    // the write turn, in commit order, and is not affected.
    async fn messages_after(&self, query: ResumeQuery) -> StoreResult<Vec<Message>> {
        let notes = if query.include_notes {
            ""
        } else {
            " AND m.kind <> 'note'"
        };
        let (scope, limit_placeholder) = if query.end_user.is_some() {
            (
                " AND m.conversation_id IN (SELECT id FROM conversations \
                 WHERE workspace_id = $1 AND end_user_id = $3)",
                "$4",
            )
        } else {
            ("", "$3")
        };
        let sql = format!(
            "{MESSAGE_SELECT} WHERE m.workspace_id = $1 AND m.id > $2{scope}{notes} \
             ORDER BY m.id LIMIT {limit_placeholder}"
        );

        let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(query.workspace_id)
            .bind(query.after);
        if let Some(end_user) = query.end_user {
            statement = statement.bind(end_user);
        }
        let rows = statement.bind(query.limit).fetch_all(&self.pool).await?;
        rows.iter().map(message_from).collect()
    }

    async fn message(&self, workspace: WorkspaceId, id: MessageId) -> StoreResult<Message> {
        let sql = format!("{MESSAGE_SELECT} WHERE m.id = $1 AND m.workspace_id = $2");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(workspace)
            .fetch_optional(&self.pool)
            .await?;
        message_from(&not_found_if_missing(row, "message")?)
    }

    async fn newest_message_id(&self, workspace: WorkspaceId) -> StoreResult<MessageId> {
        let newest: Option<i64> =
            sqlx::query_scalar("SELECT MAX(id) FROM messages WHERE workspace_id = $1")
                .bind(workspace)
                .fetch_one(&self.pool)
                .await?;
        Ok(newest.unwrap_or_default())
    }

    async fn change_conversation(&self, change: ConversationChange) -> StoreResult<Conversation> {
        let mut tx = self.write().await?;

        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 AND workspace_id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(change.id)
            .bind(change.workspace_id)
            .fetch_optional(&mut *tx.tx)
            .await?;
        let current = conversation_from(&not_found_if_missing(row, "conversation")?)?;

        let status_ok = change.expected_status.contains(&current.status);
        let technician_ok = change
            .expected_technician
            .is_none_or(|expected| expected == current.technician_id);
        if !status_ok || !technician_ok {
            return Err(StoreError::Conflict(format!(
                "the conversation is {} now; reload to see its current state",
                current.status
            )));
        }

        // The guard repeats the check inside the UPDATE, so that on PostgreSQL
        // a concurrent change between the SELECT and here makes this one miss.
        let sql = format!(
            "UPDATE conversations SET status = $1, technician_id = $2, updated_at = $3 \
             WHERE id = $4 AND status = $5 AND \
             COALESCE(technician_id, 0) = $6 RETURNING {CONVERSATION_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(change.status.as_str())
            .bind(change.technician_id)
            .bind(change.at)
            .bind(change.id)
            .bind(current.status.as_str())
            .bind(current.technician_id.unwrap_or(0))
            .fetch_optional(&mut *tx.tx)
            .await?;
        let Some(row) = row else {
            return Err(StoreError::Conflict(
                "someone else changed the conversation at the same moment; reload and try again"
                    .to_owned(),
            ));
        };
        let updated = conversation_from(&row)?;

        // Closing the chat and its ticket together: the status change is
        // queued with the chat change, or neither happens.
        if let Some(status_id) = change.psa_status {
            sqlx::query(
                "INSERT INTO outbox (workspace_id, conversation_id, kind, payload, state, \
                 attempts, next_attempt_at, maybe_sent, created_at) \
                 SELECT $1, $2, 'change_status', $3, 'pending', 0, $4, 0, $5 \
                 WHERE EXISTS (SELECT 1 FROM ticket_links WHERE conversation_id = $6)",
            )
            .bind(change.workspace_id)
            .bind(change.id)
            .bind(serde_json::json!({ "status_id": status_id }).to_string())
            .bind(change.at)
            .bind(change.at)
            .bind(change.id)
            .execute(&mut *tx.tx)
            .await?;
        }

        tx.commit().await?;
        Ok(updated)
    }

    async fn mark_read(&self, receipt: ReadReceipt) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO read_receipts (conversation_id, reader_kind, reader_id, message_id, \
             updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (conversation_id, reader_kind, reader_id) DO UPDATE SET \
             message_id = CASE WHEN excluded.message_id > read_receipts.message_id \
             THEN excluded.message_id ELSE read_receipts.message_id END, \
             updated_at = excluded.updated_at",
        )
        .bind(receipt.conversation_id)
        .bind(receipt.reader_kind.as_str())
        .bind(receipt.reader_id)
        .bind(receipt.message_id)
        .bind(receipt.at)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await
    }

    async fn connector(&self, workspace: WorkspaceId) -> StoreResult<Option<StoredConnector>> {
        let row = sqlx::query("SELECT * FROM connectors WHERE workspace_id = $1")
            .bind(workspace)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };

        let allow_private: i64 = row.try_get("allow_private")?;
        Ok(Some(StoredConnector {
            workspace_id: row.try_get("workspace_id")?,
            kind: row.try_get("kind")?,
            site_url: row.try_get("site_url")?,
            client_id: row.try_get("client_id")?,
            tenant: row.try_get("tenant")?,
            client_secret_sealed: row.try_get("client_secret_sealed")?,
            allow_private: allow_private != 0,
            defaults: row.try_get("defaults")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            last_success_at: row.try_get("last_success_at")?,
            failing_since: row.try_get("failing_since")?,
            last_error: row.try_get("last_error")?,
        }))
    }

    async fn save_connector(&self, connector: StoredConnector) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO connectors (workspace_id, kind, site_url, client_id, tenant, \
             client_secret_sealed, allow_private, defaults, created_at, updated_at, \
             last_success_at, failing_since, last_error) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (workspace_id) DO UPDATE SET kind = excluded.kind, \
             site_url = excluded.site_url, client_id = excluded.client_id, \
             tenant = excluded.tenant, client_secret_sealed = excluded.client_secret_sealed, \
             allow_private = excluded.allow_private, defaults = excluded.defaults, \
             updated_at = excluded.updated_at, last_success_at = excluded.last_success_at, \
             failing_since = excluded.failing_since, last_error = excluded.last_error",
        )
        .bind(connector.workspace_id)
        .bind(&connector.kind)
        .bind(&connector.site_url)
        .bind(&connector.client_id)
        .bind(&connector.tenant)
        .bind(&connector.client_secret_sealed)
        .bind(i64::from(connector.allow_private))
        .bind(&connector.defaults)
        .bind(connector.created_at)
        .bind(connector.updated_at)
        .bind(connector.last_success_at)
        .bind(connector.failing_since)
        .bind(&connector.last_error)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await
    }

    async fn delete_connector(&self, workspace: WorkspaceId) -> StoreResult<()> {
        let mut tx = self.write().await?;
        let deleted = sqlx::query("DELETE FROM connectors WHERE workspace_id = $1")
            .bind(workspace)
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
        tx.commit().await?;

        if deleted == 0 {
            return Err(StoreError::NotFound("connector"));
        }
        Ok(())
    }

    async fn record_connector_health(
        &self,
        workspace: WorkspaceId,
        at: Millis,
        error: Option<&str>,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        let statement = match error {
            // A success clears the failure; "failing since" keeps the first
            // failure's time until then.
            None => sqlx::query(
                "UPDATE connectors SET last_success_at = $1, failing_since = NULL, \
                 last_error = NULL WHERE workspace_id = $2",
            )
            .bind(at)
            .bind(workspace),
            Some(error) => sqlx::query(
                "UPDATE connectors SET failing_since = COALESCE(failing_since, $1), \
                 last_error = $2 WHERE workspace_id = $3",
            )
            .bind(at)
            .bind(error)
            .bind(workspace),
        };
        statement.execute(&mut *tx.tx).await?;
        tx.commit().await
    }

    async fn add_audit(
        &self,
        workspace: WorkspaceId,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO audit_log (workspace_id, at, actor, action, detail) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(workspace)
        .bind(now_millis())
        .bind(actor)
        .bind(action)
        .bind(detail)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await
    }

    async fn audit_log(&self, workspace: WorkspaceId, limit: i64) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT id, workspace_id, at, actor, action, detail FROM audit_log \
             WHERE workspace_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(workspace)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    workspace_id: row.try_get("workspace_id")?,
                    at: row.try_get("at")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    detail: row.try_get("detail")?,
                })
            })
            .collect()
    }

    async fn sealed_fields(&self) -> StoreResult<Vec<(SealedField, String)>> {
        let mut fields = Vec::new();
        for row in sqlx::query("SELECT id, widget_secret FROM workspaces")
            .fetch_all(&self.pool)
            .await?
        {
            fields.push((
                SealedField::WidgetSecret(row.try_get("id")?),
                row.try_get("widget_secret")?,
            ));
        }
        for row in sqlx::query("SELECT workspace_id, client_secret_sealed FROM connectors")
            .fetch_all(&self.pool)
            .await?
        {
            fields.push((
                SealedField::ConnectorSecret(row.try_get("workspace_id")?),
                row.try_get("client_secret_sealed")?,
            ));
        }
        for row in sqlx::query("SELECT workspace_id, secret_sealed FROM webhook_secrets")
            .fetch_all(&self.pool)
            .await?
        {
            fields.push((
                SealedField::WebhookSecret(row.try_get("workspace_id")?),
                row.try_get("secret_sealed")?,
            ));
        }
        Ok(fields)
    }

    async fn replace_sealed(&self, values: Vec<(SealedField, String)>) -> StoreResult<()> {
        let mut tx = self.write().await?;
        for (field, value) in values {
            let statement = match field {
                SealedField::WidgetSecret(id) => {
                    sqlx::query("UPDATE workspaces SET widget_secret = $1 WHERE id = $2")
                        .bind(value)
                        .bind(id)
                }
                SealedField::ConnectorSecret(id) => sqlx::query(
                    "UPDATE connectors SET client_secret_sealed = $1 WHERE workspace_id = $2",
                )
                .bind(value)
                .bind(id),
                SealedField::WebhookSecret(id) => sqlx::query(
                    "UPDATE webhook_secrets SET secret_sealed = $1 WHERE workspace_id = $2",
                )
                .bind(value)
                .bind(id),
            };
            statement.execute(&mut *tx.tx).await?;
        }
        tx.commit().await
    }

    async fn request_ticket(&self, request: TicketRequest) -> StoreResult<TicketLink> {
        let mut tx = self.write().await?;
        require_conversation(&mut tx.tx, request.workspace_id, request.conversation_id).await?;

        let sql = format!(
            "INSERT INTO ticket_links (conversation_id, workspace_id, marker, requested_by, \
             created_at) VALUES ($1, $2, $3, $4, $5) RETURNING {LINK_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(request.conversation_id)
            .bind(request.workspace_id)
            .bind(&request.marker)
            .bind(&request.requested_by)
            .bind(request.at)
            .fetch_one(&mut *tx.tx)
            .await
            .map_err(|error| conflict_on_duplicate(error, "a ticket for this chat"))?;
        sqlx::query(
            "INSERT INTO outbox (workspace_id, conversation_id, kind, payload, state, attempts, \
             next_attempt_at, maybe_sent, created_at) \
             VALUES ($1, $2, 'create_ticket', $3, 'pending', 0, $4, 0, $5)",
        )
        .bind(request.workspace_id)
        .bind(request.conversation_id)
        .bind(&request.payload)
        .bind(request.at)
        .bind(request.at)
        .execute(&mut *tx.tx)
        .await?;

        tx.commit().await?;
        link_from(&row)
    }

    async fn ticket_link(
        &self,
        workspace: WorkspaceId,
        conversation: ConversationId,
    ) -> StoreResult<Option<TicketLink>> {
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM ticket_links WHERE workspace_id = $1 AND conversation_id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace)
            .bind(conversation)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(link_from).transpose()
    }

    async fn set_linked_ticket(
        &self,
        conversation: ConversationId,
        ticket_id: i64,
        summary: &str,
        status: Option<&str>,
        at: Millis,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        let changed = sqlx::query(
            "UPDATE ticket_links SET ticket_id = $1, ticket_summary = $2, ticket_status = $3, \
             linked_at = COALESCE(linked_at, $4) WHERE conversation_id = $5",
        )
        .bind(ticket_id)
        .bind(summary)
        .bind(status)
        .bind(at)
        .bind(conversation)
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        tx.commit().await?;

        if changed == 0 {
            return Err(StoreError::NotFound("ticket link"));
        }
        Ok(())
    }

    async fn claim_job(&self, now: Millis, lease_until: Millis) -> StoreResult<Option<OutboxJob>> {
        // PostgreSQL lets workers on other instances skip a row one of them
        // holds; SQLite has a single writer and needs no such clause.
        let skip_locked = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE outbox SET state = 'running', lease_until = $1, attempts = attempts + 1 \
             WHERE id = (SELECT o.id FROM outbox o WHERE \
             ((o.state = 'pending' AND o.next_attempt_at <= $2) \
             OR (o.state = 'running' AND o.lease_until < $3)) \
             AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.conversation_id = o.conversation_id \
             AND e.id < o.id AND e.state <> 'done') \
             ORDER BY o.id LIMIT 1{skip_locked}) \
             RETURNING {JOB_COLUMNS}"
        );

        let mut tx = self.write().await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(lease_until)
            .bind(now)
            .bind(now)
            .fetch_optional(&mut *tx.tx)
            .await?;
        tx.commit().await?;
        row.as_ref().map(job_from).transpose()
    }

    async fn release_running_jobs(&self, now: Millis) -> StoreResult<u64> {
        let mut tx = self.write().await?;
        let released = sqlx::query(
            "UPDATE outbox SET state = 'pending', lease_until = NULL, next_attempt_at = $1 \
             WHERE state = 'running'",
        )
        .bind(now)
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(released)
    }

    async fn job_sending(&self, id: i64) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE outbox SET maybe_sent = 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await
    }

    async fn job_done(&self, id: i64, result: &str, at: Millis) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE outbox SET state = 'done', result = $1, finished_at = $2, lease_until = NULL, \
             last_error = NULL WHERE id = $3",
        )
        .bind(result)
        .bind(at)
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await
    }

    async fn job_retry(
        &self,
        id: i64,
        next_attempt_at: Millis,
        error: &str,
        maybe_sent: bool,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        // `maybe_sent` only ever goes up: once a write may have happened, every
        // later attempt must look for it first.
        sqlx::query(
            "UPDATE outbox SET state = 'pending', next_attempt_at = $1, last_error = $2, \
             lease_until = NULL, maybe_sent = CASE WHEN $3 = 1 THEN 1 ELSE maybe_sent END \
             WHERE id = $4",
        )
        .bind(next_attempt_at)
        .bind(error)
        .bind(i64::from(maybe_sent))
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await
    }

    async fn job_failed(&self, id: i64, error: &str, at: Millis) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "UPDATE outbox SET state = 'failed', last_error = $1, finished_at = $2, \
             lease_until = NULL WHERE id = $3",
        )
        .bind(error)
        .bind(at)
        .bind(id)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await
    }

    async fn retry_failed_job(&self, workspace: WorkspaceId, id: i64) -> StoreResult<()> {
        let mut tx = self.write().await?;
        // A retried job gets a fresh time allowance: it counts from the
        // retry, or one more transient failure would park it again at once.
        let now = now_millis();
        let changed = sqlx::query(
            "UPDATE outbox SET state = 'pending', next_attempt_at = $1, finished_at = NULL, \
             created_at = $2 WHERE id = $3 AND workspace_id = $4 AND state = 'failed'",
        )
        .bind(now)
        .bind(now)
        .bind(id)
        .bind(workspace)
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        tx.commit().await?;

        if changed == 0 {
            return Err(StoreError::NotFound("failed job"));
        }
        Ok(())
    }

    async fn jobs(
        &self,
        workspace: WorkspaceId,
        state: JobState,
        limit: i64,
    ) -> StoreResult<Vec<OutboxJob>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM outbox WHERE workspace_id = $1 AND state = $2 \
             ORDER BY id LIMIT $3"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace)
            .bind(state.as_str())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_from).collect()
    }

    async fn message_sync(&self, conversation: ConversationId) -> StoreResult<Vec<MessageSync>> {
        let rows = sqlx::query(
            "SELECT id, message_id, state, result, last_error FROM outbox \
             WHERE conversation_id = $1 AND message_id IS NOT NULL ORDER BY id",
        )
        .bind(conversation)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(MessageSync {
                    message_id: row.try_get("message_id")?,
                    job_id: row.try_get("id")?,
                    state: word(row, "state")?,
                    result: row.try_get("result")?,
                    last_error: row.try_get("last_error")?,
                })
            })
            .collect()
    }

    async fn record_psa_note(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
        note_id: i64,
        direction: NoteDirection,
        message_id: Option<MessageId>,
    ) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let inserted = sqlx::query(
            "INSERT INTO psa_notes (workspace_id, ticket_id, note_id, direction, message_id, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (workspace_id, ticket_id, note_id) DO NOTHING",
        )
        .bind(workspace)
        .bind(ticket_id)
        .bind(note_id)
        .bind(direction.as_str())
        .bind(message_id)
        .bind(now_millis())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(inserted == 1)
    }

    async fn psa_note_known(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
        note_id: i64,
    ) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT note_id FROM psa_notes WHERE workspace_id = $1 AND ticket_id = $2 \
             AND note_id = $3",
        )
        .bind(workspace)
        .bind(ticket_id)
        .bind(note_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }

    async fn psa_note_message(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
        note_id: i64,
    ) -> StoreResult<Option<Option<MessageId>>> {
        let row = sqlx::query(
            "SELECT message_id FROM psa_notes WHERE workspace_id = $1 AND ticket_id = $2 \
             AND note_id = $3",
        )
        .bind(workspace)
        .bind(ticket_id)
        .bind(note_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| row.try_get::<Option<i64>, _>("message_id"))
            .transpose()
            .map_err(StoreError::from)
    }

    async fn ticket_job(
        &self,
        workspace: WorkspaceId,
        conversation: ConversationId,
    ) -> StoreResult<Option<OutboxJob>> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM outbox WHERE workspace_id = $1 AND conversation_id = $2 \
             AND kind = 'create_ticket' ORDER BY id DESC LIMIT 1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace)
            .bind(conversation)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from).transpose()
    }

    async fn links_for_ticket(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
    ) -> StoreResult<Vec<TicketLink>> {
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM ticket_links WHERE workspace_id = $1 AND ticket_id = $2 \
             ORDER BY conversation_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace)
            .bind(ticket_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(link_from).collect()
    }

    async fn linked_tickets(&self, workspace: WorkspaceId) -> StoreResult<Vec<TicketLink>> {
        let sql = format!(
            "SELECT {LINK_COLUMNS} FROM ticket_links WHERE workspace_id = $1 \
             AND ticket_id IS NOT NULL ORDER BY conversation_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(workspace)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(link_from).collect()
    }

    async fn join_ticket(&self, link: TicketLink) -> StoreResult<TicketLink> {
        let mut tx = self.write().await?;
        require_conversation(&mut tx.tx, link.workspace_id, link.conversation_id).await?;
        let sql = format!(
            "INSERT INTO ticket_links (conversation_id, workspace_id, marker, ticket_id, \
             ticket_summary, ticket_status, requested_by, created_at, linked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {LINK_COLUMNS}"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(link.conversation_id)
            .bind(link.workspace_id)
            .bind(&link.marker)
            .bind(link.ticket_id)
            .bind(&link.ticket_summary)
            .bind(&link.ticket_status)
            .bind(&link.requested_by)
            .bind(link.created_at)
            .bind(link.linked_at)
            .fetch_one(&mut *tx.tx)
            .await
            .map_err(|error| conflict_on_duplicate(error, "a ticket for this chat"))?;
        tx.commit().await?;
        link_from(&row)
    }

    async fn psa_cursor(&self, workspace: WorkspaceId) -> StoreResult<Option<String>> {
        let cursor = sqlx::query_scalar("SELECT cursor FROM psa_cursors WHERE workspace_id = $1")
            .bind(workspace)
            .fetch_optional(&self.pool)
            .await?;
        Ok(cursor)
    }

    async fn set_psa_cursor(&self, workspace: WorkspaceId, cursor: &str) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO psa_cursors (workspace_id, cursor, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (workspace_id) DO UPDATE SET cursor = excluded.cursor, \
             updated_at = excluded.updated_at",
        )
        .bind(workspace)
        .bind(cursor)
        .bind(now_millis())
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await
    }

    async fn read_receipts(&self, conversation: ConversationId) -> StoreResult<Vec<ReadReceipt>> {
        let rows = sqlx::query(
            "SELECT conversation_id, reader_kind, reader_id, message_id, updated_at \
             FROM read_receipts WHERE conversation_id = $1 ORDER BY reader_kind, reader_id",
        )
        .bind(conversation)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ReadReceipt {
                    conversation_id: row.try_get("conversation_id")?,
                    reader_kind: word(row, "reader_kind")?,
                    reader_id: row.try_get("reader_id")?,
                    message_id: row.try_get("message_id")?,
                    at: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    async fn contact_match(
        &self,
        workspace: WorkspaceId,
        end_user: EndUserId,
    ) -> StoreResult<Option<ContactMatchRow>> {
        let row = sqlx::query(
            "SELECT workspace_id, end_user_id, state, contact, rule, chosen_by, catch_all, \
             matched_at, checked_at, candidates FROM contact_matches \
             WHERE workspace_id = $1 AND end_user_id = $2",
        )
        .bind(workspace)
        .bind(end_user)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(contact_match_from).transpose()
    }

    async fn save_checked_match(&self, row: ContactMatchRow) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        // The WHERE on the update is what keeps a technician's choice: a
        // lookup that raced with the choice leaves it alone.
        let written = sqlx::query(
            "INSERT INTO contact_matches (workspace_id, end_user_id, state, contact, rule, \
             chosen_by, catch_all, matched_at, checked_at, candidates) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (workspace_id, end_user_id) DO UPDATE SET state = excluded.state, \
             contact = excluded.contact, rule = excluded.rule, chosen_by = excluded.chosen_by, \
             catch_all = excluded.catch_all, \
             matched_at = excluded.matched_at, checked_at = excluded.checked_at, \
             candidates = excluded.candidates \
             WHERE COALESCE(contact_matches.rule, '') <> 'technician'",
        )
        .bind(row.workspace_id)
        .bind(row.end_user_id)
        .bind(row.state.as_str())
        .bind(&row.contact)
        .bind(row.rule.map(MatchRule::as_str))
        .bind(&row.chosen_by)
        .bind(i64::from(row.catch_all))
        .bind(row.matched_at)
        .bind(row.checked_at)
        .bind(&row.candidates)
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(written > 0)
    }

    async fn save_chosen_match(&self, row: ContactMatchRow) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO contact_matches (workspace_id, end_user_id, state, contact, rule, \
             chosen_by, catch_all, matched_at, checked_at, candidates) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (workspace_id, end_user_id) DO UPDATE SET state = excluded.state, \
             contact = excluded.contact, rule = excluded.rule, chosen_by = excluded.chosen_by, \
             catch_all = excluded.catch_all, \
             matched_at = excluded.matched_at, checked_at = excluded.checked_at, \
             candidates = excluded.candidates",
        )
        .bind(row.workspace_id)
        .bind(row.end_user_id)
        .bind(row.state.as_str())
        .bind(&row.contact)
        .bind(row.rule.map(MatchRule::as_str))
        .bind(&row.chosen_by)
        .bind(i64::from(row.catch_all))
        .bind(row.matched_at)
        .bind(row.checked_at)
        .bind(&row.candidates)
        .execute(&mut *tx.tx)
        .await?;
        tx.commit().await
    }

    async fn delete_contact_match(
        &self,
        workspace: WorkspaceId,
        end_user: EndUserId,
    ) -> StoreResult<()> {
        let mut tx = self.write().await?;
        let deleted =
            sqlx::query("DELETE FROM contact_matches WHERE workspace_id = $1 AND end_user_id = $2")
                .bind(workspace)
                .bind(end_user)
                .execute(&mut *tx.tx)
                .await?
                .rows_affected();
        tx.commit().await?;

        if deleted == 0 {
            return Err(StoreError::NotFound("contact match"));
        }
        Ok(())
    }

    async fn contact_queue(
        &self,
        workspace: WorkspaceId,
        limit: i64,
    ) -> StoreResult<Vec<(EndUser, ContactMatchRow)>> {
        let rows = sqlx::query(
            "SELECT m.workspace_id, m.end_user_id, m.state, m.contact, m.rule, m.chosen_by, \
             m.catch_all, m.matched_at, m.checked_at, m.candidates, \
             u.id, u.email, u.name, u.subject \
             FROM contact_matches m JOIN end_users u ON u.id = m.end_user_id \
             WHERE m.workspace_id = $1 AND m.state <> 'matched' \
             ORDER BY m.checked_at, m.end_user_id LIMIT $2",
        )
        .bind(workspace)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let end_user = EndUser {
                    id: row.try_get("id")?,
                    workspace_id: row.try_get("workspace_id")?,
                    email: row.try_get("email")?,
                    name: row.try_get("name")?,
                    subject: row.try_get("subject")?,
                };
                Ok((end_user, contact_match_from(row)?))
            })
            .collect()
    }

    async fn bring_in_psa_note(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
        note_id: i64,
        messages: Vec<NewMessage>,
    ) -> StoreResult<Option<Vec<(Conversation, Message)>>> {
        let mut tx = self.write().await?;

        // The note's row is the claim: whoever inserts it brings the note in.
        let claimed = sqlx::query(
            "INSERT INTO psa_notes (workspace_id, ticket_id, note_id, direction, message_id, \
             created_at) VALUES ($1, $2, $3, 'in', NULL, $4) \
             ON CONFLICT (workspace_id, ticket_id, note_id) DO NOTHING",
        )
        .bind(workspace)
        .bind(ticket_id)
        .bind(note_id)
        .bind(now_millis())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        if claimed != 1 {
            return Ok(None);
        }

        let mut added = Vec::with_capacity(messages.len());
        for message in &messages {
            if message.workspace_id != workspace {
                return Err(StoreError::NotFound("conversation"));
            }
            require_conversation(&mut tx.tx, workspace, message.conversation_id).await?;
            let (conversation, id) =
                insert_message(&mut tx.tx, message, message.conversation_id, None).await?;
            added.push((conversation, id));
        }
        if let Some((_, first)) = added.first() {
            sqlx::query(
                "UPDATE psa_notes SET message_id = $1 WHERE workspace_id = $2 \
                 AND ticket_id = $3 AND note_id = $4",
            )
            .bind(*first)
            .bind(workspace)
            .bind(ticket_id)
            .bind(note_id)
            .execute(&mut *tx.tx)
            .await?;
        }
        tx.commit().await?;

        let mut brought = Vec::with_capacity(added.len());
        for (conversation, id) in added {
            brought.push((conversation, self.message(workspace, id).await?));
        }
        Ok(Some(brought))
    }

    async fn move_linked_status(
        &self,
        workspace: WorkspaceId,
        conversation: ConversationId,
        expected: Option<&str>,
        status: &str,
        message: Option<NewMessage>,
    ) -> StoreResult<StatusMove> {
        let mut tx = self.write().await?;
        // `COALESCE` compares "no status yet" too, the same on both backends.
        let moved = sqlx::query(
            "UPDATE ticket_links SET ticket_status = $1 WHERE workspace_id = $2 \
             AND conversation_id = $3 AND COALESCE(ticket_status, '') = $4",
        )
        .bind(status)
        .bind(workspace)
        .bind(conversation)
        .bind(expected.unwrap_or_default())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        if moved != 1 {
            return Ok(StatusMove::Stale);
        }

        let added = match &message {
            Some(message) => {
                if message.workspace_id != workspace || message.conversation_id != conversation {
                    return Err(StoreError::NotFound("conversation"));
                }
                Some(insert_message(&mut tx.tx, message, conversation, None).await?)
            }
            None => None,
        };
        tx.commit().await?;

        match added {
            Some((_, id)) => Ok(StatusMove::Moved(Some(self.message(workspace, id).await?))),
            None => Ok(StatusMove::Moved(None)),
        }
    }

    async fn webhook_secret(
        &self,
        workspace: WorkspaceId,
    ) -> StoreResult<Option<StoredWebhookSecret>> {
        let row = sqlx::query(
            "SELECT workspace_id, secret_sealed, created_at, revealed_at, last_received_at \
             FROM webhook_secrets WHERE workspace_id = $1",
        )
        .bind(workspace)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(StoredWebhookSecret {
                workspace_id: row.try_get("workspace_id")?,
                secret_sealed: row.try_get("secret_sealed")?,
                created_at: row.try_get("created_at")?,
                revealed_at: row.try_get("revealed_at")?,
                last_received_at: row.try_get("last_received_at")?,
            })
        })
        .transpose()
    }

    async fn save_webhook_secret(
        &self,
        workspace: WorkspaceId,
        sealed: &str,
        at: Millis,
        replace: bool,
    ) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let sql = if replace {
            "INSERT INTO webhook_secrets (workspace_id, secret_sealed, created_at) \
             VALUES ($1, $2, $3) ON CONFLICT (workspace_id) DO UPDATE SET \
             secret_sealed = excluded.secret_sealed, created_at = excluded.created_at, \
             revealed_at = NULL"
        } else {
            "INSERT INTO webhook_secrets (workspace_id, secret_sealed, created_at) \
             VALUES ($1, $2, $3) ON CONFLICT (workspace_id) DO NOTHING"
        };
        let saved = sqlx::query(sql)
            .bind(workspace)
            .bind(sealed)
            .bind(at)
            .execute(&mut *tx.tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(saved == 1)
    }

    async fn mark_webhook_secret_revealed(
        &self,
        workspace: WorkspaceId,
        sealed: &str,
        at: Millis,
    ) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let marked = sqlx::query(
            "UPDATE webhook_secrets SET revealed_at = $1 WHERE workspace_id = $2 \
             AND secret_sealed = $3 AND revealed_at IS NULL",
        )
        .bind(at)
        .bind(workspace)
        .bind(sealed)
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(marked == 1)
    }

    async fn record_webhook_received(&self, workspace: WorkspaceId, at: Millis) -> StoreResult<()> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE webhook_secrets SET last_received_at = $1 WHERE workspace_id = $2")
            .bind(at)
            .bind(workspace)
            .execute(&mut *tx.tx)
            .await?;
        tx.commit().await
    }

    async fn record_psa_file(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
        file_id: i64,
        direction: NoteDirection,
        message_id: Option<MessageId>,
    ) -> StoreResult<bool> {
        let mut tx = self.write().await?;
        let inserted = sqlx::query(
            "INSERT INTO psa_files (workspace_id, ticket_id, file_id, direction, message_id, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (workspace_id, ticket_id, file_id) DO NOTHING",
        )
        .bind(workspace)
        .bind(ticket_id)
        .bind(file_id)
        .bind(direction.as_str())
        .bind(message_id)
        .bind(now_millis())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(inserted == 1)
    }

    async fn psa_file_message(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
        file_id: i64,
    ) -> StoreResult<Option<Option<MessageId>>> {
        let row = sqlx::query(
            "SELECT message_id FROM psa_files WHERE workspace_id = $1 AND ticket_id = $2 \
             AND file_id = $3",
        )
        .bind(workspace)
        .bind(ticket_id)
        .bind(file_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| row.try_get::<Option<i64>, _>("message_id"))
            .transpose()
            .map_err(StoreError::from)
    }

    async fn bring_in_psa_file(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
        file_id: i64,
        files: Vec<(NewAttachment, NewMessage)>,
    ) -> StoreResult<Option<Vec<(Conversation, Message)>>> {
        let mut tx = self.write().await?;

        // The file's row is the claim: whoever inserts it brings the file in.
        let claimed = sqlx::query(
            "INSERT INTO psa_files (workspace_id, ticket_id, file_id, direction, message_id, \
             created_at) VALUES ($1, $2, $3, 'in', NULL, $4) \
             ON CONFLICT (workspace_id, ticket_id, file_id) DO NOTHING",
        )
        .bind(workspace)
        .bind(ticket_id)
        .bind(file_id)
        .bind(now_millis())
        .execute(&mut *tx.tx)
        .await?
        .rows_affected();
        if claimed != 1 {
            return Ok(None);
        }

        let mut added = Vec::with_capacity(files.len());
        for (attachment, message) in &files {
            if attachment.workspace_id != workspace
                || message.workspace_id != workspace
                || attachment.conversation_id != message.conversation_id
            {
                return Err(StoreError::NotFound("conversation"));
            }
            // Came from the PSA: never queued back to it.
            if message.author_kind != AuthorKind::Technician || message.author_id.is_some() {
                return Err(StoreError::Conflict(
                    "a file from the PSA must be a named agent's".to_owned(),
                ));
            }
            require_conversation(&mut tx.tx, workspace, attachment.conversation_id).await?;
            let sha256 = hex_digest(&attachment.data);
            let size = i64::try_from(attachment.data.len())
                .map_err(|_| StoreError::Conflict("the file is too large".to_owned()))?;
            let attachment_id: i64 = sqlx::query_scalar(
                "INSERT INTO attachments (workspace_id, conversation_id, file_name, \
                 content_type, size, sha256, data, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(workspace)
            .bind(attachment.conversation_id)
            .bind(&attachment.file_name)
            .bind(&attachment.content_type)
            .bind(size)
            .bind(&sha256)
            .bind(&attachment.data)
            .bind(message.at)
            .fetch_one(&mut *tx.tx)
            .await?;
            let (conversation, id) = insert_message(
                &mut tx.tx,
                message,
                attachment.conversation_id,
                Some(attachment_id),
            )
            .await?;
            added.push((conversation, id));
        }
        if let Some((_, first)) = added.first() {
            sqlx::query(
                "UPDATE psa_files SET message_id = $1 WHERE workspace_id = $2 \
                 AND ticket_id = $3 AND file_id = $4",
            )
            .bind(*first)
            .bind(workspace)
            .bind(ticket_id)
            .bind(file_id)
            .execute(&mut *tx.tx)
            .await?;
        }
        tx.commit().await?;

        let mut brought = Vec::with_capacity(added.len());
        for (conversation, id) in added {
            brought.push((conversation, self.message(workspace, id).await?));
        }
        Ok(Some(brought))
    }
}

/// The SHA-256 of some bytes in lower-case hex, kept beside each attachment so
/// that a later integrity check or de-duplication has it at hand.
fn hex_digest(data: &[u8]) -> String {
    use std::fmt::Write;

    Sha256::digest(data)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

fn contact_match_from(row: &AnyRow) -> StoreResult<ContactMatchRow> {
    let rule: Option<String> = row.try_get("rule")?;
    let catch_all: i64 = row.try_get("catch_all")?;
    let rule = rule
        .map(|word| word.parse::<MatchRule>())
        .transpose()
        .map_err(|error| StoreError::Database(sqlx::Error::Decode(Box::new(error))))?;

    Ok(ContactMatchRow {
        workspace_id: row.try_get("workspace_id")?,
        end_user_id: row.try_get("end_user_id")?,
        state: word(row, "state")?,
        contact: row.try_get("contact")?,
        rule,
        chosen_by: row.try_get("chosen_by")?,
        catch_all: catch_all != 0,
        matched_at: row.try_get("matched_at")?,
        checked_at: row.try_get("checked_at")?,
        candidates: row.try_get("candidates")?,
    })
}
