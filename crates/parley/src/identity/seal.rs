//! Secrets sealed at rest: AES-256-GCM under a master key that is never in the
//! database.
//!
//! The key comes from `PARLEY_MASTER_KEY` (base64 of 32 bytes) or, when that
//! is unset, from `master.key` in the data directory, created with mode 0600
//! on first run. A sealed value reads `v1:KEYID:BASE64(nonce || ciphertext)`;
//! the key id (a short hash of the key) lets a wrong key be named as such
//! instead of failing as garbage, and the purpose a value was sealed for is
//! bound to it as associated data, so a sealed value cannot be moved to
//! another field.

use aes_gcm::aead::{Aead, Generate, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable that holds the master key.
pub const MASTER_KEY_VAR: &str = "PARLEY_MASTER_KEY";

/// The key file's name in the data directory.
pub const KEY_FILE: &str = "master.key";

const NONCE_BYTES: usize = 12;

/// Where the master key came from, to name it when it cannot open a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Environment,
    File(PathBuf),
    /// Made in memory by a caller (key rotation, tests).
    Given,
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Environment => write!(f, "the {MASTER_KEY_VAR} environment variable"),
            KeySource::File(path) => write!(f, "the key file {}", path.display()),
            KeySource::Given => f.write_str("the key given"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("{MASTER_KEY_VAR} must be the base64 of exactly 32 bytes ({0})")]
    BadKeyText(String),

    #[error("could not read or create the key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "the stored secret was sealed under another master key (key id {stored}) than \
         {key_source} (key id {current}); start Parley with the key it was sealed with, or \
         enter the secret again"
    )]
    WrongKey {
        stored: String,
        current: String,
        key_source: KeySource,
    },

    #[error(
        "the stored secret could not be opened with {key_source}: it is damaged or was \
         sealed for another field; enter the secret again"
    )]
    Damaged { key_source: KeySource },

    #[error("the stored secret is not in a format this version of Parley knows")]
    UnknownFormat,
}

/// The master key. Its bytes never print.
#[derive(Clone)]
pub struct MasterKey {
    key: [u8; 32],
    id: String,
    source: KeySource,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl MasterKey {
    /// The key from the environment if set, else the data directory's key
    /// file, created on first run.
    pub fn load(data_dir: &Path) -> Result<Self, SealError> {
        match std::env::var(MASTER_KEY_VAR) {
            Ok(text) if !text.trim().is_empty() => Self::from_text(&text, KeySource::Environment),
            _ => Self::from_file(&data_dir.join(KEY_FILE)),
        }
    }

    /// A fresh random key.
    pub fn generate() -> Self {
        let key: [u8; 32] = Key::<Aes256Gcm>::generate().into();
        Self::from_bytes(key, KeySource::Given)
    }

    /// Reads a key file, creating it (mode 0600) with a new key if missing.
    pub fn from_file(path: &Path) -> Result<Self, SealError> {
        let file_error = |source| SealError::KeyFile {
            path: path.to_owned(),
            source,
        };
        if !path.exists() {
            let key = Self::generate();
            write_private(path, &key.to_text()).map_err(file_error)?;
            tracing::info!(path = %path.display(), "created a new master key file");
            return Ok(Self {
                source: KeySource::File(path.to_owned()),
                ..key
            });
        }

        let text = std::fs::read_to_string(path).map_err(file_error)?;
        Self::from_text(&text, KeySource::File(path.to_owned()))
    }

    pub fn from_text(text: &str, source: KeySource) -> Result<Self, SealError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| SealError::BadKeyText("it is not base64".to_owned()))?;
        let key: [u8; 32] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            SealError::BadKeyText(format!("it is {} bytes", bytes.len()))
        })?;
        Ok(Self::from_bytes(key, source))
    }

    fn from_bytes(key: [u8; 32], source: KeySource) -> Self {
        let digest = Sha256::digest(key);
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        Self { key, id, source }
    }

    /// The key as base64 text, for writing it to a key file.
    pub fn to_text(&self) -> String {
        STANDARD.encode(self.key)
    }

    /// A short, non-secret fingerprint of the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// Seals `secret` for `purpose` (for example `connector.client_secret`).
    pub fn seal(&self, secret: &str, purpose: &str) -> String {
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.key));
        let nonce = Nonce::generate();
        let payload = Payload {
            msg: secret.as_bytes(),
            aad: purpose.as_bytes(),
        };
        let ciphertext = cipher
            .encrypt(&nonce, payload)
            .expect("AES-GCM sealing only fails for inputs of gigabytes");

        let mut sealed = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        format!("v1:{}:{}", self.id, STANDARD.encode(sealed))
    }

    /// Opens a value sealed for `purpose`, naming the key source on failure.
    pub fn open(&self, sealed: &str, purpose: &str) -> Result<String, SealError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some("v1"), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::UnknownFormat);
        };
        if key_id != self.id {
            return Err(SealError::WrongKey {
                stored: key_id.to_owned(),
                current: self.id.clone(),
                key_source: self.source.clone(),
            });
        }

        let damaged = || SealError::Damaged {
            key_source: self.source.clone(),
        };
        let bytes = STANDARD.decode(body).map_err(|_| damaged())?;
        if bytes.len() < NONCE_BYTES {
            return Err(damaged());
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce = Nonce::try_from(nonce).map_err(|_| damaged())?;
        let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(self.key));
        let plaintext = cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| damaged())?;
        String::from_utf8(plaintext).map_err(|_| damaged())
    }
}

/// Writes a file only its owner can read, replacing any file at `path`
/// through a rename so that a crash never leaves half a key.
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;

    let temporary = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempDir;

    #[test]
    fn a_sealed_secret_opens_with_its_key_and_purpose_only() {
        let key = MasterKey::generate();
        let sealed = key.seal("s3cret", "connector.client_secret");

        assert!(!sealed.contains("s3cret"));
        assert_eq!(
            key.open(&sealed, "connector.client_secret").unwrap(),
            "s3cret"
        );
        assert!(matches!(
            key.open(&sealed, "workspace.widget_secret"),
            Err(SealError::Damaged { .. })
        ));
        assert!(matches!(
            MasterKey::generate().open(&sealed, "connector.client_secret"),
            Err(SealError::WrongKey { .. })
        ));
        assert_ne!(
            sealed,
            key.seal("s3cret", "connector.client_secret"),
            "fresh nonce each time"
        );
    }

    #[test]
    fn a_wrong_key_names_where_the_key_came_from() {
        let dir = TempDir::new("seal");
        let sealed = MasterKey::generate().seal("x", "p");
        let from_file = MasterKey::from_file(&dir.path().join(KEY_FILE)).unwrap();

        let error = from_file.open(&sealed, "p").unwrap_err().to_string();

        assert!(error.contains("master.key"), "{error}");
        assert!(error.contains("another master key"), "{error}");
    }

    #[test]
    fn the_key_file_is_created_once_and_private() {
        let dir = TempDir::new("seal");
        let path = dir.path().join(KEY_FILE);

        let first = MasterKey::from_file(&path).unwrap();
        let second = MasterKey::from_file(&path).unwrap();

        assert_eq!(first.id(), second.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn key_text_must_be_32_bytes_of_base64() {
        assert!(matches!(
            MasterKey::from_text("not base64!", KeySource::Environment),
            Err(SealError::BadKeyText(_))
        ));
        let short = STANDARD.encode([1u8; 16]);
        let error = MasterKey::from_text(&short, KeySource::Environment).unwrap_err();
        assert!(error.to_string().contains("16 bytes"), "{error}");
    }

    #[test]
    fn the_key_never_prints() {
        let key = MasterKey::generate();
        assert!(!format!("{key:?}").contains(&key.to_text()));
    }
}
