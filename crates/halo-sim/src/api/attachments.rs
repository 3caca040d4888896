//! `/api/Attachment`: list a ticket's files, upload (base64 or data URI),
//! download the raw bytes, delete.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ApiError, created, record_id, refused};
use crate::auth::Grant;
use crate::quirks::body::{self, Element};
use crate::quirks::paging::{self, Window};
use crate::quirks::query::HaloQuery;
use crate::shape::attachment;
use crate::state::Sim;
use crate::store::Attachment;
use crate::store::attachments::AttachmentDraft;

/// `GET /api/Attachment?ticket_id=N[&action_id=M]`. Halo's attachment view
/// model always carries `page_no`, `page_size` and `ticket_id` (0 when unset);
/// `action_id` only counts together with `ticket_id`, and a list without
/// `ticket_id` is empty.
pub async fn list(State(sim): State<Sim>, query: HaloQuery) -> Json<Value> {
    let ticket_id = query.int("ticket_id").filter(|id| *id > 0);
    let action_id = query.int("action_id").filter(|id| *id > 0);
    let window = Window::from_query(&query);

    let mut wrapper = sim.read(|store| {
        let found: Vec<&Attachment> = match ticket_id {
            Some(ticket_id) => store
                .attachments
                .values()
                .filter(|file| file.ticket_id == ticket_id)
                .filter(|file| action_id.is_none_or(|id| file.action_id == id))
                .collect(),
            None => Vec::new(),
        };

        let total = found.len();
        let page = window
            .apply(found)
            .into_iter()
            .map(|file| attachment::listed(store, file))
            .collect();
        paging::wrap("attachments", total, page, window)
    });
    wrapper.entry("page_no").or_insert(json!(0));
    wrapper.entry("page_size").or_insert(json!(0));
    wrapper.insert("ticket_id".into(), json!(ticket_id.unwrap_or(0)));
    Json(Value::Object(wrapper))
}

/// `GET /api/Attachment/{id}`: the file itself, not JSON.
pub async fn download(
    State(sim): State<Sim>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let attachment_id = record_id(&id)?;
    let file = sim
        .read(|store| store.attachments.get(&attachment_id).cloned())
        .ok_or(ApiError::NotFound)?;

    let content_type = HeaderValue::from_str(&file.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let disposition = disposition(&file.filename);
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_DISPOSITION, disposition),
    ];
    Ok((headers, file.data.to_vec()).into_response())
}

/// `POST /api/Attachment`.
pub async fn save(
    State(sim): State<Sim>,
    Extension(grant): Extension<Grant>,
    query: HaloQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let objects = body::parse_array(&body)?;
    let drafts = body::read_all(&objects, read_draft)?;

    let saved = sim.write(|store| {
        let ids = store.save_attachments(drafts, grant.agent_id)?;
        Ok(ids
            .iter()
            .filter_map(|id| store.attachments.get(id))
            .map(|file| attachment::uploaded(store, file))
            .collect())
    });
    Ok(created(saved.map_err(refused)?, &query))
}

/// `DELETE /api/Attachment/{id}`.
pub async fn delete(
    State(sim): State<Sim>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let attachment_id = record_id(&id)?;
    sim.write(|store| {
        let removed = store
            .attachments
            .get(&attachment_id)
            .map(|file| attachment::listed(store, file))
            .ok_or(ApiError::NotFound)?;
        store.delete_attachment(attachment_id);
        Ok(Json(removed))
    })
}

/// `Content-Disposition` naming `filename`: a quoted ASCII `filename`, plus an
/// RFC 5987 `filename*` carrying the exact name when it is not plain ASCII.
fn disposition(filename: &str) -> HeaderValue {
    let plain = |c: char| (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\';
    let ascii: String = filename
        .chars()
        .map(|c| if plain(c) { c } else { '_' })
        .collect();
    let mut value = format!("attachment; filename=\"{ascii}\"");
    if !filename.chars().all(plain) {
        value.push_str("; filename*=UTF-8''");
        value.push_str(&percent_encode(filename));
    }

    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

fn read_draft(element: &mut Element<'_>) -> AttachmentDraft {
    AttachmentDraft {
        id: element.int("id"),
        ticket_id: element.int("ticket_id"),
        action_id: element.int("action_id"),
        filename: element.text("filename"),
        data_base64: element.text("data_base64"),
        content_type: element.text("content_type"),
        isimage: element.flag("isimage"),
        note: element.text("note"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_names_are_quoted_as_they_are() {
        assert_eq!(
            disposition("screen shot.png"),
            "attachment; filename=\"screen shot.png\""
        );
    }

    #[test]
    fn other_names_also_travel_percent_encoded() {
        assert_eq!(
            disposition("résumé \"v2\".pdf"),
            "attachment; filename=\"r_sum_ _v2_.pdf\"; \
             filename*=UTF-8''r%C3%A9sum%C3%A9%20%22v2%22.pdf"
        );
    }
}
