//! Setup lists: agents, teams, statuses, ticket types, priorities, outcomes.
//! Halo returns these as bare arrays.

use serde_json::{Value, json};

use super::merge;
use crate::quirks::dates;
use crate::store::{Agent, Outcome, Priority, Status, Store, Team, TicketType};

/// Halo's `type` of a status: 0 open, 1 closed. The evidence only suggests that
/// `type` encodes closedness; these values are the simulator's convention.
pub fn status_type(status: &Status) -> i64 {
    i64::from(status.closed)
}

/// An agent (`/api/Agent`).
pub fn agent(store: &Store, agent: &Agent) -> Value {
    let team = agent.team_id.and_then(|id| store.teams.get(&id));
    let initials: String = [&agent.firstname, &agent.surname]
        .iter()
        .filter_map(|part| part.chars().next())
        .collect();
    let open_tickets = store
        .tickets
        .values()
        .filter(|ticket| !ticket.deleted && ticket.agent_id == agent.id)
        .filter(|ticket| !store.is_closed_status(ticket.status_id))
        .count();

    json!({
        "id": agent.id,
        "name": agent.name,
        "firstname": agent.firstname,
        "surname": agent.surname,
        "initials": initials.to_uppercase(),
        "email": agent.email,
        "jobtitle": agent.jobtitle,
        "team": team.map_or("", |team| team.name.as_str()),
        "teams": team.map_or_else(Vec::new, |team| vec![json!({
            "team_id": team.id,
            "team_name": team.name,
            "agent_id": agent.id,
            "isdefault": true,
        })]),
        "isdisabled": agent.isdisabled,
        "is_agent": true,
        "colour": agent.colour,
        "onlinestatus": 0,
        "ticket_count": open_tickets,
        "lastlogindate": dates::UNSET_1900,
        "use": "agent",
    })
}

/// A team (`/api/Team`).
pub fn team(store: &Store, team: &Team) -> Value {
    let members: Vec<Value> = store
        .agents
        .values()
        .filter(|agent| agent.team_id == Some(team.id))
        .map(|agent| json!({"id": agent.id, "name": agent.name}))
        .collect();

    json!({
        "id": team.id,
        "name": team.name,
        "sequence": team.sequence,
        "forrequests": true,
        "foropps": false,
        "forprojects": false,
        "inactive": false,
        "department_id": 1,
        "department_name": "Service Desk",
        "agents": members,
    })
}

/// A status (`/api/Status`).
pub fn status(status: &Status) -> Value {
    json!({
        "id": status.id,
        "name": status.name,
        "shortname": status.shortname,
        "type": status_type(status),
        "sequence": status.sequence,
        "colour": status.colour,
        "useforsla": !status.closed,
        "slahold": false,
    })
}

/// A ticket type (`/api/TicketType`, also nested as `tickettype` in a ticket).
pub fn ticket_type(store: &Store, kind: &TicketType) -> Value {
    let default_team = store
        .teams
        .get(&kind.default_team_id)
        .map_or("", |team| team.name.as_str());
    let mut object = serde_json::Map::new();

    merge(
        &mut object,
        json!({
            "id": kind.id,
            "name": kind.name,
            "use": "tickets",
            "sequence": kind.sequence,
            "group_id": 0,
            "group_name": "",
            "agentscanselect": true,
            "enduserscanselect": true,
            "anonymouscanselect": false,
            "visible": true,
            "allowattachments": true,
            "itilrequesttype": 1,
            "workflow_id": 0,
            "initial_status": kind.initial_status_id,
            "default_sla": kind.default_sla_id,
            "default_priority": kind.default_priority_id,
            "default_team": default_team,
            "default_team_id": kind.default_team_id,
        }),
    );
    merge(
        &mut object,
        json!({
            "statusafteruserupdate": 21,
            "reopenedstatus": 22,
            "chargerate": -1,
            "default_category_1": "",
            "default_summary": "",
            "default_details": "",
            "default_showforusers": true,
            "default_sendack": 1,
            "default_sendemail": true,
            "allowall_actions": true,
            "allowall_team": true,
            "allowall_status": true,
            "email_start_tag_override": format!("[{}-", kind.reference_prefix),
            "email_end_tag_override": "]",
        }),
    );
    Value::Object(object)
}

/// One priority record of one SLA (`/api/Priority`, also nested in a ticket).
pub fn priority(priority: &Priority) -> Value {
    json!({
        "id": priority.guid.to_string(),
        "slaid": priority.sla_id,
        "priorityid": priority.priority_id,
        "name": priority.name,
        "fixtime": priority.fix_days,
        "fixunits": "D",
        "enterslaexcuse": false,
        "responsetime": priority.response_hours,
        "responseunits": "H",
        "ishidden": false,
        "fixendofday": false,
        "responseendofday": false,
        "colour": priority.colour,
        "catprompt": -1,
        "workdaysoverride": -1,
        "responsestartofday": false,
        "responsestartofdaytime": dates::MIDNIGHT,
        "startofday": false,
        "startofdaytime": dates::MIDNIGHT,
        "setfixtostartdate": false,
        "setfixtotargetdate": false,
    })
}

/// An outcome, i.e. an action type (`/api/Outcome`).
pub fn outcome(outcome: &Outcome) -> Value {
    json!({
        "id": outcome.id,
        "outcome": outcome.name,
        "buttonname": outcome.buttonname,
        "label": outcome.buttonname,
        "sequence": outcome.sequence,
        "hidefromuser": outcome.hidefromuser,
        "sendemail": outcome.sendemail,
        "defaultnote": "",
        "colour": "",
        "systemid": 0,
    })
}
