//! How to reach one Halo: site, credentials, timeouts, retries, the extra CA
//! certificate and the request budget.

use std::sync::Arc;
use std::time::Duration;

use crate::{Budget, DEFAULT_SCOPES, RetryPolicy, Secret, SiteUrl};

/// Everything a [`crate::HaloClient`] needs. Build it with [`HaloConfig::new`]
/// and change the public fields that differ from the defaults.
#[derive(Debug, Clone)]
pub struct HaloConfig {
    pub site: SiteUrl,
    pub client_id: String,
    pub client_secret: Secret,
    /// Sent as `?tenant=` on the token request, for hosted setups that need it.
    pub tenant: Option<String>,
    /// Space-separated scopes to request; `all` is allowed.
    pub scopes: String,
    /// The longest one request may take, answer included.
    pub timeout: Duration,
    /// The longest the TCP and TLS connection set-up may take.
    pub connect_timeout: Duration,
    /// How reads and token requests are retried.
    pub retry: RetryPolicy,
    /// A PEM file with extra CA certificates to trust, for a Halo behind an
    /// internal CA. The system's roots stay trusted too.
    pub ca_cert_pem: Option<Vec<u8>>,
    /// The request budget to draw from; `None` uses the process-wide budget of
    /// the site ([`Budget::shared_for`]).
    pub budget: Option<Arc<Budget>>,
}

impl HaloConfig {
    /// The defaults: Parley's scopes, 30 s per request, 10 s to connect, the
    /// default retry policy and the site's shared budget.
    pub fn new(site: SiteUrl, client_id: impl Into<String>, client_secret: Secret) -> Self {
        Self {
            site,
            client_id: client_id.into(),
            client_secret,
            tenant: None,
            scopes: DEFAULT_SCOPES.to_owned(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            ca_cert_pem: None,
            budget: None,
        }
    }
}
