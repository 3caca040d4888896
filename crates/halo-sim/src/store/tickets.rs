//! Creating, updating and deleting tickets as Halo does: defaults from the
//! ticket type, client and site following the contact, a closed date kept in
//! step with the status, and action 1 written at creation.

use chrono::Utc;
use serde_json::Value;
use uuid::Uuid;

use super::{
    Action, Author, Change, Invalid, Refusals, Store, Ticket, UNASSIGNED_AGENT_ID, plan_then_apply,
};
use crate::quirks::text;

/// Outcome of action 1 when the create body names none.
pub const DEFAULT_LOG_OUTCOME: &str = "Logged";

/// What a client sent for one ticket; `None` means "not sent".
#[derive(Debug, Clone, Default)]
pub struct TicketDraft {
    pub id: Option<i64>,
    pub summary: Option<String>,
    pub details: Option<String>,
    pub details_html: Option<String>,
    pub tickettype_id: Option<i64>,
    pub client_id: Option<i64>,
    pub site_id: Option<i64>,
    pub user_id: Option<i64>,
    pub status_id: Option<i64>,
    pub priority_id: Option<i64>,
    pub agent_id: Option<i64>,
    pub team_id: Option<i64>,
    pub team: Option<String>,
    pub reportedby: Option<String>,
    pub user_email: Option<String>,
    pub categories: [Option<String>; 4],
    pub impact: Option<i64>,
    pub urgency: Option<i64>,
    pub source: Option<i64>,
    pub onhold: Option<bool>,
    /// Outcome of the logging action (action 1), e.g. "First User Email".
    pub outcome: Option<String>,
    /// Previously uploaded attachments to link to the new ticket.
    pub attachment_ids: Option<Vec<i64>>,
    pub customfields: Option<Vec<Value>>,
    pub tags: Option<Vec<String>>,
}

impl TicketDraft {
    /// Whether the draft names an existing ticket (Halo treats id 0 as "new").
    fn target(&self) -> Option<i64> {
        self.id.filter(|id| *id > 0)
    }
}

/// Where a ticket sits: client, site and contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Placement {
    client_id: i64,
    site_id: i64,
    user_id: i64,
}

/// A checked ticket write.
#[derive(Debug)]
pub enum TicketPlan {
    Create {
        ticket: Box<Ticket>,
        outcome: String,
        attachment_ids: Vec<i64>,
        author: Author,
    },
    Update {
        ticket_id: i64,
        draft: Box<TicketDraft>,
        placement: Option<Placement>,
        team_id: Option<i64>,
    },
}

impl Store {
    /// Creates or updates every ticket in `drafts`, all or none; returns their ids.
    pub fn save_tickets(
        &mut self,
        drafts: Vec<TicketDraft>,
        author: &Author,
    ) -> Result<Vec<i64>, Refusals> {
        plan_then_apply(
            self,
            drafts,
            |store, draft| store.plan_ticket(draft, author),
            Store::apply_ticket,
        )
    }

    /// Soft-deletes a ticket, as Halo does (it disappears from the API).
    pub fn delete_ticket(&mut self, ticket_id: i64) -> Option<i64> {
        let ticket = self.ticket_mut(ticket_id)?;
        ticket.deleted = true;
        ticket.last_update = Utc::now();
        Some(ticket_id)
    }

    fn plan_ticket(&self, draft: TicketDraft, author: &Author) -> Result<TicketPlan, Invalid> {
        self.check_ticket_references(&draft)?;
        match draft.target() {
            Some(ticket_id) => self.plan_ticket_update(ticket_id, draft),
            None => self.plan_ticket_create(draft, author),
        }
    }

    /// Refuses ids that name nothing. Id 0 means "none" in Halo and passes.
    fn check_ticket_references(&self, draft: &TicketDraft) -> Result<(), Invalid> {
        let given = |id: Option<i64>| id.filter(|id| *id > 0);

        if let Some(id) = given(draft.tickettype_id)
            && !self.ticket_types.contains_key(&id)
        {
            return Err(Invalid::new(
                "tickettype_id",
                format!("Ticket type {id} does not exist."),
            ));
        }
        if let Some(id) = given(draft.status_id)
            && !self.statuses.contains_key(&id)
        {
            return Err(Invalid::new(
                "status_id",
                format!("Status {id} does not exist."),
            ));
        }
        if let Some(id) = given(draft.priority_id)
            && !self.priorities.iter().any(|p| p.priority_id == id)
        {
            return Err(Invalid::new(
                "priority_id",
                format!("Priority {id} does not exist."),
            ));
        }
        if let Some(id) = given(draft.agent_id)
            && !self.agents.contains_key(&id)
        {
            return Err(Invalid::new(
                "agent_id",
                format!("Agent {id} does not exist."),
            ));
        }
        if let Some(id) = given(draft.team_id)
            && !self.teams.contains_key(&id)
        {
            return Err(Invalid::new(
                "team_id",
                format!("Team {id} does not exist."),
            ));
        }
        for id in draft.attachment_ids.iter().flatten() {
            if !self.attachments.contains_key(id) {
                return Err(Invalid::new(
                    "attachments",
                    format!("Attachment {id} does not exist."),
                ));
            }
        }
        Ok(())
    }

    fn plan_ticket_create(
        &self,
        draft: TicketDraft,
        author: &Author,
    ) -> Result<TicketPlan, Invalid> {
        let summary = draft.summary.clone().unwrap_or_default();
        if summary.trim().is_empty() {
            return Err(Invalid::new("summary", "A summary is required."));
        }

        let tickettype_id = match draft.tickettype_id.filter(|id| *id > 0) {
            Some(id) => id,
            None => self
                .ticket_types
                .values()
                .min_by_key(|kind| (kind.sequence, kind.id))
                .map(|kind| kind.id)
                .ok_or_else(|| Invalid::new("tickettype_id", "No ticket type is configured."))?,
        };
        let kind = self.ticket_types.get(&tickettype_id).ok_or_else(|| {
            Invalid::new(
                "tickettype_id",
                format!("Ticket type {tickettype_id} does not exist."),
            )
        })?;
        let placement = self.place(draft.client_id, draft.site_id, draft.user_id, None)?;
        let team_id = self.resolve_team(&draft)?.unwrap_or(kind.default_team_id);
        let user = self.users.get(&placement.user_id);

        let status_id = draft
            .status_id
            .filter(|id| *id > 0)
            .unwrap_or(kind.initial_status_id);
        let sla_id = kind.default_sla_id;
        let priority_id = draft
            .priority_id
            .filter(|id| *id > 0)
            .unwrap_or(kind.default_priority_id);
        let agent_id = draft
            .agent_id
            .filter(|id| *id > 0)
            .unwrap_or(UNASSIGNED_AGENT_ID);
        let user_email = draft
            .user_email
            .clone()
            .or_else(|| user.map(|user| user.emailaddress.clone()))
            .unwrap_or_default();
        let (details, details_html) = twin_texts(draft.details.clone(), draft.details_html.clone());

        let now = Utc::now();
        let closed = self.is_closed_status(status_id);
        let ticket = Ticket {
            id: 0,
            summary,
            details,
            details_html,
            tickettype_id,
            status_id,
            priority_id,
            sla_id,
            client_id: placement.client_id,
            site_id: placement.site_id,
            user_id: placement.user_id,
            reportedby: draft
                .reportedby
                .clone()
                .unwrap_or_else(|| user_email.clone()),
            user_email,
            agent_id,
            team_id,
            categories: draft.categories.clone().map(Option::unwrap_or_default),
            impact: draft.impact.unwrap_or(0),
            urgency: draft.urgency.unwrap_or(0),
            onhold: draft.onhold.unwrap_or(false),
            source: draft.source.unwrap_or(SOURCE_API),
            customfields: draft.customfields.clone().unwrap_or_default(),
            tags: draft.tags.clone().unwrap_or_default(),
            logged_by: self.author_name(author),
            guid: Uuid::new_v4(),
            dateoccurred: now,
            datecreated: now,
            lastactiondate: now,
            last_update: now,
            dateclosed: closed.then_some(now),
            hasbeenclosed: closed,
            deleted: false,
            actions: Vec::new(),
        };

        Ok(TicketPlan::Create {
            ticket: Box::new(ticket),
            outcome: draft
                .outcome
                .clone()
                .filter(|outcome| !outcome.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_LOG_OUTCOME.to_owned()),
            attachment_ids: draft.attachment_ids.unwrap_or_default(),
            author: author.clone(),
        })
    }

    fn plan_ticket_update(
        &self,
        ticket_id: i64,
        draft: TicketDraft,
    ) -> Result<TicketPlan, Invalid> {
        let Some(ticket) = self.ticket(ticket_id) else {
            return Err(Invalid::new(
                "id",
                format!("Ticket {ticket_id} does not exist."),
            ));
        };
        if draft
            .summary
            .as_deref()
            .is_some_and(|summary| summary.trim().is_empty())
        {
            return Err(Invalid::new("summary", "A summary is required."));
        }

        let moves = draft.client_id.is_some() || draft.site_id.is_some() || draft.user_id.is_some();
        let placement = if moves {
            let keep_user = Some(ticket.user_id);
            Some(self.place(draft.client_id, draft.site_id, draft.user_id, keep_user)?)
        } else {
            None
        };
        let team_id = self.resolve_team(&draft)?;

        Ok(TicketPlan::Update {
            ticket_id,
            draft: Box::new(draft),
            placement,
            team_id,
        })
    }

    /// The team a draft names by id or by name (Halo accepts either).
    fn resolve_team(&self, draft: &TicketDraft) -> Result<Option<i64>, Invalid> {
        if let Some(team_id) = draft.team_id {
            return Ok(Some(team_id.max(0)));
        }
        let Some(name) = draft.team.as_deref().map(str::trim) else {
            return Ok(None);
        };
        if name.is_empty() {
            return Ok(Some(0));
        }
        self.teams
            .values()
            .find(|team| team.name.eq_ignore_ascii_case(name))
            .map(|team| Some(team.id))
            .ok_or_else(|| Invalid::new("team", format!("Team '{name}' does not exist.")))
    }

    /// Works out client, site and contact from whichever of them were sent: a
    /// site implies its client, a client its main site, a contact their site.
    /// `keep_user` is the current contact on an update, kept if still consistent.
    fn place(
        &self,
        client_id: Option<i64>,
        site_id: Option<i64>,
        user_id: Option<i64>,
        keep_user: Option<i64>,
    ) -> Result<Placement, Invalid> {
        let given = |id: Option<i64>| id.filter(|id| *id > 0);

        let user =
            match given(user_id) {
                Some(id) => Some(self.users.get(&id).ok_or_else(|| {
                    Invalid::new("user_id", format!("User {id} does not exist."))
                })?),
                None => None,
            };
        let site_id = match (given(site_id), given(client_id), user) {
            (Some(site_id), _, _) => Some(site_id),
            (None, Some(client_id), _) => {
                let client = self.clients.get(&client_id).ok_or_else(|| {
                    Invalid::new("client_id", format!("Client {client_id} does not exist."))
                })?;
                Some(client.main_site_id)
            }
            (None, None, Some(user)) => Some(user.site_id),
            (None, None, None) => None,
        };
        let Some(site_id) = site_id else {
            return Ok(Placement::default());
        };

        let site = self
            .sites
            .get(&site_id)
            .ok_or_else(|| Invalid::new("site_id", format!("Site {site_id} does not exist.")))?;
        if let Some(client_id) = given(client_id)
            && client_id != site.client_id
        {
            return Err(Invalid::new(
                "site_id",
                format!("Site {site_id} does not belong to client {client_id}."),
            ));
        }
        let belongs = |user_id: i64| {
            self.users
                .get(&user_id)
                .and_then(|user| self.sites.get(&user.site_id))
                .is_some_and(|user_site| user_site.client_id == site.client_id)
        };
        if let Some(user) = user
            && !belongs(user.id)
        {
            return Err(Invalid::new(
                "user_id",
                format!(
                    "User {} does not belong to client {}.",
                    user.id, site.client_id
                ),
            ));
        }

        let user_id = match (user, keep_user) {
            (Some(user), _) => user.id,
            (None, Some(kept)) if user_id.is_none() && belongs(kept) => kept,
            _ => 0,
        };
        Ok(Placement {
            client_id: site.client_id,
            site_id,
            user_id,
        })
    }

    fn apply_ticket(&mut self, plan: TicketPlan) -> i64 {
        match plan {
            TicketPlan::Create {
                ticket,
                outcome,
                attachment_ids,
                author,
            } => self.insert_ticket(*ticket, outcome, attachment_ids, author),
            TicketPlan::Update {
                ticket_id,
                draft,
                placement,
                team_id,
            } => {
                self.update_ticket(ticket_id, *draft, placement, team_id);
                ticket_id
            }
        }
    }

    fn insert_ticket(
        &mut self,
        mut ticket: Ticket,
        outcome: String,
        attachment_ids: Vec<i64>,
        author: Author,
    ) -> i64 {
        let ticket_id = self.next_ids.ticket;
        self.next_ids.ticket += 1;
        ticket.id = ticket_id;

        let (outcome_id, outcome) = match self.outcome_named(&outcome) {
            Some(known) => (known.id, known.name.clone()),
            None => (0, outcome),
        };
        ticket.actions.push(Action {
            id: 1,
            ticket_id,
            outcome_id,
            outcome,
            who: ticket.logged_by.clone(),
            author,
            note: ticket.details.clone(),
            note_html: ticket.details_html.clone(),
            hiddenfromuser: false,
            important: false,
            sendemail: false,
            timetaken: 0.0,
            emailfrom: ticket.reportedby.clone(),
            emailto: String::new(),
            emailcc: String::new(),
            old_status: ticket.status_id,
            new_status: ticket.status_id,
            at: ticket.datecreated,
        });
        for attachment_id in attachment_ids {
            if let Some(attachment) = self.attachments.get_mut(&attachment_id) {
                attachment.ticket_id = ticket_id;
                attachment.action_id = 1;
            }
        }

        self.tickets.insert(ticket_id, ticket);
        self.record(Change::TicketLogged { ticket_id });
        ticket_id
    }

    fn update_ticket(
        &mut self,
        ticket_id: i64,
        draft: TicketDraft,
        placement: Option<Placement>,
        team_id: Option<i64>,
    ) {
        let closed = draft.status_id.map(|id| self.is_closed_status(id));
        let now = Utc::now();
        let Some(ticket) = self.ticket_mut(ticket_id) else {
            return;
        };

        let (details, details_html) = match (draft.details, draft.details_html) {
            (None, None) => (None, None),
            (plain, html) => {
                let (plain, html) = twin_texts(plain, html);
                (Some(plain), Some(html))
            }
        };
        set(&mut ticket.summary, draft.summary);
        set(&mut ticket.details, details);
        set(&mut ticket.details_html, details_html);
        set(&mut ticket.tickettype_id, draft.tickettype_id);
        set(&mut ticket.priority_id, draft.priority_id);
        set(
            &mut ticket.agent_id,
            draft
                .agent_id
                .map(|id| if id > 0 { id } else { UNASSIGNED_AGENT_ID }),
        );
        set(&mut ticket.team_id, team_id);
        set(&mut ticket.reportedby, draft.reportedby);
        set(&mut ticket.user_email, draft.user_email);
        set(&mut ticket.impact, draft.impact);
        set(&mut ticket.urgency, draft.urgency);
        set(&mut ticket.onhold, draft.onhold);
        set(&mut ticket.source, draft.source);
        set(&mut ticket.customfields, draft.customfields);
        set(&mut ticket.tags, draft.tags);
        for (category, sent) in ticket.categories.iter_mut().zip(draft.categories) {
            set(category, sent);
        }
        if let Some(placement) = placement {
            ticket.client_id = placement.client_id;
            ticket.site_id = placement.site_id;
            ticket.user_id = placement.user_id;
        }
        if let (Some(status_id), Some(closed)) = (draft.status_id.filter(|id| *id > 0), closed) {
            Store::set_status(ticket, status_id, closed, now);
        }
        ticket.last_update = now;

        for attachment_id in draft.attachment_ids.unwrap_or_default() {
            if let Some(attachment) = self.attachments.get_mut(&attachment_id) {
                attachment.ticket_id = ticket_id;
            }
        }
        self.record(Change::TicketUpdated { ticket_id });
    }
}

/// `source` of tickets logged through the API. Halo's source ids are per
/// instance; the captured create response shows 3 for an API-logged ticket.
const SOURCE_API: i64 = 3;

/// Overwrites `field` when a value was sent.
fn set<T>(field: &mut T, sent: Option<T>) {
    if let Some(value) = sent {
        *field = value;
    }
}

/// The plain and HTML forms of a text from whichever the client sent.
pub fn twin_texts(plain: Option<String>, html: Option<String>) -> (String, String) {
    match (plain, html) {
        (Some(plain), Some(html)) => (plain, html),
        (Some(plain), None) => {
            let html = text::to_html(&plain);
            (plain, html)
        }
        (None, Some(html)) => (text::to_plain(&html), html),
        (None, None) => (String::new(), String::new()),
    }
}
