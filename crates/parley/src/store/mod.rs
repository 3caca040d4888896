//! The store: everything Parley keeps, behind the [`Store`] trait.
//!
//! Two backends implement it: SQLite, the embedded default (a file in the data
//! directory, WAL mode), and PostgreSQL, for several instances on one database.
//! Both run the same SQL through sqlx's `Any` driver; what differs (connecting,
//! migrations, the dialect's corners) lives in [`sqlite`] and [`postgres`].
//! [`open`] picks the backend from the database URL.
//!
//! Every row belongs to a workspace. Times are [`Millis`] since the Unix epoch.

/// The SQL both backends share.
mod sql;

/// Group commit: concurrent messages share one SQLite transaction.
mod batch;

/// PostgreSQL: connecting, migrations, `LISTEN/NOTIFY`.
pub mod postgres;
/// SQLite: the file, WAL mode, migrations.
pub mod sqlite;

mod model;

pub use model::*;

use async_trait::async_trait;
use std::path::Path;

/// What went wrong in the store, in the cases callers must tell apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row asked for does not exist (or is not in this workspace).
    #[error("{0} not found")]
    NotFound(&'static str),

    /// The change conflicts with what is stored (a duplicate, or a state that
    /// moved on); the text says what, in words fit for a user.
    #[error("{0}")]
    Conflict(String),

    /// The database URL cannot be used; the text says why and what to do.
    #[error("{0}")]
    Config(String),

    /// The database itself failed; the detail is for the log only.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),

    /// A commit that carried several callers' writes failed (a batch of
    /// messages on SQLite); each of them gets the same cause. The detail is
    /// for the log only.
    #[error("database error: {0}")]
    Shared(std::sync::Arc<sqlx::Error>),

    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Everything Parley keeps. Methods take the workspace where a row could
/// belong to another one, so a query can never cross workspaces by accident.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Which backend this is (for the log and for dialect-specific features).
    fn backend(&self) -> Backend;

    /// Cheap round trip, for `/readyz`.
    async fn ping(&self) -> StoreResult<()>;

    /// The default workspace, created with a fresh widget secret on first use.
    async fn default_workspace(&self, new_widget_secret: &str) -> StoreResult<Workspace>;

    async fn set_widget_secret(&self, workspace: WorkspaceId, secret: &str) -> StoreResult<()>;

    // --- accounts and sessions

    /// Fails with [`StoreError::Conflict`] when the email is taken.
    async fn create_account(&self, account: NewAccount) -> StoreResult<Account>;

    /// Creates an admin only if the workspace has none yet, checking and
    /// inserting in one transaction; `None` when an admin already exists.
    async fn create_first_admin(&self, account: NewAccount) -> StoreResult<Option<Account>>;

    async fn account(&self, workspace: WorkspaceId, id: AccountId) -> StoreResult<Account>;

    /// Looks an account up by its (already normalised) email.
    async fn account_by_email(&self, workspace: WorkspaceId, email: &str) -> StoreResult<Account>;

    async fn accounts(&self, workspace: WorkspaceId) -> StoreResult<Vec<Account>>;

    async fn count_admins(&self, workspace: WorkspaceId) -> StoreResult<i64>;

    async fn set_password_hash(&self, id: AccountId, password_hash: &str) -> StoreResult<()>;

    async fn create_session(&self, session: NewSession) -> StoreResult<()>;

    /// The live session with this token digest; an expired one is not found.
    async fn session(&self, token_digest: &str, now: Millis) -> StoreResult<Session>;

    async fn delete_session(&self, token_digest: &str) -> StoreResult<()>;

    /// Signs an account out everywhere but the session given (after a password change).
    async fn delete_other_sessions(&self, account: AccountId, keep_digest: &str)
    -> StoreResult<()>;

    async fn delete_expired_sessions(&self, now: Millis) -> StoreResult<u64>;

    // --- end users

    /// Records the end user a verified widget token names, updating the name.
    async fn upsert_end_user(&self, end_user: NewEndUser) -> StoreResult<EndUser>;

    async fn end_user(&self, workspace: WorkspaceId, id: EndUserId) -> StoreResult<EndUser>;

    // --- conversations and messages

    /// Starts a conversation with its first message, in one transaction.
    async fn create_conversation(
        &self,
        conversation: NewConversation,
        first: NewMessage,
    ) -> StoreResult<(Conversation, Message)>;

    async fn conversation(
        &self,
        workspace: WorkspaceId,
        id: ConversationId,
    ) -> StoreResult<Conversation>;

    async fn conversations(&self, query: ConversationQuery) -> StoreResult<Vec<Conversation>>;

    /// Adds a message and moves the conversation on (its last message, its
    /// update time, and back to waiting when an end user writes to a closed
    /// one), in one transaction. Returns the conversation as it is after.
    async fn add_message(&self, message: NewMessage) -> StoreResult<(Conversation, Message)>;

    /// Adds an attachment and the message that carries it, in one transaction.
    async fn add_attachment(
        &self,
        attachment: NewAttachment,
        message: NewMessage,
    ) -> StoreResult<(Conversation, Message)>;

    async fn attachment(&self, workspace: WorkspaceId, id: AttachmentId)
    -> StoreResult<Attachment>;

    /// A page of one conversation's history, oldest first, ending before
    /// `query.before` when given.
    async fn messages(&self, query: MessagePage) -> StoreResult<Vec<Message>>;

    /// Messages with an id above `after`, oldest first, for a client resuming
    /// after a reconnect: in one end user's conversations, or the whole
    /// workspace's.
    async fn messages_after(&self, query: ResumeQuery) -> StoreResult<Vec<Message>>;

    async fn message(&self, workspace: WorkspaceId, id: MessageId) -> StoreResult<Message>;

    /// The highest message id in the workspace, 0 when there is none.
    async fn newest_message_id(&self, workspace: WorkspaceId) -> StoreResult<MessageId>;

    /// Applies a state change only if the conversation is still as `expected`
    /// says; otherwise [`StoreError::Conflict`]. This is how two technicians
    /// claiming the same chat at once cannot both win.
    async fn change_conversation(&self, change: ConversationChange) -> StoreResult<Conversation>;

    /// Records how far a reader has read; never moves backwards.
    async fn mark_read(&self, receipt: ReadReceipt) -> StoreResult<()>;

    // --- the PSA connector and the audit log

    async fn connector(&self, workspace: WorkspaceId) -> StoreResult<Option<StoredConnector>>;

    /// Stores the workspace's one connector, replacing any other.
    async fn save_connector(&self, connector: StoredConnector) -> StoreResult<()>;

    /// Removes the connector; "not found" if there is none.
    async fn delete_connector(&self, workspace: WorkspaceId) -> StoreResult<()>;

    /// Records the outcome of a call to the PSA: `error` is `None` on success.
    async fn record_connector_health(
        &self,
        workspace: WorkspaceId,
        at: Millis,
        error: Option<&str>,
    ) -> StoreResult<()>;

    async fn add_audit(
        &self,
        workspace: WorkspaceId,
        actor: &str,
        action: &str,
        detail: &str,
    ) -> StoreResult<()>;

    /// The newest entries first.
    async fn audit_log(&self, workspace: WorkspaceId, limit: i64) -> StoreResult<Vec<AuditEntry>>;

    /// Every sealed value, for re-sealing under a new master key.
    async fn sealed_fields(&self) -> StoreResult<Vec<(SealedField, String)>>;

    /// Replaces sealed values, all in one transaction: after a crash either
    /// every value is under the old key or every one under the new.
    async fn replace_sealed(&self, values: Vec<(SealedField, String)>) -> StoreResult<()>;

    // --- ticket sync: links and the outbox

    /// Links a conversation to a ticket-to-be and queues its creation, in
    /// one transaction; [`StoreError::Conflict`] if it already has one.
    async fn request_ticket(&self, request: TicketRequest) -> StoreResult<TicketLink>;

    async fn ticket_link(
        &self,
        workspace: WorkspaceId,
        conversation: ConversationId,
    ) -> StoreResult<Option<TicketLink>>;

    /// Records the ticket the PSA made (or that was found and adopted).
    async fn set_linked_ticket(
        &self,
        conversation: ConversationId,
        ticket_id: i64,
        summary: &str,
        status: Option<&str>,
        at: Millis,
    ) -> StoreResult<()>;

    /// Claims the next job that is due and whose conversation has no earlier
    /// job unfinished, leasing it until `lease_until`. A running job whose
    /// lease ran out (its worker died) is claimed again.
    async fn claim_job(&self, now: Millis, lease_until: Millis) -> StoreResult<Option<OutboxJob>>;

    /// Puts every job still marked running back in the queue, due now (its
    /// "maybe sent" mark kept), and returns how many. Only for a store no
    /// other worker shares: a worker starting on SQLite knows that a running
    /// job is one a crashed process left, and need not wait out its lease.
    async fn release_running_jobs(&self, now: Millis) -> StoreResult<u64>;

    /// Marks that the job is about to send a write that is not idempotent.
    async fn job_sending(&self, id: i64) -> StoreResult<()>;

    async fn job_done(&self, id: i64, result: &str, at: Millis) -> StoreResult<()>;

    async fn job_retry(
        &self,
        id: i64,
        next_attempt_at: Millis,
        error: &str,
        maybe_sent: bool,
    ) -> StoreResult<()>;

    async fn job_failed(&self, id: i64, error: &str, at: Millis) -> StoreResult<()>;

    /// Puts a parked job back in the queue, due now.
    async fn retry_failed_job(&self, workspace: WorkspaceId, id: i64) -> StoreResult<()>;

    /// Jobs in a state, oldest first.
    async fn jobs(
        &self,
        workspace: WorkspaceId,
        state: JobState,
        limit: i64,
    ) -> StoreResult<Vec<OutboxJob>>;

    /// The sync state of each message of a conversation that has a job.
    async fn message_sync(&self, conversation: ConversationId) -> StoreResult<Vec<MessageSync>>;

    /// Records a PSA note Parley wrote or brought in; `false` when it was
    /// already known (so an inbound note is never added twice).
    async fn record_psa_note(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
        note_id: i64,
        direction: NoteDirection,
        message_id: Option<MessageId>,
    ) -> StoreResult<bool>;

    async fn psa_note_known(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
        note_id: i64,
    ) -> StoreResult<bool>;

    /// Which message a known PSA note belongs to: `None` when the note is
    /// unknown, `Some(None)` when it is known without a message.
    async fn psa_note_message(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
        note_id: i64,
    ) -> StoreResult<Option<Option<MessageId>>>;

    /// The conversation's latest ticket creation job, if it ever had one.
    async fn ticket_job(
        &self,
        workspace: WorkspaceId,
        conversation: ConversationId,
    ) -> StoreResult<Option<OutboxJob>>;

    /// The conversations linked to a ticket (several chats may join one).
    async fn links_for_ticket(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
    ) -> StoreResult<Vec<TicketLink>>;

    /// Every conversation with a ticket, for the poller.
    async fn linked_tickets(&self, workspace: WorkspaceId) -> StoreResult<Vec<TicketLink>>;

    /// Links a conversation to a ticket that already exists (a follow-up
    /// joining it), without queueing a creation.
    async fn join_ticket(&self, link: TicketLink) -> StoreResult<TicketLink>;

    async fn psa_cursor(&self, workspace: WorkspaceId) -> StoreResult<Option<String>>;

    async fn set_psa_cursor(&self, workspace: WorkspaceId, cursor: &str) -> StoreResult<()>;

    /// How far each reader of a conversation has read.
    async fn read_receipts(&self, conversation: ConversationId) -> StoreResult<Vec<ReadReceipt>>;

    // --- contact matching (psa::contacts)

    /// An end user's contact match, if they were ever looked up.
    async fn contact_match(
        &self,
        workspace: WorkspaceId,
        end_user: EndUserId,
    ) -> StoreResult<Option<ContactMatchRow>>;

    /// Stores what a lookup in the PSA found, unless a technician has chosen
    /// the end user's contact (that choice always wins); `false` when the
    /// stored technician's choice was kept.
    async fn save_checked_match(&self, row: ContactMatchRow) -> StoreResult<bool>;

    /// Stores a technician's choice, replacing whatever was there.
    async fn save_chosen_match(&self, row: ContactMatchRow) -> StoreResult<()>;

    /// Forgets an end user's match (so the next lookup starts afresh);
    /// "not found" when there was none.
    async fn delete_contact_match(
        &self,
        workspace: WorkspaceId,
        end_user: EndUserId,
    ) -> StoreResult<()>;

    /// The "needs a contact" queue: end users without a match, longest
    /// waiting first.
    async fn contact_queue(
        &self,
        workspace: WorkspaceId,
        limit: i64,
    ) -> StoreResult<Vec<(EndUser, ContactMatchRow)>>;

    // --- Halo to chat: the inbound sync and its webhook (sync::inbound)

    /// Brings a PSA note into chats exactly once: records it as
    /// [`NoteDirection::In`] and adds its messages (one per linked
    /// conversation, each moving its conversation on as
    /// [`Store::add_message`] does, never queued back to the PSA) in one
    /// transaction. `None` when the note was already known, in or out, so
    /// that a webhook and a poll seeing it together bring it in once.
    async fn bring_in_psa_note(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
        note_id: i64,
        messages: Vec<NewMessage>,
    ) -> StoreResult<Option<Vec<(Conversation, Message)>>>;

    /// Sets a link's ticket status only if it still is `expected`, and adds
    /// `message` (a system message saying so, moving the conversation on as
    /// [`Store::add_message`] does) in the same transaction.
    async fn move_linked_status(
        &self,
        workspace: WorkspaceId,
        conversation: ConversationId,
        expected: Option<&str>,
        status: &str,
        message: Option<NewMessage>,
    ) -> StoreResult<StatusMove>;

    async fn webhook_secret(
        &self,
        workspace: WorkspaceId,
    ) -> StoreResult<Option<StoredWebhookSecret>>;

    /// Stores a new sealed webhook secret, not yet revealed. Without
    /// `replace`, an existing one is kept and `false` returned (two first
    /// uses at once make one secret).
    async fn save_webhook_secret(
        &self,
        workspace: WorkspaceId,
        sealed: &str,
        at: Millis,
        replace: bool,
    ) -> StoreResult<bool>;

    /// Marks the secret sealed as `sealed` as shown; `false` when it was
    /// shown already or has been replaced meanwhile.
    async fn mark_webhook_secret_revealed(
        &self,
        workspace: WorkspaceId,
        sealed: &str,
        at: Millis,
    ) -> StoreResult<bool>;

    async fn record_webhook_received(&self, workspace: WorkspaceId, at: Millis) -> StoreResult<()>;

    // --- Files both ways (sync::outbox, sync::inbound)

    /// Records a PSA file Parley uploaded ([`NoteDirection::Out`]) or saw
    /// without bringing it in; `false` when it was already known.
    async fn record_psa_file(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
        file_id: i64,
        direction: NoteDirection,
        message_id: Option<MessageId>,
    ) -> StoreResult<bool>;

    /// Which message a known PSA file belongs to: `None` when the file is
    /// unknown, `Some(None)` when it is known without a message.
    async fn psa_file_message(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
        file_id: i64,
    ) -> StoreResult<Option<Option<MessageId>>>;

    /// Brings a PSA file into chats exactly once: records it as
    /// [`NoteDirection::In`] and adds each attachment with its message (one
    /// per linked conversation, never queued back to the PSA) in one
    /// transaction. `None` when the file was already known, in or out.
    async fn bring_in_psa_file(
        &self,
        workspace: WorkspaceId,
        ticket_id: i64,
        file_id: i64,
        files: Vec<(NewAttachment, NewMessage)>,
    ) -> StoreResult<Option<Vec<(Conversation, Message)>>>;
}

/// Opens the store a database URL names, creating and migrating the schema.
///
/// `sqlite://PATH` (or a bare file path ending in `.db`) and `postgres://...`
/// are understood; anything else is refused with what is accepted. A SQLite
/// file is created only in a directory that exists, so a mistyped path is an
/// error rather than a new, empty database somewhere else.
pub async fn open(database_url: &str) -> StoreResult<Box<dyn Store>> {
    sqlx::any::install_default_drivers();

    let url = database_url.trim();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Box::new(postgres::open(url).await?));
    }
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))
    {
        return Ok(Box::new(sqlite::open(Path::new(path)).await?));
    }
    if !url.contains("://") && url.ends_with(".db") {
        return Ok(Box::new(sqlite::open(Path::new(url)).await?));
    }

    let shown = url.split("://").next().unwrap_or(url);
    Err(StoreError::Config(format!(
        "the database URL must start with sqlite:// (a file) or postgres:// (a server); \
         `{shown}` is neither"
    )))
}

#[cfg(test)]
mod tests;
