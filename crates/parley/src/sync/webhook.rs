//! The PSA webhook's own secret, and how a delivery proves it has it.
//!
//! Halo's "Standard webhook" can authenticate with Basic only (or not at
//! all; halo-api.md §5), so a delivery presents the secret as the Basic
//! password of the user [`WEBHOOK_USERNAME`]. A Halo set up without
//! authentication can put it in the URL as `?secret=` instead (it then shows
//! in Halo's delivery log, so Basic is what the page recommends), and other
//! senders may use the [`SECRET_HEADER`] header.
//!
//! The secret is random per workspace and sealed under the master key like
//! the other secrets. Unlike the Halo client secret, the admin must see it
//! once to paste it into Halo: it is shown on an explicit admin action only,
//! once ([`Webhook::reveal`]); after that only a rotation shows a new one.
//! Neither is ever logged; both are written to the audit log (without the
//! secret).

use crate::identity::{MasterKey, SealError};
use crate::store::{Millis, Store, StoreError, WorkspaceId, now_millis};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use subtle::ConstantTimeEq;

/// What the webhook secret is sealed for.
pub const WEBHOOK_SECRET_PURPOSE: &str = "psa.webhook_secret";

/// The Basic user name Halo sends with the secret as its password.
pub const WEBHOOK_USERNAME: &str = "parley";

/// Where Halo posts.
pub const WEBHOOK_PATH: &str = "/api/v1/psa/webhook";

/// The header a sender that is not Halo may carry the secret in.
pub const SECRET_HEADER: &str = "x-parley-webhook-secret";

/// Random bytes in a secret (43 characters of base64url).
const SECRET_BYTES: usize = 32;

/// How often the arrival of deliveries is written down.
const RECEIVED_EVERY_MS: Millis = 60_000;

/// The Halo events worth sending, in Halo's words where they are known
/// (halo-api.md §5: "New Ticket Logged" is real; the event list mirrors the
/// notification profiles, whose exact names vary by version).
pub const SUGGESTED_EVENTS: [&str; 3] = [
    "Action added to a ticket (agent replies, status changes)",
    "Ticket status changed",
    "Ticket updated",
];

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(
        "the webhook secret was shown once already; rotate it to get a new one (then update it in Halo)"
    )]
    AlreadyRevealed,
    /// The stored secret cannot be opened with this master key.
    #[error(transparent)]
    Sealed(#[from] SealError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the Connectors page shows about the webhook; never the secret.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct WebhookInfo {
    /// The path Halo posts to, under Parley's address.
    pub path: &'static str,
    /// The full address, when Parley knows its public URL.
    pub url: Option<String>,
    pub method: &'static str,
    pub authentication: &'static str,
    pub username: &'static str,
    /// Whether a secret exists yet (one is made on the first reveal).
    pub secret_set: bool,
    /// Whether it was shown already (then only a rotation shows one).
    pub revealed: bool,
    pub created_at: Option<String>,
    pub last_received_at: Option<String>,
    pub events: Vec<&'static str>,
}

/// What a delivery presented.
#[derive(Default)]
pub struct Presented {
    /// Basic credentials (user, password).
    pub basic: Option<(String, String)>,
    /// `?secret=` or the [`SECRET_HEADER`] header.
    pub secret: Option<String>,
}

impl std::fmt::Debug for Presented {
    // Presented secrets are as secret as the real one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("basic_user", &self.basic.as_ref().map(|(user, _)| user))
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl Presented {
    /// Why the credentials are refused, in words for the log (never a value).
    fn describe(&self) -> &'static str {
        match (&self.basic, &self.secret) {
            (None, None) => "no credentials",
            (Some((user, _)), _) if user != WEBHOOK_USERNAME => "unknown Basic user",
            (Some(_), _) => "wrong Basic password",
            (None, Some(_)) => "wrong secret",
        }
    }
}

/// The webhook secret service. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Webhook {
    store: Arc<dyn Store>,
    key: MasterKey,
    workspace_id: WorkspaceId,
    public_url: Option<String>,
    /// When the arrival of a delivery was last written (0: never).
    last_recorded: Arc<AtomicI64>,
}

impl Webhook {
    pub fn new(
        store: Arc<dyn Store>,
        key: MasterKey,
        workspace_id: WorkspaceId,
        public_url: Option<String>,
    ) -> Self {
        Self {
            store,
            key,
            workspace_id,
            public_url,
            last_recorded: Arc::new(AtomicI64::new(0)),
        }
    }

    pub fn workspace_id(&self) -> WorkspaceId {
        self.workspace_id
    }

    /// The full URL Halo should post to, when Parley's address is known.
    pub fn url(&self) -> Option<String> {
        self.public_url
            .as_deref()
            .map(|base| format!("{}{WEBHOOK_PATH}", base.trim_end_matches('/')))
    }

    pub async fn info(&self) -> Result<WebhookInfo, WebhookError> {
        let stored = self.store.webhook_secret(self.workspace_id).await?;
        Ok(WebhookInfo {
            path: WEBHOOK_PATH,
            url: self.url(),
            method: "POST",
            authentication: "Basic",
            username: WEBHOOK_USERNAME,
            secret_set: stored.is_some(),
            revealed: stored.as_ref().is_some_and(|s| s.revealed_at.is_some()),
            created_at: stored
                .as_ref()
                .map(|s| crate::chat::view::time(s.created_at)),
            last_received_at: stored
                .as_ref()
                .and_then(|s| s.last_received_at)
                .map(crate::chat::view::time),
            events: SUGGESTED_EVENTS.to_vec(),
        })
    }

    /// Shows the secret, once: the first call makes it if there is none;
    /// a later one is [`WebhookError::AlreadyRevealed`].
    pub async fn reveal(&self, actor: &str) -> Result<String, WebhookError> {
        let now = now_millis();
        let fresh = self.key.seal(&new_secret(), WEBHOOK_SECRET_PURPOSE);
        // Two first reveals at once make one secret: the first insert wins.
        self.store
            .save_webhook_secret(self.workspace_id, &fresh, now, false)
            .await?;
        let stored = self
            .store
            .webhook_secret(self.workspace_id)
            .await?
            .ok_or(StoreError::NotFound("webhook secret"))?;

        let marked = self
            .store
            .mark_webhook_secret_revealed(self.workspace_id, &stored.secret_sealed, now)
            .await?;
        if !marked {
            return Err(WebhookError::AlreadyRevealed);
        }
        let secret = self
            .key
            .open(&stored.secret_sealed, WEBHOOK_SECRET_PURPOSE)?;
        self.audit(actor, "webhook.secret_revealed").await;
        tracing::info!("PSA webhook secret shown to an admin");
        Ok(secret)
    }

    /// Replaces the secret and shows the new one (this is its one showing);
    /// deliveries with the old one are refused from now on.
    pub async fn rotate(&self, actor: &str) -> Result<String, WebhookError> {
        let now = now_millis();
        let secret = new_secret();
        let sealed = self.key.seal(&secret, WEBHOOK_SECRET_PURPOSE);
        self.store
            .save_webhook_secret(self.workspace_id, &sealed, now, true)
            .await?;
        self.store
            .mark_webhook_secret_revealed(self.workspace_id, &sealed, now)
            .await?;
        self.audit(actor, "webhook.secret_rotated").await;
        tracing::info!("PSA webhook secret rotated");
        Ok(secret)
    }

    /// Whether a delivery presented the secret. Without a secret nothing is
    /// accepted. Comparisons take the same time wherever they differ.
    pub async fn check(&self, presented: &Presented) -> Result<bool, WebhookError> {
        let Some(stored) = self.store.webhook_secret(self.workspace_id).await? else {
            tracing::warn!("PSA webhook refused: no webhook secret has been made yet");
            return Ok(false);
        };
        let secret = self
            .key
            .open(&stored.secret_sealed, WEBHOOK_SECRET_PURPOSE)?;

        let basic_ok = presented.basic.as_ref().is_some_and(|(user, password)| {
            let user_ok = user.as_bytes().ct_eq(WEBHOOK_USERNAME.as_bytes());
            let password_ok = password.as_bytes().ct_eq(secret.as_bytes());
            bool::from(user_ok & password_ok)
        });
        let secret_ok = presented
            .secret
            .as_ref()
            .is_some_and(|given| bool::from(given.as_bytes().ct_eq(secret.as_bytes())));
        if basic_ok || secret_ok {
            return Ok(true);
        }

        tracing::warn!(
            reason = presented.describe(),
            "PSA webhook refused: wrong credentials"
        );
        Ok(false)
    }

    /// Notes that an authenticated delivery arrived (written at most once a
    /// minute), for the page and for every instance's poller.
    pub async fn received(&self) {
        let now = now_millis();
        let last = self.last_recorded.load(Ordering::Relaxed);
        if now - last < RECEIVED_EVERY_MS
            || self
                .last_recorded
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Err(error) = self
            .store
            .record_webhook_received(self.workspace_id, now)
            .await
        {
            tracing::error!(%error, "could not record a webhook delivery");
        }
    }

    /// When a delivery last arrived, on any instance (to the minute).
    pub async fn last_received_at(&self) -> Option<Millis> {
        let local = self.last_recorded.load(Ordering::Relaxed);
        let stored = match self.store.webhook_secret(self.workspace_id).await {
            Ok(stored) => stored.and_then(|s| s.last_received_at),
            Err(error) => {
                tracing::debug!(%error, "webhook arrivals unavailable");
                None
            }
        };
        stored.max((local > 0).then_some(local))
    }

    async fn audit(&self, actor: &str, action: &str) {
        if let Err(error) = self
            .store
            .add_audit(self.workspace_id, actor, action, "{}")
            .await
        {
            tracing::error!(%error, action, "could not write the audit log");
        }
    }
}

/// A new random secret, URL-safe so that it also works as `?secret=`.
fn new_secret() -> String {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_url_safe() {
        let one = new_secret();
        let two = new_secret();

        assert_eq!(one.len(), 43);
        assert_ne!(one, two);
        assert!(
            one.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }

    #[test]
    fn presented_credentials_never_print_the_secret() {
        let presented = Presented {
            basic: Some(("parley".to_owned(), "hunter2-secret".to_owned())),
            secret: Some("other-secret".to_owned()),
        };

        let printed = format!("{presented:?}");

        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("other-secret"), "{printed}");
        assert_eq!(presented.describe(), "wrong Basic password");
    }
}
