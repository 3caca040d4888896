//! Turning what came back (an HTTP answer or a transport failure) into either
//! a decoded value or a [`HaloError`] that names the cause.

use std::error::Error as _;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use serde::de::DeserializeOwned;

use crate::error_body::{self, OAuthError};
use crate::{HaloError, Permission};

/// Which kind of endpoint answered, since the token endpoint speaks OAuth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Api,
    Token,
}

/// An HTTP answer, read in full.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Replaces each secret found in `text` by `[redacted]`, in case Halo echoes
/// one back in an error message.
pub(crate) fn scrub(mut text: String, secrets: &[&str]) -> String {
    for secret in secrets {
        // Very short values would match ordinary words; real secrets are long.
        if secret.len() >= 6 && text.contains(secret) {
            text = text.replace(secret, "[redacted]");
        }
    }
    text
}

/// The error for a non-success answer to `call` (e.g. `GET Tickets/12`).
pub(crate) fn status_error(
    endpoint: Endpoint,
    call: &str,
    resource: &str,
    scopes: &str,
    reply: &Reply,
    secrets: &[&str],
) -> HaloError {
    let status = reply.status.as_u16();
    let message = error_body::message(&reply.body).map(|m| scrub(m, secrets));

    if endpoint == Endpoint::Token && matches!(status, 400 | 401) {
        let OAuthError { code, description } = error_body::oauth_error(&reply.body);
        let description = description.map(|d| scrub(d, secrets));
        return match code.as_deref() {
            Some("invalid_client") => HaloError::InvalidClient { description },
            Some("invalid_scope") => HaloError::InvalidScope {
                scopes: scopes.to_owned(),
                description,
            },
            // Halo's documented answer to a wrong id or secret is a bare 401.
            None if status == 401 => HaloError::InvalidClient { description },
            _ => HaloError::TokenRefused {
                status,
                code,
                description,
            },
        };
    }

    let call = call.to_owned();
    match status {
        400 | 422 => HaloError::Validation {
            call,
            status,
            message: message.unwrap_or_else(|| "Halo gave no details".to_owned()),
        },
        401 => HaloError::Unauthorized { call },
        403 => {
            let method = call.split_whitespace().next().unwrap_or("GET");
            HaloError::PermissionDenied {
                permission: Permission::required_for(method, resource),
                call,
            }
        }
        404 => HaloError::NotFound { call, message },
        429 => HaloError::RateLimited {
            retry_after: retry_after(&reply.headers),
            message,
        },
        300..=399 => HaloError::Redirect {
            call,
            status,
            location: reply
                .headers
                .get(LOCATION)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        },
        500..=599 => HaloError::Server {
            call,
            status,
            message,
        },
        _ => HaloError::UnexpectedStatus {
            call,
            status,
            message,
        },
    }
}

/// `Retry-After` as seconds or as an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();

    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The error for a request that got no (complete) answer.
pub(crate) fn transport_error(
    error: &reqwest::Error,
    call: &str,
    host: &str,
    timeout: Duration,
) -> HaloError {
    let reason = innermost_reason(error);

    if error.is_timeout() {
        HaloError::Timeout {
            call: call.to_owned(),
            after: timeout,
        }
    } else if is_tls_failure(error) {
        HaloError::Tls {
            host: host.to_owned(),
            reason,
        }
    } else if error.is_connect() {
        HaloError::Connect {
            host: host.to_owned(),
            reason,
        }
    } else {
        HaloError::Transport {
            call: call.to_owned(),
            reason,
        }
    }
}

/// The most specific cause in the chain ("Connection refused (os error 111)"),
/// which, unlike reqwest's own message, never contains the URL.
fn innermost_reason(error: &reqwest::Error) -> String {
    let mut reason = match error.url() {
        Some(url) => error.to_string().replace(&format!(" ({url})"), ""),
        None => error.to_string(),
    };
    let mut source = error.source();
    while let Some(cause) = source {
        reason = cause.to_string();
        source = cause.source();
    }
    reason
}

/// Whether rustls failed the handshake. rustls errors travel inside (possibly
/// nested) `io::Error`s, whose `source()` skips them, hence the `get_ref` walk.
fn is_tls_failure(error: &reqwest::Error) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if cause.is::<rustls::Error>() {
            return true;
        }
        let mut wrapped = cause.downcast_ref::<std::io::Error>();
        while let Some(inner) = wrapped.and_then(std::io::Error::get_ref) {
            if inner.is::<rustls::Error>() {
                return true;
            }
            wrapped = inner.downcast_ref::<std::io::Error>();
        }
        source = cause.source();
    }
    false
}

/// Decodes a JSON answer, naming the field path on failure. An empty body reads
/// as `null`.
pub(crate) fn decode<T: DeserializeOwned>(call: &str, body: &[u8]) -> Result<T, HaloError> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"null"
    } else {
        body
    };

    let mut deserializer = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| HaloError::Decode {
        call: call.to_owned(),
        path: error.path().to_string(),
        reason: error.inner().to_string(),
    })
}

/// Decodes the answer to a one-element POST: Halo returns the single object,
/// but an array holding it is accepted too.
pub(crate) fn decode_one<T: DeserializeOwned>(call: &str, body: &[u8]) -> Result<T, HaloError> {
    let is_array = body
        .iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|byte| *byte == b'[');
    if !is_array {
        return decode(call, body);
    }

    decode::<Vec<T>>(call, body)?
        .into_iter()
        .next()
        .ok_or_else(|| HaloError::Decode {
            call: call.to_owned(),
            path: ".".to_owned(),
            reason: "Halo answered with an empty list instead of the saved record".to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status: StatusCode::from_u16(status).expect("valid status"),
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn api_error(status: u16, body: &str) -> HaloError {
        status_error(
            Endpoint::Api,
            "GET Users",
            "Users",
            "",
            &reply(status, body),
            &[],
        )
    }

    #[test]
    fn statuses_map_to_causes() {
        assert!(matches!(
            api_error(400, "\"bad\""),
            HaloError::Validation { .. }
        ));
        assert!(matches!(api_error(401, ""), HaloError::Unauthorized { .. }));
        assert!(matches!(api_error(404, ""), HaloError::NotFound { .. }));
        assert!(matches!(api_error(429, ""), HaloError::RateLimited { .. }));
        assert!(matches!(
            api_error(503, ""),
            HaloError::Server { status: 503, .. }
        ));
        assert!(matches!(api_error(302, ""), HaloError::Redirect { .. }));
        assert!(matches!(
            api_error(418, ""),
            HaloError::UnexpectedStatus { .. }
        ));
    }

    #[test]
    fn a_403_names_the_permission_of_the_method_and_resource() {
        let read = api_error(403, "");
        let write = status_error(
            Endpoint::Api,
            "POST Tickets",
            "Tickets",
            "",
            &reply(403, ""),
            &[],
        );

        assert_eq!(read.permission(), Some(Permission::ReadCrm));
        assert_eq!(write.permission(), Some(Permission::EditTickets));
    }

    #[test]
    fn a_validation_message_keeps_halos_words() {
        let error = api_error(400, r#"{"[0].outcome":["The outcome field is required."]}"#);

        assert_eq!(
            error.to_string(),
            "Halo rejected GET Users as invalid (HTTP 400): [0].outcome: The outcome field is \
             required."
        );
    }

    #[test]
    fn token_errors_speak_oauth() {
        let token_error = |status, body| {
            status_error(
                Endpoint::Token,
                "POST auth/token",
                "",
                "read:x",
                &reply(status, body),
                &[],
            )
        };

        assert!(matches!(
            token_error(401, r#"{"error":"invalid_client"}"#),
            HaloError::InvalidClient { .. }
        ));
        assert!(matches!(
            token_error(401, ""),
            HaloError::InvalidClient { .. }
        ));
        assert!(matches!(
            token_error(400, r#"{"error":"invalid_scope"}"#),
            HaloError::InvalidScope { ref scopes, .. } if scopes == "read:x"
        ));
        assert!(matches!(
            token_error(400, r#"{"error":"unsupported_grant_type"}"#),
            HaloError::TokenRefused { status: 400, .. }
        ));
        assert!(matches!(token_error(500, ""), HaloError::Server { .. }));
    }

    #[test]
    fn secrets_echoed_by_halo_are_scrubbed_from_errors() {
        let error = status_error(
            Endpoint::Api,
            "POST Actions",
            "Actions",
            "",
            &reply(400, r#"{"Message":"bad value s3cr3t-value-123 here"}"#),
            &["s3cr3t-value-123"],
        );

        let message = error.to_string();
        assert!(!message.contains("s3cr3t-value-123"), "{message}");
        assert!(message.contains("bad value [redacted] here"), "{message}");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));

        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(
            retry_after(&headers),
            Some(Duration::ZERO),
            "a past date means now"
        );

        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn a_decode_failure_names_the_field_path() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)] // Only the failure is under test.
        struct Outer {
            inner: Vec<Inner>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)] // Only the failure is under test.
        struct Inner {
            id: i64,
        }

        let error = decode::<Outer>("GET Things", br#"{"inner":[{"id":1},{"id":"x"}]}"#)
            .expect_err("bad id");

        match error {
            HaloError::Decode { path, call, .. } => {
                assert_eq!(path, "inner[1].id");
                assert_eq!(call, "GET Things");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_post_answer_may_be_an_object_or_an_array() {
        #[derive(Debug, serde::Deserialize, PartialEq)]
        struct Saved {
            id: i64,
        }

        assert_eq!(
            decode_one::<Saved>("POST X", br#"{"id":5}"#).expect("object"),
            Saved { id: 5 }
        );
        assert_eq!(
            decode_one::<Saved>("POST X", b" [{\"id\":6}]").expect("array"),
            Saved { id: 6 }
        );
        assert!(decode_one::<Saved>("POST X", b"[]").is_err());
    }
}
