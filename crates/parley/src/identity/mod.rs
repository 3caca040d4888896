//! Identity: who is asking. Technicians and admins sign in with a password and
//! get a server-side session; end users are who a signed widget token says.
//!
//! The pieces, each free of storage and HTTP so the web layer composes them:
//!
//! - [`password`]: Argon2id PHC hashes ([`hash_password`], [`verify_password`])
//!   and the policy for a new password ([`check_new_password`]).
//! - [`token`]: the random [`SessionToken`] put in the session cookie, the
//!   [`token_digest`] the store keeps instead of it, and the CSRF token derived
//!   from it ([`csrf_token_for`], [`csrf_matches`]).
//! - [`widget_token`]: the HS256 JWT a client portal signs with the workspace's
//!   [`WidgetSecret`] to vouch for an end user; [`verify_widget_token`] turns it
//!   into [`WidgetClaims`] or a [`WidgetTokenError`] that says what to fix.
//! - [`login_limit`]: the in-memory [`LoginLimiter`] that slows password
//!   guessing per account and per client address.
//! - [`seal`]: the [`MasterKey`] that seals secrets at rest (AES-256-GCM),
//!   from `PARLEY_MASTER_KEY` or a key file in the data directory.
//!
//! Secrets in these types (session tokens, widget secrets) print as
//! `[redacted]` in `Debug`, so they cannot reach a log by accident.

/// An in-memory sign-in rate limiter, per account and per client address.
pub mod login_limit;
/// Argon2id password hashing, verification and the new-password policy.
pub mod password;
/// Secrets sealed at rest with AES-256-GCM under the master key.
pub mod seal;
/// Session tokens, their stored digests, and the CSRF tokens derived from them.
pub mod token;
/// Signed widget tokens (HS256 JWTs) that identify end users, and the widget secret.
pub mod widget_token;

pub use login_limit::{LimitScope, LoginLimiter, LoginLimits, RetryAfter};
pub use password::{
    HashParams, PasswordError, PasswordPolicyError, check_new_password, hash_password,
    hash_password_with, verify_dummy_password, verify_password,
};
pub use seal::{KeySource, MasterKey, SealError};
pub use token::{SessionToken, csrf_matches, csrf_token_for, token_digest};
pub use widget_token::{
    TokenPart, WidgetClaims, WidgetSecret, WidgetSecretError, WidgetTokenError, sign_widget_token,
    verify_widget_token,
};
