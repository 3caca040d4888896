//! The simulator's in-memory Halo: every record, the rules that keep them
//! consistent, and the changes that webhooks report.
//!
//! Writes come in two steps. `plan_*` checks a draft against the current data
//! and resolves Halo's defaults without changing anything; `apply_*` then
//! cannot fail. A POST of several objects plans them all before applying any,
//! so a bad element leaves nothing half-written.

pub mod actions;
pub mod attachments;
pub mod contacts;
pub mod model;
pub mod tickets;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

pub use model::*;

/// A draft that Halo would refuse, naming the field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The field as the client sent it (`ticket_id`, `outcome`, ...).
    pub field: &'static str,
    /// What is wrong, in Halo's tone.
    pub message: String,
}

impl Invalid {
    /// `field` is wrong because of `message`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Invalid {
        Invalid {
            field,
            message: message.into(),
        }
    }
}

/// Failures of a multi-element write, by element index.
pub type Refusals = Vec<(usize, Invalid)>;

/// Something that changed, for webhooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A ticket was created.
    TicketLogged { ticket_id: i64 },
    /// A ticket's fields (status included) changed.
    TicketUpdated { ticket_id: i64 },
    /// An action was added to a ticket.
    ActionAdded { ticket_id: i64, action_id: i64 },
    /// An existing action was edited.
    ActionUpdated { ticket_id: i64, action_id: i64 },
}

/// The next id of each kind of record the API can create.
#[derive(Debug, Clone, Default)]
struct NextIds {
    client: i64,
    site: i64,
    user: i64,
    ticket: i64,
    attachment: i64,
}

/// Everything the simulated Halo instance holds.
#[derive(Debug, Clone, Default)]
pub struct Store {
    pub clients: BTreeMap<i64, Client>,
    pub sites: BTreeMap<i64, Site>,
    pub users: BTreeMap<i64, User>,
    pub agents: BTreeMap<i64, Agent>,
    pub teams: BTreeMap<i64, Team>,
    pub statuses: BTreeMap<i64, Status>,
    pub ticket_types: BTreeMap<i64, TicketType>,
    pub slas: BTreeMap<i64, Sla>,
    pub priorities: Vec<Priority>,
    pub outcomes: BTreeMap<i64, Outcome>,
    pub tickets: BTreeMap<i64, Ticket>,
    pub attachments: BTreeMap<i64, Attachment>,
    /// The agent API applications log in as.
    pub api_agent_id: i64,
    next_ids: NextIds,
    changes: Vec<Change>,
}

impl Store {
    /// Makes new records continue after the highest id of their kind, or at the
    /// given starting points when there are none yet. Seeds call this last.
    pub fn continue_ids(&mut self, first: FirstIds) {
        fn after<T>(map: &BTreeMap<i64, T>, first: i64) -> i64 {
            map.keys()
                .next_back()
                .map_or(first, |last| (last + 1).max(first))
        }

        self.next_ids = NextIds {
            client: after(&self.clients, first.client),
            site: after(&self.sites, first.site),
            user: after(&self.users, first.user),
            ticket: after(&self.tickets, first.ticket),
            attachment: after(&self.attachments, first.attachment),
        };
    }

    /// Takes the changes recorded since the last call, oldest first.
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    fn record(&mut self, change: Change) {
        self.changes.push(change);
    }

    /// A ticket that has not been deleted.
    pub fn ticket(&self, ticket_id: i64) -> Option<&Ticket> {
        self.tickets
            .get(&ticket_id)
            .filter(|ticket| !ticket.deleted)
    }

    fn ticket_mut(&mut self, ticket_id: i64) -> Option<&mut Ticket> {
        self.tickets
            .get_mut(&ticket_id)
            .filter(|ticket| !ticket.deleted)
    }

    /// The client a site belongs to.
    pub fn client_of_site(&self, site_id: i64) -> Option<&Client> {
        let site = self.sites.get(&site_id)?;
        self.clients.get(&site.client_id)
    }

    /// Whether `status_id` is a closed status.
    pub fn is_closed_status(&self, status_id: i64) -> bool {
        self.statuses
            .get(&status_id)
            .is_some_and(|status| status.closed)
    }

    /// The configured outcome called `name` (case-insensitive).
    pub fn outcome_named(&self, name: &str) -> Option<&Outcome> {
        let name = name.trim();
        self.outcomes
            .values()
            .find(|outcome| outcome.name.eq_ignore_ascii_case(name))
    }

    /// The priority record of `priority_id` under `sla_id`, or under any SLA
    /// when that one does not define it.
    pub fn priority(&self, sla_id: i64, priority_id: i64) -> Option<&Priority> {
        let of_id = |priority: &&Priority| priority.priority_id == priority_id;
        self.priorities
            .iter()
            .filter(of_id)
            .find(|priority| priority.sla_id == sla_id)
            .or_else(|| self.priorities.iter().find(of_id))
    }

    /// The display name of an author, as Halo writes it in `who`.
    pub fn author_name(&self, author: &Author) -> String {
        match author {
            Author::System => "System".to_owned(),
            Author::Agent { agent_id, .. } => self
                .agents
                .get(agent_id)
                .map_or_else(|| format!("Agent {agent_id}"), |agent| agent.name.clone()),
            Author::User { user_id } => self
                .users
                .get(user_id)
                .map_or_else(|| format!("User {user_id}"), |user| user.name.clone()),
        }
    }

    /// Moves a ticket to `status_id`, keeping the closed date in step.
    fn set_status(ticket: &mut Ticket, status_id: i64, closed: bool, now: DateTime<Utc>) {
        if closed && ticket.dateclosed.is_none() {
            ticket.dateclosed = Some(now);
            ticket.hasbeenclosed = true;
        }
        if !closed {
            ticket.dateclosed = None;
        }
        ticket.status_id = status_id;
    }
}

/// Where ids start when a kind has no record yet.
#[derive(Debug, Clone, Copy)]
pub struct FirstIds {
    pub client: i64,
    pub site: i64,
    pub user: i64,
    pub ticket: i64,
    pub attachment: i64,
}

impl Default for FirstIds {
    fn default() -> Self {
        FirstIds {
            client: 1,
            site: 1,
            user: 1,
            ticket: 1,
            attachment: 1,
        }
    }
}

/// Plans every draft, then applies them all, or refuses with every problem found.
fn plan_then_apply<D, P, T>(
    store: &mut Store,
    drafts: Vec<D>,
    plan: impl Fn(&Store, D) -> Result<P, Invalid>,
    apply: impl Fn(&mut Store, P) -> T,
) -> Result<Vec<T>, Refusals> {
    let mut plans = Vec::with_capacity(drafts.len());
    let mut refusals = Refusals::new();

    for (index, draft) in drafts.into_iter().enumerate() {
        match plan(store, draft) {
            Ok(planned) => plans.push(planned),
            Err(invalid) => refusals.push((index, invalid)),
        }
    }
    if !refusals.is_empty() {
        return Err(refusals);
    }

    Ok(plans
        .into_iter()
        .map(|planned| apply(store, planned))
        .collect())
}
