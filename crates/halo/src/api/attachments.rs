//! `/api/Attachment`: upload (base64 in JSON), list, and download (raw bytes,
//! the file name in `Content-Disposition`).

use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};

use crate::client::Request;
use crate::model::{Attachment, AttachmentFile, ListResponse, NewAttachment};
use crate::{HaloClient, HaloError};

impl HaloClient {
    /// Uploads a file, to a ticket (and action) if the upload names them.
    /// Never retried.
    pub async fn upload_attachment(
        &self,
        attachment: &NewAttachment,
    ) -> Result<Attachment, HaloError> {
        self.post_one("Attachment", attachment).await
    }

    /// The attachments of a ticket, or of one of its actions.
    pub async fn list_attachments(
        &self,
        ticket_id: i64,
        action_id: Option<i64>,
    ) -> Result<Vec<Attachment>, HaloError> {
        let request = Request::get("Attachment")
            .query("ticket_id", ticket_id)
            .query_opt("action_id", action_id);

        let list: ListResponse<Attachment> = self.get_json(request).await?;
        Ok(list.into_items())
    }

    /// Downloads an attachment's contents.
    pub async fn download_attachment(&self, id: i64) -> Result<AttachmentFile, HaloError> {
        let reply = self.send(&Request::get(format!("Attachment/{id}"))).await?;

        let header = |name| {
            reply
                .headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        Ok(AttachmentFile {
            filename: header(CONTENT_DISPOSITION).and_then(|value| disposition_filename(&value)),
            content_type: header(CONTENT_TYPE),
            bytes: reply.body,
        })
    }
}

/// The file name of a `Content-Disposition` value, preferring the RFC 5987
/// `filename*=UTF-8''...` form. Any directory part is dropped, so the name is
/// safe to use as a file name.
fn disposition_filename(value: &str) -> Option<String> {
    let params = parameters(value);
    let find = |key: &str| {
        params
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value.as_str())
    };

    let name = find("filename*")
        .and_then(|extended| {
            // charset'language'percent-encoded
            let encoded = extended.splitn(3, '\'').nth(2)?;
            Some(percent_decode(encoded))
        })
        .or_else(|| find("filename").map(str::to_owned))?;

    let base = name.rsplit(['/', '\\']).next().unwrap_or_default().trim();
    (!base.is_empty() && base != "." && base != "..").then(|| base.to_owned())
}

/// `key=value` parameters after the disposition type, quotes and escapes
/// undone; a `;` inside quotes does not split.
fn parameters(value: &str) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;

    for c in value.chars() {
        match c {
            _ if escaped => {
                current.push(c);
                escaped = false;
            }
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    parts.push(current);

    parts
        .iter()
        .skip(1)
        .filter_map(|part| {
            let (key, value) = part.split_once('=')?;
            Some((key.trim().to_owned(), value.trim().to_owned()))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;

    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_read_in_every_form() {
        let cases = [
            ("attachment; filename=report.pdf", "report.pdf"),
            ("attachment; filename=\"my report.pdf\"", "my report.pdf"),
            (
                "attachment; filename=\"a;b \\\"c\\\".txt\"",
                "a;b \"c\".txt",
            ),
            ("inline; FILENAME=\"x.png\"", "x.png"),
            (
                "attachment; filename=\"fallback.txt\"; filename*=UTF-8''na%C3%AFve%20file.txt",
                "naïve file.txt",
            ),
            ("attachment; filename*=utf-8'en'%E2%82%AC.txt", "€.txt"),
        ];

        for (header, expected) in cases {
            assert_eq!(
                disposition_filename(header).as_deref(),
                Some(expected),
                "{header}"
            );
        }
    }

    #[test]
    fn directory_parts_are_dropped() {
        assert_eq!(
            disposition_filename("attachment; filename=\"../../etc/passwd\"").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            disposition_filename("attachment; filename=C:\\temp\\x.txt").as_deref(),
            Some("x.txt")
        );
    }

    #[test]
    fn no_usable_name_is_none() {
        assert_eq!(disposition_filename("attachment"), None);
        assert_eq!(disposition_filename("attachment; filename=\"\""), None);
        assert_eq!(disposition_filename("attachment; filename=\"..\""), None);
    }
}
