//! Passwords for admin and technician accounts.
//!
//! Passwords are hashed with Argon2id into a self-describing PHC string
//! (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) with a fresh random salt, so the
//! store keeps one text column and verification reads the cost parameters back
//! from the string itself. That means a hash made with [`cheap_params`] in a
//! test still verifies, and a future change of the default cost does not break
//! the hashes already stored.
//!
//! - [`hash_password`] hashes at the argon2 crate's recommended cost (the OWASP
//!   baseline: 19 MiB, 2 passes, 1 lane); [`hash_password_with`] takes explicit
//!   [`HashParams`] for tests and benchmarks.
//! - [`verify_password`] answers `Ok(false)` for a wrong password and an error
//!   only when the stored hash itself is unusable, so a handler can tell "wrong
//!   password" (401) from "our data is broken" (500).
//! - [`verify_dummy_password`] spends the same time as a real check; call it
//!   when the account does not exist so response times do not reveal which
//!   email addresses have accounts.
//! - [`check_new_password`] is the policy for a new or changed password, with
//!   messages that can be shown to the person choosing it.

use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, PasswordHasher, PasswordVerifier, Version};

/// Argon2 cost parameters (memory, passes, lanes), re-exported so callers do not
/// need to name the argon2 crate.
pub use argon2::Params as HashParams;

/// The fewest characters a new password may have.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// The most bytes a password may have; this bounds the work one sign-in attempt
/// can make the server do.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why a password could not be hashed or checked.
///
/// None of these is "wrong password": that is `Ok(false)` from
/// [`verify_password`]. These are faults to log and fix, never to show.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The stored hash is not a PHC string we can verify against (corrupt,
    /// truncated, or made by an algorithm other than Argon2).
    #[error("the stored password hash is malformed or unsupported: {0}")]
    MalformedHash(#[source] argon2::password_hash::Error),

    /// Argon2 itself failed (for example the random salt could not be drawn).
    #[error("could not hash the password: {0}")]
    Hashing(#[source] argon2::password_hash::Error),
}

/// Why a new password is refused. The messages are written for the person
/// choosing the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("Use at least {min} characters for your password.")]
    TooShort {
        /// The minimum number of characters.
        min: usize,
    },

    /// More than [`MAX_PASSWORD_BYTES`] bytes.
    #[error("Passwords can be at most {max_bytes} bytes long; choose a shorter one.")]
    TooLong {
        /// The maximum number of bytes (UTF-8).
        max_bytes: usize,
    },

    /// Only spaces, tabs or other whitespace.
    #[error("A password cannot be only spaces; include some letters, digits or symbols.")]
    AllWhitespace,
}

/// Hashes `password` with Argon2id at the default (production) cost and a
/// random salt, returning the PHC string to store.
///
/// # Errors
///
/// [`PasswordError::Hashing`] if argon2 fails, which in practice means the
/// system random number generator is unavailable.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    hash_password_with(password, &HashParams::DEFAULT)
}

/// Hashes `password` with Argon2id at the given cost and a random salt.
///
/// Production code should call [`hash_password`]; this exists so tests can use
/// [`cheap_params`] and stay fast.
///
/// # Errors
///
/// [`PasswordError::Hashing`] if argon2 fails.
pub fn hash_password_with(password: &str, params: &HashParams) -> Result<String, PasswordError> {
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());

    let hash = argon2
        .hash_password(password.as_bytes())
        .map_err(PasswordError::Hashing)?;

    Ok(hash.to_string())
}

/// The cheapest parameters argon2 accepts. For tests only: a hash made with
/// these can be brute-forced quickly.
pub fn cheap_params() -> HashParams {
    CHEAP_PARAMS
}

/// The argon2 minimums (8 KiB, one pass, one lane), checked when the crate is
/// compiled: `Params::new` is a `const fn`, so an invalid set fails the build
/// instead of a test run.
const CHEAP_PARAMS: HashParams = match HashParams::new(
    HashParams::MIN_M_COST,
    HashParams::MIN_T_COST,
    HashParams::MIN_P_COST,
    None,
) {
    Ok(params) => params,
    Err(_) => panic!("the argon2 minimum parameters are valid by definition"),
};

/// Checks `password` against a stored PHC string.
///
/// Returns `Ok(true)` when it matches and `Ok(false)` when it does not. The
/// cost parameters are read from `phc`, so hashes made at any cost verify.
///
/// # Errors
///
/// [`PasswordError::MalformedHash`] when `phc` cannot be parsed or names an
/// algorithm or parameters that Argon2 does not support.
pub fn verify_password(password: &str, phc: &str) -> Result<bool, PasswordError> {
    let parsed = PasswordHash::new(phc)
        .map_err(|e| PasswordError::MalformedHash(argon2::password_hash::Error::from(e)))?;

    // No password this long can have been set through `check_new_password`, so
    // skip the expensive hash instead of letting a huge body cost us CPU.
    if password.len() > MAX_PASSWORD_BYTES {
        return Ok(false);
    }

    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(PasswordError::MalformedHash(e)),
    }
}

/// Spends about as long as [`verify_password`] on a real account, and always
/// answers "no".
///
/// Call this when the email address has no account, so that an attacker cannot
/// learn which addresses exist by timing the sign-in form.
pub fn verify_dummy_password(password: &str) {
    static DUMMY_HASH: OnceLock<Option<String>> = OnceLock::new();

    // Hashed once per process at the production cost, so that every later call
    // costs one verification, the same as for a real account.
    let dummy = DUMMY_HASH.get_or_init(|| hash_password("parley-dummy-password-for-timing").ok());

    if let Some(phc) = dummy {
        // The result is irrelevant: only the time spent matters.
        let _ = verify_password(password, phc);
    }
}

/// Checks a new password against the policy: at least [`MIN_PASSWORD_CHARS`]
/// characters, at most [`MAX_PASSWORD_BYTES`] bytes, and not only whitespace.
///
/// The password is checked as typed, never trimmed: leading or trailing spaces
/// are part of it.
///
/// # Errors
///
/// The first rule that fails, as a [`PasswordPolicyError`] whose message can be
/// shown to the user.
pub fn check_new_password(password: &str) -> Result<(), PasswordPolicyError> {
    // Bytes first, so that counting characters never walks a huge input.
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordPolicyError::TooLong {
            max_bytes: MAX_PASSWORD_BYTES,
        });
    }

    // Characters, not bytes: "ééééé" is five characters to the person typing
    // it, even though it is ten bytes.
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooShort {
            min: MIN_PASSWORD_CHARS,
        });
    }

    if password.chars().all(char::is_whitespace) {
        return Err(PasswordPolicyError::AllWhitespace);
    }

    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap_hash(password: &str) -> String {
        hash_password_with(password, &cheap_params()).unwrap()
    }

    #[test]
    fn hash_then_verify_round_trips() {
        let phc = cheap_hash("correct horse battery staple");

        assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
        assert!(verify_password("correct horse battery staple", &phc).unwrap());
    }

    #[test]
    fn wrong_password_is_false_not_an_error() {
        let phc = cheap_hash("correct horse battery staple");

        assert!(!verify_password("correct horse battery stapler", &phc).unwrap());
        assert!(!verify_password("", &phc).unwrap());
    }

    #[test]
    fn each_hash_has_its_own_salt() {
        let first = cheap_hash("same password here");
        let second = cheap_hash("same password here");

        assert_ne!(first, second);
        assert!(verify_password("same password here", &first).unwrap());
        assert!(verify_password("same password here", &second).unwrap());
    }

    #[test]
    fn cheap_params_are_the_minimum_cost() {
        let phc = cheap_hash("whatever password");

        assert!(phc.contains("m=8,t=1,p=1"), "{phc}");
    }

    #[test]
    fn production_hash_uses_default_cost() {
        let phc = hash_password("a production password").unwrap();

        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("a production password", &phc).unwrap());
    }

    #[test]
    fn malformed_stored_hash_is_an_error() {
        for bad in ["", "not a hash", "$argon2id$v=19$m=8,t=1,p=1$", "$$$"] {
            let result = verify_password("anything at all", bad);

            assert!(
                matches!(result, Err(PasswordError::MalformedHash(_))),
                "{bad:?} gave {result:?}"
            );
        }
    }

    #[test]
    fn hash_from_another_algorithm_is_an_error() {
        // A well-formed PHC string for an algorithm we do not support.
        let phc = "$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNo";

        let result = verify_password("anything at all", phc);

        assert!(matches!(result, Err(PasswordError::MalformedHash(_))));
    }

    #[test]
    fn overlong_password_never_matches() {
        let phc = cheap_hash("short enough password");
        let huge = "x".repeat(MAX_PASSWORD_BYTES + 1);

        assert!(!verify_password(&huge, &phc).unwrap());
    }

    #[test]
    fn dummy_verification_does_not_panic() {
        verify_dummy_password("someone guessing");
        verify_dummy_password("");
    }

    #[test]
    fn policy_accepts_reasonable_passwords() {
        assert_eq!(check_new_password("0123456789"), Ok(()));
        assert_eq!(check_new_password("  padded password  "), Ok(()));
        assert_eq!(check_new_password(&"a".repeat(MAX_PASSWORD_BYTES)), Ok(()));
    }

    #[test]
    fn policy_counts_characters_not_bytes() {
        // Nine two-byte characters: 18 bytes but still too short.
        assert_eq!(
            check_new_password("ééééééééé"),
            Err(PasswordPolicyError::TooShort { min: 10 })
        );
        assert_eq!(check_new_password("éééééééééé"), Ok(()));
    }

    #[test]
    fn policy_refuses_short_long_and_blank() {
        assert_eq!(
            check_new_password(""),
            Err(PasswordPolicyError::TooShort { min: 10 })
        );
        assert_eq!(
            check_new_password("123456789"),
            Err(PasswordPolicyError::TooShort { min: 10 })
        );
        assert_eq!(
            check_new_password(&"a".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(PasswordPolicyError::TooLong { max_bytes: 1024 })
        );
        assert_eq!(
            check_new_password(" \t \n          "),
            Err(PasswordPolicyError::AllWhitespace)
        );
    }

    #[test]
    fn policy_messages_are_fit_for_users() {
        assert_eq!(
            PasswordPolicyError::TooShort { min: 10 }.to_string(),
            "Use at least 10 characters for your password."
        );
        assert!(
            PasswordPolicyError::AllWhitespace
                .to_string()
                .contains("only spaces")
        );
    }
}
