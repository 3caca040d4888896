//! Adding and editing actions (notes, emails, status changes) on tickets.
//!
//! Action ids are numbered per ticket (1, 2, 3, ...), so an action is only
//! ever found together with its ticket id. The outcome must name an outcome
//! configured in Halo, and an action can move its ticket to a new status.

use chrono::Utc;

use super::{Action, Author, Change, Invalid, Outcome, Refusals, Store, plan_then_apply};
use crate::store::tickets::twin_texts;

/// What a client sent for one action; `None` means "not sent".
#[derive(Debug, Clone, Default)]
pub struct ActionDraft {
    pub id: Option<i64>,
    pub ticket_id: Option<i64>,
    pub outcome: Option<String>,
    pub outcome_id: Option<i64>,
    pub who: Option<String>,
    pub who_type: Option<i64>,
    pub who_agentid: Option<i64>,
    pub user_id: Option<i64>,
    pub note: Option<String>,
    pub note_html: Option<String>,
    pub hiddenfromuser: Option<bool>,
    pub important: Option<bool>,
    pub sendemail: Option<bool>,
    pub timetaken: Option<f64>,
    pub emailfrom: Option<String>,
    pub emailto: Option<String>,
    pub emailcc: Option<String>,
    pub new_status: Option<i64>,
}

/// A checked action write.
#[derive(Debug)]
pub enum ActionPlan {
    Create {
        action: Box<Action>,
    },
    Update {
        ticket_id: i64,
        action_id: i64,
        draft: Box<ActionDraft>,
    },
}

impl Store {
    /// Adds or edits every action in `drafts`, all or none; returns
    /// `(ticket_id, action_id)` of each.
    pub fn save_actions(
        &mut self,
        drafts: Vec<ActionDraft>,
        author: &Author,
    ) -> Result<Vec<(i64, i64)>, Refusals> {
        plan_then_apply(
            self,
            drafts,
            |store, draft| store.plan_action(draft, author),
            Store::apply_action,
        )
    }

    /// Removes an action from its ticket.
    pub fn delete_action(&mut self, ticket_id: i64, action_id: i64) -> Option<i64> {
        let ticket = self.ticket_mut(ticket_id)?;
        let position = ticket
            .actions
            .iter()
            .position(|action| action.id == action_id)?;
        ticket.actions.remove(position);
        Some(action_id)
    }

    fn plan_action(&self, draft: ActionDraft, author: &Author) -> Result<ActionPlan, Invalid> {
        let Some(ticket_id) = draft.ticket_id.filter(|id| *id > 0) else {
            return Err(Invalid::new("ticket_id", "A ticket_id is required."));
        };
        let Some(ticket) = self.ticket(ticket_id) else {
            return Err(Invalid::new(
                "ticket_id",
                format!("Ticket {ticket_id} does not exist."),
            ));
        };
        if let Some(status_id) = draft.new_status.filter(|id| *id > 0)
            && !self.statuses.contains_key(&status_id)
        {
            return Err(Invalid::new(
                "new_status",
                format!("Status {status_id} does not exist."),
            ));
        }

        if let Some(action_id) = draft.id.filter(|id| *id > 0) {
            if ticket.action(action_id).is_none() {
                return Err(Invalid::new(
                    "id",
                    format!("Action {action_id} does not exist on ticket {ticket_id}."),
                ));
            }
            if draft.outcome.is_some() || draft.outcome_id.is_some() {
                self.resolve_outcome(&draft)?;
            }
            return Ok(ActionPlan::Update {
                ticket_id,
                action_id,
                draft: Box::new(draft),
            });
        }

        let outcome = self.resolve_outcome(&draft)?.clone();
        let author = self.resolve_author(&draft, author)?;
        let (note, note_html) = twin_texts(draft.note.clone(), draft.note_html.clone());
        let new_status = draft
            .new_status
            .filter(|id| *id > 0)
            .unwrap_or(ticket.status_id);

        let action = Action {
            id: 0,
            ticket_id,
            outcome_id: outcome.id,
            outcome: outcome.name.clone(),
            who: draft
                .who
                .clone()
                .unwrap_or_else(|| self.author_name(&author)),
            author,
            note,
            note_html,
            hiddenfromuser: draft.hiddenfromuser.unwrap_or(outcome.hidefromuser),
            important: draft.important.unwrap_or(false),
            sendemail: draft.sendemail.unwrap_or(outcome.sendemail),
            timetaken: draft.timetaken.unwrap_or(0.0),
            emailfrom: draft.emailfrom.clone().unwrap_or_default(),
            emailto: draft.emailto.clone().unwrap_or_default(),
            emailcc: draft.emailcc.clone().unwrap_or_default(),
            old_status: ticket.status_id,
            new_status,
            at: Utc::now(),
        };
        Ok(ActionPlan::Create {
            action: Box::new(action),
        })
    }

    /// The configured outcome a draft names by `outcome` or `outcome_id`.
    fn resolve_outcome(&self, draft: &ActionDraft) -> Result<&Outcome, Invalid> {
        let by_name = draft
            .outcome
            .as_deref()
            .filter(|name| !name.trim().is_empty());
        match (by_name, draft.outcome_id.filter(|id| *id > 0)) {
            (Some(name), _) => self.outcome_named(name).ok_or_else(|| {
                Invalid::new("outcome", format!("Outcome '{name}' does not exist."))
            }),
            (None, Some(id)) => self
                .outcomes
                .get(&id)
                .ok_or_else(|| Invalid::new("outcome_id", format!("Outcome {id} does not exist."))),
            (None, None) => Err(Invalid::new("outcome", "An outcome is required.")),
        }
    }

    /// Who the action is by: the agent or user the draft names, else the token's agent.
    fn resolve_author(&self, draft: &ActionDraft, author: &Author) -> Result<Author, Invalid> {
        if let Some(agent_id) = draft.who_agentid.filter(|id| *id > 0) {
            if !self.agents.contains_key(&agent_id) {
                return Err(Invalid::new(
                    "who_agentid",
                    format!("Agent {agent_id} does not exist."),
                ));
            }
            let application = match author {
                Author::Agent { application, .. } => application.clone(),
                _ => None,
            };
            return Ok(Author::Agent {
                agent_id,
                application,
            });
        }

        if let (Some(2), Some(user_id)) = (draft.who_type, draft.user_id.filter(|id| *id > 0)) {
            if !self.users.contains_key(&user_id) {
                return Err(Invalid::new(
                    "user_id",
                    format!("User {user_id} does not exist."),
                ));
            }
            return Ok(Author::User { user_id });
        }
        Ok(author.clone())
    }

    fn apply_action(&mut self, plan: ActionPlan) -> (i64, i64) {
        match plan {
            ActionPlan::Create { action } => self.insert_action(*action),
            ActionPlan::Update {
                ticket_id,
                action_id,
                draft,
            } => {
                self.update_action(ticket_id, action_id, *draft);
                (ticket_id, action_id)
            }
        }
    }

    /// Appends a planned action to its ticket, moving the ticket's status if
    /// the action does, and returns `(ticket_id, action_id)`.
    pub(crate) fn insert_action(&mut self, mut action: Action) -> (i64, i64) {
        let ticket_id = action.ticket_id;
        let closed = self.is_closed_status(action.new_status);
        let Some(ticket) = self.ticket_mut(ticket_id) else {
            return (ticket_id, 0);
        };

        let action_id = ticket.next_action_id();
        action.id = action_id;
        if action.new_status != ticket.status_id {
            Store::set_status(ticket, action.new_status, closed, action.at);
        }
        ticket.lastactiondate = action.at;
        ticket.last_update = action.at;
        ticket.actions.push(action);

        self.record(Change::ActionAdded {
            ticket_id,
            action_id,
        });
        (ticket_id, action_id)
    }

    fn update_action(&mut self, ticket_id: i64, action_id: i64, draft: ActionDraft) {
        let outcome = self
            .resolve_outcome(&draft)
            .ok()
            .map(|outcome| (outcome.id, outcome.name.clone()));
        let Some(action) = self
            .ticket_mut(ticket_id)
            .and_then(|ticket| ticket.action_mut(action_id))
        else {
            return;
        };

        if draft.note.is_some() || draft.note_html.is_some() {
            let (note, note_html) = twin_texts(draft.note, draft.note_html);
            action.note = note;
            action.note_html = note_html;
        }
        if let Some((outcome_id, name)) = outcome {
            action.outcome_id = outcome_id;
            action.outcome = name;
        }
        if let Some(who) = draft.who {
            action.who = who;
        }
        if let Some(hidden) = draft.hiddenfromuser {
            action.hiddenfromuser = hidden;
        }
        if let Some(important) = draft.important {
            action.important = important;
        }
        if let Some(timetaken) = draft.timetaken {
            action.timetaken = timetaken;
        }

        self.record(Change::ActionUpdated {
            ticket_id,
            action_id,
        });
    }
}
