//! What a simulator starts with: seed data, the API applications it knows,
//! token lifetime, rate limit, injected faults and the webhook target, plus the
//! parsers the `parley halo-sim` command line uses for them.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Every scope name Halo's token endpoint knows (evidence, section 1.2). Anything
/// else, `read:actions` included, is refused with `invalid_scope`.
pub const KNOWN_SCOPES: [&str; 44] = [
    "all",
    "all:standard",
    "admin",
    "read:tickets",
    "edit:tickets",
    "read:calendar",
    "edit:calendar",
    "read:customers",
    "edit:customers",
    "read:crm",
    "edit:crm",
    "editMine:timesheets",
    "read:timesheets",
    "edit:timesheets",
    "read:contracts",
    "edit:contracts",
    "read:suppliers",
    "edit:suppliers",
    "read:items",
    "edit:items",
    "read:projects",
    "edit:projects",
    "read:sales",
    "edit:sales",
    "read:quotes",
    "edit:quotes",
    "read:sos",
    "edit:sos",
    "read:pos",
    "edit:pos",
    "read:invoices",
    "edit:invoices",
    "read:reporting",
    "edit:reporting",
    "read:software",
    "edit:software",
    "read:softwarelicensing",
    "edit:softwarelicensing",
    "read:kb",
    "edit:kb",
    "read:assets",
    "edit:assets",
    "access:chat",
    "access:adpasswordreset",
];

/// Whether Halo's token endpoint knows `scope`. Halo's scope names are matched
/// case-insensitively here because the evidence shows only their canonical spelling.
pub fn is_known_scope(scope: &str) -> bool {
    KNOWN_SCOPES
        .iter()
        .any(|known| known.eq_ignore_ascii_case(scope))
}

/// A configuration value that could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The seed name is neither `empty` nor `demo`.
    #[error("unknown seed {0:?}: expected \"empty\" or \"demo\"")]
    UnknownSeed(String),
    /// An application spec is not `ID:SECRET:SCOPES`.
    #[error("application spec must look like ID:SECRET:SCOPES (scopes space-separated), got {0}")]
    AppSpecShape(String),
    /// An application spec names a scope Halo does not know.
    #[error("unknown Halo scope {0:?} in application spec")]
    UnknownScope(String),
    /// A rate limit is not `REQUESTS/SECONDS` with both numbers above zero.
    #[error("rate limit must look like REQUESTS/SECONDS, e.g. 300/300, got {0:?}")]
    RateLimitShape(String),
    /// A webhook URL that is not an absolute http(s) URL (not quoted: it may
    /// hold credentials).
    #[error("webhook URL must be an absolute http:// or https:// URL")]
    WebhookUrl,
}

/// Everything a simulator starts with.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Which data the simulator holds at start (and after a reset).
    pub seed: Seed,
    /// The API applications that may ask for tokens.
    pub apps: Vec<App>,
    /// How long an access token stays valid.
    pub token_lifetime: Duration,
    /// Halo's request budget; `None` means unlimited, as on-premise Halo.
    pub rate_limit: Option<RateLimit>,
    /// Faults injected into Halo requests.
    pub faults: Faults,
    /// Where ticket and action changes are posted, if anywhere.
    pub webhook: Option<WebhookTarget>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: Seed::Empty,
            apps: Vec::new(),
            token_lifetime: Duration::from_secs(3600),
            rate_limit: None,
            faults: Faults::default(),
            webhook: None,
        }
    }
}

/// The data a simulator is seeded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Seed {
    /// Only the setup lists of a fresh Halo install (statuses, ticket types,
    /// priorities, outcomes, the Unassigned agent and the API agent).
    #[default]
    Empty,
    /// The fresh install plus clients, sites, contacts, agents, teams and a few
    /// tickets with history.
    Demo,
}

impl FromStr for Seed {
    type Err = ConfigError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim().to_ascii_lowercase().as_str() {
            "empty" => Ok(Seed::Empty),
            "demo" => Ok(Seed::Demo),
            _ => Err(ConfigError::UnknownSeed(name.to_owned())),
        }
    }
}

impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Seed::Empty => "empty",
            Seed::Demo => "demo",
        })
    }
}

/// An API application registered in Halo (Configuration > Integrations > Halo API),
/// logging in with client credentials as the API agent.
#[derive(Clone, PartialEq, Eq)]
pub struct App {
    /// The application's client id.
    pub client_id: String,
    /// The application's client secret.
    pub client_secret: String,
    /// The scopes (permissions) granted to the application.
    pub scopes: Vec<String>,
}

impl App {
    /// An application with `scopes` given space-separated, all of them names
    /// Halo knows.
    pub fn new(client_id: &str, client_secret: &str, scopes: &str) -> Result<App, ConfigError> {
        let scopes: Vec<String> = scopes.split_whitespace().map(str::to_owned).collect();
        if client_id.is_empty() || client_secret.is_empty() || scopes.is_empty() {
            return Err(ConfigError::AppSpecShape(format!("{client_id}:***")));
        }
        if let Some(unknown) = scopes.iter().find(|scope| !is_known_scope(scope)) {
            return Err(ConfigError::UnknownScope(unknown.clone()));
        }

        Ok(App {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            scopes,
        })
    }

    /// Parses `ID:SECRET:SCOPES`, scopes space-separated. Scope names contain
    /// colons themselves (`read:tickets`), so only the first two colons split.
    pub fn parse(spec: &str) -> Result<App, ConfigError> {
        let mut parts = spec.splitn(3, ':');
        let (Some(client_id), Some(client_secret), Some(scopes)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(ConfigError::AppSpecShape(redact_spec(spec)));
        };
        App::new(client_id, client_secret, scopes)
    }
}

impl FromStr for App {
    type Err = ConfigError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        App::parse(spec)
    }
}

/// Keeps a secret out of an error message that quotes a malformed spec.
fn redact_spec(spec: &str) -> String {
    match spec.split_once(':') {
        Some((client_id, _)) => format!("{client_id}:***"),
        None => "a spec without ':'".to_owned(),
    }
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A request budget over a rolling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed within any window.
    pub requests: u32,
    /// The rolling window.
    pub window: Duration,
}

impl RateLimit {
    /// Hosted Halo's documented budget: 300 requests per rolling 5 minutes.
    pub fn halo_cloud() -> RateLimit {
        RateLimit {
            requests: 300,
            window: Duration::from_secs(300),
        }
    }
}

impl FromStr for RateLimit {
    type Err = ConfigError;

    /// Parses `REQUESTS/SECONDS`, e.g. `300/300`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let shape_error = || ConfigError::RateLimitShape(text.to_owned());
        let (requests, seconds) = text.split_once('/').ok_or_else(shape_error)?;
        let requests: u32 = requests.trim().parse().map_err(|_| shape_error())?;
        let seconds: u64 = seconds.trim().parse().map_err(|_| shape_error())?;
        if requests == 0 || seconds == 0 {
            return Err(shape_error());
        }

        Ok(RateLimit {
            requests,
            window: Duration::from_secs(seconds),
        })
    }
}

/// Faults injected into Halo requests (the `/_sim` control API is never faulted).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    /// Added before every request is answered.
    pub latency: Duration,
    /// Share of requests (0.0 to 1.0) answered with a random 500.
    pub error_rate: f64,
    /// Answer the next `count` requests with HTTP `status`: `(count, status)`.
    pub fail_next: Option<(u32, u16)>,
    /// Close the connection of the next this-many requests without any response.
    pub drop_next: u32,
}

/// Where the simulator posts webhook payloads.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookTarget {
    /// The payload URL.
    pub url: String,
    /// Basic authentication `(username, password)`, as Halo's webhook settings allow.
    pub basic_auth: Option<(String, String)>,
}

impl FromStr for WebhookTarget {
    type Err = ConfigError;

    /// Parses a payload URL; credentials in it (`https://user:pass@host/hook`)
    /// become Basic authentication and are taken out of the URL.
    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let url = url.trim();
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(ConfigError::WebhookUrl);
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if !matches!(scheme, "http" | "https") || authority.is_empty() {
            return Err(ConfigError::WebhookUrl);
        }

        let Some((userinfo, host)) = authority.rsplit_once('@') else {
            return Ok(WebhookTarget {
                url: url.to_owned(),
                basic_auth: None,
            });
        };
        let (username, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        Ok(WebhookTarget {
            url: format!("{scheme}://{host}{path}"),
            basic_auth: Some((username.to_owned(), password.to_owned())),
        })
    }
}

impl fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &self.url)
            .field(
                "basic_auth",
                &self.basic_auth.as_ref().map(|(user, _)| (user, "***")),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_spec_splits_on_the_first_two_colons_only() {
        let app =
            App::parse("parley:s3cret:read:tickets edit:tickets read:customers read:crm").unwrap();

        assert_eq!(app.client_id, "parley");
        assert_eq!(app.client_secret, "s3cret");
        assert_eq!(
            app.scopes,
            ["read:tickets", "edit:tickets", "read:customers", "read:crm"]
        );
    }

    #[test]
    fn app_spec_refuses_unknown_scopes_and_missing_parts() {
        assert_eq!(
            App::parse("id:secret:read:actions"),
            Err(ConfigError::UnknownScope("read:actions".into()))
        );
        assert!(matches!(
            App::parse("id:secret"),
            Err(ConfigError::AppSpecShape(_))
        ));
        assert!(matches!(
            App::parse("id::all"),
            Err(ConfigError::AppSpecShape(_))
        ));
    }

    #[test]
    fn app_errors_and_debug_never_show_the_secret() {
        let error = App::parse("id:topsecret").unwrap_err().to_string();
        let debug = format!("{:?}", App::parse("id:topsecret:all").unwrap());

        assert!(!error.contains("topsecret"), "{error}");
        assert!(!debug.contains("topsecret"), "{debug}");
    }

    #[test]
    fn seed_names_parse_case_insensitively_and_others_are_refused() {
        assert_eq!("demo".parse(), Ok(Seed::Demo));
        assert_eq!("Empty".parse(), Ok(Seed::Empty));
        assert_eq!(
            "full".parse::<Seed>(),
            Err(ConfigError::UnknownSeed("full".into()))
        );
    }

    #[test]
    fn rate_limit_parses_requests_per_seconds() {
        assert_eq!("300/300".parse(), Ok(RateLimit::halo_cloud()));
        assert!("300".parse::<RateLimit>().is_err());
        assert!("0/60".parse::<RateLimit>().is_err());
        assert!("ten/60".parse::<RateLimit>().is_err());
    }

    #[test]
    fn webhook_urls_give_up_their_credentials_to_basic_auth() {
        let plain: WebhookTarget = "http://127.0.0.1:9000/halo".parse().unwrap();
        let with_user: WebhookTarget = "https://halo:s3cret@example.com/hook?x=1".parse().unwrap();

        assert_eq!(plain.url, "http://127.0.0.1:9000/halo");
        assert_eq!(plain.basic_auth, None);
        assert_eq!(with_user.url, "https://example.com/hook?x=1");
        assert_eq!(
            with_user.basic_auth,
            Some(("halo".to_owned(), "s3cret".to_owned()))
        );
        assert!("example.com/hook".parse::<WebhookTarget>().is_err());
        assert!("ftp://example.com".parse::<WebhookTarget>().is_err());
    }

    #[test]
    fn defaults_match_a_plain_halo() {
        let config = SimConfig::default();

        assert_eq!(config.seed, Seed::Empty);
        assert_eq!(config.token_lifetime, Duration::from_secs(3600));
        assert_eq!(config.rate_limit, None);
        assert_eq!(config.faults, Faults::default());
    }
}
