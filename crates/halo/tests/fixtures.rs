//! Real Halo responses (see `fixtures/README.md`) decode with the models, quirks
//! included: float ids, 7-digit fractions, sentinel dates, `-1`/`0` as none,
//! the GUID-keyed priority and the nested user.

use chrono::{TimeZone, Utc};
use halo::model::{Attachment, Ticket, User};

fn decode<T: serde::de::DeserializeOwned>(json: &str) -> T {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(&mut deserializer)
        .unwrap_or_else(|e| panic!("decoding failed at {}: {}", e.path(), e.inner()))
}

#[test]
fn the_created_ticket_decodes_with_its_quirks() {
    let ticket: Ticket = decode(include_str!("fixtures/ticket-create-response.json"));

    assert_eq!(ticket.id, 9499);
    assert_eq!(ticket.reference.as_deref(), Some("IN-0009499"));
    assert_eq!(ticket.summary, "Halo via API at 2024-06-20T14:45:15.788760");
    assert_eq!(ticket.details, "Blah");
    assert_eq!(ticket.details_html.as_deref(), Some("Blah"));
    assert_eq!(
        (ticket.client_id, ticket.site_id, ticket.user_id),
        (Some(12), Some(18), Some(38))
    );
    assert_eq!(
        ticket.client_name.as_deref(),
        Some("Department for Business and Trade")
    );
    assert_eq!(ticket.user_email.as_deref(), Some("some.body@example.com"));
    assert_eq!(ticket.reportedby.as_deref(), Some("some.body@example.com"));
    assert_eq!(
        (ticket.tickettype_id, ticket.status_id),
        (Some(36), Some(1))
    );
    assert_eq!(ticket.team.as_deref(), Some("1st Line Support"));
    assert_eq!(ticket.team_id, Some(26));
    assert!(!ticket.onhold && !ticket.inactive && !ticket.deleted);

    // Seven fractional digits with Z.
    assert_eq!(
        ticket.dateoccurred,
        Some(
            Utc.with_ymd_and_hms(2024, 6, 20, 14, 45, 15).unwrap()
                + chrono::Duration::nanoseconds(974_627_100)
        )
    );
    assert!(ticket.datecreated.is_some());
    assert!(ticket.lastactiondate.is_some());
    // Three fractional digits with Z.
    assert_eq!(
        ticket.respondbydate,
        Some(
            Utc.with_ymd_and_hms(2024, 6, 21, 10, 45, 15).unwrap()
                + chrono::Duration::milliseconds(975)
        )
    );
    // "1900-01-01T00:00:00" means not set; this response has no last_update at all.
    assert_eq!(ticket.deadlinedate, None);
    assert_eq!(ticket.last_update, None);
    assert_eq!(ticket.dateclosed, None);
}

#[test]
fn the_created_tickets_priority_is_keyed_by_a_guid_and_the_ticket_by_number() {
    let ticket: Ticket = decode(include_str!("fixtures/ticket-create-response.json"));

    let priority = ticket
        .priority
        .expect("the create response nests the priority");
    assert_eq!(ticket.priority_id, Some(4));
    assert_eq!(priority.id, "aeb80996-724c-e811-892e-b01041c8667a");
    assert_eq!(priority.priorityid, 4);
    assert_eq!(priority.slaid, Some(1));
    assert_eq!(priority.name, "Low");
    assert_eq!(priority.fixtime, Some(5.0));
    assert_eq!(priority.fixunits.as_deref(), Some("D"));
}

#[test]
fn the_created_tickets_nested_user_and_ticket_type_decode() {
    let ticket: Ticket = decode(include_str!("fixtures/ticket-create-response.json"));

    let user = ticket.user.expect("the create response nests the user");
    assert_eq!(user.id, 38);
    assert_eq!(user.site_id, Some(18), "site_id arrives as the float 18.0");
    assert_eq!(user.linked_agent_id, Some(13));
    assert_eq!(user.emailaddress.as_deref(), Some("some.body@example.com"));

    let ticket_type = ticket
        .tickettype
        .expect("the create response nests the ticket type");
    assert_eq!(
        (ticket_type.id, ticket_type.name.as_str()),
        (36, "General Purpose")
    );
    assert_eq!(ticket_type.initial_status, Some(1));
    assert_eq!(ticket_type.default_sla, Some(1));
    assert_eq!(ticket_type.default_priority, Some(4));
    assert_eq!(
        ticket_type.default_team.as_deref(),
        Some("1st Line Support")
    );

    let impact = ticket
        .customfields
        .iter()
        .find(|f| f.name == "CFimpact")
        .expect("present");
    assert_eq!(impact.display.as_deref(), Some("Single User Affected"));
}

#[test]
fn the_second_created_ticket_decodes() {
    let ticket: Ticket = decode(include_str!("fixtures/ticket-create-response-2.json"));

    assert_eq!(ticket.id, 9950);
    assert_eq!(ticket.reference.as_deref(), Some("SR-0009950"));
    assert_eq!(
        (ticket.tickettype_id, ticket.priority_id, ticket.team_id),
        (Some(28), Some(1), Some(18))
    );
    assert_eq!(
        ticket.last_update,
        Some(
            Utc.with_ymd_and_hms(2024, 8, 12, 15, 54, 55).unwrap()
                + chrono::Duration::nanoseconds(284_700_500)
        )
    );
    assert!(
        ticket
            .details_html
            .as_deref()
            .is_some_and(|html| html.starts_with("<p>Aaa Question"))
    );
    assert_eq!(
        ticket.priority.map(|p| p.id).as_deref(),
        Some("85c6afd4-244f-4cba-1146-08dc588ca950")
    );
    assert_eq!(
        ticket.tickettype.map(|t| t.name).as_deref(),
        Some("ESS EDES Request")
    );
}

#[test]
fn the_upload_response_reads_its_sentinels_as_none() {
    let attachment: Attachment = decode(include_str!("fixtures/attachment-upload-response.json"));

    assert_eq!(attachment.id, 2967);
    assert_eq!(attachment.filename, "short-text.txt");
    assert_eq!(attachment.content_type.as_deref(), Some("text/plain"));
    assert_eq!(attachment.filesize, 20);
    assert_eq!(
        attachment.ticket_id, None,
        "ticket_id 0 means not linked yet"
    );
    assert_eq!(attachment.action_id, None);
    assert_eq!(attachment.user_id, None, "user_id -1 means no user");
    assert_eq!(attachment.agent_id, Some(3));
    assert_eq!(
        attachment.guid.as_deref(),
        Some("35216eb1-da89-4e87-9fdd-03172beaf229")
    );
    assert_eq!(
        attachment.datecreated,
        Some(
            Utc.with_ymd_and_hms(2024, 7, 2, 8, 31, 38).unwrap()
                + chrono::Duration::nanoseconds(760_010_200)
        )
    );
}

#[test]
fn the_user_reads_its_float_site_id_and_offsetless_date() {
    let user: User = decode(include_str!("fixtures/user.json"));

    assert_eq!(user.id, 38);
    assert_eq!(user.name, "Some Body");
    assert_eq!(user.site_id, Some(18));
    assert_eq!(user.site_name.as_deref(), Some("Org SIte"));
    assert_eq!(user.client_id, Some(12));
    assert_eq!(user.client_name.as_deref(), Some("Some Org"));
    assert_eq!(user.linked_agent_id, Some(13));
    assert!(!user.inactive);
    assert_eq!(
        user.datecreated,
        Some(
            Utc.with_ymd_and_hms(2022, 9, 26, 16, 15, 38).unwrap()
                + chrono::Duration::milliseconds(897)
        ),
        "a date without offset is UTC"
    );
}

#[test]
fn every_fixture_file_has_a_decoding_test() {
    let directory = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files: Vec<String> = std::fs::read_dir(&directory)
        .expect("the fixtures directory")
        .map(|entry| entry.expect("a directory entry").file_name())
        .filter_map(|name| name.into_string().ok())
        .filter(|name| name.ends_with(".json"))
        .collect();
    files.sort_unstable();

    assert_eq!(
        files,
        [
            "attachment-upload-response.json",
            "ticket-create-response-2.json",
            "ticket-create-response.json",
            "user.json",
        ],
        "a new fixture needs a test above"
    );
}
