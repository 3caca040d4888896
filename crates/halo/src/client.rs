//! [`HaloClient`]: one Halo site's connection, and the request machinery every
//! endpoint goes through (budget, bearer token, one re-authentication on 401,
//! retries for reads, status mapping, decoding, tracing).
//!
//! The endpoints themselves live in `api/`, one file per resource.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::auth::{Token, TokenCache};
use crate::resolve::GuardedResolver;
use crate::response::{self, Endpoint, Reply};
use crate::{Budget, HaloConfig, HaloError, HostPolicy, RetryPolicy, Secret, SiteUrl};

/// A client for one Halo site and application. Cheap to clone: clones share
/// the connection pool, the cached token and the request budget.
#[derive(Debug, Clone)]
pub struct HaloClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    site: SiteUrl,
    client_id: String,
    client_secret: Secret,
    tenant: Option<String>,
    scopes: String,
    timeout: Duration,
    retry: RetryPolicy,
    budget: Arc<Budget>,
    token: TokenCache,
}

/// What the client sends in a request body.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    None,
    Json(serde_json::Value),
    /// The client-credentials form, built from the client's own secret at send
    /// time so that no request value ever holds it.
    Credentials,
}

/// One call to Halo, before it is sent.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    method: Method,
    endpoint: Endpoint,
    /// The path under `/api/` (e.g. `Tickets/12`), or `auth/token`.
    path: String,
    query: Vec<(&'static str, String)>,
    body: Body,
}

impl Request {
    /// A GET of an API path.
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            endpoint: Endpoint::Api,
            path: path.into(),
            query: Vec::new(),
            body: Body::None,
        }
    }

    /// A POST of a JSON body to an API path.
    pub(crate) fn post(path: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            method: Method::POST,
            endpoint: Endpoint::Api,
            path: path.into(),
            query: Vec::new(),
            body: Body::Json(body),
        }
    }

    /// The token request.
    pub(crate) fn token() -> Self {
        Self {
            method: Method::POST,
            endpoint: Endpoint::Token,
            path: "auth/token".to_owned(),
            query: Vec::new(),
            body: Body::Credentials,
        }
    }

    /// Adds a query parameter.
    pub(crate) fn query(mut self, key: &'static str, value: impl ToString) -> Self {
        self.query.push((key, value.to_string()));
        self
    }

    /// Adds a query parameter when there is a value.
    pub(crate) fn query_opt(self, key: &'static str, value: Option<impl ToString>) -> Self {
        match value {
            Some(value) => self.query(key, value),
            None => self,
        }
    }

    /// Adds `key=true` when the flag is set (Halo reads an absent flag as false).
    pub(crate) fn flag(self, key: &'static str, set: bool) -> Self {
        if set { self.query(key, "true") } else { self }
    }

    /// The call as errors and logs name it, e.g. `GET Tickets/12`.
    pub(crate) fn call(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The resource (first path segment), for the permission table.
    fn resource(&self) -> &str {
        self.path.split('/').next().unwrap_or_default()
    }

    /// Whether sending it twice is harmless: reads, and the token request
    /// (which only issues another token).
    fn is_repeatable(&self) -> bool {
        self.method == Method::GET || self.endpoint == Endpoint::Token
    }
}

impl HaloClient {
    /// Builds a client; fails only on a local problem (an unreadable CA
    /// certificate), never on Halo being unreachable.
    pub fn new(config: HaloConfig) -> Result<Self, HaloError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            // A redirect could carry the bearer token to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("parley-halo/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(GuardedResolver::new(config.site.policy()))
            .https_only(config.site.policy() == HostPolicy::PublicOnly);

        if let Some(pem) = &config.ca_cert_pem {
            let certificates = reqwest::Certificate::from_pem_bundle(pem).map_err(|error| {
                HaloError::CaCertificate {
                    reason: error.to_string(),
                }
            })?;
            if certificates.is_empty() {
                return Err(HaloError::CaCertificate {
                    reason: "the file holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
                        .to_owned(),
                });
            }
            builder = builder.tls_certs_merge(certificates);
        }

        let http = builder.build().map_err(|error| HaloError::Setup {
            reason: error.to_string(),
        })?;
        let budget = config
            .budget
            .unwrap_or_else(|| Budget::shared_for(&config.site));

        Ok(Self {
            inner: Arc::new(Inner {
                http,
                site: config.site,
                client_id: config.client_id,
                client_secret: config.client_secret,
                tenant: config.tenant.filter(|t| !t.trim().is_empty()),
                scopes: normalise_scopes(&config.scopes),
                timeout: config.timeout,
                retry: config.retry,
                budget,
                token: TokenCache::default(),
            }),
        })
    }

    /// The Halo site this client talks to.
    pub fn site(&self) -> &SiteUrl {
        &self.inner.site
    }

    /// The request budget this client draws from.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.inner.budget
    }

    /// The scopes this client requests.
    pub fn requested_scopes(&self) -> &str {
        &self.inner.scopes
    }

    pub(crate) fn token_cache(&self) -> &TokenCache {
        &self.inner.token
    }

    /// GETs and decodes a JSON answer.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        request: Request,
    ) -> Result<T, HaloError> {
        let reply = self.send(&request).await?;
        response::decode(&request.call(), &reply.body)
    }

    /// GETs anonymously (no token) and decodes a JSON answer.
    pub(crate) async fn get_json_anonymous<T: DeserializeOwned>(
        &self,
        request: Request,
    ) -> Result<T, HaloError> {
        let reply = self.execute(&request, false).await?;
        response::decode(&request.call(), &reply.body)
    }

    /// POSTs one record the way Halo wants it (a one-element array) and decodes
    /// the saved record from the answer (an object, or an array holding it).
    pub(crate) async fn post_one<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        record: &B,
    ) -> Result<T, HaloError> {
        let body = serde_json::to_value([record]).map_err(|error| HaloError::Setup {
            reason: format!("the request body could not be built: {error}"),
        })?;
        let request = Request::post(path, body);

        let reply = self.send(&request).await?;
        response::decode_one(&request.call(), &reply.body)
    }

    /// Sends an authenticated request and returns its successful answer.
    pub(crate) async fn send(&self, request: &Request) -> Result<Reply, HaloError> {
        self.execute(request, true).await
    }

    /// Sends `request` until it succeeds or fails for good: a 401 on an API
    /// call forgets the token and tries once more with a new one; transient
    /// failures of repeatable requests are retried per the retry policy.
    pub(crate) async fn execute(
        &self,
        request: &Request,
        authenticated: bool,
    ) -> Result<Reply, HaloError> {
        let call = request.call();
        let started = Instant::now();
        let mut attempts = 0;
        let mut reauthenticated = false;

        loop {
            let token = if authenticated {
                Some(self.token().await?)
            } else {
                None
            };

            attempts += 1;
            let error = match self.attempt(request, token.as_deref()).await {
                Ok(reply) if reply.status.is_success() => return Ok(reply),
                Ok(reply) if reply.status == 401 && request.endpoint == Endpoint::Api => {
                    if reauthenticated || token.is_none() {
                        return Err(self.status_error(request, &reply, token.as_deref()));
                    }
                    tracing::info!(call = %call, "Halo refused the token; signing in again");
                    reauthenticated = true;
                    attempts -= 1;
                    if let Some(token) = &token {
                        self.inner.token.forget(token).await;
                    }
                    continue;
                }
                Ok(reply) => self.status_error(request, &reply, token.as_deref()),
                Err(error) => error,
            };

            // An exhausted budget already waited as long as it may.
            let may_retry = request.is_repeatable()
                && error.is_retryable()
                && !matches!(error, HaloError::BudgetExhausted { .. });
            if !may_retry {
                return Err(error);
            }
            let retry_after = match &error {
                HaloError::RateLimited { retry_after, .. } => *retry_after,
                _ => None,
            };
            let Some(delay) =
                self.inner
                    .retry
                    .delay_before_next(attempts, retry_after, started.elapsed())
            else {
                return Err(error);
            };
            // The cause is logged by kind and status only: error messages can
            // carry text from Halo's answer body.
            tracing::warn!(
                call = %call,
                attempt = attempts,
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                cause = error.kind(),
                status = ?error.status(),
                "retrying a Halo request"
            );
            tokio::time::sleep(delay).await;
        }
    }

    /// One HTTP exchange: a budget slot, the request, the whole answer.
    async fn attempt(&self, request: &Request, token: Option<&Token>) -> Result<Reply, HaloError> {
        self.inner.budget.acquire().await?;

        let inner = &self.inner;
        let url = match request.endpoint {
            Endpoint::Api => inner.site.api_url(&request.path),
            Endpoint::Token => inner.site.token_url(),
        };
        let mut builder = inner
            .http
            .request(request.method.clone(), url)
            .query(&request.query);
        if let Some(token) = token {
            builder = builder.bearer_auth(token.access.expose());
        }
        builder = match &request.body {
            Body::None => builder,
            Body::Json(body) => builder.json(body),
            Body::Credentials => {
                if let Some(tenant) = &inner.tenant {
                    builder = builder.query(&[("tenant", tenant)]);
                }
                builder.form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", inner.client_id.as_str()),
                    ("client_secret", inner.client_secret.expose()),
                    ("scope", inner.scopes.as_str()),
                ])
            }
        };

        let span = tracing::info_span!(
            "halo_request",
            method = %request.method,
            endpoint = %request.path,
            status = tracing::field::Empty,
        );
        async {
            let call = request.call();
            let transport_error = |error: reqwest::Error| {
                response::transport_error(&error, &call, inner.site.host(), inner.timeout)
            };

            let answer = builder.send().await.map_err(transport_error)?;
            let status = answer.status();
            tracing::Span::current().record("status", status.as_u16());
            let headers = answer.headers().clone();
            let body = answer.bytes().await.map_err(transport_error)?.to_vec();
            tracing::debug!("Halo answered");

            Ok(Reply {
                status,
                headers,
                body,
            })
        }
        .instrument(span)
        .await
    }

    fn status_error(&self, request: &Request, reply: &Reply, token: Option<&Token>) -> HaloError {
        let mut secrets = vec![self.inner.client_secret.expose()];
        if let Some(token) = token {
            secrets.push(token.access.expose());
        }

        response::status_error(
            request.endpoint,
            &request.call(),
            request.resource(),
            &self.inner.scopes,
            reply,
            &secrets,
        )
    }
}

/// Scopes as one space-separated line, whatever spacing was configured.
fn normalise_scopes(scopes: &str) -> String {
    let scopes: Vec<&str> = scopes.split_whitespace().collect();
    if scopes.is_empty() {
        crate::DEFAULT_SCOPES.to_owned()
    } else {
        scopes.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_normalised_and_default_when_blank() {
        assert_eq!(
            normalise_scopes("  read:tickets \n edit:tickets "),
            "read:tickets edit:tickets"
        );
        assert_eq!(normalise_scopes(" "), crate::DEFAULT_SCOPES);
    }

    #[test]
    fn a_request_names_its_call_and_resource() {
        let request = Request::get("Tickets/12").query("includedetails", "true");

        assert_eq!(request.call(), "GET Tickets/12");
        assert_eq!(request.resource(), "Tickets");
        assert!(request.is_repeatable());
        assert!(!Request::post("Tickets", serde_json::json!([])).is_repeatable());
        assert!(Request::token().is_repeatable());
    }

    #[test]
    fn an_unreadable_ca_certificate_is_refused_clearly() {
        let site = SiteUrl::parse("https://acme.halopsa.com", HostPolicy::PublicOnly)
            .expect("valid")
            .site;
        let mut config = HaloConfig::new(site, "parley", Secret::new("secret"));
        config.ca_cert_pem = Some(b"not a certificate".to_vec());

        let error = HaloClient::new(config).expect_err("no certificate in the file");

        assert!(
            matches!(error, HaloError::CaCertificate { .. }),
            "{error:?}"
        );
        assert!(error.fix().is_some_and(|fix| fix.contains("PEM")));
    }
}
