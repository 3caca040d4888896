//! Uploaded files. Halo takes them as base64 (`data_base64`), plain or as a
//! data URI (`data:text/plain;base64,...`); an upload may name a ticket and
//! action, or none and be linked later from a ticket create.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use chrono::Utc;
use uuid::Uuid;

use super::{Attachment, Change, Invalid, Refusals, Store, plan_then_apply};

/// What a client sent for one attachment; `None` means "not sent".
#[derive(Debug, Clone, Default)]
pub struct AttachmentDraft {
    pub id: Option<i64>,
    pub ticket_id: Option<i64>,
    pub action_id: Option<i64>,
    pub filename: Option<String>,
    pub data_base64: Option<String>,
    pub content_type: Option<String>,
    pub isimage: Option<bool>,
    pub note: Option<String>,
}

/// A checked attachment write.
#[derive(Debug)]
pub enum AttachmentPlan {
    Create(Box<Attachment>),
    Update {
        attachment_id: i64,
        draft: Box<AttachmentDraft>,
    },
}

impl Store {
    /// Uploads or edits every attachment in `drafts`, all or none; returns their ids.
    /// `agent_id` is the agent whose token uploads.
    pub fn save_attachments(
        &mut self,
        drafts: Vec<AttachmentDraft>,
        agent_id: i64,
    ) -> Result<Vec<i64>, Refusals> {
        plan_then_apply(
            self,
            drafts,
            |store, draft| store.plan_attachment(draft, agent_id),
            Store::apply_attachment,
        )
    }

    /// Removes an attachment.
    pub fn delete_attachment(&mut self, attachment_id: i64) -> Option<i64> {
        let attachment = self.attachments.remove(&attachment_id)?;
        Some(attachment.id)
    }

    /// How many attachments hang on a ticket, or on one of its actions.
    pub fn attachment_count(&self, ticket_id: i64, action_id: Option<i64>) -> usize {
        self.attachments
            .values()
            .filter(|attachment| attachment.ticket_id == ticket_id)
            .filter(|attachment| action_id.is_none_or(|id| attachment.action_id == id))
            .count()
    }

    fn plan_attachment(
        &self,
        draft: AttachmentDraft,
        agent_id: i64,
    ) -> Result<AttachmentPlan, Invalid> {
        let ticket_id = draft.ticket_id.filter(|id| *id > 0);
        let action_id = draft.action_id.filter(|id| *id > 0);
        if let Some(ticket_id) = ticket_id
            && self.ticket(ticket_id).is_none()
        {
            return Err(Invalid::new(
                "ticket_id",
                format!("Ticket {ticket_id} does not exist."),
            ));
        }
        if let Some(action_id) = action_id {
            let Some(ticket) = ticket_id.and_then(|id| self.ticket(id)) else {
                return Err(Invalid::new(
                    "action_id",
                    "An action_id requires a ticket_id.",
                ));
            };
            if ticket.action(action_id).is_none() {
                return Err(Invalid::new(
                    "action_id",
                    format!("Action {action_id} does not exist on ticket {}.", ticket.id),
                ));
            }
        }

        if let Some(attachment_id) = draft.id.filter(|id| *id > 0) {
            if !self.attachments.contains_key(&attachment_id) {
                return Err(Invalid::new(
                    "id",
                    format!("Attachment {attachment_id} does not exist."),
                ));
            }
            return Ok(AttachmentPlan::Update {
                attachment_id,
                draft: Box::new(draft),
            });
        }

        let filename = draft
            .filename
            .clone()
            .filter(|name| !name.trim().is_empty())
            .ok_or_else(|| Invalid::new("filename", "A filename is required."))?;
        let encoded = draft.data_base64.as_deref().ok_or_else(|| {
            Invalid::new("data_base64", "The file content (data_base64) is required.")
        })?;
        let (uri_type, data) = decode(encoded)?;
        let content_type = uri_type
            .or(draft.content_type.clone())
            .unwrap_or_else(|| content_type_of(&filename).to_owned());

        Ok(AttachmentPlan::Create(Box::new(Attachment {
            id: 0,
            ticket_id: ticket_id.unwrap_or(0),
            action_id: action_id.unwrap_or(0),
            isimage: draft
                .isimage
                .unwrap_or_else(|| content_type.starts_with("image/")),
            filename,
            content_type,
            note: draft.note.unwrap_or_default(),
            agent_id,
            guid: Uuid::new_v4(),
            created: Utc::now(),
            data: Arc::from(data),
        })))
    }

    fn apply_attachment(&mut self, plan: AttachmentPlan) -> i64 {
        match plan {
            AttachmentPlan::Create(mut attachment) => {
                let attachment_id = self.next_ids.attachment;
                self.next_ids.attachment += 1;
                attachment.id = attachment_id;
                self.touch_ticket_of(&attachment);
                self.attachments.insert(attachment_id, *attachment);
                attachment_id
            }
            AttachmentPlan::Update {
                attachment_id,
                draft,
            } => {
                let Some(attachment) = self.attachments.get_mut(&attachment_id) else {
                    return attachment_id;
                };
                if let Some(ticket_id) = draft.ticket_id {
                    attachment.ticket_id = ticket_id.max(0);
                }
                if let Some(action_id) = draft.action_id {
                    attachment.action_id = action_id.max(0);
                }
                if let Some(filename) = draft.filename.filter(|name| !name.trim().is_empty()) {
                    attachment.filename = filename;
                }
                if let Some(note) = draft.note {
                    attachment.note = note;
                }
                let attachment = attachment.clone();
                self.touch_ticket_of(&attachment);
                attachment_id
            }
        }
    }

    /// A file added to a ticket counts as a ticket update.
    fn touch_ticket_of(&mut self, attachment: &Attachment) {
        let ticket_id = attachment.ticket_id;
        if let Some(ticket) = self.ticket_mut(ticket_id) {
            ticket.last_update = attachment.created.max(ticket.last_update);
            self.record(Change::TicketUpdated { ticket_id });
        }
    }
}

/// Decodes plain base64 or a `data:<type>;base64,<payload>` URI, returning the
/// URI's content type if it had one.
fn decode(encoded: &str) -> Result<(Option<String>, Vec<u8>), Invalid> {
    let encoded = encoded.trim();
    let (content_type, payload) = match encoded.strip_prefix("data:") {
        Some(uri) => {
            let (meta, payload) = uri.split_once(',').ok_or_else(|| {
                Invalid::new("data_base64", "The data URI has no ',' before its data.")
            })?;
            let Some(content_type) = meta.strip_suffix(";base64") else {
                return Err(Invalid::new(
                    "data_base64",
                    "The data URI is not base64-encoded.",
                ));
            };
            let content_type = (!content_type.is_empty()).then(|| content_type.to_owned());
            (content_type, payload)
        }
        None => (None, encoded),
    };

    let compact: String = payload.chars().filter(|c| !c.is_whitespace()).collect();
    let data = STANDARD
        .decode(&compact)
        .or_else(|_| STANDARD_NO_PAD.decode(&compact))
        .map_err(|_| Invalid::new("data_base64", "The file content is not valid base64."))?;
    Ok((content_type, data))
}

/// A content type from a file name's extension, for uploads that carry none.
pub fn content_type_of(filename: &str) -> &'static str {
    let extension = filename
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "htm" | "html" => "text/html",
        "json" => "application/json",
        "pdf" => "application/pdf",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "zip" => "application/zip",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_base64_and_data_uris_both_decode() {
        assert_eq!(decode("aGk=").unwrap(), (None, b"hi".to_vec()));
        assert_eq!(
            decode("data:text/plain;base64,aGk=").unwrap(),
            (Some("text/plain".to_owned()), b"hi".to_vec())
        );
        assert_eq!(decode("aGk").unwrap().1, b"hi".to_vec());
    }

    #[test]
    fn broken_base64_names_the_field() {
        for broken in [
            "not base64!",
            "data:text/plain,hi",
            "data:text/plain;base64",
        ] {
            assert_eq!(decode(broken).unwrap_err().field, "data_base64", "{broken}");
        }
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type_of("short-text.txt"), "text/plain");
        assert_eq!(content_type_of("Screen.PNG"), "image/png");
        assert_eq!(content_type_of("noextension"), "application/octet-stream");
    }
}
