//! Attachments (`/api/Attachment`): files on a ticket or one of its actions.
//! Uploads travel as base64 in JSON; downloads come back as raw bytes.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Listed;
use crate::de;

/// An attachment record (not its contents).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Attachment {
    #[serde(deserialize_with = "de::id")]
    pub id: i64,
    #[serde(deserialize_with = "de::string")]
    pub filename: String,
    #[serde(deserialize_with = "de::opt_string")]
    pub content_type: Option<String>,
    /// Size in bytes.
    #[serde(deserialize_with = "de::int")]
    pub filesize: i64,
    #[serde(deserialize_with = "de::opt_datetime")]
    pub datecreated: Option<DateTime<Utc>>,
    /// The ticket it belongs to; 0 (not yet linked) reads as `None`.
    #[serde(deserialize_with = "de::opt_ref")]
    pub ticket_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub action_id: Option<i64>,
    /// The uploading end user; -1 (none) reads as `None`.
    #[serde(deserialize_with = "de::opt_ref")]
    pub user_id: Option<i64>,
    /// The uploading agent.
    #[serde(deserialize_with = "de::opt_ref")]
    pub agent_id: Option<i64>,
    #[serde(deserialize_with = "de::boolean")]
    pub isimage: bool,
    #[serde(deserialize_with = "de::opt_string")]
    pub desc: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub guid: Option<String>,
}

impl Listed for Attachment {
    const LIST_KEY: &'static str = "attachments";
}

/// The body of `POST /Attachment`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewAttachment {
    pub filename: String,
    /// The contents as a `data:` URI (`data:<type>;base64,<payload>`), the form a
    /// production integration sends to Halo cloud.
    pub data_base64: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<i64>,
    /// The action to attach to; Halo needs `ticket_id` with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action_id: Option<i64>,
    pub isimage: bool,
}

impl NewAttachment {
    /// A file to upload, not yet tied to a ticket.
    pub fn new(filename: impl Into<String>, content_type: &str, bytes: &[u8]) -> Self {
        let payload = base64::engine::general_purpose::STANDARD.encode(bytes);

        Self {
            filename: filename.into(),
            data_base64: format!("data:{content_type};base64,{payload}"),
            ticket_id: None,
            action_id: None,
            isimage: content_type.starts_with("image/"),
        }
    }

    /// Attaches the file to a ticket.
    pub fn for_ticket(mut self, ticket_id: i64) -> Self {
        self.ticket_id = Some(ticket_id);
        self
    }

    /// Attaches the file to an action of the ticket (set with [`Self::for_ticket`]).
    pub fn on_action(mut self, action_id: i64) -> Self {
        self.action_id = Some(action_id);
        self
    }
}

/// A downloaded attachment: its bytes and what the response said about them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentFile {
    /// The file name from `Content-Disposition`, when Halo sent one.
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upload_carries_a_data_uri_and_its_ticket() {
        let upload = NewAttachment::new("note.txt", "text/plain", b"hello")
            .for_ticket(7)
            .on_action(2);

        assert_eq!(upload.data_base64, "data:text/plain;base64,aGVsbG8=");
        assert_eq!((upload.ticket_id, upload.action_id), (Some(7), Some(2)));
        assert!(!upload.isimage);
        assert!(NewAttachment::new("a.png", "image/png", b"").isimage);
    }
}
