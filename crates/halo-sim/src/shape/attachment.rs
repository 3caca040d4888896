//! Attachments, in the shape of the captured `POST /api/Attachment` response.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::merge;
use crate::quirks::dates;
use crate::store::{Attachment, Store};

/// An attachment as listed by `GET /api/Attachment` (no file content).
/// `showforusers` is false when it hangs on an action hidden from the user.
pub fn listed(store: &Store, attachment: &Attachment) -> Value {
    let hidden = store
        .ticket(attachment.ticket_id)
        .and_then(|ticket| ticket.action(attachment.action_id))
        .is_some_and(|action| action.hiddenfromuser);
    let linked = attachment.ticket_id > 0;

    json!({
        "id": attachment.id,
        "filename": attachment.filename,
        "datecreated": dates::utc7(attachment.created),
        "filesize": attachment.data.len(),
        "type": 0,
        "unique_id": 0,
        "desc": attachment.filename,
        "note": attachment.note,
        "isimage": attachment.isimage,
        "content_type": attachment.content_type,
        "ticket_id": attachment.ticket_id,
        "action_id": attachment.action_id,
        "showforusers": linked && !hidden,
        "guid": attachment.guid.to_string(),
    })
}

/// An attachment as the 201 of an upload returns it: the file content comes back
/// as plain base64 in `data`, and `user_id` is `-1` (uploaded by an agent).
pub fn uploaded(store: &Store, attachment: &Attachment) -> Value {
    let Value::Object(mut object) = listed(store, attachment) else {
        return Value::Null;
    };

    merge(
        &mut object,
        json!({
            "third_party_id": "",
            "data": STANDARD.encode(&attachment.data),
            "user_id": -1,
            "agent_id": attachment.agent_id,
            "showonchild": false,
            "showonrelated": false,
        }),
    );
    Value::Object(object)
}
