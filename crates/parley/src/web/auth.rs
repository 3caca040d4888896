//! Who is asking, from the request: a technician's session cookie (with its
//! CSRF token on every change) or an end user's bearer token.

use crate::accounts::SignedIn;
use crate::chat::Actor;
use crate::identity;
use crate::store::Account;
use crate::web::AppState;
use crate::web::error::ApiError;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "parley_session";

/// The header a script sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A signed-in technician or admin, from the session cookie.
#[derive(Debug, Clone)]
pub struct SignedInAccount {
    pub account: Account,
    /// The raw session token, to derive the CSRF token and to sign out.
    pub session: String,
}

impl SignedInAccount {
    pub fn csrf_token(&self) -> String {
        identity::csrf_token_for(&self.session)
    }

    /// Checks a CSRF token sent with a form.
    pub fn check_csrf(&self, presented: &str) -> Result<(), ApiError> {
        if identity::csrf_matches(&self.session, presented) {
            Ok(())
        } else {
            tracing::warn!(account.id = self.account.id, "CSRF token missing or wrong");
            Err(ApiError::Forbidden(
                "the form has expired; reload the page and try again".to_owned(),
            ))
        }
    }
}

pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Resolves the session cookie, if there is a live one.
pub async fn account_from_cookie(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<SignedInAccount>, ApiError> {
    let Some(token) = cookie_value(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    match state.accounts.resolve(token).await.map_err(state_error)? {
        Some(SignedIn::Account(account)) => Ok(Some(SignedInAccount {
            account,
            session: token.to_owned(),
        })),
        _ => Ok(None),
    }
}

/// Resolves a session token (a widget's bearer token, or a WebSocket's
/// `auth` frame) to whoever it belongs to.
pub async fn actor_from_token(state: &AppState, token: &str) -> Result<Option<Actor>, ApiError> {
    Ok(
        match state.accounts.resolve(token).await.map_err(state_error)? {
            Some(SignedIn::EndUser(user)) => Some(Actor::EndUser(user)),
            Some(SignedIn::Account(account)) => Some(Actor::Technician(account)),
            None => None,
        },
    )
}

fn state_error(error: crate::accounts::AccountError) -> ApiError {
    ApiError::Internal(error.to_string())
}

impl OptionalFromRequestParts<AppState> for SignedInAccount {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        account_from_cookie(state, &parts.headers).await
    }
}

/// Whoever calls the JSON API: an end user by bearer token, or a technician
/// by session cookie, whose changes must carry the `X-CSRF-Token` header.
#[derive(Debug, Clone)]
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(token) = bearer(&parts.headers) {
            return match actor_from_token(state, token).await? {
                Some(actor) => Ok(ApiActor(actor)),
                None => Err(ApiError::Unauthorized(
                    "the chat session has expired; the widget opens a new one".to_owned(),
                )),
            };
        }

        let Some(signed_in) = account_from_cookie(state, &parts.headers).await? else {
            return Err(ApiError::Unauthorized("sign in first".to_owned()));
        };
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            signed_in.check_csrf(presented)?;
        }
        Ok(ApiActor(Actor::Technician(signed_in.account)))
    }
}

/// The `Set-Cookie` value that stores a new session.
pub fn session_cookie(token: &str, secure: bool, max_age_secs: u64) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(secure: bool) -> String {
    session_cookie("", secure, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cookie_among_several() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; parley_session=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie_value(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie_value(&headers, "missing"), None);
    }

    #[test]
    fn session_cookies_are_http_only_and_same_site() {
        let cookie = session_cookie("t", true, 60);
        assert!(cookie.contains("HttpOnly"));
        assert!(cookie.contains("SameSite=Lax"));
        assert!(cookie.ends_with("; Secure"));
        assert!(!session_cookie("t", false, 60).contains("Secure"));
    }
}
