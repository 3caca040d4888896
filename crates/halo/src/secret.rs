//! A wrapper for values that must never reach a log line, an error message or a
//! serialized report: the client secret and the access tokens Halo issues.

use std::fmt;

use serde::{Deserialize, Deserializer};

/// What `Debug` and `Display` print instead of the value.
const REDACTED: &str = "[redacted]";

/// A secret string. Printing it shows `[redacted]`; the value is reachable only
/// through [`Secret::expose`], so every use of it is explicit and easy to audit.
///
/// It deliberately does not implement `Serialize`: a secret must be written out
/// on purpose (`expose()`), never by deriving on a struct that holds one.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is empty (or only spaces), which is never a usable secret.
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let secret = Secret::new("hunter2");

        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some([redacted])");
    }

    #[test]
    fn expose_gives_the_value() {
        assert_eq!(Secret::from("hunter2").expose(), "hunter2");
    }

    #[test]
    fn a_struct_holding_a_secret_debug_prints_redacted() {
        #[derive(Debug)]
        #[allow(dead_code)] // Only Debug output is under test.
        struct Credentials {
            client_id: String,
            client_secret: Secret,
        }

        let credentials = Credentials {
            client_id: "parley".into(),
            client_secret: Secret::new("s3cr3t-value"),
        };
        let printed = format!("{credentials:?}");

        assert!(printed.contains("parley"));
        assert!(!printed.contains("s3cr3t-value"));
    }

    #[test]
    fn deserializes_from_a_json_string() {
        let secret: Secret = serde_json::from_str("\"abc\"").expect("a JSON string");

        assert_eq!(secret.expose(), "abc");
    }

    #[test]
    fn blank_secrets_are_recognised() {
        assert!(Secret::new("  ").is_blank());
        assert!(!Secret::new("x").is_blank());
    }
}
