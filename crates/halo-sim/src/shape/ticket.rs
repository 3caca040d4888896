//! Tickets, in the shape of the captured `POST /api/Tickets` response.
//!
//! A list item is flat (about 70 fields). A single ticket (`GET
//! /Tickets/{id}`, and the 201 answer of a create or update) adds the nested
//! `user`, `priority` (keyed by GUID) and `tickettype` objects, custom fields,
//! tags and more of Halo's constant fields.
//!
//! Dates follow the capture: `dateoccurred`, `lastactiondate` and friends in
//! seven-digit UTC with `Z`, SLA targets in milliseconds with `Z`, unset
//! deadlines as year 1900, `lastincomingemail` as year 1. `dateclosed` is
//! absent while a ticket is open, as in the captured open tickets.

use chrono::Duration;
use serde_json::{Map, Value, json};

use super::{contact, merge, setup};
use crate::quirks::dates;
use crate::store::{Store, Ticket};

/// Optional extras of `GET /Tickets`, switched on by Halo's `include*` parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListExtras {
    /// `includestatus=true`: add `status_name`.
    pub status_name: bool,
    /// `includeagent=true`: add `agent_name`.
    pub agent_name: bool,
    /// `includetickettype=true`: add `tickettype_name`.
    pub tickettype_name: bool,
}

/// A ticket as `GET /api/Tickets` lists it.
pub fn summary(store: &Store, ticket: &Ticket, extras: ListExtras) -> Value {
    let mut object = flat(store, ticket);

    if extras.status_name {
        let name = store
            .statuses
            .get(&ticket.status_id)
            .map_or("", |status| status.name.as_str());
        object.insert("status_name".into(), json!(name));
    }
    if extras.agent_name {
        let name = store
            .agents
            .get(&ticket.agent_id)
            .map_or("", |agent| agent.name.as_str());
        object.insert("agent_name".into(), json!(name));
    }
    if extras.tickettype_name {
        let name = store
            .ticket_types
            .get(&ticket.tickettype_id)
            .map_or("", |kind| kind.name.as_str());
        object.insert("tickettype_name".into(), json!(name));
    }
    Value::Object(object)
}

/// A ticket as `GET /api/Tickets/{id}` and a create or update return it.
pub fn detail(store: &Store, ticket: &Ticket) -> Value {
    let mut object = flat(store, ticket);
    let sla_name = store
        .slas
        .get(&ticket.sla_id)
        .map_or("", |sla| sla.name.as_str());
    let tags: Vec<Value> = ticket
        .tags
        .iter()
        .map(|text| json!({"id": 0, "text": text}))
        .collect();

    merge(
        &mut object,
        json!({
            "details_html": ticket.details_html,
            "datecreated": dates::utc7(ticket.datecreated),
            "sla_name": sla_name,
            "takenby": ticket.logged_by,
            "who": ticket.logged_by,
            "users_name": user_name(store, ticket),
            "customfields": ticket.customfields,
            "tags": tags,
            "ticket_tags": ticket.tags.join(","),
            "version_id": 0,
            "sendack": false,
            "hdid": ticket.id,
            "flastupdate": dates::utc7(ticket.last_update),
            "_canupdate": true,
            "isnew": false,
            "top_level_id": 1,
            "site_sla_id": ticket.sla_id,
            "showforusers": true,
            "contract_id": -1,
            "chargerate": -1,
            "autotask_id": -1,
            "scomalertstate": -1,
            "thirdpartyreviewscore": -1,
            "datto_alert_state": -1,
        }),
    );
    merge(
        &mut object,
        json!({
            "auditstatus": -1,
            "auditunum": -1,
            "auditdate": dates::UNSET_1899,
            "reviewed_date": dates::UNSET_1899,
            "laststatuschangestatusdate": dates::UNSET_1899,
            "orionacknowledgedate": dates::UNSET_1900,
            "isbillable": true,
            "itemsarebillable": true,
            "is_sensitive": false,
            "merged_into_id": 0,
            "purchaseordernumber": "",
            "olas": [],
            "is_opportunity": false,
            "is_project": false,
            "locked": false,
            "has_related": false,
            "email_start_tag_override": "",
            "email_end_tag_override": "",
            "itil_requesttype_id": 1,
        }),
    );

    if let Some(priority) = store.priority(ticket.sla_id, ticket.priority_id) {
        object.insert("priority".into(), setup::priority(priority));
    }
    if let Some(user) = store.users.get(&ticket.user_id) {
        object.insert("user".into(), contact::ticket_user(store, user));
    }
    if let Some(kind) = store.ticket_types.get(&ticket.tickettype_id) {
        object.insert("tickettype".into(), setup::ticket_type(store, kind));
    }
    Value::Object(object)
}

/// The contact's name, as Halo fills `user_name`/`users_name`.
fn user_name(store: &Store, ticket: &Ticket) -> String {
    store
        .users
        .get(&ticket.user_id)
        .map_or_else(String::new, |user| user.name.clone())
}

/// The fields list items and single tickets share.
fn flat(store: &Store, ticket: &Ticket) -> Map<String, Value> {
    let client = store.clients.get(&ticket.client_id);
    let site = store.sites.get(&ticket.site_id);
    let team = store
        .teams
        .get(&ticket.team_id)
        .map_or("", |team| team.name.as_str());
    let priority = store.priority(ticket.sla_id, ticket.priority_id);
    let respond_by = priority.map_or(ticket.dateoccurred, |priority| {
        ticket.dateoccurred + Duration::minutes((priority.response_hours * 60.0) as i64)
    });
    let fix_by = priority.map_or(ticket.dateoccurred, |priority| {
        ticket.dateoccurred + Duration::minutes((priority.fix_days * 24.0 * 60.0) as i64)
    });
    let reference_prefix = store
        .ticket_types
        .get(&ticket.tickettype_id)
        .map_or("IN", |kind| kind.reference_prefix.as_str());
    let last_user_email = ticket
        .actions
        .iter()
        .rev()
        .find(|action| action.author.who_type() == 2)
        .map_or_else(
            || dates::UNSET_0001.to_owned(),
            |action| dates::utc7(action.at),
        );
    let mut object = Map::new();

    merge(
        &mut object,
        json!({
            "id": ticket.id,
            "dateoccurred": dates::utc7(ticket.dateoccurred),
            "summary": ticket.summary,
            "details": ticket.details,
            "status_id": ticket.status_id,
            "tickettype_id": ticket.tickettype_id,
            "sla_id": ticket.sla_id,
            "priority_id": ticket.priority_id,
            "client_id": ticket.client_id,
            "client_name": client.map_or("", |client| client.name.as_str()),
            "site_id": ticket.site_id,
            "site_name": site.map_or("", |site| site.name.as_str()),
            "user_id": ticket.user_id,
            "user_name": user_name(store, ticket),
            "team": team,
            "team_id": ticket.team_id,
            "agent_id": ticket.agent_id,
            "category_1": ticket.categories[0],
            "category_2": ticket.categories[1],
            "category_3": ticket.categories[2],
            "category_4": ticket.categories[3],
            "estimate": -0.0,
            "estimatedays": 0.0,
            "child_count": 0,
            "attachment_count": store.attachment_count(ticket.id, None),
        }),
    );
    merge(
        &mut object,
        json!({
            "flagged": false,
            "read": false,
            "enduserstatus": 0,
            "onhold": ticket.onhold,
            "respondbydate": dates::utc3(respond_by),
            "fixbydate": dates::utc7(fix_by),
            "excludefromsla": false,
            "slaholdtime": 0.0,
            "site_timezone": "",
            "lastactiondate": dates::utc7(ticket.lastactiondate),
            "last_update": dates::utc7(ticket.last_update),
            "organisation_id": 1,
            "department_id": 0,
            "reportedby": ticket.reportedby,
            "user_email": ticket.user_email,
            "emailtolist": ticket.user_email,
            "emailcclist": "",
            "matched_kb_id": 0,
            "product_id": 0,
            "release_id": 0,
            "lastincomingemail": last_user_email,
            "workflow_id": 0,
            "workflow_step": 0,
            "is_vip": client.is_some_and(|client| client.is_vip),
        }),
    );
    merge(
        &mut object,
        json!({
            "isimportantcontact": store
                .users
                .get(&ticket.user_id)
                .is_some_and(|user| user.is_important),
            "inactive": false,
            "impact": ticket.impact,
            "urgency": ticket.urgency,
            "starttime": dates::MIDNIGHT,
            "starttimeslot": 0,
            "targetdate": dates::UNSET_1900,
            "targettime": dates::MIDNIGHT,
            "deadlinedate": dates::UNSET_1900,
            "source": ticket.source,
            "guid": ticket.guid.to_string(),
            "reference": format!("{reference_prefix}-{:07}", ticket.id),
            "idsummary": format!("{} - {}", ticket.id, ticket.summary),
            "userdef1": "",
            "userdef2": "",
            "userdef3": "",
            "userdef4": "",
            "userdef5": "",
            "cost": 0.0,
            "quantity": 1,
            "pipeline_stage_id": 0,
            "deleted": ticket.deleted,
            "use": "ticket",
        }),
    );

    if let Some(closed_at) = ticket.dateclosed {
        object.insert("dateclosed".into(), json!(dates::utc7(closed_at)));
    }
    if ticket.hasbeenclosed {
        object.insert("hasbeenclosed".into(), json!(true));
    }
    object
}
