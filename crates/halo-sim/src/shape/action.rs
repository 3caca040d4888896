//! Actions, in the shape of the captured `extra_actions` of a ticket.
//!
//! `note_html` is left out of list items unless the request asks for it with
//! `includehtmlnote=true`, Halo's switch for it; single actions always carry it.

use serde_json::{Map, Value, json};

use super::merge;
use crate::quirks::dates;
use crate::store::{Action, Author, Store};

/// An action; `with_html` adds `note_html`.
pub fn action(store: &Store, action: &Action, with_html: bool) -> Value {
    let (agent_id, user_id, application) = match &action.author {
        Author::Agent {
            agent_id,
            application,
        } => (*agent_id, 0, application.clone()),
        Author::User { user_id } => (0, *user_id, None),
        Author::System => (0, 0, None),
    };
    let new_status_name = store
        .statuses
        .get(&action.new_status)
        .map_or("", |status| status.name.as_str());
    let attachments = store.attachment_count(action.ticket_id, Some(action.id));
    let at = dates::utc7(action.at);
    let mut object = Map::new();

    merge(
        &mut object,
        json!({
            "ticket_id": action.ticket_id,
            "id": action.id,
            "outcome": action.outcome,
            "outcome_id": action.outcome_id,
            "who": action.who,
            "who_type": action.author.who_type(),
            "who_agentid": agent_id,
            "datetime": at,
            "actiondatecreated": at,
            "actionarrivaldate": at,
            "actioncompletiondate": at,
            "note": action.note,
            "hiddenfromuser": action.hiddenfromuser,
            "important": action.important,
            "sendemail": action.sendemail,
            "timetaken": action.timetaken,
            "attachment_count": attachments,
            "emailfrom": action.emailfrom,
            "emailto": action.emailto,
            "emailcc": action.emailcc,
            "emailsubject": "",
            "old_status": action.old_status,
            "new_status": action.new_status,
            "new_status_name": new_status_name,
        }),
    );
    merge(
        &mut object,
        json!({
            "actionby_agent_id": agent_id,
            "actionby_user_id": user_id,
            "replied_to_ticket_id": 0,
            "replied_to_action_id": 0,
            "created_from_ticket_id": 0,
            "created_from_action_id": 0,
            "action_contract_id": -1,
            "project_id": action.ticket_id,
            "actisbillable": true,
            "actreviewed": false,
            "from_mailbox_id": 0,
            "emailtemplate_id": 0,
            "personal_unread": false,
            "unread": 0,
            "timesheet_approval_status": -1,
            "timetakendays": 0.0,
            "timetakenadjusted": -0.0,
            "chargerate": 0,
            "_canupdate": true,
        }),
    );

    if with_html {
        object.insert("note_html".into(), json!(action.note_html));
    }
    if let Some(application) = application {
        object.insert("actionby_application_id".into(), json!(application));
    }
    Value::Object(object)
}
