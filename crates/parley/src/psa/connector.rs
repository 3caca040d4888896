//! The PSA connector: what an admin enters to connect HaloPSA, tested with the
//! connection doctor, saved with its Client Secret sealed, and audited.
//!
//! Every surface (the Connectors page, the wizard's PSA step, the JSON API and
//! `parley connector ...`) goes through [`Connectors`], so they all validate,
//! seal and audit the same way. The secret is write-only: nothing here returns
//! it, and leaving it empty on an edit keeps the stored one.

use crate::identity::{MasterKey, SealError};
use crate::store::{AuditEntry, Store, StoreError, StoredConnector, WorkspaceId, now_millis};
use halo::doctor::{self, CheckStatus, DoctorInput, Report, SetupLists};
use halo::{Budget, HostPolicy, Secret, SiteUrl};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// What the Client Secret is sealed for.
pub const CLIENT_SECRET_PURPOSE: &str = "connector.client_secret";

/// The one PSA this release connects to.
pub const HALOPSA: &str = "halopsa";

/// How long Test Connection may take in all; each check has its own bound.
const TEST_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The form is wrong; the text says which field and how.
    #[error("{0}")]
    Invalid(String),

    /// Saving needs a passing test; the report says what failed.
    #[error("the connection test failed, so nothing was saved: {0}")]
    TestFailed(String),

    #[error("no PSA is connected")]
    NotConnected,

    #[error(transparent)]
    Sealed(#[from] SealError),

    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type ConnectorResult<T> = Result<T, ConnectorError>;

/// What an admin enters. An empty secret means "keep the saved one".
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConnectorForm {
    pub site_url: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub tenant: Option<String>,
}

/// The ticket defaults for chat tickets, chosen from Halo's own lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TicketDefaults {
    pub ticket_type_id: Option<i64>,
    pub initial_status_id: Option<i64>,
    pub priority_id: Option<i64>,
    /// Halo's team name (tickets name their team by name).
    pub team: Option<String>,
    /// The outcome for notes the end user sees.
    pub visible_outcome_id: Option<i64>,
    /// The outcome for private notes (one hidden from users).
    pub private_outcome_id: Option<i64>,
    /// The status that means "closed".
    pub closed_status_id: Option<i64>,
    /// Every new chat becomes a ticket (for end users with a confirmed
    /// contact), without anyone asking.
    pub every_chat_becomes_ticket: bool,
}

/// The connector as anyone may see it: no secret, only whether one is set.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectorView {
    pub kind: &'static str,
    pub site_url: String,
    pub client_id: String,
    pub tenant: Option<String>,
    pub client_secret_set: bool,
    pub defaults: TicketDefaults,
    pub state: ConnectorState,
    pub last_success_at: Option<String>,
    pub failing_since: Option<String>,
    pub last_error: Option<String>,
    pub budget: BudgetView,
    pub updated_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorState {
    Connected,
    Failing,
    /// Saved, but no call has succeeded yet.
    Untested,
}

#[derive(Debug, Clone, Serialize)]
pub struct BudgetView {
    pub used: u32,
    pub capacity: u32,
    pub window_seconds: u64,
}

/// The URL as the admin typed it and as Parley will use it.
#[derive(Debug, Clone, Serialize)]
pub struct NormalizedUrl {
    pub site_url: String,
    pub changes: Vec<String>,
}

/// Who did something, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor(pub String);

/// The connector service. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Connectors {
    store: Arc<dyn Store>,
    key: MasterKey,
    workspace_id: WorkspaceId,
    /// Whether plain http and private addresses are allowed (tests, the demo,
    /// a Halo on the LAN); set by the service's configuration.
    allow_private: bool,
}

impl Connectors {
    pub fn new(
        store: Arc<dyn Store>,
        key: MasterKey,
        workspace_id: WorkspaceId,
        allow_private: bool,
    ) -> Self {
        Self {
            store,
            key,
            workspace_id,
            allow_private,
        }
    }

    fn policy(&self) -> HostPolicy {
        if self.allow_private {
            HostPolicy::AllowPrivate
        } else {
            HostPolicy::PublicOnly
        }
    }

    /// Reduces what an admin pasted to the site root, saying what changed.
    pub fn normalize(&self, site_url: &str) -> ConnectorResult<NormalizedUrl> {
        let normalized = SiteUrl::parse(site_url, self.policy())
            .map_err(|why| ConnectorError::Invalid(why.to_string()))?;
        Ok(NormalizedUrl {
            site_url: normalized.site.as_str().to_owned(),
            changes: normalized.changes,
        })
    }

    /// The saved connector, without its secret.
    pub async fn show(&self) -> ConnectorResult<Option<ConnectorView>> {
        let Some(stored) = self.store.connector(self.workspace_id).await? else {
            return Ok(None);
        };
        Ok(Some(self.view(&stored)))
    }

    /// Runs the connection doctor on the form's values, saved or not. Never
    /// writes to Halo. An empty secret uses the saved one.
    pub async fn test(&self, form: &ConnectorForm, actor: &Actor) -> ConnectorResult<Report> {
        let secret = self.secret_for(form).await?;
        let report = self.run_doctor(form, secret).await;

        // Testing the saved connection tells the Connectors page how it is.
        if let Some(saved) = self.store.connector(self.workspace_id).await?
            && self.is_saved_connection(&saved, form)
        {
            let failure = (!report.ok).then(|| failed_checks(&report).join("; "));
            self.store
                .record_connector_health(self.workspace_id, now_millis(), failure.as_deref())
                .await?;
        }

        self.audit(
            actor,
            "connector.tested",
            json!({
                "site_url": form.site_url.trim(),
                "client_id": form.client_id.trim(),
                "ok": report.ok,
                "failed": failed_checks(&report),
            }),
        )
        .await?;
        tracing::info!(ok = report.ok, "connector tested");
        Ok(report)
    }

    /// Tests and then saves the connector with its secret sealed. Nothing is
    /// saved unless the test passes and the defaults are in Halo's lists.
    pub async fn save(
        &self,
        form: &ConnectorForm,
        defaults: TicketDefaults,
        actor: &Actor,
    ) -> ConnectorResult<(ConnectorView, Report)> {
        let normalized = self.normalize(&form.site_url)?;
        let client_id = form.client_id.trim();
        if client_id.is_empty() {
            return Err(ConnectorError::Invalid("the Client ID is empty".to_owned()));
        }
        let secret = self.secret_for(form).await?;

        let report = self.run_doctor(form, secret.clone()).await;
        if !report.ok {
            return Err(ConnectorError::TestFailed(
                failed_checks(&report).join("; "),
            ));
        }
        let lists = report.lists.as_ref();
        let defaults = match lists {
            Some(lists) => complete_defaults(defaults, lists)?,
            None => defaults,
        };

        let previous = self.store.connector(self.workspace_id).await?;
        let now = now_millis();
        let stored = StoredConnector {
            workspace_id: self.workspace_id,
            kind: HALOPSA.to_owned(),
            site_url: normalized.site_url,
            client_id: client_id.to_owned(),
            tenant: clean(form.tenant.as_deref()),
            client_secret_sealed: self.key.seal(secret.expose(), CLIENT_SECRET_PURPOSE),
            allow_private: self.allow_private,
            defaults: serde_json::to_string(&defaults)
                .expect("ticket defaults are plain data that always serialise"),
            created_at: previous.as_ref().map_or(now, |p| p.created_at),
            updated_at: now,
            last_success_at: Some(now),
            failing_since: None,
            last_error: None,
        };
        self.store.save_connector(stored.clone()).await?;

        let (action, detail) = match &previous {
            None => (
                "connector.created",
                json!({"site_url": stored.site_url, "client_id": stored.client_id}),
            ),
            Some(previous) => ("connector.changed", changes(previous, &stored, form)),
        };
        self.audit(actor, action, detail).await?;
        tracing::info!(action, "connector saved");
        Ok((self.view(&stored), report))
    }

    /// Removes the connector. Tickets already linked keep their links in the
    /// chat history; nothing is deleted in Halo.
    pub async fn remove(&self, actor: &Actor) -> ConnectorResult<()> {
        let Some(stored) = self.store.connector(self.workspace_id).await? else {
            return Err(ConnectorError::NotConnected);
        };
        self.store.delete_connector(self.workspace_id).await?;

        self.audit(
            actor,
            "connector.removed",
            json!({"site_url": stored.site_url, "client_id": stored.client_id}),
        )
        .await?;
        tracing::info!("connector removed");
        Ok(())
    }

    pub async fn audit_log(&self, limit: i64) -> ConnectorResult<Vec<AuditEntry>> {
        Ok(self.store.audit_log(self.workspace_id, limit).await?)
    }

    /// Whether a form names the saved site and application.
    fn is_saved_connection(&self, saved: &StoredConnector, form: &ConnectorForm) -> bool {
        let same_site = self
            .normalize(&form.site_url)
            .is_ok_and(|normalized| normalized.site_url == saved.site_url);
        same_site && form.client_id.trim() == saved.client_id
    }

    /// The form's secret, or the saved one when the form leaves it empty.
    async fn secret_for(&self, form: &ConnectorForm) -> ConnectorResult<Secret> {
        if let Some(secret) = form.client_secret.as_deref().map(str::trim)
            && !secret.is_empty()
        {
            return Ok(Secret::new(secret.to_owned()));
        }

        let Some(stored) = self.store.connector(self.workspace_id).await? else {
            return Err(ConnectorError::Invalid(
                "enter the Client Secret of the API application in Halo".to_owned(),
            ));
        };
        let opened = self
            .key
            .open(&stored.client_secret_sealed, CLIENT_SECRET_PURPOSE)?;
        Ok(Secret::new(opened))
    }

    async fn run_doctor(&self, form: &ConnectorForm, secret: Secret) -> Report {
        doctor::run(DoctorInput {
            site_url: form.site_url.clone(),
            client_id: form.client_id.trim().to_owned(),
            client_secret: secret,
            tenant: clean(form.tenant.as_deref()),
            scopes: None,
            allow_private: self.allow_private,
            ca_cert_pem: None,
            timeout: TEST_TIMEOUT,
        })
        .await
    }

    async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        detail: serde_json::Value,
    ) -> ConnectorResult<()> {
        self.store
            .add_audit(self.workspace_id, &actor.0, action, &detail.to_string())
            .await?;
        Ok(())
    }

    fn view(&self, stored: &StoredConnector) -> ConnectorView {
        let state = match (stored.failing_since, stored.last_success_at) {
            (Some(_), _) => ConnectorState::Failing,
            (None, Some(_)) => ConnectorState::Connected,
            (None, None) => ConnectorState::Untested,
        };
        let budget = SiteUrl::parse(&stored.site_url, HostPolicy::AllowPrivate)
            .map(|normalized| Budget::shared_for(&normalized.site))
            .ok();
        ConnectorView {
            kind: HALOPSA,
            site_url: stored.site_url.clone(),
            client_id: stored.client_id.clone(),
            tenant: stored.tenant.clone(),
            client_secret_set: !stored.client_secret_sealed.is_empty(),
            defaults: serde_json::from_str(&stored.defaults).unwrap_or_default(),
            state,
            last_success_at: stored.last_success_at.map(crate::chat::view::time),
            failing_since: stored.failing_since.map(crate::chat::view::time),
            last_error: stored.last_error.clone(),
            budget: BudgetView {
                used: budget.as_ref().map_or(0, |b| b.used_in_window()),
                capacity: budget.as_ref().map_or(0, |b| b.capacity()),
                window_seconds: budget.as_ref().map_or(0, |b| b.window().as_secs()),
            },
            updated_at: crate::chat::view::time(stored.updated_at),
        }
    }
}

fn clean(text: Option<&str>) -> Option<String> {
    text.map(str::trim)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

fn failed_checks(report: &Report) -> Vec<String> {
    report
        .checks
        .iter()
        .filter(|check| check.status == CheckStatus::Fail)
        .map(|check| format!("{}: {}", check.name, check.detail))
        .collect()
}

/// Fills unset defaults from what Halo says (a ticket type's own defaults, a
/// hidden outcome for private notes, the status named Closed) and refuses
/// ids that are not in Halo's lists.
fn complete_defaults(
    mut defaults: TicketDefaults,
    lists: &SetupLists,
) -> ConnectorResult<TicketDefaults> {
    let unknown = |what: &str, id: i64| {
        ConnectorError::Invalid(format!(
            "Halo has no {what} with id {id}; choose one from the list"
        ))
    };

    if let Some(id) = defaults.ticket_type_id {
        let ticket_type = lists
            .ticket_types
            .iter()
            .find(|t| t.id == id)
            .ok_or_else(|| unknown("ticket type", id))?;
        defaults.initial_status_id = defaults.initial_status_id.or(ticket_type.initial_status);
        defaults.priority_id = defaults.priority_id.or(ticket_type.default_priority);
        defaults.team = defaults.team.or_else(|| ticket_type.default_team.clone());
    }
    for (what, id) in [
        ("status", defaults.initial_status_id),
        ("status", defaults.closed_status_id),
    ] {
        if let Some(id) = id
            && !lists.statuses.iter().any(|s| s.id == id)
        {
            return Err(unknown(what, id));
        }
    }
    if let Some(id) = defaults.priority_id
        && !lists.priorities.iter().any(|p| p.priorityid == id)
    {
        return Err(unknown("priority", id));
    }
    for id in [defaults.visible_outcome_id, defaults.private_outcome_id]
        .into_iter()
        .flatten()
    {
        if !lists.outcomes.iter().any(|o| o.id == id) {
            return Err(unknown("outcome", id));
        }
    }
    if let Some(id) = defaults.private_outcome_id
        && lists.outcomes.iter().any(|o| o.id == id && !o.hidefromuser)
    {
        return Err(ConnectorError::Invalid(
            "the outcome for private notes must be one that Halo hides from users".to_owned(),
        ));
    }

    defaults.private_outcome_id = defaults
        .private_outcome_id
        .or_else(|| lists.outcomes.iter().find(|o| o.hidefromuser).map(|o| o.id));
    defaults.visible_outcome_id = defaults.visible_outcome_id.or_else(|| {
        lists
            .outcomes
            .iter()
            .find(|o| !o.hidefromuser)
            .map(|o| o.id)
    });
    defaults.closed_status_id = defaults.closed_status_id.or_else(|| {
        lists
            .statuses
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case("closed"))
            .map(|s| s.id)
    });
    Ok(defaults)
}

/// What an edit changed, for the audit log: names of fields, never the secret.
fn changes(
    before: &StoredConnector,
    after: &StoredConnector,
    form: &ConnectorForm,
) -> serde_json::Value {
    let mut changed = Vec::new();
    if before.site_url != after.site_url {
        changed.push(json!({"field": "site_url", "from": before.site_url, "to": after.site_url}));
    }
    if before.client_id != after.client_id {
        changed
            .push(json!({"field": "client_id", "from": before.client_id, "to": after.client_id}));
    }
    if before.tenant != after.tenant {
        changed.push(json!({"field": "tenant", "from": before.tenant, "to": after.tenant}));
    }
    if form
        .client_secret
        .as_deref()
        .is_some_and(|s| !s.trim().is_empty())
    {
        changed.push(json!({"field": "client_secret", "change": "replaced"}));
    }
    if before.defaults != after.defaults {
        changed.push(json!({"field": "defaults", "from": before.defaults, "to": after.defaults}));
    }
    json!({ "changed": changed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use halo::model::{Outcome, Status, TicketType};

    fn lists() -> SetupLists {
        SetupLists {
            ticket_types: vec![TicketType {
                id: 1,
                name: "Incident".to_owned(),
                initial_status: Some(1),
                default_priority: Some(3),
                default_team: Some("Service Desk".to_owned()),
                ..TicketType::default()
            }],
            statuses: vec![
                Status {
                    id: 1,
                    name: "New".to_owned(),
                    ..Status::default()
                },
                Status {
                    id: 9,
                    name: "Closed".to_owned(),
                    ..Status::default()
                },
            ],
            priorities: Vec::new(),
            outcomes: vec![
                Outcome {
                    id: 7,
                    outcome: "Public Note".to_owned(),
                    hidefromuser: false,
                    ..Outcome::default()
                },
                Outcome {
                    id: 8,
                    outcome: "Private Note".to_owned(),
                    hidefromuser: true,
                    ..Outcome::default()
                },
            ],
            agent: None,
        }
    }

    #[test]
    fn unset_defaults_come_from_halo() {
        let defaults = TicketDefaults {
            ticket_type_id: Some(1),
            ..TicketDefaults::default()
        };
        let lists = SetupLists {
            priorities: Vec::new(),
            ..lists()
        };

        // Priority 3 is not in the (empty) list, so the ticket type's own
        // default is refused rather than saved unchecked.
        let error = complete_defaults(defaults.clone(), &lists).unwrap_err();
        assert!(error.to_string().contains("priority with id 3"), "{error}");

        let defaults = TicketDefaults {
            priority_id: None,
            ..defaults
        };
        let mut lists = lists;
        lists.ticket_types[0].default_priority = None;
        let filled = complete_defaults(defaults, &lists).unwrap();
        assert_eq!(filled.initial_status_id, Some(1));
        assert_eq!(filled.team.as_deref(), Some("Service Desk"));
        assert_eq!(filled.visible_outcome_id, Some(7));
        assert_eq!(filled.private_outcome_id, Some(8));
        assert_eq!(filled.closed_status_id, Some(9));
    }

    #[test]
    fn ids_outside_halos_lists_are_refused() {
        for defaults in [
            TicketDefaults {
                ticket_type_id: Some(99),
                ..TicketDefaults::default()
            },
            TicketDefaults {
                closed_status_id: Some(99),
                ..TicketDefaults::default()
            },
            TicketDefaults {
                visible_outcome_id: Some(99),
                ..TicketDefaults::default()
            },
        ] {
            let error = complete_defaults(defaults, &lists()).unwrap_err();
            assert!(error.to_string().contains("id 99"), "{error}");
        }
    }

    #[test]
    fn private_notes_need_an_outcome_hidden_from_users() {
        let defaults = TicketDefaults {
            private_outcome_id: Some(7),
            ..TicketDefaults::default()
        };

        let error = complete_defaults(defaults, &lists()).unwrap_err();

        assert!(error.to_string().contains("hides from users"), "{error}");
    }

    #[test]
    fn the_audit_of_an_edit_names_a_new_secret_but_never_holds_it() {
        let before = StoredConnector {
            workspace_id: 1,
            kind: HALOPSA.to_owned(),
            site_url: "https://a.halopsa.com".to_owned(),
            client_id: "one".to_owned(),
            tenant: None,
            client_secret_sealed: "v1:x:y".to_owned(),
            allow_private: false,
            defaults: "{}".to_owned(),
            created_at: 0,
            updated_at: 0,
            last_success_at: None,
            failing_since: None,
            last_error: None,
        };
        let after = StoredConnector {
            client_id: "two".to_owned(),
            ..before.clone()
        };
        let form = ConnectorForm {
            client_secret: Some("brand-new-secret".to_owned()),
            ..ConnectorForm::default()
        };

        let detail = changes(&before, &after, &form).to_string();

        assert!(
            detail.contains("client_id") && detail.contains("client_secret"),
            "{detail}"
        );
        assert!(!detail.contains("brand-new-secret"), "{detail}");
        assert!(!detail.contains("v1:x:y"), "{detail}");
    }
}
