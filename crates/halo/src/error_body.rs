//! Reading the human message out of a Halo error body, whatever its shape.
//!
//! Halo answers errors in several forms (evidence file, section 4): a
//! model-state dictionary keyed by field path (`{"[0].id": ["..."]}`), a bare
//! JSON string, `{"ClassName", "Message"}`, `{"resultCode", "errorMessage"}`,
//! an OAuth `{"error", "error_description"}`, plain text, or nothing at all.

use serde_json::{Map, Value};

/// Longest message kept from a body, so an HTML error page or a stack trace
/// cannot flood a log line or the doctor's report.
const MAX_MESSAGE_CHARS: usize = 300;

/// The OAuth error code and description of a token-endpoint error body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct OAuthError {
    pub code: Option<String>,
    pub description: Option<String>,
}

/// Reads `{"error": "...", "error_description": "..."}`.
pub(crate) fn oauth_error(body: &[u8]) -> OAuthError {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(body) else {
        return OAuthError::default();
    };

    OAuthError {
        code: field_text(&object, "error"),
        description: field_text(&object, "error_description"),
    }
}

/// The message a person should read from an error body, or `None` when the
/// body says nothing useful (empty, an HTML page).
pub(crate) fn message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }

    let message = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object_message(&object),
        Ok(Value::String(s)) => Some(s),
        Ok(Value::Array(items)) => {
            let parts: Vec<String> = items.iter().filter_map(value_text).collect();
            (!parts.is_empty()).then(|| parts.join("; "))
        }
        Ok(_) => None,
        Err(_) if looks_like_html(text) => None,
        Err(_) => Some(text.to_owned()),
    };

    message
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .map(truncate)
}

fn object_message(object: &Map<String, Value>) -> Option<String> {
    // The shapes are checked in the order HaloAPI's own error parser uses.
    for key in [
        "errorMessage",
        "Message",
        "message",
        "error_description",
        "error",
    ] {
        if let Some(text) = field_text(object, key) {
            return Some(text);
        }
    }

    // A model-state dictionary: every field path with its complaints.
    let parts: Vec<String> = object
        .iter()
        .filter_map(|(field, value)| {
            let complaint = value_text(value)?;
            Some(if field.is_empty() {
                complaint
            } else {
                format!("{field}: {complaint}")
            })
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// A field's text, matching the key case-insensitively.
fn field_text(object: &Map<String, Value>, key: &str) -> Option<String> {
    object
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .and_then(|(_, value)| value_text(value))
}

fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(value_text).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        Value::Object(object) => object_message(object),
        _ => None,
    }
}

fn looks_like_html(text: &str) -> bool {
    let start = text.get(..15).unwrap_or(text).to_ascii_lowercase();
    start.starts_with("<!doctype") || start.starts_with("<html") || start.starts_with("<?xml")
}

fn truncate(message: String) -> String {
    if message.chars().count() <= MAX_MESSAGE_CHARS {
        return message;
    }
    let cut: String = message.chars().take(MAX_MESSAGE_CHARS).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Option<String> {
        message(body.as_bytes())
    }

    #[test]
    fn a_model_state_dictionary_lists_each_field() {
        assert_eq!(
            read(r#"{"[0].id":["The value 'x' is not valid."],"[0].summary":["Required"]}"#),
            Some("[0].id: The value 'x' is not valid.; [0].summary: Required".into())
        );
    }

    #[test]
    fn a_plain_json_string_is_the_message() {
        assert_eq!(
            read(r#""CODE:APP03/2 Please select the CAB members to approve""#),
            Some("CODE:APP03/2 Please select the CAB members to approve".into())
        );
    }

    #[test]
    fn class_name_and_message_gives_the_message() {
        assert_eq!(
            read(r#"{"ClassName":"System.Exception","Message":"Ticket type requires a site"}"#),
            Some("Ticket type requires a site".into())
        );
    }

    #[test]
    fn result_code_and_error_message_gives_the_error_message() {
        assert_eq!(
            read(r#"{"resultCode":2,"errorMessage":"Outcome not found"}"#),
            Some("Outcome not found".into())
        );
    }

    #[test]
    fn an_error_field_is_the_message_preferring_its_description() {
        assert_eq!(
            read(r#"{"error":"Rate Limit Reached - 300 Requests per rolling 5 minute window"}"#),
            Some("Rate Limit Reached - 300 Requests per rolling 5 minute window".into())
        );
        assert_eq!(
            read(r#"{"error":"invalid_client","error_description":"Unknown client"}"#),
            Some("Unknown client".into())
        );
    }

    #[test]
    fn plain_text_is_kept_and_html_or_nothing_is_not() {
        assert_eq!(
            read("Bad request: no ticket_id"),
            Some("Bad request: no ticket_id".into())
        );
        assert_eq!(read("<!DOCTYPE html><html><body>Error</body></html>"), None);
        assert_eq!(read("<html><body>502</body></html>"), None);
        assert_eq!(read(""), None);
        assert_eq!(read("  \n"), None);
        assert_eq!(read("{}"), None);
        assert_eq!(read("null"), None);
    }

    #[test]
    fn long_messages_are_cut() {
        let long = "x".repeat(1000);

        let message = read(&long).expect("kept");

        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(message.ends_with('…'));
    }

    #[test]
    fn oauth_errors_give_code_and_description() {
        let error = oauth_error(br#"{"error":"invalid_scope","error_description":"bad"}"#);

        assert_eq!(error.code.as_deref(), Some("invalid_scope"));
        assert_eq!(error.description.as_deref(), Some("bad"));
        assert_eq!(oauth_error(b"not json"), OAuthError::default());
    }
}
