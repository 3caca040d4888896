//! The connection doctor: checks a Halo setup step by step and says, for each
//! step, what passed and what to fix, in the admin's words.
//!
//! It only reads (never writes to Halo: `edit:tickets` is judged from the
//! scopes Halo granted), never panics, and never hangs: every request has a
//! timeout, retries are short, and each step has an overall bound. The CLI and
//! the web setup page both use it.

use std::time::Duration;

use serde::Serialize;

use crate::model::{Agent, Outcome, Priority, Status, TicketType};
use crate::{Permission, Secret};

mod steps;

use steps::Doctor;

/// What to check.
#[derive(Debug, Clone)]
pub struct DoctorInput {
    /// The site URL as the admin typed it.
    pub site_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub tenant: Option<String>,
    /// Scopes to request; `None` means [`crate::DEFAULT_SCOPES`].
    pub scopes: Option<String>,
    /// Accept private-network hosts and plain http (an on-premise Halo on the
    /// LAN, or a simulator).
    pub allow_private: bool,
    pub ca_cert_pem: Option<Vec<u8>>,
    /// The timeout of each request.
    pub timeout: Duration,
}

/// The outcome of one check.
#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Pass,
    Warn,
    Fail,
    /// Not run, because an earlier check failed.
    Skip,
}

/// One step of the diagnosis.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub status: CheckStatus,
    /// What was found, or why the check was skipped.
    pub detail: String,
    /// What to do about a failure or warning.
    pub fix: Option<String>,
}

/// The lists a "ticket defaults" screen offers, read during the diagnosis.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SetupLists {
    pub ticket_types: Vec<TicketType>,
    pub statuses: Vec<Status>,
    pub priorities: Vec<Priority>,
    pub outcomes: Vec<Outcome>,
    /// The agent the application logs in as.
    pub agent: Option<Agent>,
}

/// The diagnosis.
#[derive(Debug, Serialize)]
pub struct Report {
    /// True when no check failed (warnings allowed).
    pub ok: bool,
    pub checks: Vec<Check>,
    /// Present once the credentials were accepted; not serialized.
    #[serde(skip)]
    pub lists: Option<SetupLists>,
}

/// Check names, in the order they run.
pub mod names {
    /// 1. The site URL parses (and what normalisation changed).
    pub const SITE_URL: &str = "Site URL";
    /// 2. Something answers like Halo (reachable, TLS valid, `/api/authinfo`).
    pub const HALO_ANSWERS: &str = "Halo answers";
    /// 3. The token endpoint accepts the credentials and scopes.
    pub const CREDENTIALS: &str = "Client ID and Secret";
    /// 5. The agent the application logs in as (after the permission checks).
    pub const AGENT: &str = "Application agent";
    /// 6. The setup lists, one check each.
    pub const TICKET_TYPES: &str = "Ticket types";
    /// See [`TICKET_TYPES`].
    pub const STATUSES: &str = "Statuses";
    /// See [`TICKET_TYPES`].
    pub const PRIORITIES: &str = "Priorities";
    /// See [`TICKET_TYPES`]; warns when no outcome is hidden from the user.
    pub const OUTCOMES: &str = "Outcomes";

    /// 4. The name of the check of one permission, e.g. "Permission read:tickets".
    pub fn permission(permission: crate::Permission) -> String {
        format!("Permission {permission}")
    }
}

/// Runs every check in order. See the module documentation for guarantees.
pub async fn run(input: DoctorInput) -> Report {
    let mut doctor = Doctor::default();
    let timeout = input.timeout.max(Duration::from_secs(1));
    // A step may retry once and wait briefly for the request budget; beyond
    // this it is reported as not answering.
    let step_limit = timeout * 3 + Duration::from_secs(12);

    let Some(client) = doctor.connect(&input, timeout) else {
        return doctor.finish(None);
    };

    doctor.halo_answers(&client, step_limit).await;
    let Some(token) = doctor.credentials(&input, &client, step_limit).await else {
        return doctor.finish(None);
    };

    let read_tickets = doctor.permissions(&client, &token, step_limit).await;
    let mut lists = SetupLists {
        agent: doctor.agent(&client, step_limit).await,
        ..SetupLists::default()
    };
    if read_tickets {
        doctor.setup_lists(&client, &mut lists, step_limit).await;
    } else {
        let reason = format!("skipped: reading it needs {}", Permission::ReadTickets);
        for name in [
            names::TICKET_TYPES,
            names::STATUSES,
            names::PRIORITIES,
            names::OUTCOMES,
        ] {
            doctor.skip(name, &reason);
        }
    }

    doctor.finish(Some(lists))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(site_url: &str) -> DoctorInput {
        DoctorInput {
            site_url: site_url.to_owned(),
            client_id: "parley".to_owned(),
            client_secret: Secret::new("secret-value"),
            tenant: None,
            scopes: None,
            allow_private: false,
            ca_cert_pem: None,
            timeout: Duration::from_secs(2),
        }
    }

    #[tokio::test]
    async fn an_invalid_site_url_fails_first_and_skips_the_rest() {
        let report = run(input("https://169.254.169.254")).await;

        assert!(!report.ok);
        assert_eq!(report.checks[0].name, names::SITE_URL);
        assert_eq!(report.checks[0].status, CheckStatus::Fail);
        assert!(
            report.checks[0].detail.contains("link-local"),
            "{}",
            report.checks[0].detail
        );
        assert!(
            report.checks[1..]
                .iter()
                .all(|c| c.status == CheckStatus::Skip)
        );
        assert_eq!(
            report.checks.len(),
            12,
            "every check is reported, skipped or not"
        );
        assert!(report.lists.is_none());
    }

    #[tokio::test]
    async fn a_bad_ca_certificate_fails_the_connection_check() {
        let mut input = input("https://acme.halopsa.com");
        input.ca_cert_pem = Some(b"garbage".to_vec());

        let report = run(input).await;

        assert_eq!(report.checks[0].status, CheckStatus::Pass);
        assert_eq!(report.checks[1].name, names::HALO_ANSWERS);
        assert_eq!(report.checks[1].status, CheckStatus::Fail);
        assert!(
            report.checks[1]
                .fix
                .as_deref()
                .is_some_and(|fix| fix.contains("PEM"))
        );
    }

    #[tokio::test]
    async fn the_report_serializes_without_lists_or_secrets() {
        let report = run(input("https://acme.halopsa.com/api?x=1")).await;

        let json = serde_json::to_value(&report).expect("serializable");

        assert_eq!(json["ok"], false);
        assert_eq!(json["checks"][0]["status"], "fail");
        assert_eq!(json["checks"][1]["status"], "skip");
        assert!(json.get("lists").is_none());
        assert!(!json.to_string().contains("secret-value"));
    }
}
