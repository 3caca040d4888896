//! Halo's authorisation server: `POST /auth/token` (OAuth2 client
//! credentials), `GET /api/authinfo` (anonymous discovery), and the bearer
//! tokens the API checks.
//!
//! Scope choice, documented because the evidence is silent on it: a token's
//! scopes are the requested scopes the application was granted (`all` granted
//! means every scope; an `edit:` grant also covers its `read:` twin). A request
//! without `scope`, or asking for `all`, gets the application's whole grant.
//! Unknown scope names (`read:actions`) are refused with `invalid_scope`, and
//! so is a request none of whose scopes is granted. The `scope` field of the
//! answer lists what was actually granted, so a client can see what is missing.
//!
//! A `tenant` (query or form field) is accepted and ignored: the simulator is a
//! single tenant. Access tokens are opaque random strings; the `id_token` is
//! JWT-shaped and names the agent the application logs in as, but its
//! signature is random bytes, not a verifiable one. No `refresh_token` is
//! issued: clients re-run client credentials when a token expires.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::Utc;
use rand::Rng;
use serde_json::json;

use crate::config::{App, is_known_scope};
use crate::quirks::query::HaloQuery;
use crate::state::{Sim, lock};

/// What a valid bearer token allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The application the token was issued to.
    pub client_id: String,
    /// The token's effective scopes.
    pub scopes: Vec<String>,
    /// The agent the application logs in as.
    pub agent_id: i64,
}

/// Why a bearer token was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerProblem {
    /// No `Authorization: Bearer` header.
    Missing,
    /// A token the simulator never issued (or issued before a restart).
    Unknown,
    /// A token past its lifetime.
    Expired,
}

/// A refused token request, as an OAuth error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Unknown client or wrong secret: 401.
    #[error("invalid_client")]
    InvalidClient,
    /// A scope Halo does not know, or none granted: 400.
    #[error("invalid_scope: {0}")]
    InvalidScope(String),
    /// A grant type other than `client_credentials`: 400.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// A malformed request: 400.
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let (status, error, description) = match self {
            TokenError::InvalidClient => (
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "The client id or client secret is not valid.".to_owned(),
            ),
            TokenError::InvalidScope(description) => {
                (StatusCode::BAD_REQUEST, "invalid_scope", description)
            }
            TokenError::UnsupportedGrantType => (
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Only the client_credentials grant is supported.".to_owned(),
            ),
            TokenError::InvalidRequest(description) => {
                (StatusCode::BAD_REQUEST, "invalid_request", description)
            }
        };

        let body = json!({"error": error, "error_description": description});
        (status, no_store_headers(), Json(body)).into_response()
    }
}

/// Registered applications and the tokens issued to them.
pub struct Auth {
    apps: Vec<App>,
    tokens: HashMap<String, IssuedToken>,
    lifetime: Duration,
}

impl fmt::Debug for Auth {
    // Tokens are bearer secrets: a debug print shows how many, never which.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("apps", &self.apps)
            .field("tokens", &self.tokens.len())
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

#[derive(Debug, Clone)]
struct IssuedToken {
    grant: Grant,
    expires_at: Instant,
}

/// A freshly issued token.
#[derive(Clone)]
pub struct Issued {
    pub access_token: String,
    pub scopes: Vec<String>,
    pub expires_in: Duration,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("access_token", &"***")
            .field("scopes", &self.scopes)
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

impl Auth {
    /// An authorisation server knowing `apps`, issuing tokens valid for `lifetime`.
    pub fn new(apps: Vec<App>, lifetime: Duration) -> Auth {
        Auth {
            apps,
            tokens: HashMap::new(),
            lifetime,
        }
    }

    /// Registers `app`, replacing an application with the same client id.
    pub fn add_app(&mut self, app: App) {
        self.apps.retain(|known| known.client_id != app.client_id);
        self.apps.push(app);
    }

    /// Makes every issued token expired, as if its lifetime had passed.
    pub fn expire_all(&mut self) {
        let now = Instant::now();
        for token in self.tokens.values_mut() {
            token.expires_at = now;
        }
    }

    /// Issues a token for the application `client_id` logging in as `agent_id`.
    pub fn issue(
        &mut self,
        client_id: &str,
        client_secret: &str,
        requested_scope: Option<&str>,
        agent_id: i64,
    ) -> Result<Issued, TokenError> {
        let app = self
            .apps
            .iter()
            .find(|app| app.client_id == client_id && app.client_secret == client_secret)
            .ok_or(TokenError::InvalidClient)?;
        let scopes = effective_scopes(&app.scopes, requested_scope)?;

        let now = Instant::now();
        self.tokens.retain(|_, token| token.expires_at > now);
        let access_token = random_token(32);
        let grant = Grant {
            client_id: client_id.to_owned(),
            scopes: scopes.clone(),
            agent_id,
        };
        self.tokens.insert(
            access_token.clone(),
            IssuedToken {
                grant,
                // A lifetime too long to represent means "never", as far as a test can tell.
                expires_at: now
                    .checked_add(self.lifetime)
                    .unwrap_or(now + Duration::from_secs(100 * 365 * 24 * 3600)),
            },
        );

        Ok(Issued {
            access_token,
            scopes,
            expires_in: self.lifetime,
        })
    }

    /// What `access_token` allows, if it is valid now.
    pub fn check(&self, access_token: &str) -> Result<Grant, BearerProblem> {
        let token = self
            .tokens
            .get(access_token)
            .ok_or(BearerProblem::Unknown)?;
        if token.expires_at <= Instant::now() {
            return Err(BearerProblem::Expired);
        }
        Ok(token.grant.clone())
    }
}

/// The scopes a token gets: see the module docs.
fn effective_scopes(
    granted: &[String],
    requested: Option<&str>,
) -> Result<Vec<String>, TokenError> {
    let requested: Vec<&str> = requested.unwrap_or_default().split_whitespace().collect();
    if let Some(unknown) = requested.iter().find(|scope| !is_known_scope(scope)) {
        return Err(TokenError::InvalidScope(format!(
            "The scope '{unknown}' is not a valid Halo scope."
        )));
    }
    if requested.is_empty()
        || requested
            .iter()
            .any(|scope| scope.eq_ignore_ascii_case("all"))
    {
        return Ok(granted.to_vec());
    }

    let effective: Vec<String> = requested
        .iter()
        .filter(|scope| app_grants(granted, scope))
        .map(|scope| (*scope).to_owned())
        .collect();
    if effective.is_empty() {
        return Err(TokenError::InvalidScope(
            "None of the requested scopes is granted to this application.".to_owned(),
        ));
    }
    Ok(effective)
}

/// Whether an application granted `granted` may have `scope`.
fn app_grants(granted: &[String], scope: &str) -> bool {
    let edit_twin = scope
        .strip_prefix("read:")
        .map(|rest| format!("edit:{rest}"));

    granted.iter().any(|grant| {
        grant.eq_ignore_ascii_case("all")
            || grant.eq_ignore_ascii_case(scope)
            || edit_twin
                .as_deref()
                .is_some_and(|twin| grant.eq_ignore_ascii_case(twin))
    })
}

/// `bytes` random bytes, base64url-encoded.
fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill(buffer.as_mut_slice());
    URL_SAFE_NO_PAD.encode(buffer)
}

/// The site root as the client addressed it (`http://host:port`).
pub fn site_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// `POST /auth/token`.
pub async fn token(
    State(sim): State<Sim>,
    headers: HeaderMap,
    query: HaloQuery,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Result<Response, TokenError> {
    let Form(pairs) = form.map_err(|_| {
        TokenError::InvalidRequest(
            "The request must be application/x-www-form-urlencoded.".to_owned(),
        )
    })?;
    let form = HaloQuery::from_pairs(pairs);
    let _tenant = form.text("tenant").or(query.text("tenant"));

    match form.text("grant_type") {
        Some("client_credentials") => {}
        Some(_) => return Err(TokenError::UnsupportedGrantType),
        None => {
            return Err(TokenError::InvalidRequest(
                "grant_type is missing.".to_owned(),
            ));
        }
    }
    let (client_id, client_secret) = client_credentials(&form, &headers)?;

    let agent_id = sim.read(|store| store.api_agent_id);
    let issued = lock(&sim.auth).issue(&client_id, &client_secret, form.text("scope"), agent_id)?;
    tracing::debug!(client_id, scopes = %issued.scopes.join(" "), "token issued");

    let site = site_url(&headers);
    let agent_name = sim.read(|store| {
        store
            .agents
            .get(&agent_id)
            .map_or_else(String::new, |agent| agent.name.clone())
    });
    let body = json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in.as_secs(),
        "scope": issued.scopes.join(" "),
        "id_token": id_token(&site, &client_id, agent_id, &agent_name, issued.expires_in),
    });
    Ok((no_store_headers(), Json(body)).into_response())
}

/// Client id and secret from the form, or from HTTP Basic as OAuth also allows.
fn client_credentials(
    form: &HaloQuery,
    headers: &HeaderMap,
) -> Result<(String, String), TokenError> {
    if let (Some(id), Some(secret)) = (form.text("client_id"), form.text("client_secret")) {
        return Ok((id.to_owned(), secret.to_owned()));
    }

    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| STANDARD.decode(encoded.trim()).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok());
    match basic.as_deref().and_then(|pair| pair.split_once(':')) {
        Some((id, secret)) => Ok((id.to_owned(), secret.to_owned())),
        None => Err(TokenError::InvalidClient),
    }
}

/// A JWT-shaped id token naming the agent; see the module docs.
fn id_token(
    site: &str,
    client_id: &str,
    agent_id: i64,
    agent_name: &str,
    lifetime: Duration,
) -> String {
    let issued_at = Utc::now().timestamp();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "halo-sim"});
    let claims = json!({
        "iss": format!("{site}/auth"),
        "aud": client_id,
        "sub": agent_id.to_string(),
        "name": agent_name,
        "iat": issued_at,
        "exp": issued_at + i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX / 2),
    });

    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        random_token(64)
    )
}

fn no_store_headers() -> [(header::HeaderName, HeaderValue); 2] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// `GET /api/authinfo`: anonymous; where the authorisation server is.
pub async fn authinfo(headers: HeaderMap) -> Json<serde_json::Value> {
    Json(json!({"auth_url": format!("{}/auth", site_url(&headers))}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(scopes: &[&str]) -> Vec<String> {
        scopes.iter().map(|scope| scope.to_string()).collect()
    }

    #[test]
    fn requested_scopes_are_cut_down_to_the_grant() {
        let granted = grant(&["read:tickets", "edit:tickets", "read:customers"]);

        assert_eq!(
            effective_scopes(&granted, Some("read:tickets read:crm")),
            Ok(grant(&["read:tickets"]))
        );
        assert_eq!(effective_scopes(&granted, None), Ok(granted.clone()));
        assert_eq!(effective_scopes(&granted, Some("all")), Ok(granted.clone()));
    }

    #[test]
    fn all_and_edit_grants_cover_more() {
        assert_eq!(
            effective_scopes(&grant(&["all"]), Some("read:crm")),
            Ok(grant(&["read:crm"]))
        );
        assert_eq!(
            effective_scopes(&grant(&["edit:customers"]), Some("read:customers")),
            Ok(grant(&["read:customers"]))
        );
    }

    #[test]
    fn unknown_or_ungranted_scopes_are_invalid() {
        let granted = grant(&["read:tickets"]);

        assert!(matches!(
            effective_scopes(&granted, Some("read:tickets read:actions")),
            Err(TokenError::InvalidScope(message)) if message.contains("read:actions")
        ));
        assert!(matches!(
            effective_scopes(&granted, Some("read:crm")),
            Err(TokenError::InvalidScope(_))
        ));
    }

    #[test]
    fn tokens_expire_and_unknown_tokens_are_refused() {
        let app = App::parse("id:secret:all").unwrap();
        let mut auth = Auth::new(vec![app], Duration::from_secs(60));

        let issued = auth.issue("id", "secret", None, 3).unwrap();
        assert_eq!(auth.check(&issued.access_token).unwrap().agent_id, 3);
        assert_eq!(auth.check("forged"), Err(BearerProblem::Unknown));

        auth.expire_all();
        assert_eq!(
            auth.check(&issued.access_token),
            Err(BearerProblem::Expired)
        );
        assert!(matches!(
            auth.issue("id", "wrong", None, 3),
            Err(TokenError::InvalidClient)
        ));
    }
}
