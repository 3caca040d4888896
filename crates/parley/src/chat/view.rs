//! What clients see of conversations and messages: the JSON shapes of the API
//! and the WebSocket (see `docs/client-protocol.md`).

use crate::chat::names::TechnicianMap;
use crate::chat::text;
use crate::store::{
    Account, AuthorKind, Conversation, ConversationStatus, EndUser, Message, MessageKind, Millis,
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PersonView {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct EndUserView {
    pub id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConversationView {
    pub id: i64,
    pub subject: String,
    pub status: ConversationStatus,
    pub end_user: EndUserView,
    pub technician: Option<PersonView>,
    pub created_at: String,
    pub updated_at: String,
    pub last_message_id: Option<i64>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct AuthorView {
    pub kind: AuthorKind,
    pub id: Option<i64>,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AttachmentView {
    pub id: i64,
    pub file_name: String,
    pub content_type: String,
    pub size: i64,
    pub url: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct MessageView {
    pub id: i64,
    pub conversation_id: i64,
    pub kind: MessageKind,
    pub author: AuthorView,
    pub body: String,
    pub body_html: String,
    pub attachment: Option<AttachmentView>,
    pub created_at: String,
}

impl MessageView {
    /// Whether an end user may see this message: never an internal note.
    pub fn visible_to_end_users(&self) -> bool {
        self.kind != MessageKind::Note
    }
}

/// RFC 3339 in UTC with milliseconds, as every time in the API is written.
pub fn time(millis: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The names a view needs, looked up once for a batch of messages.
#[derive(Debug, Default)]
pub struct Names {
    technicians: TechnicianMap,
    end_users: HashMap<i64, String>,
}

impl Names {
    pub fn new(technicians: &[Account], end_users: &[&EndUser]) -> Self {
        let technicians = technicians
            .iter()
            .map(|account| (account.id, account.name.clone()))
            .collect();
        Self::with_technicians(Arc::new(technicians), end_users)
    }

    /// Names from technicians' names already at hand (the chat's cache).
    pub fn with_technicians(technicians: TechnicianMap, end_users: &[&EndUser]) -> Self {
        Self {
            technicians,
            end_users: end_users
                .iter()
                .map(|user| (user.id, user.name.clone()))
                .collect(),
        }
    }

    pub fn technician(&self, id: i64) -> String {
        self.technicians
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "A technician".to_owned())
    }

    fn end_user(&self, id: i64) -> String {
        self.end_users
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "The user".to_owned())
    }

    pub fn conversation(
        &self,
        conversation: &Conversation,
        end_user: &EndUser,
    ) -> ConversationView {
        ConversationView {
            id: conversation.id,
            subject: conversation.subject.clone(),
            status: conversation.status,
            end_user: EndUserView {
                id: end_user.id,
                name: end_user.name.clone(),
                email: end_user.email.clone(),
            },
            technician: conversation.technician_id.map(|id| PersonView {
                id,
                name: self.technician(id),
            }),
            created_at: time(conversation.created_at),
            updated_at: time(conversation.updated_at),
            last_message_id: conversation.last_message_id,
        }
    }

    pub fn message(&self, message: &Message) -> MessageView {
        let name = match (message.author_kind, message.author_id, &message.author_name) {
            (AuthorKind::Technician, Some(id), _) => self.technician(id),
            (AuthorKind::EndUser, Some(id), _) => self.end_user(id),
            // An agent writing in the PSA, or the PSA itself.
            (_, None, Some(name)) => name.clone(),
            _ => "Parley".to_owned(),
        };
        MessageView {
            id: message.id,
            conversation_id: message.conversation_id,
            kind: message.kind,
            author: AuthorView {
                kind: message.author_kind,
                id: message.author_id,
                name,
            },
            body: message.body.clone(),
            body_html: text::render(&message.body),
            attachment: message.attachment.as_ref().map(|info| AttachmentView {
                id: info.id,
                file_name: info.file_name.clone(),
                content_type: info.content_type.clone(),
                size: info.size,
                url: format!("/api/v1/attachments/{}", info.id),
            }),
            created_at: time(message.created_at),
        }
    }
}

/// How a message stands with the PSA, as technicians see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SyncView {
    pub message_id: i64,
    pub job_id: i64,
    /// `pending`, `synced` or `failed`.
    pub state: &'static str,
    /// The PSA's id for the note, once synced.
    pub note_id: Option<i64>,
    /// Why it has not gone through yet (the last error), when it failed or is
    /// being retried.
    pub error: Option<String>,
}

impl From<&crate::store::MessageSync> for SyncView {
    fn from(sync: &crate::store::MessageSync) -> Self {
        use crate::store::JobState;

        let state = match sync.state {
            JobState::Pending | JobState::Running => "pending",
            JobState::Done => "synced",
            JobState::Failed => "failed",
        };
        let note_id = sync
            .result
            .as_deref()
            .and_then(|result| serde_json::from_str::<serde_json::Value>(result).ok())
            .and_then(|result| result["note_id"].as_i64());
        SyncView {
            message_id: sync.message_id,
            job_id: sync.job_id,
            state,
            note_id,
            error: sync.last_error.clone(),
        }
    }
}
