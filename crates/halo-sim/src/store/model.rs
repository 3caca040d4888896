//! The records the simulator keeps, in Halo's terms. They hold what the
//! simulator needs to decide and render; the many constant fields of Halo's
//! JSON live only in [`crate::shape`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

/// The id Halo gives the "Unassigned" pseudo-agent on a default install.
pub const UNASSIGNED_AGENT_ID: i64 = 1;

/// A customer company (`/api/Client`, Halo's "Area").
#[derive(Debug, Clone)]
pub struct Client {
    pub id: i64,
    pub name: String,
    pub inactive: bool,
    pub main_site_id: i64,
    pub colour: String,
    pub notes: String,
    pub website: String,
    pub is_vip: bool,
    pub created: DateTime<Utc>,
}

/// A location of a client; contacts belong to sites.
#[derive(Debug, Clone)]
pub struct Site {
    pub id: i64,
    pub name: String,
    pub client_id: i64,
    pub inactive: bool,
    pub phonenumber: String,
    pub sla_id: i64,
    pub created: DateTime<Utc>,
}

/// An end user (contact) of a client, at one site.
#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub firstname: String,
    pub surname: String,
    pub emailaddress: String,
    pub phonenumber: String,
    pub site_id: i64,
    pub inactive: bool,
    pub is_important: bool,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
}

/// A technician (`/api/Agent`, Halo's "Uname").
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: i64,
    pub name: String,
    pub firstname: String,
    pub surname: String,
    pub email: String,
    pub jobtitle: String,
    pub team_id: Option<i64>,
    pub isdisabled: bool,
    pub colour: String,
}

/// A team of agents; tickets name theirs by name and id.
#[derive(Debug, Clone)]
pub struct Team {
    pub id: i64,
    pub name: String,
    pub sequence: i64,
}

/// A ticket status.
#[derive(Debug, Clone)]
pub struct Status {
    pub id: i64,
    pub name: String,
    pub shortname: String,
    /// Whether tickets in this status count as closed.
    pub closed: bool,
    pub sequence: i64,
    pub colour: String,
}

/// A ticket type (`/api/TicketType`, Halo's "RequestType").
#[derive(Debug, Clone)]
pub struct TicketType {
    pub id: i64,
    pub name: String,
    /// Prefix of ticket references, `IN` giving `IN-0009499`.
    pub reference_prefix: String,
    pub sequence: i64,
    pub default_sla_id: i64,
    pub default_priority_id: i64,
    pub initial_status_id: i64,
    pub default_team_id: i64,
}

/// A service level agreement; priorities are defined per SLA.
#[derive(Debug, Clone)]
pub struct Sla {
    pub name: String,
}

/// One priority of one SLA: Halo keys these by GUID, and the same `priority_id`
/// appears once per SLA.
#[derive(Debug, Clone)]
pub struct Priority {
    pub guid: Uuid,
    pub sla_id: i64,
    pub priority_id: i64,
    pub name: String,
    pub fix_days: f64,
    pub response_hours: f64,
    pub colour: String,
}

/// An action type (`/api/Outcome`): what an action is, and whether it is
/// hidden from the end user by default.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: i64,
    pub name: String,
    pub buttonname: String,
    pub hidefromuser: bool,
    pub sendemail: bool,
    pub sequence: i64,
}

/// Who wrote something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Author {
    /// Halo itself (rules, automations): `who_type` 0.
    System,
    /// An agent, directly or through an API application logged in as it: `who_type` 1.
    Agent {
        agent_id: i64,
        /// The API application's name, when the agent acted through one.
        application: Option<String>,
    },
    /// An end user (portal, email): `who_type` 2.
    User { user_id: i64 },
}

impl Author {
    /// Halo's `who_type`.
    pub fn who_type(&self) -> i64 {
        match self {
            Author::System => 0,
            Author::Agent { .. } => 1,
            Author::User { .. } => 2,
        }
    }
}

/// A ticket.
#[derive(Debug, Clone)]
pub struct Ticket {
    pub id: i64,
    pub summary: String,
    pub details: String,
    pub details_html: String,
    pub tickettype_id: i64,
    pub status_id: i64,
    pub priority_id: i64,
    pub sla_id: i64,
    pub client_id: i64,
    pub site_id: i64,
    pub user_id: i64,
    pub reportedby: String,
    pub user_email: String,
    pub agent_id: i64,
    pub team_id: i64,
    pub categories: [String; 4],
    pub impact: i64,
    pub urgency: i64,
    pub onhold: bool,
    pub source: i64,
    pub customfields: Vec<Value>,
    pub tags: Vec<String>,
    /// Name of whoever logged it (`who`, `takenby`).
    pub logged_by: String,
    pub guid: Uuid,
    pub dateoccurred: DateTime<Utc>,
    pub datecreated: DateTime<Utc>,
    pub lastactiondate: DateTime<Utc>,
    pub last_update: DateTime<Utc>,
    pub dateclosed: Option<DateTime<Utc>>,
    pub hasbeenclosed: bool,
    pub deleted: bool,
    /// Actions in id order; ids are numbered per ticket from 1.
    pub actions: Vec<Action>,
}

impl Ticket {
    /// The id the next action of this ticket gets.
    pub fn next_action_id(&self) -> i64 {
        self.actions
            .iter()
            .map(|action| action.id)
            .max()
            .unwrap_or(0)
            + 1
    }

    /// The action with id `action_id`.
    pub fn action(&self, action_id: i64) -> Option<&Action> {
        self.actions.iter().find(|action| action.id == action_id)
    }

    /// The action with id `action_id`, to change it.
    pub fn action_mut(&mut self, action_id: i64) -> Option<&mut Action> {
        self.actions
            .iter_mut()
            .find(|action| action.id == action_id)
    }
}

/// A note or update on a ticket.
#[derive(Debug, Clone)]
pub struct Action {
    pub id: i64,
    pub ticket_id: i64,
    pub outcome_id: i64,
    pub outcome: String,
    pub author: Author,
    /// Display name of the author (`who`).
    pub who: String,
    pub note: String,
    pub note_html: String,
    pub hiddenfromuser: bool,
    pub important: bool,
    pub sendemail: bool,
    pub timetaken: f64,
    pub emailfrom: String,
    pub emailto: String,
    pub emailcc: String,
    pub old_status: i64,
    pub new_status: i64,
    pub at: DateTime<Utc>,
}

/// An uploaded file, optionally linked to a ticket and one of its actions.
#[derive(Debug, Clone)]
pub struct Attachment {
    pub id: i64,
    pub ticket_id: i64,
    pub action_id: i64,
    pub filename: String,
    pub content_type: String,
    pub note: String,
    pub isimage: bool,
    /// The agent whose token uploaded it; `-1` fields in Halo mean "none".
    pub agent_id: i64,
    pub guid: Uuid,
    pub created: DateTime<Utc>,
    /// Shared, so copying a store does not copy file contents.
    pub data: Arc<[u8]>,
}
