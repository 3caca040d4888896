//! Configuration: defaults, then a TOML file, then `PARLEY_*` environment
//! variables, then command-line flags, each overriding the one before.
//!
//! Nested keys are spelled with `__` in the environment, for example
//! `PARLEY_LIMITS__MAX_MESSAGE_CHARS=2000`. A secret inside the database URL
//! is masked wherever the configuration is shown.

use crate::chat::Limits;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The example file `parley config example` prints, every key commented.
pub const EXAMPLE: &str = include_str!("../parley.example.toml");

#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the web server listens on.
    pub listen: SocketAddr,
    /// Where Parley keeps its files: the SQLite database, the key file.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://...`; by default a SQLite file in the
    /// data directory.
    pub database_url: Option<String>,
    /// The address users reach Parley at, when behind a proxy; decides
    /// whether cookies are marked Secure.
    pub public_url: Option<String>,
    /// How long a technician's sign-in lasts, in hours.
    pub session_hours: u32,
    /// How long an end user's widget session lasts, in hours.
    pub widget_session_hours: u32,
    /// Whether the PSA may be reached over plain http or at a private
    /// address (a Halo on the LAN, the simulator); off means https to a
    /// public host only.
    pub allow_private_psa: bool,
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("parley-data"),
            database_url: None,
            public_url: None,
            session_hours: 12,
            widget_session_hours: 8,
            allow_private_psa: false,
            limits: Limits::default(),
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("public_url", &self.public_url)
            .field("session_hours", &self.session_hours)
            .field("widget_session_hours", &self.widget_session_hours)
            .field("allow_private_psa", &self.allow_private_psa)
            .field("limits", &self.limits)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("could not read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration file {path} is not valid: {message}")]
    File { path: PathBuf, message: String },
    #[error("the environment variable {name} is not valid: {message}")]
    Environment { name: String, message: String },
}

impl Config {
    /// Reads the file (if given) over the defaults, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars())
    }

    fn load_from(
        file: Option<&Path>,
        environment: impl Iterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = toml::Table::try_from(Config::default())
            .expect("the default configuration is representable as TOML");

        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let from_file: toml::Table =
                text.parse()
                    .map_err(|error: toml::de::Error| ConfigError::File {
                        path: path.to_owned(),
                        message: error.to_string(),
                    })?;
            merge(&mut table, from_file);
            // Checked on its own so the error names the file, not the merge.
            Config::deserialize(table.clone()).map_err(|error| ConfigError::File {
                path: path.to_owned(),
                message: error.to_string(),
            })?;
        }

        for (name, value) in environment {
            let Some(key) = name.strip_prefix("PARLEY_") else {
                continue;
            };
            // Variables that belong to commands or to the test suite, not
            // to the file; every other PARLEY_ variable must be a key.
            if matches!(key, "LOG" | "CONFIG" | "MASTER_KEY" | "ADMIN_PASSWORD")
                || key.starts_with("TEST_")
            {
                continue;
            }
            let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
            set_path(&mut table, &path, parse_env_value(&value));
            Config::deserialize(table.clone()).map_err(|error| ConfigError::Environment {
                name: name.clone(),
                message: error.to_string(),
            })?;
        }

        Ok(Config::deserialize(table).expect("each layer was checked as it was added"))
    }

    /// The database URL in force: the configured one, or the data directory's
    /// SQLite file.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("parley.db").display()))
    }

    /// Whether users reach Parley over https, so cookies must be Secure.
    pub fn served_over_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
    }
}

/// An environment value as TOML: numbers and booleans as such, else text.
fn parse_env_value(value: &str) -> toml::Value {
    if let Ok(number) = value.parse::<i64>() {
        return toml::Value::Integer(number);
    }
    if let Ok(flag) = value.parse::<bool>() {
        return toml::Value::Boolean(flag);
    }
    if value.starts_with('[')
        && let Ok(table) = format!("v = {value}").parse::<toml::Table>()
        && let Some(list) = table.get("v")
    {
        return list.clone();
    }
    toml::Value::String(value.to_owned())
}

fn merge(into: &mut toml::Table, from: toml::Table) {
    for (key, value) in from {
        match (into.get_mut(&key), value) {
            (Some(toml::Value::Table(existing)), toml::Value::Table(nested)) => {
                merge(existing, nested)
            }
            (_, value) => {
                into.insert(key, value);
            }
        }
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    match path {
        [] => {}
        [last] => {
            table.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let nested = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(nested) = nested {
                set_path(nested, rest, value);
            }
        }
    }
}

/// A URL with any password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn the_example_file_is_valid_and_matches_the_defaults() {
        let from_example: Config = toml::from_str(EXAMPLE).unwrap();
        let defaults = Config::default();
        assert_eq!(from_example.listen, defaults.listen);
        assert_eq!(
            from_example.limits.max_message_chars,
            defaults.limits.max_message_chars
        );
    }

    #[test]
    fn the_environment_overrides_the_file_and_the_file_the_defaults() {
        let dir = crate::testing::TempDir::new("config");
        let file = dir.path().join("parley.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\n[limits]\nmax_message_chars = 10\n",
        )
        .unwrap();

        let config = Config::load_from(
            Some(&file),
            env(&[
                ("PARLEY_LIMITS__MAX_MESSAGE_CHARS", "20"),
                ("PARLEY_LOG", "debug"),
                ("PARLEY_ADMIN_PASSWORD", "not config"),
                ("PARLEY_TEST_POSTGRES_URL", "postgres://test"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();

        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.limits.max_message_chars, 20);
        assert_eq!(config.session_hours, 12);
    }

    #[test]
    fn a_mistyped_key_or_value_is_named() {
        let error =
            Config::load_from(None, env(&[("PARLEY_LISTEN", "not an address")])).unwrap_err();
        assert!(error.to_string().contains("PARLEY_LISTEN"), "{error}");

        let error = Config::load_from(None, env(&[("PARLEY_LISTN", "127.0.0.1:1")])).unwrap_err();
        assert!(error.to_string().contains("listn"), "{error}");
    }

    #[test]
    fn database_passwords_never_show() {
        let config = Config {
            database_url: Some("postgres://parley:hunter2@db.internal/parley".to_owned()),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("postgres://parley:***@db.internal/parley"),
            "{shown}"
        );
    }

    #[test]
    fn the_default_database_is_a_file_in_the_data_directory() {
        let config = Config {
            data_dir: PathBuf::from("/var/lib/parley"),
            ..Config::default()
        };
        assert_eq!(config.database_url(), "sqlite:///var/lib/parley/parley.db");
    }
}
