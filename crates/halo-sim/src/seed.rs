//! The data a simulator starts with.
//!
//! `empty` is what a fresh Halo install holds before anyone uses it: statuses
//! (1 New ... 9 Closed), ticket types, two SLAs with one priority record per
//! SLA, outcomes (action types, "Private Note" hidden from users), the
//! "Unassigned" pseudo-agent (id 1) and the "Admin" agent (id 3, the agent
//! API applications log in as, as in the evidence's live tests and captured
//! responses). No clients, contacts, teams or tickets.
//!
//! `demo` adds two teams, technicians (one disabled), four clients (one
//! inactive) with their sites, a "General User" per site, contacts (one
//! inactive, and the same email address at two different clients, as happens
//! with consultants), and four tickets with history: emails both ways, a
//! private note, an attachment, and a closed ticket.
//!
//! Demo ids start where the captured Halo data has them (clients at 12, sites
//! at 18, users at 38) and tickets at 1001, so that a client mixing up one kind
//! of id with another gets caught.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::config::Seed;
use crate::store::contacts::UserDraft;
use crate::store::tickets::twin_texts;
use crate::store::{
    Action, Agent, Attachment, Author, Client, FirstIds, Outcome, Priority, Sla, Status, Store,
    Team, Ticket, TicketType, UNASSIGNED_AGENT_ID,
};

/// The agent API applications log in as.
pub const API_AGENT_ID: i64 = 3;
/// The closed status of a default install.
pub const CLOSED_STATUS_ID: i64 = 9;

/// A store holding `seed`.
pub fn store(seed: Seed) -> Store {
    let mut store = fresh_install();
    if seed == Seed::Demo {
        add_demo(&mut store);
    }
    store.take_changes();
    store
}

/// The setup lists of a fresh install.
fn fresh_install() -> Store {
    let mut store = Store::default();
    store.api_agent_id = API_AGENT_ID;

    for (id, name, closed, colour) in [
        (1, "New", false, "#2bd3c6"),
        (2, "In Progress", false, "#4c8ef7"),
        (3, "Action Required", false, "#ff8000"),
        (4, "Waiting on User", false, "#b0b0b0"),
        (5, "Waiting on Supplier", false, "#b0b0b0"),
        (CLOSED_STATUS_ID, "Closed", true, "#68bc00"),
        (10, "Cancelled", true, "#808080"),
        (21, "Updated", false, "#ff0000"),
        (22, "Re-opened", false, "#ff0000"),
    ] {
        let status = Status {
            id,
            name: name.to_owned(),
            shortname: name.chars().take(4).collect::<String>().to_uppercase(),
            closed,
            sequence: id,
            colour: colour.to_owned(),
        };
        store.statuses.insert(id, status);
    }

    for (id, name) in [(1, "Incident SLA"), (2, "Service Request SLA")] {
        store.slas.insert(
            id,
            Sla {
                name: name.to_owned(),
            },
        );
    }
    for sla_id in [1, 2] {
        for (priority_id, name, fix_days, response_hours, colour) in [
            (1, "Critical", 0.5, 1.0, "#ff0000"),
            (2, "High", 1.0, 2.0, "#ff8000"),
            (3, "Medium", 3.0, 4.0, "#ffd000"),
            (4, "Low", 5.0, 4.0, "#68bc00"),
        ] {
            store.priorities.push(Priority {
                guid: priority_guid(sla_id, priority_id),
                sla_id,
                priority_id,
                name: name.to_owned(),
                fix_days: if sla_id == 2 {
                    fix_days * 2.0
                } else {
                    fix_days
                },
                response_hours,
                colour: colour.to_owned(),
            });
        }
    }

    for (id, name, prefix, sequence, sla, priority) in [
        (1, "Incident", "IN", 1, 1, 3),
        (2, "Problem", "PR", 3, 1, 3),
        (3, "Change Request", "CR", 4, 1, 4),
        (4, "Service Request", "SR", 2, 2, 4),
    ] {
        let kind = TicketType {
            id,
            name: name.to_owned(),
            reference_prefix: prefix.to_owned(),
            sequence,
            default_sla_id: sla,
            default_priority_id: priority,
            initial_status_id: 1,
            default_team_id: 0,
        };
        store.ticket_types.insert(id, kind);
    }

    for (id, name, hidden, email) in [
        (1, "Email User", false, true),
        (2, "Private Note", true, false),
        (3, "Public Note", false, false),
        (4, "Email Update", false, false),
        (5, "First User Email", false, false),
        (6, "Logged", false, false),
        (7, "Status Change", false, false),
        (8, "Closed", false, true),
        (9, "Rule Applied", true, false),
    ] {
        let outcome = Outcome {
            id,
            name: name.to_owned(),
            buttonname: name.to_owned(),
            hidefromuser: hidden,
            sendemail: email,
            sequence: id,
        };
        store.outcomes.insert(id, outcome);
    }

    add_agent(
        &mut store,
        UNASSIGNED_AGENT_ID,
        "Unassigned",
        "",
        None,
        false,
    );
    add_agent(
        &mut store,
        API_AGENT_ID,
        "Admin",
        "admin@msp.example",
        None,
        false,
    );
    store.continue_ids(FirstIds::default());
    store
}

/// A stable GUID per (SLA, priority), shaped like Halo's.
fn priority_guid(sla_id: i64, priority_id: i64) -> Uuid {
    let tail = u128::from(((sla_id as u8) << 4) | priority_id as u8);
    Uuid::from_u128(0xaeb8_0996_724c_e811_892e_b010_41c8_6600 | tail)
}

fn add_agent(
    store: &mut Store,
    id: i64,
    name: &str,
    email: &str,
    team_id: Option<i64>,
    isdisabled: bool,
) {
    let (firstname, surname) = name.split_once(' ').unwrap_or((name, ""));
    store.agents.insert(
        id,
        Agent {
            id,
            name: name.to_owned(),
            firstname: firstname.to_owned(),
            surname: surname.to_owned(),
            email: email.to_owned(),
            jobtitle: if id == UNASSIGNED_AGENT_ID {
                String::new()
            } else {
                "Technician".to_owned()
            },
            team_id,
            isdisabled,
            colour: "#2bd3c6".to_owned(),
        },
    );
}

/// Agent ids of the demo technicians.
const TESS: i64 = 4;
const MARCO: i64 = 5;

fn add_demo(store: &mut Store) {
    store.continue_ids(FirstIds {
        client: 12,
        site: 18,
        user: 38,
        ticket: 1001,
        attachment: 2967,
    });

    for (id, name) in [(1, "1st Line Support"), (2, "2nd Line Support")] {
        store.teams.insert(
            id,
            Team {
                id,
                name: name.to_owned(),
                sequence: id,
            },
        );
    }
    if let Some(kind) = store.ticket_types.get_mut(&1) {
        kind.default_team_id = 1;
    }
    if let Some(admin) = store.agents.get_mut(&API_AGENT_ID) {
        admin.team_id = Some(1);
    }
    add_agent(
        store,
        TESS,
        "Tess Tech",
        "tess.tech@msp.example",
        Some(1),
        false,
    );
    add_agent(
        store,
        MARCO,
        "Marco Rossi",
        "marco.rossi@msp.example",
        Some(2),
        false,
    );
    add_agent(
        store,
        6,
        "Olga Former",
        "olga.former@msp.example",
        Some(1),
        true,
    );

    let northwind = add_client(store, "Northwind Traders", "Head Office", false);
    let warehouse = store.add_site(northwind.client_id, "Warehouse", "+44 20 7946 0002");
    let contoso = add_client(store, "Contoso Ltd", "Main", false);
    let fabrikam = add_client(store, "Fabrikam Inc", "Main", false);
    add_client(store, "Old Client Ltd", "Main", true);

    let alice = add_user(
        store,
        northwind.site_id,
        "Alice Carter",
        "alice.carter@northwind.example",
        false,
    );
    let sam = add_user(
        store,
        northwind.site_id,
        "Sam Jones",
        "sam.jones@consultants.example",
        false,
    );
    add_user(
        store,
        warehouse,
        "Bob Wood",
        "bob.wood@northwind.example",
        false,
    );
    add_user(
        store,
        contoso.site_id,
        "Sam Jones",
        "sam.jones@consultants.example",
        false,
    );
    let chloe = add_user(
        store,
        contoso.site_id,
        "Chloe Kim",
        "chloe.kim@contoso.example",
        false,
    );
    add_user(
        store,
        contoso.site_id,
        "Dan Gone",
        "dan.gone@contoso.example",
        true,
    );
    let erin = add_user(
        store,
        fabrikam.site_id,
        "Erin Diaz",
        "erin.diaz@fabrikam.example",
        false,
    );

    let now = Utc::now();
    let agent = |agent_id| Author::Agent {
        agent_id,
        application: None,
    };

    let printer = add_ticket(
        store,
        TicketSeed {
            summary: "Printer on the 2nd floor keeps jamming",
            details: "The printer by the kitchen jams on every job since this morning.",
            user_id: alice,
            tickettype_id: 1,
            status_id: 2,
            agent_id: TESS,
            logged: now - Duration::days(3),
        },
    );
    let history = [
        (
            Author::System,
            "Rule Applied",
            "Matched Rules Changed: assign printer tickets to 1st Line Support",
            0,
        ),
        (
            agent(TESS),
            "Email User",
            "Hi Alice, could you check tray 2 for stuck paper?",
            1,
        ),
        (
            Author::User { user_id: alice },
            "Email Update",
            "Tray 2 had a torn sheet. The printer's log is attached.",
            20,
        ),
        (
            agent(TESS),
            "Private Note",
            "Roller kit ordered, PO 4471. Price not agreed with the client yet.",
            22,
        ),
    ];
    for (author, outcome, note, hours) in history {
        add_action(
            store,
            printer,
            ActionSeed {
                author,
                outcome,
                note,
                hours,
                new_status: None,
            },
        );
    }
    let log = b"E13 paper jam tray 2\nE13 paper jam tray 2\n";
    add_attachment(store, printer, 4, "printer-log.txt", log);

    add_ticket(
        store,
        TicketSeed {
            summary: "VPN drops every hour",
            details: "Since Monday the VPN disconnects about once an hour.",
            user_id: sam,
            tickettype_id: 1,
            status_id: 1,
            agent_id: UNASSIGNED_AGENT_ID,
            logged: now - Duration::hours(5),
        },
    );

    let laptop = add_ticket(
        store,
        TicketSeed {
            summary: "New starter laptop for Monday",
            details: "Please prepare a laptop for our new accountant starting Monday.",
            user_id: chloe,
            tickettype_id: 4,
            status_id: 1,
            agent_id: MARCO,
            logged: now - Duration::days(10),
        },
    );
    let ready = ActionSeed {
        author: agent(MARCO),
        outcome: "Email User",
        note: "The laptop is imaged and ready for collection.",
        hours: 30,
        new_status: Some(2),
    };
    add_action(store, laptop, ready);
    let collected = ActionSeed {
        author: agent(MARCO),
        outcome: "Closed",
        note: "Collected by Chloe. Closing.",
        hours: 50,
        new_status: Some(CLOSED_STATUS_ID),
    };
    add_action(store, laptop, collected);

    let mailbox = add_ticket(
        store,
        TicketSeed {
            summary: "Access to the shared finance mailbox",
            details: "I need access to finance@fabrikam.example.",
            user_id: erin,
            tickettype_id: 4,
            status_id: 1,
            agent_id: TESS,
            logged: now - Duration::days(1),
        },
    );
    let question = ActionSeed {
        author: agent(TESS),
        outcome: "Email User",
        note: "Who should approve this access?",
        hours: 2,
        new_status: Some(4),
    };
    add_action(store, mailbox, question);

    store.continue_ids(FirstIds::default());
}

/// A demo client and where its main site is.
struct SeededClient {
    client_id: i64,
    site_id: i64,
}

fn add_client(store: &mut Store, name: &str, site: &str, inactive: bool) -> SeededClient {
    let client = Client {
        id: 0,
        name: name.to_owned(),
        inactive,
        main_site_id: 0,
        colour: "#2bd3c6".to_owned(),
        notes: String::new(),
        website: String::new(),
        is_vip: false,
        created: Utc::now() - Duration::days(400),
    };
    let client_id = store.add_client(client, site);
    let site_id = store
        .clients
        .get(&client_id)
        .expect("add_client has just inserted the client")
        .main_site_id;
    SeededClient { client_id, site_id }
}

fn add_user(store: &mut Store, site_id: i64, name: &str, email: &str, inactive: bool) -> i64 {
    let (firstname, surname) = name.split_once(' ').unwrap_or((name, ""));
    store.add_user(UserDraft {
        name: Some(name.to_owned()),
        firstname: Some(firstname.to_owned()),
        surname: Some(surname.to_owned()),
        emailaddress: Some(email.to_owned()),
        phonenumber: None,
        site_id: Some(site_id),
        client_id: None,
        inactive: Some(inactive),
        id: None,
    })
}

/// A demo ticket, logged by its contact's email.
struct TicketSeed {
    summary: &'static str,
    details: &'static str,
    user_id: i64,
    tickettype_id: i64,
    status_id: i64,
    agent_id: i64,
    logged: DateTime<Utc>,
}

fn add_ticket(store: &mut Store, seed: TicketSeed) -> i64 {
    let user = store
        .users
        .get(&seed.user_id)
        .expect("demo tickets name demo users");
    let site = store
        .sites
        .get(&user.site_id)
        .expect("demo users sit at demo sites");
    let kind = store
        .ticket_types
        .get(&seed.tickettype_id)
        .expect("demo tickets use the fresh install's ticket types");
    let ticket_id = store
        .tickets
        .keys()
        .next_back()
        .map_or(1001, |last| last + 1);
    let (details, details_html) = twin_texts(Some(seed.details.to_owned()), None);

    let first_email = Action {
        id: 1,
        ticket_id,
        outcome_id: 5,
        outcome: "First User Email".to_owned(),
        author: Author::User { user_id: user.id },
        who: user.name.clone(),
        note: details.clone(),
        note_html: details_html.clone(),
        hiddenfromuser: false,
        important: false,
        sendemail: false,
        timetaken: 0.0,
        emailfrom: user.emailaddress.clone(),
        emailto: "support@msp.example".to_owned(),
        emailcc: String::new(),
        old_status: seed.status_id,
        new_status: seed.status_id,
        at: seed.logged,
    };
    let ticket = Ticket {
        id: ticket_id,
        summary: seed.summary.to_owned(),
        details,
        details_html,
        tickettype_id: kind.id,
        status_id: seed.status_id,
        priority_id: kind.default_priority_id,
        sla_id: kind.default_sla_id,
        client_id: site.client_id,
        site_id: site.id,
        user_id: user.id,
        reportedby: user.emailaddress.clone(),
        user_email: user.emailaddress.clone(),
        agent_id: seed.agent_id,
        team_id: store
            .agents
            .get(&seed.agent_id)
            .and_then(|a| a.team_id)
            .unwrap_or(0),
        categories: Default::default(),
        impact: 0,
        urgency: 0,
        onhold: false,
        source: 0,
        customfields: Vec::new(),
        tags: Vec::new(),
        logged_by: user.name.clone(),
        guid: Uuid::new_v4(),
        dateoccurred: seed.logged,
        datecreated: seed.logged,
        lastactiondate: seed.logged,
        last_update: seed.logged,
        dateclosed: None,
        hasbeenclosed: false,
        deleted: false,
        actions: vec![first_email],
    };

    store.tickets.insert(ticket_id, ticket);
    ticket_id
}

/// A demo action, written some hours after its ticket was logged.
struct ActionSeed {
    author: Author,
    outcome: &'static str,
    note: &'static str,
    hours: i64,
    new_status: Option<i64>,
}

fn add_action(store: &mut Store, ticket_id: i64, seed: ActionSeed) {
    let Some(outcome) = store.outcome_named(seed.outcome).cloned() else {
        return;
    };
    let who = store.author_name(&seed.author);
    let Some(ticket) = store.tickets.get(&ticket_id) else {
        return;
    };
    let (note, note_html) = twin_texts(Some(seed.note.to_owned()), None);

    let action = Action {
        id: 0,
        ticket_id,
        outcome_id: outcome.id,
        outcome: outcome.name,
        author: seed.author,
        who,
        note,
        note_html,
        hiddenfromuser: outcome.hidefromuser,
        important: false,
        sendemail: outcome.sendemail,
        timetaken: 0.0,
        emailfrom: String::new(),
        emailto: String::new(),
        emailcc: String::new(),
        old_status: ticket.status_id,
        new_status: seed.new_status.unwrap_or(ticket.status_id),
        at: ticket.datecreated + Duration::hours(seed.hours),
    };
    store.insert_action(action);
}

fn add_attachment(store: &mut Store, ticket_id: i64, action_id: i64, filename: &str, data: &[u8]) {
    let id = store
        .attachments
        .keys()
        .next_back()
        .map_or(2967, |last| last + 1);
    let created = store
        .ticket(ticket_id)
        .and_then(|ticket| ticket.action(action_id))
        .map_or_else(Utc::now, |action| action.at);

    store.attachments.insert(
        id,
        Attachment {
            id,
            ticket_id,
            action_id,
            filename: filename.to_owned(),
            content_type: crate::store::attachments::content_type_of(filename).to_owned(),
            note: String::new(),
            isimage: false,
            agent_id: -1,
            guid: Uuid::new_v4(),
            created,
            data: Arc::from(data),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_demo_site_has_a_general_user() {
        let store = store(Seed::Demo);

        for site in store.sites.values() {
            let general = store
                .users
                .values()
                .filter(|user| user.site_id == site.id && user.name == "General User")
                .count();
            assert_eq!(general, 1, "site {}", site.name);
        }
    }

    #[test]
    fn priorities_repeat_per_sla_under_distinct_guids() {
        let store = store(Seed::Empty);
        let lows: Vec<_> = store
            .priorities
            .iter()
            .filter(|priority| priority.priority_id == 4)
            .collect();

        assert_eq!(lows.len(), 2);
        assert_ne!(lows[0].guid, lows[1].guid);
    }

    #[test]
    fn demo_history_is_in_order_and_consistent() {
        let mut store = store(Seed::Demo);

        for ticket in store.tickets.values() {
            let ids: Vec<i64> = ticket.actions.iter().map(|action| action.id).collect();
            assert_eq!(ids, (1..=ids.len() as i64).collect::<Vec<_>>());
            assert_eq!(
                ticket.dateclosed.is_some(),
                store.is_closed_status(ticket.status_id)
            );
        }
        assert!(store.take_changes().is_empty(), "a seed fires no webhooks");
    }
}
