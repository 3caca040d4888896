//! The PSA side of Parley: the connector an admin sets up, and the [`Psa`]
//! trait the chat core and the sync engine call. HaloPSA is the first
//! implementation; another PSA is a new implementation of the trait, not a
//! change to chat code.

/// The connector: form, test, sealed save, audit.
pub mod connector;
/// Matching end users to PSA contacts: rules, the "needs a contact" queue.
pub mod contacts;
/// HaloPSA as a [`Psa`].
pub mod halo;
/// The PSA as connected right now, following the saved connector.
pub mod live;

pub use connector::{ConnectorError, ConnectorForm, ConnectorView, Connectors, TicketDefaults};
pub use contacts::{
    ContactMatch, Contacts, ContactsConfig, ContactsError, EndUserMatchView, MatchRule, MatchState,
    NeedsContact, NeedsReason, QueueEntry,
};
pub use halo::{HaloPsa, HaloSettings};
pub use live::LivePsa;

use async_trait::async_trait;

/// What went wrong talking to the PSA, in the cases the sync engine treats
/// differently.
#[derive(Debug, thiserror::Error)]
pub enum PsaError {
    /// Worth retrying later: rate limited, the PSA is down or slow, or the
    /// connection failed. `maybe_sent` is true when the request may have
    /// reached the PSA (a timeout after sending), so a retried write must
    /// first look for what it may have done.
    #[error("{message}")]
    Transient { message: String, maybe_sent: bool },

    /// Retrying the same request will not help (refused as invalid, missing
    /// permission, wrong credentials); an admin has to act.
    #[error("{0}")]
    Permanent(String),

    #[error("{0} not found in the PSA")]
    NotFound(String),

    /// No connector is saved, or its secret cannot be opened.
    #[error("{0}")]
    NotConfigured(String),
}

pub type PsaResult<T> = Result<T, PsaError>;

/// A person at a client company, as the PSA knows them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Contact {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub client_id: i64,
    pub client_name: String,
    pub site_id: Option<i64>,
    pub site_name: Option<String>,
}

/// A ticket as Parley shows and links it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PsaTicket {
    pub id: i64,
    pub summary: String,
    pub status_id: Option<i64>,
    pub status_name: Option<String>,
    pub closed: bool,
    pub contact_id: Option<i64>,
    pub client_id: Option<i64>,
    /// When it last changed, RFC 3339.
    pub updated_at: Option<String>,
}

/// A note on a ticket. `visible_to_user` is false for private notes, which
/// never reach an end user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PsaNote {
    pub id: i64,
    pub ticket_id: i64,
    pub text: String,
    pub author: String,
    /// Written by an agent (a technician), as opposed to the end user or the
    /// application itself.
    pub by_agent: bool,
    pub visible_to_user: bool,
    pub created_at: Option<String>,
}

/// What a new ticket from a chat carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPsaTicket {
    pub summary: String,
    /// The transcript so far, as plain text.
    pub details: String,
    pub contact: Contact,
    pub defaults: TicketDefaults,
    /// A text Parley puts in the ticket so that a retried creation can find
    /// the ticket an earlier attempt made.
    pub marker: String,
}

/// A note to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPsaNote {
    pub ticket_id: i64,
    pub text: String,
    /// Who wrote it, named in the note (technician replies name the technician).
    pub author: String,
    pub visible_to_user: bool,
}

/// A file to attach to a ticket, and to one of its notes when given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPsaFile {
    pub ticket_id: i64,
    pub note_id: Option<i64>,
    pub file_name: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// A file on a ticket, as the PSA lists it. `visible_to_user` is false for a
/// file on a private note, which never reaches an end user.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PsaFile {
    pub id: i64,
    pub ticket_id: i64,
    /// The note it is attached to, if any.
    pub note_id: Option<i64>,
    pub file_name: String,
    pub content_type: Option<String>,
    /// Size in bytes, as the PSA says.
    pub size: i64,
    pub visible_to_user: bool,
    /// When it was added, RFC 3339.
    pub created_at: Option<String>,
}

/// Changes on the PSA's side since a cursor, for the poller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    pub tickets: Vec<PsaTicket>,
    /// Where the next poll starts (opaque to callers).
    pub cursor: String,
}

/// Everything the chat core and the sync engine ask of a PSA.
#[async_trait]
pub trait Psa: Send + Sync + std::fmt::Debug {
    /// Active contacts whose email is exactly this one (case-insensitive).
    async fn contacts_by_email(&self, email: &str) -> PsaResult<Vec<Contact>>;

    /// Contacts matching a search text, for a technician picking one.
    async fn search_contacts(&self, text: &str) -> PsaResult<Vec<Contact>>;

    /// An active contact by id; an inactive one is [`PsaError::NotFound`],
    /// so that no path (a technician's pick included) links one.
    async fn contact(&self, id: i64) -> PsaResult<Contact>;

    /// The client's catch-all contact (Halo's "General User"), for a chat
    /// from someone the PSA does not know; `None` when the client has none.
    /// A PSA without such a contact keeps this default.
    async fn catch_all_contact(&self, client_id: i64) -> PsaResult<Option<Contact>> {
        let _ = client_id;
        Ok(None)
    }

    /// A contact's tickets, open or closed.
    async fn contact_tickets(&self, contact_id: i64, open: bool) -> PsaResult<Vec<PsaTicket>>;

    /// One ticket with its notes the end user may see (never private ones).
    async fn ticket_with_visible_notes(&self, id: i64) -> PsaResult<(PsaTicket, Vec<PsaNote>)>;

    async fn create_ticket(&self, ticket: &NewPsaTicket) -> PsaResult<PsaTicket>;

    /// The defaults the admin chose for chat tickets; a PSA without any
    /// keeps this default.
    async fn ticket_defaults(&self) -> PsaResult<TicketDefaults> {
        Ok(TicketDefaults::default())
    }

    /// The ticket an earlier creation with this marker made, if any.
    async fn find_ticket_by_marker(&self, marker: &str) -> PsaResult<Option<PsaTicket>>;

    /// Adds a note; `outcome_id` picks the PSA's note type, `None` the
    /// connector's default for a visible or a private note.
    async fn add_note(&self, note: &NewPsaNote, outcome_id: Option<i64>) -> PsaResult<PsaNote>;

    /// The ticket's notes, private ones included: for finding a note an
    /// earlier attempt may have written, and for the poller.
    async fn notes(&self, ticket_id: i64) -> PsaResult<Vec<PsaNote>>;

    async fn add_file(&self, file: &NewPsaFile) -> PsaResult<i64>;

    /// The ticket's files, those on private notes included (marked not
    /// visible). A PSA that cannot list files keeps this default.
    async fn files(&self, ticket_id: i64) -> PsaResult<Vec<PsaFile>> {
        let _ = ticket_id;
        Ok(Vec::new())
    }

    /// A file's contents: (file name, content type, bytes).
    async fn download_file(&self, id: i64) -> PsaResult<(String, String, Vec<u8>)> {
        Err(PsaError::NotFound(format!("file {id}")))
    }

    async fn change_status(&self, ticket_id: i64, status_id: i64) -> PsaResult<PsaTicket>;

    /// Tickets changed since the cursor (`None` for "from now").
    async fn changes_since(&self, cursor: Option<&str>) -> PsaResult<Changes>;
}
