//! The doctor's steps: each check, what it reads, and how its result is
//! worded; and the bookkeeping of skipped checks.

use std::future::Future;
use std::time::Duration;

use super::{Check, CheckStatus, DoctorInput, Report, SetupLists, names};
use crate::model::{Agent, Outcome};
use crate::{
    ClientQuery, HaloClient, HaloConfig, HaloError, HostPolicy, PERMISSIONS_PLACE, Paging,
    Permission, RetryPolicy, SiteUrl, TicketQuery, TokenInfo, UserQuery,
};

/// How many names a list check quotes before "and N more".
const NAMES_SHOWN: usize = 5;

/// The checks so far, and why later ones cannot run, if they cannot.
#[derive(Debug, Default)]
pub(super) struct Doctor {
    checks: Vec<Check>,
    /// Set when Halo is rate limiting: later checks are skipped with it rather
    /// than adding to the load.
    blocked: Option<String>,
}

impl Doctor {
    pub(super) fn finish(mut self, lists: Option<SetupLists>) -> Report {
        let all = [
            names::SITE_URL.to_owned(),
            names::HALO_ANSWERS.to_owned(),
            names::CREDENTIALS.to_owned(),
        ]
        .into_iter()
        .chain(Permission::ALL.into_iter().map(names::permission))
        .chain(
            [
                names::AGENT,
                names::TICKET_TYPES,
                names::STATUSES,
                names::PRIORITIES,
                names::OUTCOMES,
            ]
            .map(str::to_owned),
        );
        let reason = self
            .blocked
            .clone()
            .unwrap_or_else(|| "skipped: an earlier check failed".to_owned());
        for name in all {
            if !self.checks.iter().any(|check| check.name == name) {
                self.skip(&name, &reason);
            }
        }

        Report {
            ok: !self
                .checks
                .iter()
                .any(|check| check.status == CheckStatus::Fail),
            checks: self.checks,
            lists,
        }
    }

    fn push(&mut self, name: &str, status: CheckStatus, detail: String, fix: Option<String>) {
        self.checks.push(Check {
            name: name.to_owned(),
            status,
            detail,
            fix,
        });
    }

    fn pass(&mut self, name: &str, detail: String) {
        self.push(name, CheckStatus::Pass, detail, None);
    }

    pub(super) fn skip(&mut self, name: &str, reason: &str) {
        self.push(name, CheckStatus::Skip, reason.to_owned(), None);
    }

    fn fail(&mut self, name: &str, error: &HaloError) {
        if matches!(
            error,
            HaloError::RateLimited { .. } | HaloError::BudgetExhausted { .. }
        ) {
            self.blocked = Some(
                "skipped: Halo is limiting the request rate; run the check again in a few minutes"
                    .to_owned(),
            );
        }
        self.push(name, CheckStatus::Fail, error.to_string(), error.fix());
    }

    /// Runs `step` unless blocked; `None` when it did not run or did not finish.
    async fn step<T>(
        &mut self,
        name: &str,
        limit: Duration,
        step: impl Future<Output = Result<T, HaloError>>,
    ) -> Option<Result<T, HaloError>> {
        if let Some(reason) = self.blocked.clone() {
            self.skip(name, &reason);
            return None;
        }

        match tokio::time::timeout(limit, step).await {
            Ok(result) => Some(result),
            Err(_) => {
                self.push(
                    name,
                    CheckStatus::Fail,
                    format!("Halo did not finish answering within {} s", limit.as_secs()),
                    Some("Check that this server can reach Halo, and try again.".to_owned()),
                );
                None
            }
        }
    }

    /// Check 1: the site URL; then builds the client.
    pub(super) fn connect(&mut self, input: &DoctorInput, timeout: Duration) -> Option<HaloClient> {
        let policy = if input.allow_private {
            HostPolicy::AllowPrivate
        } else {
            HostPolicy::PublicOnly
        };
        let normalized = match SiteUrl::parse(&input.site_url, policy) {
            Ok(normalized) => normalized,
            Err(error) => {
                let error = HaloError::from(error);
                self.fail(names::SITE_URL, &error);
                return None;
            }
        };
        let detail = if normalized.changes.is_empty() {
            normalized.site.to_string()
        } else {
            format!("{} ({})", normalized.site, normalized.changes.join("; "))
        };
        self.pass(names::SITE_URL, detail);

        let mut config = HaloConfig::new(
            normalized.site,
            input.client_id.trim(),
            input.client_secret.clone(),
        );
        config.tenant = input.tenant.clone();
        if let Some(scopes) = &input.scopes {
            config.scopes = scopes.clone();
        }
        config.timeout = timeout;
        config.connect_timeout = timeout.min(Duration::from_secs(10));
        config.ca_cert_pem = input.ca_cert_pem.clone();
        // One quick retry for a blip; a doctor must answer, not wait out Halo.
        config.retry = RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(1),
            max_elapsed: timeout,
        };

        match HaloClient::new(config) {
            Ok(client) => Some(client),
            Err(error) => {
                self.fail(names::HALO_ANSWERS, &error);
                None
            }
        }
    }

    /// Check 2: something answers like Halo at the site.
    pub(super) async fn halo_answers(&mut self, client: &HaloClient, limit: Duration) {
        let name = names::HALO_ANSWERS;
        let Some(result) = self.step(name, limit, client.auth_info()).await else {
            return;
        };

        match result {
            Ok(info) => {
                let mut detail = format!("Halo answered at {}", client.site());
                if let Some(auth_url) = &info.auth_url {
                    detail.push_str(&format!("; its authorisation server is {auth_url}"));
                }
                if let Some(tenant) = &info.tenant_id {
                    detail.push_str(&format!("; it names the tenant {tenant}"));
                }
                self.pass(name, detail);
            }
            Err(
                error @ (HaloError::Connect { .. }
                | HaloError::Tls { .. }
                | HaloError::Timeout { .. }
                | HaloError::Transport { .. }
                | HaloError::RateLimited { .. }
                | HaloError::BudgetExhausted { .. }),
            ) => {
                self.fail(name, &error);
            }
            Err(error) => {
                // Some answer came back, just not Halo's discovery record; the
                // token request decides whether this is Halo.
                self.push(
                    name,
                    CheckStatus::Warn,
                    format!("the site answered, but not as Halo's /api/authinfo does: {error}"),
                    Some(error.fix().unwrap_or_else(|| {
                        "Check that the site URL is your Halo's address.".to_owned()
                    })),
                );
            }
        }
    }

    /// Check 3: the token endpoint accepts the Client ID and Secret.
    pub(super) async fn credentials(
        &mut self,
        input: &DoctorInput,
        client: &HaloClient,
        limit: Duration,
    ) -> Option<TokenInfo> {
        let name = names::CREDENTIALS;
        if self
            .checks
            .iter()
            .any(|check| check.status == CheckStatus::Fail)
        {
            return None;
        }
        let missing = if input.client_id.trim().is_empty() {
            Some("Client ID")
        } else if input.client_secret.is_blank() {
            Some("Client Secret")
        } else {
            None
        };
        if let Some(missing) = missing {
            self.push(
                name,
                CheckStatus::Fail,
                format!("the {missing} is empty"),
                Some(format!(
                    "Copy the {missing} from the application in Halo (Configuration > \
                     Integrations > HaloPSA API)."
                )),
            );
            return None;
        }

        match self.step(name, limit, client.authenticate()).await? {
            Ok(token) => {
                let scopes = token
                    .granted_scopes
                    .as_ref()
                    .map_or("not stated by Halo".to_owned(), |scopes| scopes.join(" "));
                self.pass(
                    name,
                    format!(
                        "Halo issued a token for Client ID {} (valid for {} min; scopes: {scopes})",
                        input.client_id.trim(),
                        token.lifetime.as_secs() / 60
                    ),
                );
                Some(token)
            }
            Err(error) => {
                self.fail(name, &error);
                None
            }
        }
    }

    /// Check 4: each permission, by a harmless read or from the granted
    /// scopes. Returns whether `read:tickets` works (the lists need it).
    pub(super) async fn permissions(
        &mut self,
        client: &HaloClient,
        token: &TokenInfo,
        limit: Duration,
    ) -> bool {
        let mut read_tickets = false;

        for permission in Permission::ALL {
            let name = names::permission(permission);
            let read = match permission {
                Permission::ReadTickets => {
                    let query = TicketQuery {
                        paging: Paging::first(1),
                        ..TicketQuery::default()
                    };
                    let found = self.step(&name, limit, client.list_tickets(&query)).await;
                    found.map(|result| result.map(|_| "GET Tickets"))
                }
                Permission::ReadCustomers => {
                    let query = ClientQuery {
                        paging: Paging::first(1),
                        ..ClientQuery::default()
                    };
                    let found = self.step(&name, limit, client.list_clients(&query)).await;
                    found.map(|result| result.map(|_| "GET Client"))
                }
                Permission::ReadCrm => {
                    let query = UserQuery {
                        paging: Paging::first(1),
                        ..UserQuery::default()
                    };
                    let found = self.step(&name, limit, client.list_users(&query)).await;
                    found.map(|result| result.map(|_| "GET Users"))
                }
                Permission::EditTickets => {
                    self.edit_permission(client, token, permission);
                    continue;
                }
            };

            match read {
                Some(Ok(call)) => {
                    read_tickets |= permission == Permission::ReadTickets;
                    self.pass(&name, format!("{call} answered (a read of one record)"));
                }
                Some(Err(error)) => self.fail(&name, &error),
                None => {}
            }
        }
        read_tickets
    }

    /// `edit:tickets` from the granted scopes: testing it for real would write.
    fn edit_permission(&mut self, client: &HaloClient, token: &TokenInfo, permission: Permission) {
        let name = names::permission(permission);
        if let Some(reason) = self.blocked.clone() {
            self.skip(&name, &reason);
            return;
        }
        let requested = permission.is_granted_by(client.requested_scopes().split_whitespace());
        let tick = format!(
            "Tick {permission} on the application in Halo ({PERMISSIONS_PLACE}); the role of the \
             agent the application logs in as must allow editing tickets too."
        );

        match token.grants(permission) {
            Some(true) => self.pass(
                &name,
                "granted in the token's scopes (judged without writing to Halo)".to_owned(),
            ),
            Some(false) if !requested => self.push(
                &name,
                CheckStatus::Fail,
                format!(
                    "Parley's configured scopes \"{}\" do not include {permission}",
                    client.requested_scopes()
                ),
                Some(format!("Add {permission} to the scopes Parley requests.")),
            ),
            Some(false) => self.push(
                &name,
                CheckStatus::Fail,
                format!("Halo did not grant {permission}: the token's scopes lack it"),
                Some(tick),
            ),
            None => self.push(
                &name,
                CheckStatus::Warn,
                format!(
                    "Halo did not say which scopes it granted, so {permission} could not be \
                     checked without writing"
                ),
                Some(tick),
            ),
        }
    }

    /// Check 5: the agent the application logs in as.
    pub(super) async fn agent(&mut self, client: &HaloClient, limit: Duration) -> Option<Agent> {
        let name = names::AGENT;
        match self.step(name, limit, client.agent_me()).await? {
            Ok(agent) if agent.isdisabled => {
                self.push(
                    name,
                    CheckStatus::Warn,
                    format!(
                        "the application logs in as agent {} (id {}), which is disabled",
                        agent.name, agent.id
                    ),
                    Some("Enable that agent, or pick another one for the application.".to_owned()),
                );
                Some(agent)
            }
            Ok(agent) => {
                self.pass(
                    name,
                    format!(
                        "the application logs in as agent {} (id {})",
                        agent.name, agent.id
                    ),
                );
                Some(agent)
            }
            Err(error) => {
                self.fail(name, &error);
                None
            }
        }
    }

    /// Check 6: the lists ticket defaults are chosen from.
    pub(super) async fn setup_lists(
        &mut self,
        client: &HaloClient,
        lists: &mut SetupLists,
        limit: Duration,
    ) {
        if let Some(found) = self
            .step(names::TICKET_TYPES, limit, client.list_ticket_types())
            .await
        {
            lists.ticket_types = self.list_check(names::TICKET_TYPES, found, |t| &t.name);
        }
        if let Some(found) = self
            .step(names::STATUSES, limit, client.list_statuses())
            .await
        {
            lists.statuses = self.list_check(names::STATUSES, found, |s| &s.name);
        }
        if let Some(found) = self
            .step(names::PRIORITIES, limit, client.list_priorities())
            .await
        {
            lists.priorities = self.list_check(names::PRIORITIES, found, |p| &p.name);
        }
        if let Some(found) = self
            .step(names::OUTCOMES, limit, client.list_outcomes())
            .await
        {
            lists.outcomes = self.list_check(names::OUTCOMES, found, |o| &o.outcome);
            self.require_private_outcome(&lists.outcomes);
        }
    }

    fn list_check<T>(
        &mut self,
        name: &str,
        found: Result<Vec<T>, HaloError>,
        label: impl Fn(&T) -> &String,
    ) -> Vec<T> {
        let items = match found {
            Ok(items) => items,
            Err(error) => {
                self.fail(name, &error);
                return Vec::new();
            }
        };

        if items.is_empty() {
            self.push(
                name,
                CheckStatus::Warn,
                format!("Halo lists no {}", name.to_lowercase()),
                Some(
                    "Check the agent's role allows seeing them, or create them in Halo.".to_owned(),
                ),
            );
        } else {
            self.pass(name, quote_names(items.iter().map(label)));
        }
        items
    }

    /// Private notes need an outcome hidden from the user.
    fn require_private_outcome(&mut self, outcomes: &[Outcome]) {
        if outcomes.is_empty() || outcomes.iter().any(|o| o.hidefromuser) {
            return;
        }
        if let Some(check) = self
            .checks
            .iter_mut()
            .find(|check| check.name == names::OUTCOMES)
        {
            check.status = CheckStatus::Warn;
            check.detail = format!(
                "{}; none is hidden from the user, which private notes need",
                check.detail
            );
            check.fix = Some(
                "In Halo, give one outcome (action type), e.g. \"Private Note\", the setting to \
                 hide it from the user."
                    .to_owned(),
            );
        }
    }
}

/// "3 found: A, B, C" or "9 found: A, B, C, D, E and 4 more".
fn quote_names<'a>(names: impl ExactSizeIterator<Item = &'a String>) -> String {
    let total = names.len();
    let shown: Vec<&str> = names.take(NAMES_SHOWN).map(String::as_str).collect();
    let more = total.saturating_sub(NAMES_SHOWN);

    if more > 0 {
        format!("{total} found: {} and {more} more", shown.join(", "))
    } else {
        format!("{total} found: {}", shown.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lists_are_quoted_briefly() {
        let names: Vec<String> = (1..=7).map(|n| format!("T{n}")).collect();

        assert_eq!(
            quote_names(names.iter()),
            "7 found: T1, T2, T3, T4, T5 and 2 more"
        );
        assert_eq!(quote_names(names[..2].iter()), "2 found: T1, T2");
    }
}
