//! Everything that can go wrong talking to Halo, each cause named in words a
//! Halo admin can act on, with a short fix where there is one.
//!
//! No variant ever carries the client secret or a token: messages are built
//! from the call (method and endpoint), the HTTP status and Halo's own error
//! text, which the client scrubs of secrets before it gets here.

use std::time::Duration;

use thiserror::Error;

use crate::{Permission, SiteUrlError};

/// Where in Halo the application's permissions are ticked.
pub const PERMISSIONS_PLACE: &str =
    "Configuration > Integrations > HaloPSA API > the application > Permissions";

/// A failed call to Halo. `call` fields read like `GET Tickets/12`.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HaloError {
    /// The site URL cannot be a Halo site.
    #[error(transparent)]
    SiteUrl(#[from] SiteUrlError),

    /// The extra CA certificate could not be used.
    #[error("the extra CA certificate could not be read: {reason}")]
    CaCertificate { reason: String },

    /// The HTTP client could not be built (a local problem, not Halo's).
    #[error("the HTTP client could not be set up: {reason}")]
    Setup { reason: String },

    /// The token endpoint answered `invalid_client`.
    #[error(
        "Halo refused the Client ID or Secret: check both, and that the application is Active{}",
        detail(description)
    )]
    InvalidClient { description: Option<String> },

    /// The token endpoint answered `invalid_scope`.
    #[error(
        "Halo does not accept the requested permissions (scopes) \"{scopes}\"{}",
        detail(description)
    )]
    InvalidScope {
        scopes: String,
        description: Option<String>,
    },

    /// The token endpoint refused for another reason.
    #[error(
        "Halo refused to issue a token (HTTP {status}{}){}",
        code_text(code),
        detail(description)
    )]
    TokenRefused {
        status: u16,
        code: Option<String>,
        description: Option<String>,
    },

    /// An API call got 401 even with a freshly issued token.
    #[error("Halo rejected the application's access token for {call}, even after signing in again")]
    Unauthorized { call: String },

    /// 403: the application (or its agent) may not make this call.
    #[error("Halo refused {call} (403 Forbidden): {}", permission_text(*permission))]
    PermissionDenied {
        call: String,
        permission: Option<Permission>,
    },

    /// 404: no such record (or endpoint).
    #[error("Halo found nothing at {call} (404 Not Found){}", detail(message))]
    NotFound {
        call: String,
        message: Option<String>,
    },

    /// 400 (or 422): Halo's validation rejected the request; its message is kept.
    #[error("Halo rejected {call} as invalid (HTTP {status}): {message}")]
    Validation {
        call: String,
        status: u16,
        message: String,
    },

    /// 429 from Halo.
    #[error(
        "Halo is limiting the request rate (429 Too Many Requests){}",
        detail(message)
    )]
    RateLimited {
        retry_after: Option<Duration>,
        message: Option<String>,
    },

    /// Parley's own per-site request budget is used up.
    #[error(
        "Parley's request budget for {site} is used up ({capacity} requests per {} s); the next request is possible in {} s",
        window.as_secs(),
        retry_after.as_secs_f32().ceil()
    )]
    BudgetExhausted {
        site: String,
        capacity: u32,
        window: Duration,
        retry_after: Duration,
    },

    /// 5xx from Halo.
    #[error("Halo had a server error on {call} (HTTP {status}){}", detail(message))]
    Server {
        call: String,
        status: u16,
        message: Option<String>,
    },

    /// A 3xx: redirects are not followed, so that a redirect cannot lead the
    /// client (and its token) to another host.
    #[error("{call} was redirected (HTTP {status}){}", location_text(location))]
    Redirect {
        call: String,
        status: u16,
        location: Option<String>,
    },

    /// Any other status.
    #[error(
        "Halo answered {call} with an unexpected HTTP {status}{}",
        detail(message)
    )]
    UnexpectedStatus {
        call: String,
        status: u16,
        message: Option<String>,
    },

    /// No answer within the request timeout.
    #[error("Halo did not answer {call} within {} s", after.as_secs_f32())]
    Timeout { call: String, after: Duration },

    /// The TCP connection could not be made (refused, DNS, unreachable).
    #[error("could not connect to {host}: {reason}")]
    Connect { host: String, reason: String },

    /// The TLS handshake failed (untrusted or invalid certificate, not TLS).
    #[error("the secure (TLS) connection to {host} failed: {reason}")]
    Tls { host: String, reason: String },

    /// The connection failed in another way (dropped mid-answer, ...).
    #[error("the connection to Halo failed during {call}: {reason}")]
    Transport { call: String, reason: String },

    /// Halo answered, but not in a form the models can read.
    #[error("Halo's answer to {call} could not be read at `{path}`: {reason}")]
    Decode {
        call: String,
        path: String,
        reason: String,
    },
}

fn detail(text: &Option<String>) -> String {
    text.as_deref()
        .map(|t| format!(": {t}"))
        .unwrap_or_default()
}

fn code_text(code: &Option<String>) -> String {
    code.as_deref()
        .map(|c| format!(", {c}"))
        .unwrap_or_default()
}

fn location_text(location: &Option<String>) -> String {
    location
        .as_deref()
        .map(|l| format!(" to {l}"))
        .unwrap_or_default()
}

fn permission_text(permission: Option<Permission>) -> String {
    match permission {
        Some(permission) => format!(
            "the application needs the {permission} permission; the role of the agent the \
             application logs in as can also limit access"
        ),
        None => "the application or the agent it logs in as may not do this".to_owned(),
    }
}

impl HaloError {
    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            HaloError::RateLimited { .. }
                | HaloError::BudgetExhausted { .. }
                | HaloError::Server { .. }
                | HaloError::Timeout { .. }
                | HaloError::Connect { .. }
                | HaloError::Transport { .. }
        )
    }

    /// A short name of the cause, for logs (which must not carry messages
    /// quoted from Halo's answers).
    pub fn kind(&self) -> &'static str {
        match self {
            HaloError::SiteUrl(_) => "site_url",
            HaloError::CaCertificate { .. } => "ca_certificate",
            HaloError::Setup { .. } => "setup",
            HaloError::InvalidClient { .. } => "invalid_client",
            HaloError::InvalidScope { .. } => "invalid_scope",
            HaloError::TokenRefused { .. } => "token_refused",
            HaloError::Unauthorized { .. } => "unauthorized",
            HaloError::PermissionDenied { .. } => "permission_denied",
            HaloError::NotFound { .. } => "not_found",
            HaloError::Validation { .. } => "validation",
            HaloError::RateLimited { .. } => "rate_limited",
            HaloError::BudgetExhausted { .. } => "budget_exhausted",
            HaloError::Server { .. } => "server",
            HaloError::Redirect { .. } => "redirect",
            HaloError::UnexpectedStatus { .. } => "unexpected_status",
            HaloError::Timeout { .. } => "timeout",
            HaloError::Connect { .. } => "connect",
            HaloError::Tls { .. } => "tls",
            HaloError::Transport { .. } => "transport",
            HaloError::Decode { .. } => "decode",
        }
    }

    /// The permission a refused call needs, when known.
    pub fn permission(&self) -> Option<Permission> {
        match self {
            HaloError::PermissionDenied { permission, .. } => *permission,
            _ => None,
        }
    }

    /// The HTTP status Halo answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            HaloError::Validation { status, .. }
            | HaloError::Server { status, .. }
            | HaloError::Redirect { status, .. }
            | HaloError::UnexpectedStatus { status, .. }
            | HaloError::TokenRefused { status, .. } => Some(*status),
            HaloError::InvalidClient { .. } | HaloError::Unauthorized { .. } => Some(401),
            HaloError::PermissionDenied { .. } => Some(403),
            HaloError::NotFound { .. } => Some(404),
            HaloError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    /// What the admin can do about it, when there is something to do.
    pub fn fix(&self) -> Option<String> {
        let fix = match self {
            HaloError::SiteUrl(_) => {
                "Enter the address you open Halo at, e.g. https://acme.halopsa.com.".to_owned()
            }
            HaloError::CaCertificate { .. } => "Give the PEM file (-----BEGIN CERTIFICATE-----) \
                 of the CA that signed Halo's certificate."
                .to_owned(),
            HaloError::InvalidClient { .. } => "In Halo, open Configuration > Integrations > \
                 HaloPSA API and the application: copy its Client ID again, generate a new \
                 Client Secret if unsure, and check the application is Active."
                .to_owned(),
            HaloError::InvalidScope { .. } => format!(
                "Request only scopes Halo knows: Parley needs \"{}\" (or \"all\").",
                crate::DEFAULT_SCOPES
            ),
            HaloError::TokenRefused { .. } => "Check the application in Halo (Configuration > \
                 Integrations > HaloPSA API): it must use Client ID and Secret authentication \
                 and be Active. For a hosted Halo that needs one, set the tenant."
                .to_owned(),
            HaloError::Unauthorized { .. } => "Check that the application is still Active in \
                 Halo and that its secret was not regenerated."
                .to_owned(),
            HaloError::PermissionDenied {
                permission: Some(permission),
                ..
            } => format!(
                "Tick {permission} on the application in Halo ({PERMISSIONS_PLACE}), and check \
                 that the role of the agent the application logs in as allows it too."
            ),
            HaloError::PermissionDenied {
                permission: None, ..
            } => format!(
                "Check the application's permissions in Halo ({PERMISSIONS_PLACE}) and the role \
                 of the agent it logs in as."
            ),
            HaloError::RateLimited { .. } => "Halo allows about 300 API requests per 5 minutes \
                 for all integrations together: wait a few minutes, and check whether other \
                 integrations use the same Halo heavily."
                .to_owned(),
            HaloError::BudgetExhausted { .. } => {
                "Wait for the budget to refill; it mirrors Halo's own rate limit.".to_owned()
            }
            HaloError::Server { .. } => {
                "Halo had an internal problem: try again later; if it persists, check Halo's \
                 status or logs."
                    .to_owned()
            }
            HaloError::Redirect {
                location: Some(location),
                ..
            } => format!(
                "If {location} is where Halo really is, enter that address as the site URL."
            ),
            HaloError::Timeout { .. } | HaloError::Connect { .. } => "Check the site URL, and \
                 that this server can reach it (DNS, firewall, outbound proxy)."
                .to_owned(),
            HaloError::Tls { .. } => "If Halo's certificate comes from an internal CA, give \
                 Parley that CA's certificate (PEM); otherwise check that the certificate is \
                 valid for the site's host name and not expired."
                .to_owned(),
            HaloError::Decode { .. } => "Check that the site URL is your Halo's address; if it \
                 is, this Halo version answers in a form Parley does not know yet."
                .to_owned(),
            HaloError::Setup { .. }
            | HaloError::NotFound { .. }
            | HaloError::Validation { .. }
            | HaloError::Redirect { location: None, .. }
            | HaloError::UnexpectedStatus { .. }
            | HaloError::Transport { .. } => return None,
        };
        Some(fix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_client_names_the_client_id_and_secret() {
        let error = HaloError::InvalidClient { description: None };

        assert_eq!(
            error.to_string(),
            "Halo refused the Client ID or Secret: check both, and that the application is Active"
        );
        assert!(error.fix().is_some_and(|fix| fix.contains("Client Secret")));
        assert!(!error.is_retryable());
    }

    #[test]
    fn a_403_names_the_permission_and_the_agents_role() {
        let error = HaloError::PermissionDenied {
            call: "GET Users".into(),
            permission: Permission::required_for("GET", "Users"),
        };

        let message = error.to_string();
        assert!(message.contains("GET Users"), "{message}");
        assert!(message.contains("read:crm"), "{message}");
        assert!(message.contains("role of the agent"), "{message}");
        assert_eq!(error.permission(), Some(Permission::ReadCrm));
        let fix = error.fix().expect("a fix");
        assert!(
            fix.contains("Tick read:crm") && fix.contains(PERMISSIONS_PLACE),
            "{fix}"
        );
        assert_eq!(error.status(), Some(403));
    }

    #[test]
    fn validation_keeps_halos_message() {
        let error = HaloError::Validation {
            call: "POST Actions".into(),
            status: 400,
            message: "outcome: Required".into(),
        };

        assert_eq!(
            error.to_string(),
            "Halo rejected POST Actions as invalid (HTTP 400): outcome: Required"
        );
    }

    #[test]
    fn transient_failures_are_retryable_and_mistakes_are_not() {
        let retryable = [
            HaloError::RateLimited {
                retry_after: None,
                message: None,
            },
            HaloError::Server {
                call: "GET Tickets".into(),
                status: 503,
                message: None,
            },
            HaloError::Timeout {
                call: "GET Tickets".into(),
                after: Duration::from_secs(30),
            },
            HaloError::Connect {
                host: "acme.halopsa.com".into(),
                reason: "refused".into(),
            },
        ];
        let final_ = [
            HaloError::NotFound {
                call: "GET Tickets/1".into(),
                message: None,
            },
            HaloError::Tls {
                host: "acme.halopsa.com".into(),
                reason: "unknown issuer".into(),
            },
            HaloError::InvalidScope {
                scopes: "read:actions".into(),
                description: None,
            },
        ];

        assert!(retryable.iter().all(HaloError::is_retryable));
        assert!(!final_.iter().any(HaloError::is_retryable));
    }

    #[test]
    fn budget_exhaustion_says_when_to_retry() {
        let error = HaloError::BudgetExhausted {
            site: "https://acme.halopsa.com".into(),
            capacity: 300,
            window: Duration::from_secs(300),
            retry_after: Duration::from_millis(2500),
        };

        assert_eq!(
            error.to_string(),
            "Parley's request budget for https://acme.halopsa.com is used up (300 requests per \
             300 s); the next request is possible in 3 s"
        );
    }
}
