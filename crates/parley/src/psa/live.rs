//! The PSA as it is connected right now: a [`Psa`] that follows the saved
//! connector, so services built once (contact matching, the sync engine) keep
//! working when an admin edits, replaces or removes it.
//!
//! Each call checks which connector is saved (one small read) and reuses the
//! client built for it, token and budget included, until it changes. Each
//! call's outcome also tells the Connectors page whether the PSA is healthy.

use super::connector::{CLIENT_SECRET_PURPOSE, TicketDefaults};
use super::halo::{HaloPsa, HaloSettings};
use super::{
    Changes, Contact, NewPsaFile, NewPsaNote, NewPsaTicket, Psa, PsaError, PsaFile, PsaNote,
    PsaResult, PsaTicket,
};
use crate::identity::MasterKey;
use crate::store::{Millis, Store, WorkspaceId, now_millis};
use async_trait::async_trait;
use halo::Secret;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a continuing success is written down (a failure always is).
const HEALTH_EVERY_MS: Millis = 60_000;

#[derive(Debug)]
pub struct LivePsa {
    store: Arc<dyn Store>,
    key: MasterKey,
    workspace_id: WorkspaceId,
    current: tokio::sync::Mutex<Option<Built>>,
    /// When health was last written, and whether it was a failure.
    last_health: Mutex<Option<(Millis, bool)>>,
    /// The longest one Halo request may take; `None` keeps the client's
    /// default (tests shorten it to provoke timeouts).
    request_timeout: Option<Duration>,
}

#[derive(Debug)]
struct Built {
    /// The saved connector's update time: a new one means a new client.
    version: Millis,
    psa: Arc<HaloPsa>,
}

impl LivePsa {
    pub fn new(store: Arc<dyn Store>, key: MasterKey, workspace_id: WorkspaceId) -> Self {
        Self {
            store,
            key,
            workspace_id,
            current: tokio::sync::Mutex::new(None),
            last_health: Mutex::new(None),
            request_timeout: None,
        }
    }

    /// The same, with each Halo request cut off after `timeout`.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = Some(timeout);
        self
    }

    /// The client for the saved connector, built anew when it changed.
    async fn psa(&self) -> PsaResult<Arc<HaloPsa>> {
        let saved = self
            .store
            .connector(self.workspace_id)
            .await
            .map_err(|error| {
                PsaError::NotConfigured(format!("the connector could not be read: {error}"))
            })?
            .ok_or_else(|| PsaError::NotConfigured("no PSA is connected".to_owned()))?;

        let mut current = self.current.lock().await;
        if let Some(built) = current.as_ref()
            && built.version == saved.updated_at
        {
            return Ok(built.psa.clone());
        }

        let secret = self
            .key
            .open(&saved.client_secret_sealed, CLIENT_SECRET_PURPOSE)
            .map_err(|error| PsaError::NotConfigured(error.to_string()))?;
        let defaults: TicketDefaults = serde_json::from_str(&saved.defaults).unwrap_or_default();
        let settings = HaloSettings {
            site_url: saved.site_url.clone(),
            client_id: saved.client_id.clone(),
            client_secret: Secret::new(secret),
            tenant: saved.tenant.clone(),
            allow_private: saved.allow_private,
        };
        let mut config = settings.config()?;
        if let Some(timeout) = self.request_timeout {
            config.timeout = timeout;
        }
        let psa = Arc::new(HaloPsa::new(config, defaults)?);
        *current = Some(Built {
            version: saved.updated_at,
            psa: psa.clone(),
        });
        tracing::info!("PSA client built for the saved connector");
        Ok(psa)
    }

    /// Writes down how a call went, for the Connectors page: every change of
    /// state, and a continuing success once a minute.
    async fn health<T>(&self, result: PsaResult<T>) -> PsaResult<T> {
        let failure = match &result {
            Ok(_) | Err(PsaError::NotFound(_)) | Err(PsaError::NotConfigured(_)) => None,
            Err(error) => Some(error.to_string()),
        };
        let now = now_millis();
        let due = {
            let mut last = self
                .last_health
                .lock()
                .expect("the health lock is never held across a panic");
            let due = match *last {
                Some((at, failed)) => failed != failure.is_some() || now - at >= HEALTH_EVERY_MS,
                None => true,
            };
            if due {
                *last = Some((now, failure.is_some()));
            }
            due
        };
        if due
            && let Err(error) = self
                .store
                .record_connector_health(self.workspace_id, now, failure.as_deref())
                .await
        {
            tracing::error!(%error, "could not record the PSA's health");
        }
        result
    }
}

#[async_trait]
impl Psa for LivePsa {
    async fn contacts_by_email(&self, email: &str) -> PsaResult<Vec<Contact>> {
        let result = self.psa().await?.contacts_by_email(email).await;
        self.health(result).await
    }

    async fn search_contacts(&self, text: &str) -> PsaResult<Vec<Contact>> {
        let result = self.psa().await?.search_contacts(text).await;
        self.health(result).await
    }

    async fn contact(&self, id: i64) -> PsaResult<Contact> {
        let result = self.psa().await?.contact(id).await;
        self.health(result).await
    }

    async fn catch_all_contact(&self, client_id: i64) -> PsaResult<Option<Contact>> {
        let result = self.psa().await?.catch_all_contact(client_id).await;
        self.health(result).await
    }

    async fn contact_tickets(&self, contact_id: i64, open: bool) -> PsaResult<Vec<PsaTicket>> {
        let result = self.psa().await?.contact_tickets(contact_id, open).await;
        self.health(result).await
    }

    async fn ticket_with_visible_notes(&self, id: i64) -> PsaResult<(PsaTicket, Vec<PsaNote>)> {
        let result = self.psa().await?.ticket_with_visible_notes(id).await;
        self.health(result).await
    }

    async fn create_ticket(&self, ticket: &NewPsaTicket) -> PsaResult<PsaTicket> {
        let result = self.psa().await?.create_ticket(ticket).await;
        self.health(result).await
    }

    async fn ticket_defaults(&self) -> PsaResult<TicketDefaults> {
        Ok(self.psa().await?.defaults().clone())
    }

    async fn find_ticket_by_marker(&self, marker: &str) -> PsaResult<Option<PsaTicket>> {
        let result = self.psa().await?.find_ticket_by_marker(marker).await;
        self.health(result).await
    }

    async fn add_note(&self, note: &NewPsaNote, outcome_id: Option<i64>) -> PsaResult<PsaNote> {
        let result = self.psa().await?.add_note(note, outcome_id).await;
        self.health(result).await
    }

    async fn notes(&self, ticket_id: i64) -> PsaResult<Vec<PsaNote>> {
        let result = self.psa().await?.notes(ticket_id).await;
        self.health(result).await
    }

    async fn add_file(&self, file: &NewPsaFile) -> PsaResult<i64> {
        let result = self.psa().await?.add_file(file).await;
        self.health(result).await
    }

    async fn files(&self, ticket_id: i64) -> PsaResult<Vec<PsaFile>> {
        let result = self.psa().await?.files(ticket_id).await;
        self.health(result).await
    }

    async fn download_file(&self, id: i64) -> PsaResult<(String, String, Vec<u8>)> {
        let result = self.psa().await?.download_file(id).await;
        self.health(result).await
    }

    async fn change_status(&self, ticket_id: i64, status_id: i64) -> PsaResult<PsaTicket> {
        let result = self.psa().await?.change_status(ticket_id, status_id).await;
        self.health(result).await
    }

    async fn changes_since(&self, cursor: Option<&str>) -> PsaResult<Changes> {
        let result = self.psa().await?.changes_since(cursor).await;
        self.health(result).await
    }
}
