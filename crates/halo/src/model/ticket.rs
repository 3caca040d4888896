//! Tickets (`/api/Tickets`, swagger "Faults"): the read model and the bodies
//! for creating and updating one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Listed, Priority, TicketType, User};
use crate::de;

/// A Halo ticket as `GET /Tickets`, `GET /Tickets/{id}` and `POST /Tickets`
/// return it. Only the fields Parley uses are kept.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Ticket {
    /// The ticket number.
    #[serde(deserialize_with = "de::id")]
    pub id: i64,
    #[serde(deserialize_with = "de::string")]
    pub summary: String,
    /// The plain-text description.
    #[serde(deserialize_with = "de::string")]
    pub details: String,
    #[serde(deserialize_with = "de::opt_string")]
    pub details_html: Option<String>,
    /// Halo's display reference, e.g. `IN-0009499`.
    #[serde(deserialize_with = "de::opt_string")]
    pub reference: Option<String>,

    #[serde(deserialize_with = "de::opt_ref")]
    pub client_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub client_name: Option<String>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub site_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub site_name: Option<String>,
    /// The end user (contact) the ticket is for.
    #[serde(deserialize_with = "de::opt_ref")]
    pub user_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub user_name: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub user_email: Option<String>,
    #[serde(deserialize_with = "de::opt_string")]
    pub reportedby: Option<String>,
    /// The full user record, present on a single GET and on create.
    pub user: Option<User>,

    #[serde(deserialize_with = "de::opt_ref")]
    pub tickettype_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub tickettype_name: Option<String>,
    /// The full ticket type, present on a single GET and on create.
    pub tickettype: Option<TicketType>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub status_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub status_name: Option<String>,
    /// The priority number (`Priority::priorityid`), not the priority record's GUID.
    #[serde(deserialize_with = "de::opt_ref")]
    pub priority_id: Option<i64>,
    /// The priority record for this ticket's SLA, present on a single GET and on create.
    pub priority: Option<Priority>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub sla_id: Option<i64>,

    /// The assigned agent; `0` (none) reads as `None`. A fresh unassigned ticket
    /// may show `1`, the "Unassigned" pseudo-agent of default installs.
    #[serde(deserialize_with = "de::opt_ref")]
    pub agent_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub agent_name: Option<String>,
    /// The team name.
    #[serde(deserialize_with = "de::opt_string")]
    pub team: Option<String>,
    #[serde(deserialize_with = "de::opt_ref")]
    pub team_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub category_1: Option<String>,

    /// When the issue occurred (Halo's spelling).
    #[serde(deserialize_with = "de::opt_datetime")]
    pub dateoccurred: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de::opt_datetime")]
    pub datecreated: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de::opt_datetime")]
    pub lastactiondate: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de::opt_datetime")]
    pub last_update: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de::opt_datetime")]
    pub dateclosed: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de::opt_datetime")]
    pub deadlinedate: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de::opt_datetime")]
    pub respondbydate: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "de::opt_datetime")]
    pub fixbydate: Option<DateTime<Utc>>,

    #[serde(deserialize_with = "de::boolean")]
    pub onhold: bool,
    #[serde(deserialize_with = "de::boolean")]
    pub inactive: bool,
    #[serde(deserialize_with = "de::boolean")]
    pub deleted: bool,
    #[serde(deserialize_with = "de::int")]
    pub attachment_count: i64,
    #[serde(deserialize_with = "de::list")]
    pub customfields: Vec<CustomField>,
    /// Optimistic-concurrency token some integrations pass back on update.
    #[serde(deserialize_with = "de::opt_int")]
    pub version_id: Option<i64>,
    #[serde(deserialize_with = "de::opt_string")]
    pub guid: Option<String>,
}

impl Listed for Ticket {
    const LIST_KEY: &'static str = "tickets";
}

/// A custom field as Halo returns it on a ticket.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct CustomField {
    #[serde(deserialize_with = "de::id")]
    pub id: i64,
    /// The field's internal name, e.g. `CFimpact`.
    #[serde(deserialize_with = "de::string")]
    pub name: String,
    #[serde(deserialize_with = "de::opt_string")]
    pub label: Option<String>,
    /// The stored value: a number, text or date depending on the field type.
    pub value: Value,
    /// The value as Halo displays it.
    #[serde(deserialize_with = "de::opt_string")]
    pub display: Option<String>,
}

/// A custom field value to send on create or update, by id or by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomFieldValue {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub value: Value,
}

/// A previously uploaded attachment to link to a new ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AttachmentLink {
    pub id: i64,
}

/// The body of `POST /Tickets` that creates a ticket. Unset fields are not sent,
/// so Halo applies the ticket type's defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct NewTicket {
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details_html: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tickettype_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// The requester's name, for a ticket without a known user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reportedby: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_id: Option<i64>,
    /// The priority number (`Priority::priorityid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_1: Option<String>,
    /// The outcome (action type) name of the logging action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Whether Halo emails the user an acknowledgement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sendack: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub customfields: Vec<CustomFieldValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachmentLink>,
}

/// The body of `POST /Tickets` that updates an existing ticket: Halo changes
/// only the fields sent.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TicketUpdate {
    pub id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details_html: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tickettype_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onhold: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub customfields: Vec<CustomFieldValue>,
}

impl TicketUpdate {
    /// An update of ticket `id` that changes nothing yet.
    pub fn new(id: i64) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_new_ticket_sends_only_what_is_set() {
        let ticket = NewTicket {
            summary: "Printer on fire".into(),
            details_html: Some("<p>Smoke</p>".into()),
            client_id: Some(12),
            attachments: vec![AttachmentLink { id: 2967 }],
            ..NewTicket::default()
        };

        assert_eq!(
            serde_json::to_value(&ticket).expect("serializable"),
            json!({
                "summary": "Printer on fire",
                "details_html": "<p>Smoke</p>",
                "client_id": 12,
                "attachments": [{ "id": 2967 }],
            })
        );
    }

    #[test]
    fn an_update_carries_the_id_and_the_changes() {
        let update = TicketUpdate {
            status_id: Some(9),
            ..TicketUpdate::new(42)
        };

        assert_eq!(
            serde_json::to_value(&update).expect("serializable"),
            json!({ "id": 42, "status_id": 9 })
        );
    }

    #[test]
    fn a_list_item_with_nulls_and_string_ids_decodes() {
        let ticket: Ticket = serde_json::from_value(json!({
            "id": "77", "summary": null, "agent_id": 0, "team_id": null,
            "onhold": "False", "deadlinedate": "1900-01-01T00:00:00",
            "lastactiondate": "2024-06-20T14:45:17.4715717Z", "unknown_field": { "x": 1 },
        }))
        .expect("lenient");

        assert_eq!(ticket.id, 77);
        assert_eq!(ticket.summary, "");
        assert_eq!(ticket.agent_id, None);
        assert!(!ticket.onhold);
        assert_eq!(ticket.deadlinedate, None);
        assert!(ticket.lastactiondate.is_some());
    }
}
