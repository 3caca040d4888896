//! Session tokens and the CSRF tokens derived from them.
//!
//! A [`SessionToken`] is 32 random bytes in URL-safe base64 without padding
//! (43 characters), sent to the browser in an HttpOnly cookie. The store keeps
//! only [`token_digest`] of it (hex SHA-256), never the token itself, so a
//! leaked database or backup does not let anyone sign in. A plain hash is
//! enough here, unlike for passwords: the token has 256 bits of entropy, so
//! there is nothing to brute-force.
//!
//! The CSRF token for a session is derived from the session token
//! ([`csrf_token_for`]) rather than stored: HMAC-SHA256 keyed with the session
//! token over a fixed label. Only someone who holds the session cookie can
//! compute it, a page can embed it in its forms, and [`csrf_matches`] checks a
//! submitted one in constant time. It changes whenever the session does, so a
//! new sign-in invalidates old forms.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The number of random bytes in a session token.
pub const SESSION_TOKEN_BYTES: usize = 32;

/// The HMAC message a CSRF token is derived from. Changing it invalidates every
/// open form.
const CSRF_LABEL: &[u8] = b"parley-csrf";

/// A freshly generated session token.
///
/// `Debug` and `Display` print `[redacted]`, so the token cannot leak through a
/// log line or an error message by accident; call [`SessionToken::expose`] at
/// the one place that writes the cookie.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(String);

impl SessionToken {
    /// Makes a new token from 32 bytes of the thread-local CSPRNG (ChaCha,
    /// seeded from the operating system).
    pub fn generate() -> Self {
        let bytes: [u8; SESSION_TOKEN_BYTES] = rand::random();

        Self(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The token text, for the `Set-Cookie` header. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest the store keeps for this token; see [`token_digest`].
    pub fn digest(&self) -> String {
        token_digest(&self.0)
    }

    /// The CSRF token for this session; see [`csrf_token_for`].
    pub fn csrf_token(&self) -> String {
        csrf_token_for(&self.0)
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken([redacted])")
    }
}

impl fmt::Display for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The lower-case hex SHA-256 of `token`, which is what the store keeps and
/// looks sessions up by.
///
/// Works on any presented text, so a cookie value can be digested and looked up
/// without first checking that it looks like a token: a forged one simply
/// matches nothing.
pub fn token_digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// The CSRF token for the session whose token is `session_token`:
/// HMAC-SHA256 keyed with the session token's text, over `parley-csrf`, in
/// URL-safe base64 without padding.
pub fn csrf_token_for(session_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(csrf_mac(session_token).finalize().into_bytes())
}

/// Whether `presented` (from a form field or header) is the CSRF token for
/// `session_token`.
///
/// The comparison is constant-time (HMAC verification), so the response time
/// does not tell an attacker how many leading bytes they got right.
pub fn csrf_matches(session_token: &str, presented: &str) -> bool {
    let Ok(presented) = URL_SAFE_NO_PAD.decode(presented.trim()) else {
        return false;
    };

    csrf_mac(session_token).verify_slice(&presented).is_ok()
}

/// The HMAC state for a session's CSRF token, ready to finalize or verify.
fn csrf_mac(session_token: &str) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(session_token.as_bytes())
        .expect("HMAC accepts keys of any length");

    mac.update(CSRF_LABEL);

    mac
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";

    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }

    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_43_url_safe_characters() {
        let token = SessionToken::generate();

        assert_eq!(token.expose().len(), 43);
        assert!(
            token
                .expose()
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{}",
            token.expose()
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(token.expose()).unwrap().len(), 32);
    }

    #[test]
    fn generated_tokens_differ() {
        let tokens: std::collections::HashSet<String> = (0..100)
            .map(|_| SessionToken::generate().expose().to_owned())
            .collect();

        assert_eq!(tokens.len(), 100);
    }

    #[test]
    fn debug_and_display_redact_the_token() {
        let token = SessionToken::generate();

        let debug = format!("{token:?}");
        let display = format!("{token}");

        assert!(!debug.contains(token.expose()), "{debug}");
        assert!(!display.contains(token.expose()), "{display}");
        assert_eq!(display, "[redacted]");
    }

    #[test]
    fn digest_is_hex_sha256() {
        // SHA-256("abc") from FIPS 180-2, appendix B.1.
        assert_eq!(
            token_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn digest_method_matches_free_function() {
        let token = SessionToken::generate();

        assert_eq!(token.digest(), token_digest(token.expose()));
        assert_ne!(token.digest(), token.expose());
        assert_eq!(token.digest().len(), 64);
    }

    #[test]
    fn csrf_token_is_hmac_of_the_label() {
        // Computed independently: HMAC-SHA256(key = "session", msg = "parley-csrf").
        let mut mac = Hmac::<Sha256>::new_from_slice(b"session").unwrap();
        mac.update(b"parley-csrf");
        let expected = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());

        assert_eq!(csrf_token_for("session"), expected);
        assert_eq!(expected.len(), 43);
    }

    #[test]
    fn csrf_token_matches_its_own_session_only() {
        let session = SessionToken::generate();
        let other = SessionToken::generate();
        let csrf = session.csrf_token();

        assert!(csrf_matches(session.expose(), &csrf));
        assert!(!csrf_matches(other.expose(), &csrf));
        assert_ne!(csrf, other.csrf_token());
    }

    #[test]
    fn csrf_refuses_garbage_and_near_misses() {
        let session = SessionToken::generate();
        let csrf = session.csrf_token();
        let mut flipped = csrf.clone().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();

        assert!(!csrf_matches(session.expose(), ""));
        assert!(!csrf_matches(session.expose(), "not base64 !!"));
        assert!(!csrf_matches(session.expose(), &csrf[..42]));
        assert!(!csrf_matches(session.expose(), &flipped));
        assert!(!csrf_matches(session.expose(), session.expose()));
    }
}
