//! Actions (`/api/Actions`): the notes, emails and updates on a ticket. Their
//! ids are numbered per ticket (1, 2, 3 ... in each), so an action is always
//! addressed with its ticket id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Listed;
use crate::de;

/// An action on a ticket.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Action {
    /// The action's number within its ticket.
    #[serde(deserialize_with = "de::id")]
    pub id: i64,
    #[serde(deserialize_with = "de::id")]
    pub ticket_id: i64,
    /// The outcome (action type) name, e.g. "Private Note".
    #[serde(deserialize_with = "de::string")]
    pub outcome: String,
    #[serde(deserialize_with = "de::opt_ref")]
    pub outcome_id: Option<i64>,
    /// Display name of the author.
    #[serde(deserialize_with = "de::opt_string")]
    pub who: Option<String>,
    #[serde(deserialize_with = "de::opt_int")]
    pub who_type: Option<i64>,
    /// The authoring agent; 0 (not an agent) reads as `None`.
    #[serde(deserialize_with = "de::opt_ref")]
    pub who_agentid: Option<i64>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub actionby_agent_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub actionby_user_id: Option<i64>,
    /// The plain-text note.
    #[serde(deserialize_with = "de::string")]
    pub note: String,
    #[serde(deserialize_with = "de::opt_string")]
    pub note_html: Option<String>,
    /// When it happened.
    #[serde(deserialize_with = "de::opt_datetime")]
    pub datetime: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de::opt_datetime")]
    pub actiondatecreated: Option<DateTime<Utc>>,
    /// A private note, hidden from the end user.
    #[serde(deserialize_with = "de::boolean")]
    pub hiddenfromuser: bool,
    #[serde(deserialize_with = "de::boolean")]
    pub important: bool,
    #[serde(deserialize_with = "de::opt_string")]
    pub emailfrom: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub emailto: Option<String>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub new_status: Option<i64>,
    #[serde(deserialize_with = "de::int")]
    pub attachment_count: i64,
}

impl Listed for Action {
    const LIST_KEY: &'static str = "actions";
}

/// The body of `POST /Actions`: a note on a ticket, visible to the end user or
/// private. `outcome` must name an outcome configured in Halo (`GET /Outcome`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewAction {
    pub ticket_id: i64,
    pub outcome: String,
    /// `true` for a private note the end user does not see.
    pub hiddenfromuser: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note_html: Option<String>,
    /// Whether Halo emails the update; Parley leaves it off unless asked.
    pub sendemail: bool,
    /// Display name of the author, when not the application's agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
    /// Changes the ticket's status along with the note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_status: Option<i64>,
}

impl NewAction {
    /// A note the end user can see, with the given outcome (e.g. "Email Update").
    pub fn visible_note(
        ticket_id: i64,
        outcome: impl Into<String>,
        html: impl Into<String>,
    ) -> Self {
        Self::note(ticket_id, outcome.into(), html.into(), false)
    }

    /// A private note hidden from the end user, with an outcome meant for that
    /// (e.g. "Private Note").
    pub fn private_note(
        ticket_id: i64,
        outcome: impl Into<String>,
        html: impl Into<String>,
    ) -> Self {
        Self::note(ticket_id, outcome.into(), html.into(), true)
    }

    fn note(ticket_id: i64, outcome: String, html: String, hidden: bool) -> Self {
        Self {
            ticket_id,
            outcome,
            hiddenfromuser: hidden,
            note: None,
            note_html: Some(html),
            sendemail: false,
            who: None,
            new_status: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_private_note_is_hidden_from_the_user_and_sends_no_email() {
        let action = NewAction::private_note(9499, "Private Note", "<p>internal</p>");

        assert_eq!(
            serde_json::to_value(&action).expect("serializable"),
            json!({
                "ticket_id": 9499, "outcome": "Private Note", "hiddenfromuser": true,
                "note_html": "<p>internal</p>", "sendemail": false,
            })
        );
    }

    #[test]
    fn a_visible_note_is_not_hidden() {
        let action = NewAction::visible_note(1, "Email Update", "<p>hi</p>");

        assert!(!action.hiddenfromuser);
    }

    #[test]
    fn an_action_from_a_ticket_decodes_with_system_authors_as_none() {
        let action: Action = serde_json::from_value(json!({
            "ticket_id": 9499, "id": 3, "outcome": "Rule Applied", "who": "System",
            "who_type": 0, "who_agentid": 0, "datetime": "2024-06-20T14:45:18.0782286Z",
            "note": "Matched Rules Changed", "hiddenfromuser": true, "actionby_agent_id": 3,
        }))
        .expect("lenient");

        assert_eq!((action.ticket_id, action.id), (9499, 3));
        assert_eq!(action.who_agentid, None);
        assert_eq!(action.actionby_agent_id, Some(3));
        assert!(action.hiddenfromuser);
        assert!(action.datetime.is_some());
    }
}
