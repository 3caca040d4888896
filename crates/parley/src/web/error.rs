//! The one mapping from what went wrong to an HTTP answer.
//!
//! Every API failure becomes `{"error": {"code", "message"}}` with a status
//! that says the same. The message is safe to show; the detail of our own
//! faults goes to the log, once, and never to the client.

use crate::chat::ChatError;
use crate::psa::ConnectorError;
use crate::store::StoreError;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no valid session or token; the message says which.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: signed in, but not allowed (includes a failed CSRF check).
    #[error("{0}")]
    Forbidden(String),
    /// 404: missing, or not the caller's to see.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 400: the request itself is wrong; the message says how.
    #[error("{0}")]
    Invalid(String),
    /// 413: over a size limit.
    #[error("{0}")]
    TooLarge(String),
    /// 415: a file type that is not allowed.
    #[error("{0}")]
    UnsupportedType(String),
    /// 409: the state moved on.
    #[error("{0}")]
    Conflict(String),
    /// 429: too many attempts; retry after this many seconds.
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    /// 503: a set-up problem an admin must fix (a master key that cannot open
    /// a stored secret); the text names it and is safe to show.
    #[error("{0}")]
    Unavailable(String),
    /// 500: our own fault; the detail is logged, the client sees a generic text.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::UnsupportedType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_type")
            }
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    /// The text for the client: ours for faults, the error's own otherwise.
    pub fn public_message(&self) -> String {
        match self {
            ApiError::Internal(_) => {
                "Something went wrong on our side; it has been logged. Please try again.".to_owned()
            }
            other => other.to_string(),
        }
    }

    pub fn code(&self) -> &'static str {
        self.status_and_code().1
    }

    pub fn status(&self) -> StatusCode {
        self.status_and_code().0
    }
}

impl From<ChatError> for ApiError {
    fn from(error: ChatError) -> Self {
        match error {
            ChatError::NotFound(what) => ApiError::NotFound(what),
            ChatError::Forbidden(why) => ApiError::Forbidden(why.to_owned()),
            ChatError::Invalid(why) => ApiError::Invalid(why),
            ChatError::TooLarge(why) => ApiError::TooLarge(why),
            ChatError::UnsupportedType(why) => ApiError::UnsupportedType(why),
            ChatError::Conflict(why) => ApiError::Conflict(why),
            ChatError::Store(error) => ApiError::from(error),
        }
    }
}

impl From<ConnectorError> for ApiError {
    fn from(error: ConnectorError) -> Self {
        match error {
            ConnectorError::Invalid(why) => ApiError::Invalid(why),
            ConnectorError::TestFailed(_) => ApiError::Invalid(error.to_string()),
            ConnectorError::NotConnected => ApiError::NotFound("connector"),
            ConnectorError::Sealed(why) => {
                tracing::error!(error = %why, "a sealed secret cannot be opened");
                ApiError::Unavailable(why.to_string())
            }
            ConnectorError::Store(error) => ApiError::from(error),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict(why) => ApiError::Conflict(why),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(detail) = &self {
            tracing::error!(error = %detail, "request failed");
        } else {
            tracing::debug!(code, message = %self, "request refused");
        }

        let body = Json(json!({ "error": { "code": code, "message": self.public_message() } }));
        let mut response = (status, body).into_response();
        if let ApiError::RateLimited { retry_after, .. } = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after),
            );
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
