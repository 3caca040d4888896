//! OAuth2 client credentials against `{site}/auth/token`, and the token cache.
//!
//! A token is reused until shortly before it expires (60 s early, or 10 % of
//! its lifetime when that is shorter). Concurrent callers that find it stale
//! queue on one async mutex, so exactly one of them asks Halo for a new token
//! and the others reuse it: each token request costs a slot of the site's
//! 300-per-5-minutes budget.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::client::Request;
use crate::model::TokenResponse;
use crate::{HaloClient, HaloError, Permission, Secret, response};

/// The lifetime assumed when Halo does not state one (the usual Halo value).
const ASSUMED_LIFETIME: Duration = Duration::from_secs(3600);

/// The most a token is renewed ahead of its expiry.
const MAX_RENEWAL_MARGIN: Duration = Duration::from_secs(60);

/// An access token and what Halo said about it.
#[derive(Debug)]
pub(crate) struct Token {
    pub access: Secret,
    /// When to stop using it and ask for a new one.
    pub renew_at: Instant,
    pub lifetime: Duration,
    pub granted_scopes: Option<Vec<String>>,
}

/// The current token, if any; the mutex also serialises renewals.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    current: Mutex<Option<Arc<Token>>>,
}

impl TokenCache {
    /// Drops `used` if it is still the current token (a 401 proved it dead); a
    /// token another caller already replaced is left alone.
    pub(crate) async fn forget(&self, used: &Arc<Token>) {
        let mut current = self.current.lock().await;
        if current
            .as_ref()
            .is_some_and(|token| Arc::ptr_eq(token, used))
        {
            *current = None;
        }
    }
}

/// What a caller may know about the client's token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The scopes Halo says it granted; `None` when its answer did not say.
    pub granted_scopes: Option<Vec<String>>,
    /// The lifetime Halo gave the token.
    pub lifetime: Duration,
}

impl TokenInfo {
    /// Whether the token holds `permission`; `None` when Halo did not say which
    /// scopes it granted.
    pub fn grants(&self, permission: Permission) -> Option<bool> {
        self.granted_scopes
            .as_ref()
            .map(|scopes| permission.is_granted_by(scopes.iter().map(String::as_str)))
    }
}

impl HaloClient {
    /// Makes sure the client holds a valid token (asking Halo for one if
    /// needed) and says what was granted. This is how to check the Client ID,
    /// Secret and scopes without calling any API.
    pub async fn authenticate(&self) -> Result<TokenInfo, HaloError> {
        let token = self.token().await?;

        Ok(TokenInfo {
            granted_scopes: token.granted_scopes.clone(),
            lifetime: token.lifetime,
        })
    }

    /// The current token, renewed first if stale.
    pub(crate) async fn token(&self) -> Result<Arc<Token>, HaloError> {
        let mut current = self.token_cache().current.lock().await;
        if let Some(token) = current.as_ref()
            && Instant::now() < token.renew_at
        {
            return Ok(token.clone());
        }

        let token = Arc::new(self.request_token().await?);
        *current = Some(token.clone());
        Ok(token)
    }

    async fn request_token(&self) -> Result<Token, HaloError> {
        let request = Request::token();
        let asked_at = Instant::now();

        // Boxed because `execute` fetches tokens for authenticated calls; this
        // call is anonymous, so the recursion stops here.
        let reply = Box::pin(self.execute(&request, false)).await?;
        // The answer holds the token, so a decoding error must not quote it.
        let answer: TokenResponse =
            response::decode(&request.call(), &reply.body).map_err(|error| match error {
                HaloError::Decode { call, path, .. } => HaloError::Decode {
                    call,
                    path,
                    reason: "this is not a token answer".to_owned(),
                },
                other => other,
            })?;

        let lifetime = answer
            .expires_in
            .and_then(|seconds| u64::try_from(seconds).ok())
            .filter(|seconds| *seconds > 0)
            .map_or(ASSUMED_LIFETIME, Duration::from_secs);
        let margin = MAX_RENEWAL_MARGIN.min(lifetime / 10);
        tracing::info!(
            lifetime_s = lifetime.as_secs(),
            scopes = answer.scope.as_deref().unwrap_or("(not stated)"),
            "Halo issued an access token"
        );

        Ok(Token {
            granted_scopes: answer.granted_scopes(),
            access: answer.access_token,
            renew_at: asked_at + lifetime - margin,
            lifetime,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_info_judges_permissions_from_granted_scopes() {
        let info = TokenInfo {
            granted_scopes: Some(vec!["read:tickets".into(), "read:crm".into()]),
            lifetime: ASSUMED_LIFETIME,
        };
        let unknown = TokenInfo {
            granted_scopes: None,
            lifetime: ASSUMED_LIFETIME,
        };

        assert_eq!(info.grants(Permission::ReadTickets), Some(true));
        assert_eq!(info.grants(Permission::EditTickets), Some(false));
        assert_eq!(unknown.grants(Permission::EditTickets), None);
    }
}
