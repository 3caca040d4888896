//! The rows the store keeps and the requests it answers, as plain data.

use std::fmt;
use std::str::FromStr;

/// Milliseconds since the Unix epoch, the one time format both backends share.
pub type Millis = i64;

pub type WorkspaceId = i64;
pub type AccountId = i64;
pub type EndUserId = i64;
pub type ConversationId = i64;
pub type MessageId = i64;
pub type AttachmentId = i64;

/// The current time as [`Millis`].
pub fn now_millis() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// Implements text conversion for an enum stored as a short word, so that the
/// schema's `CHECK` constraints and the code name the same values.
macro_rules! stored_words {
    ($name:ident { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $word),+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;

            fn from_str(word: &str) -> Result<Self, UnknownWord> {
                match word {
                    $($word => Ok(Self::$variant),)+
                    other => Err(UnknownWord(other.to_owned())),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A stored word that no variant matches: the database holds something this
/// version of Parley does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown stored value `{0}`")]
pub struct UnknownWord(pub String);

#[derive(Debug, Clone)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    /// Sealed under the master key in the store; [`crate::accounts::Accounts`]
    /// holds it opened.
    pub widget_secret: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Technician,
}

stored_words!(Role { Admin => "admin", Technician => "technician" });

#[derive(Clone)]
pub struct Account {
    pub id: AccountId,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
    pub created_at: Millis,
}

impl fmt::Debug for Account {
    // The hash stays out of logs: it is what an attacker would crack offline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct NewAccount {
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

/// Whose session this is: a signed-in account, or an end user whose widget
/// token was verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOwner {
    Account(AccountId),
    EndUser(EndUserId),
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_digest: String,
    pub workspace_id: WorkspaceId,
    pub owner: SessionOwner,
    pub expires_at: Millis,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub workspace_id: WorkspaceId,
    pub owner: SessionOwner,
    pub created_at: Millis,
    pub expires_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewEndUser {
    pub workspace_id: WorkspaceId,
    /// Normalised (trimmed, lower-case): the identity the token vouches for.
    pub email: String,
    pub name: String,
    /// The portal's own id for the user (`sub`), when it sends one.
    pub subject: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndUser {
    pub id: EndUserId,
    pub workspace_id: WorkspaceId,
    pub email: String,
    pub name: String,
    pub subject: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// No technician has claimed it yet.
    Waiting,
    /// A technician has claimed it.
    Active,
    Closed,
}

stored_words!(ConversationStatus {
    Waiting => "waiting",
    Active => "active",
    Closed => "closed",
});

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: ConversationId,
    pub workspace_id: WorkspaceId,
    pub end_user_id: EndUserId,
    pub subject: String,
    pub status: ConversationStatus,
    pub technician_id: Option<AccountId>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub last_message_id: Option<MessageId>,
}

#[derive(Debug, Clone)]
pub struct NewConversation {
    pub workspace_id: WorkspaceId,
    pub end_user_id: EndUserId,
    pub subject: String,
}

/// Which conversations a list asks for.
#[derive(Debug, Clone)]
pub struct ConversationQuery {
    pub workspace_id: WorkspaceId,
    pub filter: ConversationFilter,
    pub limit: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversationFilter {
    /// One end user's own conversations, any status.
    EndUser(EndUserId),
    /// Not yet claimed.
    Waiting,
    /// Claimed by this technician and not closed.
    ClaimedBy(AccountId),
    /// Every conversation that is not closed.
    Open,
    Closed,
}

/// A change of a conversation's state, applied only if it is still as the
/// caller saw it.
#[derive(Debug, Clone)]
pub struct ConversationChange {
    pub workspace_id: WorkspaceId,
    pub id: ConversationId,
    pub expected_status: Vec<ConversationStatus>,
    /// `Some(x)` requires the technician to be `x` (which may be `None`).
    pub expected_technician: Option<Option<AccountId>>,
    pub status: ConversationStatus,
    pub technician_id: Option<AccountId>,
    /// A PSA status to give the linked ticket, queued in the same
    /// transaction (closing the chat and its ticket together).
    pub psa_status: Option<i64>,
    pub at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Text,
    Attachment,
    /// A technician-only internal note: never shown to an end user.
    Note,
    System,
}

stored_words!(MessageKind {
    Text => "text",
    Attachment => "attachment",
    Note => "note",
    System => "system",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthorKind {
    EndUser,
    Technician,
    System,
}

stored_words!(AuthorKind {
    EndUser => "end_user",
    Technician => "technician",
    System => "system",
});

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: MessageId,
    pub workspace_id: WorkspaceId,
    pub conversation_id: ConversationId,
    pub kind: MessageKind,
    pub author_kind: AuthorKind,
    pub author_id: Option<i64>,
    /// The author's name when they are not a Parley account (an agent
    /// writing in the PSA).
    pub author_name: Option<String>,
    pub body: String,
    pub attachment: Option<AttachmentInfo>,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub workspace_id: WorkspaceId,
    /// Ignored by [`Store::create_conversation`], which knows the id itself.
    pub conversation_id: ConversationId,
    pub kind: MessageKind,
    pub author_kind: AuthorKind,
    pub author_id: Option<i64>,
    /// Set for messages from the PSA, whose authors have no Parley account.
    pub author_name: Option<String>,
    pub body: String,
    pub at: Millis,
}

/// An attachment without its bytes, as messages carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    pub id: AttachmentId,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
}

#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub workspace_id: WorkspaceId,
    pub conversation_id: ConversationId,
    pub file_name: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

#[derive(Clone)]
pub struct Attachment {
    pub info: AttachmentInfo,
    pub workspace_id: WorkspaceId,
    pub conversation_id: ConversationId,
    pub sha256: String,
    pub data: Vec<u8>,
}

impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("info", &self.info)
            .field("conversation_id", &self.conversation_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct MessagePage {
    pub workspace_id: WorkspaceId,
    pub conversation_id: ConversationId,
    pub before: Option<MessageId>,
    pub limit: i64,
    pub include_notes: bool,
}

#[derive(Debug, Clone)]
pub struct ResumeQuery {
    pub workspace_id: WorkspaceId,
    /// `Some` limits the replay to one end user's conversations.
    pub end_user: Option<EndUserId>,
    pub after: MessageId,
    pub include_notes: bool,
    pub limit: i64,
}

#[derive(Debug, Clone)]
pub struct ReadReceipt {
    pub conversation_id: ConversationId,
    pub reader_kind: AuthorKind,
    pub reader_id: i64,
    pub message_id: MessageId,
    pub at: Millis,
}

/// The PSA connector as stored: the secret only sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredConnector {
    pub workspace_id: WorkspaceId,
    /// Which PSA: `halopsa` for now.
    pub kind: String,
    pub site_url: String,
    pub client_id: String,
    pub tenant: Option<String>,
    pub client_secret_sealed: String,
    pub allow_private: bool,
    /// The ticket defaults, as JSON.
    pub defaults: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub last_success_at: Option<Millis>,
    pub failing_since: Option<Millis>,
    pub last_error: Option<String>,
}

impl fmt::Debug for StoredConnector {
    // Even sealed, the secret stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredConnector")
            .field("kind", &self.kind)
            .field("site_url", &self.site_url)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub at: Millis,
    /// Who, in words (`Morgan Admin <admin@msp.example>`, `parley connector set`).
    pub actor: String,
    /// `connector.created`, `connector.changed`, `connector.tested`, `connector.removed`.
    pub action: String,
    /// What changed or what the test found, as JSON; never a secret.
    pub detail: String,
}

/// A sealed value somewhere in the store, for re-sealing under a new key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedField {
    WidgetSecret(WorkspaceId),
    ConnectorSecret(WorkspaceId),
    /// The PSA webhook's secret (`sync::webhook`).
    WebhookSecret(WorkspaceId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    CreateTicket,
    AddNote,
    AddFile,
    ChangeStatus,
}

stored_words!(JobKind {
    CreateTicket => "create_ticket",
    AddNote => "add_note",
    AddFile => "add_file",
    ChangeStatus => "change_status",
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Pending,
    Running,
    Done,
    /// Parked after a permanent error or too long a time: an admin retries it.
    Failed,
}

stored_words!(JobState {
    Pending => "pending",
    Running => "running",
    Done => "done",
    Failed => "failed",
});

/// One PSA write waiting in, or done by, the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxJob {
    pub id: i64,
    pub workspace_id: WorkspaceId,
    pub conversation_id: ConversationId,
    pub kind: JobKind,
    pub message_id: Option<MessageId>,
    /// What the job needs beyond the message, as JSON.
    pub payload: String,
    pub state: JobState,
    /// Attempts so far, this one included once claimed.
    pub attempts: i64,
    /// An earlier attempt may have reached the PSA.
    pub maybe_sent: bool,
    pub last_error: Option<String>,
    /// What the PSA answered (ids), as JSON, once done.
    pub result: Option<String>,
    pub created_at: Millis,
    pub next_attempt_at: Millis,
}

/// A conversation's ticket, or the request for one while the PSA has not
/// answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketLink {
    pub conversation_id: ConversationId,
    pub workspace_id: WorkspaceId,
    pub marker: String,
    pub ticket_id: Option<i64>,
    pub ticket_summary: Option<String>,
    pub ticket_status: Option<String>,
    /// `end_user`, `technician` or `auto`.
    pub requested_by: String,
    pub created_at: Millis,
    pub linked_at: Option<Millis>,
}

/// A request to make a ticket of a conversation.
#[derive(Debug, Clone)]
pub struct TicketRequest {
    pub workspace_id: WorkspaceId,
    pub conversation_id: ConversationId,
    pub marker: String,
    pub requested_by: String,
    /// The ticket's content as the create job needs it, as JSON.
    pub payload: String,
    pub at: Millis,
}

/// How a message stands with the PSA, for technicians.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSync {
    pub message_id: MessageId,
    pub job_id: i64,
    pub state: JobState,
    pub result: Option<String>,
    pub last_error: Option<String>,
}

/// Where an end user stands with their PSA contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactMatchState {
    Matched,
    /// No active contact has the end user's email.
    NoMatch,
    /// Several active contacts have it (at one client or at several).
    Ambiguous,
}

stored_words!(ContactMatchState {
    Matched => "matched",
    NoMatch => "no_match",
    Ambiguous => "ambiguous",
});

/// Which rule made a match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchRule {
    /// Exactly one active contact has the end user's verified email.
    Email,
    /// A technician chose the contact.
    Technician,
}

stored_words!(MatchRule { Email => "email", Technician => "technician" });

/// An end user's contact match as stored. Contacts are kept as the PSA
/// layer's JSON, so the store does not depend on the PSA's types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactMatchRow {
    pub workspace_id: WorkspaceId,
    pub end_user_id: EndUserId,
    pub state: ContactMatchState,
    /// The matched contact, as JSON; `None` unless matched.
    pub contact: Option<String>,
    pub rule: Option<MatchRule>,
    /// Who chose the contact, in words, for a technician's match.
    pub chosen_by: Option<String>,
    /// The contact is a client's catch-all (Halo's General User), so not
    /// every ticket of that contact is this end user's.
    pub catch_all: bool,
    pub matched_at: Option<Millis>,
    /// When the PSA was last asked (or the technician chose).
    pub checked_at: Millis,
    /// The contacts the email found, as a JSON array (for the queue).
    pub candidates: String,
}

/// Which way a PSA note went: written by Parley, or brought into a chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteDirection {
    Out,
    In,
}

stored_words!(NoteDirection { Out => "out", In => "in" });

/// The PSA webhook's secret as stored: only sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredWebhookSecret {
    pub workspace_id: WorkspaceId,
    pub secret_sealed: String,
    pub created_at: Millis,
    /// When an admin was shown it; a secret is shown once.
    pub revealed_at: Option<Millis>,
    /// When a delivery with it last arrived (to the minute).
    pub last_received_at: Option<Millis>,
}

impl fmt::Debug for StoredWebhookSecret {
    // Even sealed, the secret stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredWebhookSecret")
            .field("workspace_id", &self.workspace_id)
            .field("created_at", &self.created_at)
            .field("revealed_at", &self.revealed_at)
            .field("last_received_at", &self.last_received_at)
            .finish_non_exhaustive()
    }
}

/// What became of a conditional change of a link's ticket status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusMove {
    /// The status moved on, with the system message that says so, if one
    /// was given.
    Moved(Option<Message>),
    /// The stored status was no longer the one expected: someone else (the
    /// webhook or the poller, here or on another instance) moved it first.
    Stale,
}
