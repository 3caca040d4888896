//! Signed widget tokens: how an end user is identified.
//!
//! End users never tell Parley who they are. The MSP's client portal, where the
//! user is already signed in, signs a short-lived HS256 JWT with the
//! workspace's [`WidgetSecret`] and hands it to the chat widget; Parley believes
//! only what [`verify_widget_token`] returns.
//!
//! The JWT is checked by hand rather than with a general JWT library, because
//! we accept exactly one shape and want every refusal to say what the portal
//! developer must fix:
//!
//! - the header must be JSON with `alg` exactly `HS256` (so `none`, `HS512`,
//!   `RS256` and the rest are refused before any signature work) and, if
//!   present, `typ` equal to `JWT`; a header with `crit` is refused because we
//!   implement no extensions;
//! - the signature is checked in constant time before the payload is read;
//! - claims: `email` (required), `name` (required, non-empty after trimming;
//!   never guessed from the email), `exp` (required, seconds since 1970),
//!   optional `nbf`, `iat` and `sub`; other claims are ignored;
//! - `exp` and `nbf` get [`CLOCK_LEEWAY`] (60 s) for clock skew, and a token
//!   may not expire more than [`MAX_TOKEN_LIFETIME`] (24 h) after now, because
//!   a token that lives longer is a password by another name.
//!
//! The email is normalised (trimmed, lower-cased) and checked loosely: one `@`,
//! a non-empty local part, and a domain of at least two dot-separated non-empty
//! labels. Dotless domains, `localhost` included, are refused: a help desk's
//! end users have real mailboxes, and the PSA contact lookup that follows could
//! never match such an address.

use std::fmt;
use std::time::Duration;

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::Sha256;

/// How far the portal's clock may be from ours when checking `exp` and `nbf`.
pub const CLOCK_LEEWAY: Duration = Duration::from_secs(60);

/// The longest a token may still be valid for: `exp` more than this (plus
/// [`CLOCK_LEEWAY`]) after now is refused.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Tokens longer than this are refused before decoding; a real one is a few
/// hundred bytes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The longest display name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The longest email address accepted, in bytes (the SMTP path limit).
pub const MAX_EMAIL_BYTES: usize = 254;

/// The number of random bytes in a generated [`WidgetSecret`].
pub const WIDGET_SECRET_BYTES: usize = 32;

/// The longest widget secret accepted, in bytes.
const MAX_WIDGET_SECRET_BYTES: usize = 128;

/// Base64url that accepts input with or without `=` padding: the JWT spec says
/// no padding, but a few portal libraries add it, and refusing them over that
/// would help no one.
const LENIENT_B64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The verified identity of an end user, from a widget token's claims.
///
/// From [`verify_widget_token`], `email` is normalised and `name` trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WidgetClaims {
    /// The user's email address, trimmed and lower-cased.
    pub email: String,
    /// The user's display name, trimmed, never empty.
    pub name: String,
    /// The portal's own id for the user, if it sent one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// When the token expires, in seconds since 1970.
    pub exp: i64,
    /// When the token becomes valid, in seconds since 1970, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// When the token was issued, in seconds since 1970, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
}

impl WidgetClaims {
    /// Claims for `email` and `name` that expire at `expires_at`, with `iat`
    /// set to `issued_at`.
    pub fn new(
        email: impl Into<String>,
        name: impl Into<String>,
        issued_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        Self {
            email: email.into(),
            name: name.into(),
            sub: None,
            exp: expires_at.timestamp(),
            nbf: None,
            iat: Some(issued_at.timestamp()),
        }
    }

    /// `exp` as a date, or `None` if it is outside chrono's range.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.exp, 0)
    }
}

/// The part of a widget token that could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPart {
    /// The overall `header.payload.signature` shape.
    Structure,
    /// The first part, the JOSE header.
    Header,
    /// The second part, the claims.
    Payload,
    /// The third part, the HMAC.
    Signature,
}

impl fmt::Display for TokenPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Structure => "structure",
            Self::Header => "header",
            Self::Payload => "payload",
            Self::Signature => "signature",
        })
    }
}

/// Why a widget token was refused. Each message says what the portal developer
/// should change; none of them repeats the token or the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WidgetTokenError {
    /// No token was sent.
    #[error(
        "no widget token: the portal must pass a token signed with the workspace's widget secret"
    )]
    Missing,

    /// The workspace has no widget secret to check against (our side).
    #[error("this workspace has no widget secret yet: an admin must generate one")]
    SecretNotConfigured,

    /// A part could not be decoded.
    #[error("the widget token's {part} is malformed: {reason}")]
    Malformed {
        /// Which part.
        part: TokenPart,
        /// What is wrong with it.
        reason: String,
    },

    /// The header names an algorithm other than HS256.
    #[error("the widget token uses algorithm {0:?}; only \"HS256\" is accepted")]
    UnsupportedAlgorithm(String),

    /// The signature does not match the header and payload under this secret.
    #[error(
        "the widget token's signature does not match: sign it with the workspace's current widget secret (an admin may have rotated it) and do not change the token after signing"
    )]
    BadSignature,

    /// `exp` has passed (beyond the clock leeway).
    #[error(
        "the widget token expired {} ago: sign a fresh token each time the chat is shown", human(.ago)
    )]
    Expired {
        /// How long ago `exp` was.
        ago: Duration,
    },

    /// `nbf` is still in the future (beyond the clock leeway).
    #[error(
        "the widget token is not valid for another {}: check the portal's clock and `nbf`", human(.starts_in)
    )]
    NotYetValid {
        /// How long until `nbf`.
        starts_in: Duration,
    },

    /// `exp` is further ahead than [`MAX_TOKEN_LIFETIME`].
    #[error(
        "the widget token expires {} from now; widget tokens must expire within 24 hours (a few minutes is best)", human(.expires_in)
    )]
    ExpiresTooFarAhead {
        /// How long until `exp`.
        expires_in: Duration,
    },

    /// The `email` claim is not a usable address.
    #[error("the widget token's `email` claim is not a valid address: {0}")]
    InvalidEmail(&'static str),

    /// A required claim is absent.
    #[error("the widget token has no `{0}` claim, which is required")]
    MissingClaim(&'static str),

    /// A claim is present but has the wrong type or an unusable value.
    #[error("the widget token's `{claim}` claim {reason}")]
    InvalidClaim {
        /// The claim's name.
        claim: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl WidgetTokenError {
    fn malformed(part: TokenPart, reason: impl Into<String>) -> Self {
        Self::Malformed {
            part,
            reason: reason.into(),
        }
    }
}

/// Checks a widget token and returns the identity it vouches for.
///
/// `secret` is the workspace's widget secret ([`WidgetSecret::as_bytes`]);
/// `now` is passed in so that tests control the clock.
///
/// # Errors
///
/// A [`WidgetTokenError`] naming the first problem found, checked in this
/// order: presence, shape, header, signature, payload, times, email, name.
pub fn verify_widget_token(
    token: &str,
    secret: &[u8],
    now: DateTime<Utc>,
) -> Result<WidgetClaims, WidgetTokenError> {
    let token = token.trim();
    if token.is_empty() {
        return Err(WidgetTokenError::Missing);
    }
    if secret.is_empty() {
        return Err(WidgetTokenError::SecretNotConfigured);
    }

    let (header_b64, payload_b64, signature_b64) = split_token(token)?;

    // The header decides whether we even attempt HMAC, so `alg: none` and
    // algorithm-confusion tokens are refused here, before any trust is given.
    check_header(header_b64)?;

    let signature = LENIENT_B64URL
        .decode(signature_b64)
        .map_err(|_| WidgetTokenError::malformed(TokenPart::Signature, "it is not base64url"))?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    hs256(secret, signing_input.as_bytes())
        .verify_slice(&signature)
        .map_err(|_| WidgetTokenError::BadSignature)?;

    // Only now, with the signature good, is the payload worth reading.
    let claims = decode_json_object(payload_b64, TokenPart::Payload)?;

    let exp = numeric_date(&claims, "exp")?.ok_or(WidgetTokenError::MissingClaim("exp"))?;
    let nbf = numeric_date(&claims, "nbf")?;
    let iat = numeric_date(&claims, "iat")?;
    check_times(exp, nbf, now)?;

    let email = string_claim(&claims, "email")?.ok_or(WidgetTokenError::MissingClaim("email"))?;
    let email = normalise_email(email)?;

    let name = string_claim(&claims, "name")?.ok_or(WidgetTokenError::MissingClaim("name"))?;
    let name = check_name(name)?;

    let sub = string_claim(&claims, "sub")?
        .map(str::trim)
        .filter(|sub| !sub.is_empty())
        .map(str::to_owned);

    Ok(WidgetClaims {
        email,
        name,
        sub,
        exp,
        nbf,
        iat,
    })
}

/// Signs `claims` as an HS256 JWT with `secret`, as the MSP's portal would.
///
/// For the demo portal and tests; the claims are written as given, not
/// normalised.
pub fn sign_widget_token(claims: &WidgetClaims, secret: &[u8]) -> String {
    // Serialising a struct of strings and integers cannot fail.
    let payload = serde_json::to_vec(claims).expect("WidgetClaims always serialises to JSON");

    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = hs256(secret, signing_input.as_bytes())
        .finalize()
        .into_bytes();

    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A workspace's widget secret: the HS256 key its portal signs tokens with.
///
/// Shown to the admin (and stored) as URL-safe base64 without padding, which
/// pastes cleanly into a portal's configuration. `Debug` is redacted; use
/// [`WidgetSecret::to_text`] where the admin is meant to see it.
#[derive(Clone, PartialEq, Eq)]
pub struct WidgetSecret(Vec<u8>);

/// Why a widget secret's text form was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WidgetSecretError {
    /// The text is not URL-safe base64.
    #[error("the widget secret is not URL-safe base64; paste it exactly as Parley showed it")]
    NotBase64,

    /// The secret decodes to too few bytes to be safe.
    #[error("the widget secret is {0} bytes; it must be at least 32 bytes")]
    TooShort(usize),

    /// The secret decodes to more bytes than we accept.
    #[error("the widget secret is {0} bytes; it must be at most 128 bytes")]
    TooLong(usize),
}

impl WidgetSecret {
    /// Makes a new random secret of [`WIDGET_SECRET_BYTES`] bytes.
    pub fn generate() -> Self {
        let bytes: [u8; WIDGET_SECRET_BYTES] = rand::random();

        Self(bytes.to_vec())
    }

    /// Reads a secret from its text form (URL-safe base64, padding optional,
    /// surrounding whitespace ignored).
    ///
    /// # Errors
    ///
    /// [`WidgetSecretError`] if the text is not base64url or decodes to fewer
    /// than 32 or more than 128 bytes.
    pub fn parse(text: &str) -> Result<Self, WidgetSecretError> {
        let bytes = LENIENT_B64URL
            .decode(text.trim())
            .map_err(|_| WidgetSecretError::NotBase64)?;

        if bytes.len() < WIDGET_SECRET_BYTES {
            return Err(WidgetSecretError::TooShort(bytes.len()));
        }
        if bytes.len() > MAX_WIDGET_SECRET_BYTES {
            return Err(WidgetSecretError::TooLong(bytes.len()));
        }

        Ok(Self(bytes))
    }

    /// The text form, to show the admin and to store.
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0)
    }

    /// The key bytes, for [`verify_widget_token`].
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for WidgetSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WidgetSecret([redacted])")
    }
}

/// Splits a token into its three base64url parts.
fn split_token(token: &str) -> Result<(&str, &str, &str), WidgetTokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(WidgetTokenError::malformed(
            TokenPart::Structure,
            format!("it is over {MAX_TOKEN_BYTES} bytes long"),
        ));
    }

    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(header), Some(payload), Some(signature), None) => {
            if header.is_empty() {
                return Err(WidgetTokenError::malformed(
                    TokenPart::Header,
                    "it is empty",
                ));
            }
            if payload.is_empty() {
                return Err(WidgetTokenError::malformed(
                    TokenPart::Payload,
                    "it is empty",
                ));
            }
            if signature.is_empty() {
                return Err(WidgetTokenError::malformed(
                    TokenPart::Signature,
                    "it is empty (an unsigned token is never accepted)",
                ));
            }

            Ok((header, payload, signature))
        }
        _ => Err(WidgetTokenError::malformed(
            TokenPart::Structure,
            "expected three base64url parts separated by dots (header.payload.signature)",
        )),
    }
}

/// Checks the JOSE header: `alg` exactly HS256, `typ` JWT if present, no `crit`.
fn check_header(header_b64: &str) -> Result<(), WidgetTokenError> {
    let header = decode_json_object(header_b64, TokenPart::Header)?;

    match header.get("alg") {
        Some(Value::String(alg)) if alg == "HS256" => {}
        Some(Value::String(alg)) => {
            // Cap what we echo back: the header is attacker-controlled.
            let alg: String = alg.chars().take(32).collect();
            return Err(WidgetTokenError::UnsupportedAlgorithm(alg));
        }
        Some(_) => {
            return Err(WidgetTokenError::malformed(
                TokenPart::Header,
                "`alg` is not a string",
            ));
        }
        None => {
            return Err(WidgetTokenError::malformed(
                TokenPart::Header,
                "it has no `alg`; set it to \"HS256\"",
            ));
        }
    }

    // RFC 7519 recommends "JWT" and says media types compare case-insensitively.
    match header.get("typ") {
        None => {}
        Some(Value::String(typ)) if typ.eq_ignore_ascii_case("JWT") => {}
        Some(_) => {
            return Err(WidgetTokenError::malformed(
                TokenPart::Header,
                "`typ` must be \"JWT\" when present",
            ));
        }
    }

    // RFC 7515 §4.1.11: a recipient must refuse critical extensions it does not
    // understand, and we understand none.
    if header.contains_key("crit") {
        return Err(WidgetTokenError::malformed(
            TokenPart::Header,
            "it lists critical extensions (`crit`), which Parley does not support",
        ));
    }

    Ok(())
}

/// Decodes one base64url part holding a JSON object.
fn decode_json_object(b64: &str, part: TokenPart) -> Result<Map<String, Value>, WidgetTokenError> {
    let bytes = LENIENT_B64URL
        .decode(b64)
        .map_err(|_| WidgetTokenError::malformed(part, "it is not base64url"))?;

    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(WidgetTokenError::malformed(part, "it is not a JSON object")),
        Err(_) => Err(WidgetTokenError::malformed(part, "it is not valid JSON")),
    }
}

/// Reads an optional NumericDate claim: seconds since 1970, integer or
/// fractional (RFC 7519 allows both; the fraction is dropped).
fn numeric_date(
    claims: &Map<String, Value>,
    claim: &'static str,
) -> Result<Option<i64>, WidgetTokenError> {
    let invalid = WidgetTokenError::InvalidClaim {
        claim,
        reason: "must be a number of seconds since 1970-01-01 (a NumericDate)",
    };

    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(secs) = n.as_i64() {
                return Ok(Some(secs));
            }

            // Fractional seconds; anything outside ±2^53 is not a real date.
            match n.as_f64() {
                // The bound makes the cast exact: the value fits in an i64.
                Some(secs) if secs.is_finite() && secs.abs() < 9.0e15 => {
                    Ok(Some(secs.trunc() as i64))
                }
                _ => Err(invalid),
            }
        }
        Some(_) => Err(invalid),
    }
}

/// Reads an optional string claim.
fn string_claim<'a>(
    claims: &'a Map<String, Value>,
    claim: &'static str,
) -> Result<Option<&'a str>, WidgetTokenError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(WidgetTokenError::InvalidClaim {
            claim,
            reason: "must be a string",
        }),
    }
}

/// Checks `exp` and `nbf` against `now` with [`CLOCK_LEEWAY`], and that `exp`
/// is within [`MAX_TOKEN_LIFETIME`].
fn check_times(exp: i64, nbf: Option<i64>, now: DateTime<Utc>) -> Result<(), WidgetTokenError> {
    let now = now.timestamp();
    let leeway = secs_i64(CLOCK_LEEWAY);

    // RFC 7519: the current time must be before `exp`; the leeway extends that.
    if now >= exp.saturating_add(leeway) {
        return Err(WidgetTokenError::Expired {
            ago: secs_between(exp, now),
        });
    }

    if let Some(nbf) = nbf
        && nbf > now.saturating_add(leeway)
    {
        return Err(WidgetTokenError::NotYetValid {
            starts_in: secs_between(now, nbf),
        });
    }

    if exp > now.saturating_add(secs_i64(MAX_TOKEN_LIFETIME) + leeway) {
        return Err(WidgetTokenError::ExpiresTooFarAhead {
            expires_in: secs_between(now, exp),
        });
    }

    Ok(())
}

/// Trims and lower-cases an email address and checks it loosely.
fn normalise_email(email: &str) -> Result<String, WidgetTokenError> {
    let email = email.trim().to_lowercase();

    if email.is_empty() {
        return Err(WidgetTokenError::InvalidEmail("it is empty"));
    }
    if email.len() > MAX_EMAIL_BYTES {
        return Err(WidgetTokenError::InvalidEmail("it is over 254 bytes long"));
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(WidgetTokenError::InvalidEmail(
            "it contains spaces or control characters",
        ));
    }

    let mut halves = email.split('@');
    let (Some(local), Some(domain), None) = (halves.next(), halves.next(), halves.next()) else {
        return Err(WidgetTokenError::InvalidEmail(
            "it must contain exactly one `@`",
        ));
    };
    if local.is_empty() {
        return Err(WidgetTokenError::InvalidEmail(
            "the part before `@` is empty",
        ));
    }
    if domain.is_empty() {
        return Err(WidgetTokenError::InvalidEmail(
            "the part after `@` is empty",
        ));
    }
    if !domain.contains('.') || domain.split('.').any(str::is_empty) {
        return Err(WidgetTokenError::InvalidEmail(
            "the domain must be a full domain name such as example.com",
        ));
    }

    Ok(email)
}

/// Trims a display name and checks it is usable.
fn check_name(name: &str) -> Result<String, WidgetTokenError> {
    let name = name.trim();

    if name.is_empty() {
        return Err(WidgetTokenError::InvalidClaim {
            claim: "name",
            reason: "is empty; send the person's display name (it is not guessed from the email)",
        });
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(WidgetTokenError::InvalidClaim {
            claim: "name",
            reason: "is longer than 200 characters",
        });
    }
    if name.chars().any(char::is_control) {
        return Err(WidgetTokenError::InvalidClaim {
            claim: "name",
            reason: "contains control characters",
        });
    }

    Ok(name.to_owned())
}

/// The HMAC-SHA256 state keyed with `secret`, fed with `message`.
fn hs256(secret: &[u8], message: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");

    mac.update(message);

    mac
}

/// A duration constant as whole seconds.
fn secs_i64(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// The non-negative time from `earlier` to `later`, both in seconds.
fn secs_between(earlier: i64, later: i64) -> Duration {
    Duration::from_secs(later.saturating_sub(earlier).max(0).unsigned_abs())
}

/// A duration for people: `45s`, `3m 12s`, `2h 5m`, `3d 4h`.
fn human(duration: &Duration) -> String {
    let secs = duration.as_secs();

    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86400, secs % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    const SECRET: &[u8] = b"an example widget secret of 32 bytes!";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn claims() -> WidgetClaims {
        WidgetClaims::new(
            "Alice@Example.COM",
            "Alice Liddell",
            now(),
            now() + chrono::Duration::minutes(10),
        )
    }

    /// Builds a token by hand from raw header and payload JSON, signed with
    /// hmac directly, so tests do not depend on `sign_widget_token`.
    fn hand_token(header: &str, payload: &str, secret: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{input}.{sig}")
    }

    fn payload_with(exp: i64) -> String {
        format!(r#"{{"email":"bob@example.com","name":"Bob","exp":{exp}}}"#)
    }

    fn verify(token: &str) -> Result<WidgetClaims, WidgetTokenError> {
        verify_widget_token(token, SECRET, now())
    }

    #[test]
    fn round_trip_normalises_email_and_keeps_claims() {
        let mut claims = claims();
        claims.sub = Some("portal-user-42".into());
        let token = sign_widget_token(&claims, SECRET);

        let verified = verify(&token).unwrap();

        assert_eq!(verified.email, "alice@example.com");
        assert_eq!(verified.name, "Alice Liddell");
        assert_eq!(verified.sub.as_deref(), Some("portal-user-42"));
        assert_eq!(verified.exp, claims.exp);
        assert_eq!(verified.iat, Some(now().timestamp()));
        assert_eq!(
            verified.expires_at(),
            Some(now() + chrono::Duration::minutes(10))
        );
    }

    #[test]
    fn hand_built_token_verifies() {
        let exp = now().timestamp() + 300;
        let token = hand_token(
            r#"{"typ":"JWT","alg":"HS256"}"#,
            &format!(
                r#"{{"email":" Bob@Example.com ","name":"  Bob Smith ","exp":{exp},"sub":"","extra":[1,2]}}"#
            ),
            SECRET,
        );

        let verified = verify(&token).unwrap();

        assert_eq!(verified.email, "bob@example.com");
        assert_eq!(verified.name, "Bob Smith");
        assert_eq!(verified.sub, None);
        assert_eq!(verified.exp, exp);
    }

    #[test]
    fn header_without_typ_is_accepted() {
        let token = hand_token(
            r#"{"alg":"HS256"}"#,
            &payload_with(now().timestamp() + 60),
            SECRET,
        );

        assert!(verify(&token).is_ok());
    }

    #[test]
    fn known_public_vector_passes_the_signature_check() {
        // The jwt.io example token, signed with "your-256-bit-secret". Its
        // signature is good but it has no `exp`, so reaching that check proves
        // our HMAC agrees with an independent implementation.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

        assert_eq!(
            verify_widget_token(token, b"your-256-bit-secret", now()),
            Err(WidgetTokenError::MissingClaim("exp"))
        );
        assert_eq!(
            verify_widget_token(token, b"another-secret", now()),
            Err(WidgetTokenError::BadSignature)
        );
    }

    #[test]
    fn missing_token_and_missing_secret() {
        assert_eq!(verify(""), Err(WidgetTokenError::Missing));
        assert_eq!(verify("   "), Err(WidgetTokenError::Missing));

        let token = sign_widget_token(&claims(), SECRET);
        assert_eq!(
            verify_widget_token(&token, b"", now()),
            Err(WidgetTokenError::SecretNotConfigured)
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let payload = URL_SAFE_NO_PAD.encode(payload_with(now().timestamp() + 60));
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);

        // With the signature left empty, as an alg=none token is.
        assert!(matches!(
            verify(&format!("{header}.{payload}.")),
            Err(WidgetTokenError::Malformed {
                part: TokenPart::Signature,
                ..
            })
        ));

        // With a signature present, alg is still refused before HMAC.
        assert_eq!(
            verify(&format!("{header}.{payload}.AAAA")),
            Err(WidgetTokenError::UnsupportedAlgorithm("none".into()))
        );

        // Even when the signature happens to be valid HS256.
        let token = hand_token(
            r#"{"alg":"none"}"#,
            &payload_with(now().timestamp() + 60),
            SECRET,
        );
        assert_eq!(
            verify(&token),
            Err(WidgetTokenError::UnsupportedAlgorithm("none".into()))
        );
    }

    #[test]
    fn other_algorithms_are_refused() {
        for alg in ["HS512", "RS256", "hs256", "HS256 ", "ES256", ""] {
            let token = hand_token(
                &format!(r#"{{"alg":"{alg}"}}"#),
                &payload_with(now().timestamp() + 60),
                SECRET,
            );

            assert_eq!(
                verify(&token),
                Err(WidgetTokenError::UnsupportedAlgorithm(alg.into())),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn header_problems_are_malformed_header() {
        let payload = payload_with(now().timestamp() + 60);
        for header in [
            r#"{"typ":"JWT"}"#,
            r#"{"alg":256}"#,
            r#"{"alg":"HS256","typ":"JWS"}"#,
            r#"{"alg":"HS256","crit":["exp"]}"#,
            r#"["HS256"]"#,
            "not json",
        ] {
            let token = hand_token(header, &payload, SECRET);

            assert!(
                matches!(
                    verify(&token),
                    Err(WidgetTokenError::Malformed {
                        part: TokenPart::Header,
                        ..
                    })
                ),
                "{header}: {:?}",
                verify(&token)
            );
        }
    }

    #[test]
    fn malformed_structure_names_the_part() {
        let good = sign_widget_token(&claims(), SECRET);
        let (header, rest) = good.split_once('.').unwrap();
        let (payload, _) = rest.split_once('.').unwrap();

        let part_of = |token: &str| match verify(token) {
            Err(WidgetTokenError::Malformed { part, .. }) => Some(part),
            _ => None,
        };

        assert_eq!(part_of("abc"), Some(TokenPart::Structure));
        assert_eq!(part_of("a.b"), Some(TokenPart::Structure));
        assert_eq!(
            part_of(&format!("{good}.extra")),
            Some(TokenPart::Structure)
        );
        assert_eq!(
            part_of(&"a".repeat(MAX_TOKEN_BYTES + 1)),
            Some(TokenPart::Structure)
        );
        assert_eq!(part_of(&format!(".{payload}.sig")), Some(TokenPart::Header));
        assert_eq!(part_of("!!!.b.c"), Some(TokenPart::Header));
        assert_eq!(part_of(&format!("{header}..sig")), Some(TokenPart::Payload));
        assert_eq!(
            part_of(&format!("{header}.{payload}.***")),
            Some(TokenPart::Signature)
        );
    }

    #[test]
    fn signed_garbage_payload_is_malformed_payload() {
        for payload in ["not json", "[1,2,3]", "\"a string\""] {
            let token = hand_token(r#"{"alg":"HS256"}"#, payload, SECRET);

            assert!(
                matches!(
                    verify(&token),
                    Err(WidgetTokenError::Malformed {
                        part: TokenPart::Payload,
                        ..
                    })
                ),
                "{payload}"
            );
        }
    }

    #[test]
    fn tampered_payload_is_bad_signature() {
        let token = sign_widget_token(&claims(), SECRET);
        let (header, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let mut forged = claims();
        forged.email = "mallory@example.com".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());

        let tampered = format!("{header}.{forged_payload}.{signature}");

        assert_eq!(verify(&tampered), Err(WidgetTokenError::BadSignature));
    }

    #[test]
    fn wrong_secret_is_bad_signature() {
        let token = sign_widget_token(&claims(), b"the portal used some other secret");

        assert_eq!(verify(&token), Err(WidgetTokenError::BadSignature));
    }

    #[test]
    fn truncated_signature_is_bad_signature() {
        let token = sign_widget_token(&claims(), SECRET);

        // Three characters fewer still decode (to 30 bytes), just not to the MAC.
        assert_eq!(
            verify(&token[..token.len() - 3]),
            Err(WidgetTokenError::BadSignature)
        );
    }

    #[test]
    fn expiry_honours_the_leeway() {
        let now_ts = now().timestamp();

        // Expired 59 s ago: inside the leeway, accepted.
        let token = hand_token(r#"{"alg":"HS256"}"#, &payload_with(now_ts - 59), SECRET);
        assert!(verify(&token).is_ok());

        // Expired exactly 60 s ago: the leeway is used up.
        let token = hand_token(r#"{"alg":"HS256"}"#, &payload_with(now_ts - 60), SECRET);
        assert_eq!(
            verify(&token),
            Err(WidgetTokenError::Expired {
                ago: Duration::from_secs(60)
            })
        );

        // Expired long ago: the message says how long.
        let token = hand_token(r#"{"alg":"HS256"}"#, &payload_with(now_ts - 192), SECRET);
        let err = verify(&token).unwrap_err();
        assert_eq!(
            err,
            WidgetTokenError::Expired {
                ago: Duration::from_secs(192)
            }
        );
        assert!(err.to_string().contains("expired 3m 12s ago"), "{err}");
    }

    #[test]
    fn not_before_honours_the_leeway() {
        let now_ts = now().timestamp();
        let payload = |nbf: i64| {
            format!(
                r#"{{"email":"bob@example.com","name":"Bob","exp":{},"nbf":{nbf}}}"#,
                now_ts + 600
            )
        };

        let token = hand_token(r#"{"alg":"HS256"}"#, &payload(now_ts + 60), SECRET);
        assert_eq!(verify(&token).unwrap().nbf, Some(now_ts + 60));

        let token = hand_token(r#"{"alg":"HS256"}"#, &payload(now_ts + 61), SECRET);
        assert_eq!(
            verify(&token),
            Err(WidgetTokenError::NotYetValid {
                starts_in: Duration::from_secs(61)
            })
        );
    }

    #[test]
    fn long_lived_tokens_are_refused() {
        let now_ts = now().timestamp();
        let day = 24 * 60 * 60;

        let token = hand_token(r#"{"alg":"HS256"}"#, &payload_with(now_ts + day), SECRET);
        assert!(verify(&token).is_ok());

        let token = hand_token(
            r#"{"alg":"HS256"}"#,
            &payload_with(now_ts + 30 * day),
            SECRET,
        );
        let err = verify(&token).unwrap_err();
        assert_eq!(
            err,
            WidgetTokenError::ExpiresTooFarAhead {
                expires_in: Duration::from_secs(30 * 86400)
            }
        );
        assert!(err.to_string().contains("30d 0h"), "{err}");
    }

    #[test]
    fn fractional_exp_is_accepted() {
        let exp = now().timestamp() + 120;
        let token = hand_token(
            r#"{"alg":"HS256"}"#,
            &format!(r#"{{"email":"bob@example.com","name":"Bob","exp":{exp}.75}}"#),
            SECRET,
        );

        assert_eq!(verify(&token).unwrap().exp, exp);
    }

    #[test]
    fn missing_claims_are_named() {
        let exp = now().timestamp() + 60;
        let cases = [
            (r#"{"name":"Bob","exp":EXP}"#, "email"),
            (r#"{"email":"bob@example.com","exp":EXP}"#, "name"),
            (r#"{"email":"bob@example.com","name":"Bob"}"#, "exp"),
            (r#"{"email":null,"name":"Bob","exp":EXP}"#, "email"),
        ];

        for (payload, claim) in cases {
            let payload = payload.replace("EXP", &exp.to_string());
            let token = hand_token(r#"{"alg":"HS256"}"#, &payload, SECRET);

            assert_eq!(
                verify(&token),
                Err(WidgetTokenError::MissingClaim(claim)),
                "{payload}"
            );
        }
    }

    #[test]
    fn wrongly_typed_claims_are_invalid() {
        let exp = now().timestamp() + 60;
        let cases = [
            (
                r#"{"email":"b@example.com","name":"Bob","exp":"soon"}"#.to_owned(),
                "exp",
            ),
            (
                format!(r#"{{"email":42,"name":"Bob","exp":{exp}}}"#),
                "email",
            ),
            (
                format!(r#"{{"email":"b@example.com","name":["Bob"],"exp":{exp}}}"#),
                "name",
            ),
            (
                format!(r#"{{"email":"b@example.com","name":"Bob","exp":{exp},"sub":7}}"#),
                "sub",
            ),
            (
                format!(r#"{{"email":"b@example.com","name":"Bob","exp":{exp},"iat":"x"}}"#),
                "iat",
            ),
        ];

        for (payload, expected) in cases {
            let token = hand_token(r#"{"alg":"HS256"}"#, &payload, SECRET);

            assert!(
                matches!(verify(&token), Err(WidgetTokenError::InvalidClaim { claim, .. }) if claim == expected),
                "{payload}: {:?}",
                verify(&token)
            );
        }
    }

    #[test]
    fn empty_name_is_refused_not_guessed() {
        for name in ["", "   "] {
            let mut claims = claims();
            claims.name = name.into();
            let token = sign_widget_token(&claims, SECRET);

            let err = verify(&token).unwrap_err();

            assert!(
                matches!(err, WidgetTokenError::InvalidClaim { claim: "name", .. }),
                "{err:?}"
            );
            assert!(err.to_string().contains("not guessed"), "{err}");
        }
    }

    #[test]
    fn bad_names_are_refused() {
        for name in ["x".repeat(201), "Bob\u{0}Smith".to_owned()] {
            let mut claims = claims();
            claims.name = name;
            let token = sign_widget_token(&claims, SECRET);

            assert!(matches!(
                verify(&token),
                Err(WidgetTokenError::InvalidClaim { claim: "name", .. })
            ));
        }
    }

    #[test]
    fn invalid_emails_are_refused() {
        for email in [
            "",
            "   ",
            "bob",
            "bob@",
            "@example.com",
            "bob@@example.com",
            "bob@alice@example.com",
            "bob smith@example.com",
            "bob@localhost",
            "bob@example",
            "bob@example..com",
            "bob@.example.com",
            "bob@example.com.",
        ] {
            let mut claims = claims();
            claims.email = email.into();
            let token = sign_widget_token(&claims, SECRET);

            assert!(
                matches!(verify(&token), Err(WidgetTokenError::InvalidEmail(_))),
                "{email:?}: {:?}",
                verify(&token)
            );
        }

        let mut claims = claims();
        claims.email = format!("{}@example.com", "a".repeat(250));
        let token = sign_widget_token(&claims, SECRET);
        assert!(matches!(
            verify(&token),
            Err(WidgetTokenError::InvalidEmail(_))
        ));
    }

    #[test]
    fn loose_but_real_emails_are_accepted() {
        for (email, normalised) in [
            (
                "first.last+chat@sub.example.co.uk",
                "first.last+chat@sub.example.co.uk",
            ),
            ("  MIXED@Case.Example  ", "mixed@case.example"),
            ("o'brien@example.ie", "o'brien@example.ie"),
        ] {
            let mut claims = claims();
            claims.email = email.into();
            let token = sign_widget_token(&claims, SECRET);

            assert_eq!(verify(&token).unwrap().email, normalised);
        }
    }

    #[test]
    fn padded_base64_parts_are_tolerated() {
        // A one-character name makes the payload length need padding.
        let exp = now().timestamp() + 60;
        let header = r#"{"alg":"HS256"}"#;
        let payload = format!(r#"{{"email":"b@example.com","name":"B","exp":{exp}}}"#);
        let padded = base64::engine::general_purpose::URL_SAFE;
        let input = format!("{}.{}", padded.encode(header), padded.encode(&payload));
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
        mac.update(input.as_bytes());
        let token = format!("{input}.{}", padded.encode(mac.finalize().into_bytes()));
        assert!(token.contains('='), "{token}");

        assert_eq!(verify(&token).unwrap().name, "B");
    }

    #[test]
    fn error_messages_do_not_echo_the_token() {
        let token = sign_widget_token(&claims(), b"the wrong secret entirely");

        let message = verify(&token).unwrap_err().to_string();

        assert!(!message.contains(&token));
        assert!(message.contains("widget secret"), "{message}");
    }

    #[test]
    fn secrets_generate_parse_and_redact() {
        let secret = WidgetSecret::generate();
        let text = secret.to_text();

        assert_eq!(text.len(), 43);
        assert_eq!(secret.as_bytes().len(), 32);
        assert_eq!(WidgetSecret::parse(&text).unwrap(), secret);
        assert_eq!(
            WidgetSecret::parse(&format!("  {text}=\n")).unwrap(),
            secret
        );
        assert_ne!(WidgetSecret::generate(), secret);

        let debug = format!("{secret:?}");
        assert!(!debug.contains(&text), "{debug}");
        assert_eq!(debug, "WidgetSecret([redacted])");
    }

    #[test]
    fn secret_parse_refuses_bad_text() {
        assert_eq!(
            WidgetSecret::parse("not base64!"),
            Err(WidgetSecretError::NotBase64)
        );
        assert_eq!(
            WidgetSecret::parse(&URL_SAFE_NO_PAD.encode([7u8; 16])),
            Err(WidgetSecretError::TooShort(16))
        );
        assert_eq!(WidgetSecret::parse(""), Err(WidgetSecretError::TooShort(0)));
        assert_eq!(
            WidgetSecret::parse(&URL_SAFE_NO_PAD.encode([7u8; 129])),
            Err(WidgetSecretError::TooLong(129))
        );
    }

    #[test]
    fn generated_secret_signs_and_verifies() {
        let secret = WidgetSecret::generate();
        let token = sign_widget_token(&claims(), secret.as_bytes());

        assert!(verify_widget_token(&token, secret.as_bytes(), now()).is_ok());
        assert_eq!(
            verify_widget_token(&token, WidgetSecret::generate().as_bytes(), now()),
            Err(WidgetTokenError::BadSignature)
        );
    }

    #[test]
    fn human_durations_read_well() {
        assert_eq!(human(&Duration::from_secs(0)), "0s");
        assert_eq!(human(&Duration::from_secs(59)), "59s");
        assert_eq!(human(&Duration::from_secs(61)), "1m 1s");
        assert_eq!(human(&Duration::from_secs(7500)), "2h 5m");
        assert_eq!(human(&Duration::from_secs(90000)), "1d 1h");
    }
}
