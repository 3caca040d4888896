//! The anonymous discovery record (`/api/AuthInfo`) and the token endpoint's
//! answer.

use serde::Deserialize;

use crate::Secret;
use crate::de;

/// What `GET /api/authinfo` says about where to authenticate. Only these two
/// fields are known from the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct AuthInfo {
    /// The authorisation server, normally `{site}/auth`.
    #[serde(deserialize_with = "de::opt_string")]
    pub auth_url: Option<String>,
    /// The tenant to name on the token request, for hosted setups that need one.
    #[serde(deserialize_with = "de::opt_string")]
    pub tenant_id: Option<String>,
}

/// A successful answer of `POST /auth/token`. Deliberately not `Serialize`.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: Secret,
    #[serde(default, deserialize_with = "de::opt_string")]
    pub token_type: Option<String>,
    /// Lifetime in seconds.
    #[serde(default, deserialize_with = "de::opt_int")]
    pub expires_in: Option<i64>,
    /// The scopes granted, space-separated, when Halo says.
    #[serde(default, deserialize_with = "de::opt_string")]
    pub scope: Option<String>,
}

impl TokenResponse {
    /// The granted scopes, or `None` when Halo did not say.
    pub fn granted_scopes(&self) -> Option<Vec<String>> {
        self.scope
            .as_deref()
            .map(|scope| scope.split_whitespace().map(str::to_owned).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_token_response_keeps_scopes_and_hides_the_token() {
        let token: TokenResponse = serde_json::from_value(json!({
            "access_token": "eyJ.secret.token", "token_type": "Bearer", "expires_in": "3600",
            "scope": "read:tickets  edit:tickets", "refresh_token": "r", "id_token": "i",
        }))
        .expect("decodes");

        assert_eq!(token.expires_in, Some(3600));
        assert_eq!(
            token.granted_scopes(),
            Some(vec!["read:tickets".to_owned(), "edit:tickets".to_owned()])
        );
        assert!(!format!("{token:?}").contains("eyJ.secret.token"));
    }

    #[test]
    fn auth_info_reads_a_numeric_tenant() {
        let info: AuthInfo =
            serde_json::from_value(json!({ "auth_url": "https://a/auth", "tenant_id": 42 }))
                .expect("decodes");

        assert_eq!(info.tenant_id.as_deref(), Some("42"));
    }
}
