//! Changes made on Halo's side rather than through the API: a technician
//! answering in Halo's agent app, or an end user replying by email. Sync tests
//! use them to make the PSA move under a client's feet; they fire webhooks like
//! any other change.

use serde::Deserialize;
use serde_json::Value;

use crate::shape;
use crate::state::SimState;
use crate::store::actions::ActionDraft;
use crate::store::{Author, Store};

/// A change the simulator refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// No such ticket.
    #[error("ticket {0} does not exist")]
    UnknownTicket(i64),
    /// No such agent.
    #[error("agent {0} does not exist")]
    UnknownAgent(i64),
    /// No such user.
    #[error("user {0} does not exist")]
    UnknownUser(i64),
    /// Halo would refuse the change (unknown outcome, status, ...).
    #[error("{field}: {message}")]
    Refused {
        /// The field at fault.
        field: String,
        /// Why.
        message: String,
    },
}

/// An action written on Halo's side.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct HaloAction {
    /// The technician writing it. Without an agent or a user, the API agent
    /// ("Admin") writes it.
    pub agent_id: Option<i64>,
    /// The end user writing it (an email reply), when no agent is given.
    pub user_id: Option<i64>,
    /// The note text.
    pub note: String,
    /// The outcome (action type). By default "Email Update" for a user,
    /// "Status Change" for an agent's status change without a note,
    /// "Private Note" for an agent's hidden note, and "Email User" otherwise.
    pub outcome: Option<String>,
    /// Hidden from the end user; by default as the outcome says.
    pub hiddenfromuser: Option<bool>,
    /// The status the ticket moves to.
    pub new_status: Option<i64>,
}

impl HaloAction {
    fn outcome(&self) -> String {
        if let Some(outcome) = &self.outcome {
            return outcome.clone();
        }
        let outcome = if self.agent_id.is_none() && self.user_id.is_some() {
            "Email Update"
        } else if self.note.trim().is_empty() && self.new_status.is_some() {
            "Status Change"
        } else if self.hiddenfromuser == Some(true) {
            "Private Note"
        } else {
            "Email User"
        };
        outcome.to_owned()
    }

    fn author(&self, store: &Store) -> Result<Author, SimError> {
        match (self.agent_id, self.user_id) {
            (Some(agent_id), _) if !store.agents.contains_key(&agent_id) => {
                Err(SimError::UnknownAgent(agent_id))
            }
            (Some(agent_id), _) => Ok(Author::Agent {
                agent_id,
                application: None,
            }),
            (None, Some(user_id)) if !store.users.contains_key(&user_id) => {
                Err(SimError::UnknownUser(user_id))
            }
            (None, Some(user_id)) => Ok(Author::User { user_id }),
            (None, None) => Ok(Author::Agent {
                agent_id: store.api_agent_id,
                application: None,
            }),
        }
    }
}

/// Writes `action` on ticket `ticket_id` and returns it as `GET /Actions/{id}` would.
pub fn add_action(sim: &SimState, ticket_id: i64, action: &HaloAction) -> Result<Value, SimError> {
    sim.write(|store| {
        if store.ticket(ticket_id).is_none() {
            return Err(SimError::UnknownTicket(ticket_id));
        }
        let author = action.author(store)?;
        let emailfrom = match author {
            Author::User { user_id } => store.users.get(&user_id).map(|u| u.emailaddress.clone()),
            _ => None,
        };
        let draft = ActionDraft {
            ticket_id: Some(ticket_id),
            outcome: Some(action.outcome()),
            note: Some(action.note.clone()),
            hiddenfromuser: action.hiddenfromuser,
            new_status: action.new_status,
            emailfrom,
            ..ActionDraft::default()
        };

        let saved = store
            .save_actions(vec![draft], &author)
            .map_err(|refusals| match refusals.into_iter().next() {
                Some((_, invalid)) => SimError::Refused {
                    field: invalid.field.to_owned(),
                    message: invalid.message,
                },
                None => SimError::UnknownTicket(ticket_id),
            })?;
        let (ticket_id, action_id) = saved.first().copied().unwrap_or_default();
        store
            .ticket(ticket_id)
            .and_then(|ticket| ticket.action(action_id))
            .map(|written| shape::action::action(store, written, true))
            .ok_or(SimError::UnknownTicket(ticket_id))
    })
}
