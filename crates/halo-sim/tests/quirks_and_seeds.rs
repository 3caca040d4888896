//! Halo's habits as a client meets them, and what the seeds hold.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Halo, ids};
use halo_sim::Seed;
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test]
async fn paths_are_case_insensitive() {
    let halo = Halo::start(Seed::Demo).await;

    let spellings = [
        "/api/tickets",
        "/API/Tickets",
        "/Api/TICKETS/",
        "/api/Tickets",
    ];
    let mut counts = Vec::new();
    for path in spellings {
        counts.push(halo.get_json(path).await["record_count"].clone());
    }

    assert!(counts.iter().all(|count| count == &counts[0]), "{counts:?}");
    assert_eq!(halo.get("/api/TICKETS/1001").await.status(), StatusCode::OK);
    assert_eq!(halo.sim.requests_to("get", "TICKETS"), 5);
}

#[tokio::test]
async fn query_booleans_accept_true_and_false_in_either_case() {
    let halo = Halo::start(Seed::Demo).await;

    let lower = halo.get_json("/api/Users?includeinactive=true").await;
    let upper = halo.get_json("/api/Users?includeinactive=True").await;
    let off = halo.get_json("/api/Users?includeinactive=False").await;

    assert_eq!(lower["record_count"], upper["record_count"]);
    assert_eq!(
        off["record_count"].as_i64().unwrap() + 1,
        upper["record_count"].as_i64().unwrap(),
        "exactly one demo user is inactive"
    );
}

#[tokio::test]
async fn unknown_query_parameters_are_ignored_and_the_list_comes_unfiltered() {
    let halo = Halo::start(Seed::Demo).await;

    let plain = halo.get_json("/api/Tickets").await;
    let odd = halo
        .get_json("/api/Tickets?tickettype_id=4&no_such_filter=1&client_id=abc")
        .await;

    assert_eq!(plain, odd);
}

#[tokio::test]
async fn lists_are_wrapped_or_bare_as_in_halo() {
    let halo = Halo::start(Seed::Demo).await;

    for (path, key) in [
        ("/api/Tickets", "tickets"),
        ("/api/Actions?ticket_id=1001", "actions"),
        ("/api/Users", "users"),
        ("/api/Client", "clients"),
        ("/api/Site", "sites"),
        ("/api/Attachment?ticket_id=1001", "attachments"),
    ] {
        let body = halo.get_json(path).await;
        let items = body[key]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: {body}"));
        assert_eq!(
            body["record_count"].as_u64().unwrap() as usize,
            items.len(),
            "{path}"
        );
    }
    for path in [
        "/api/Agent",
        "/api/TicketType",
        "/api/Status",
        "/api/Priority",
        "/api/Outcome",
        "/api/Team",
    ] {
        let body = halo.get_json(path).await;
        assert!(
            body.as_array().is_some_and(|items| !items.is_empty()),
            "{path}: {body}"
        );
    }
}

#[tokio::test]
async fn paging_until_record_count_collects_every_item_once() {
    let halo = Halo::start(Seed::Demo).await;
    let everyone = halo.get_json("/api/Users?includeinactive=true").await;
    let total = everyone["record_count"].as_u64().unwrap();

    let mut collected = Vec::new();
    for page_no in 1.. {
        let page = halo
            .get_json(&format!(
                "/api/Users?includeinactive=true&pageinate=true&page_size=3&page_no={page_no}"
            ))
            .await;
        assert_eq!(page["page_no"], page_no);
        assert_eq!(page["page_size"], 3);
        assert_eq!(page["record_count"], total);
        collected.extend(ids(&page["users"]));
        if collected.len() as u64 >= total {
            break;
        }
    }

    let unique: BTreeSet<i64> = collected.iter().copied().collect();
    assert_eq!(unique.len(), collected.len());
    assert_eq!(unique, ids(&everyone["users"]).into_iter().collect());
}

#[tokio::test]
async fn count_caps_a_list_without_paging() {
    let halo = Halo::start(Seed::Demo).await;

    let capped = halo.get_json("/api/Tickets?count=2").await;

    assert_eq!(capped["tickets"].as_array().unwrap().len(), 2);
    assert_eq!(capped["record_count"], 4);
    assert!(capped.get("page_no").is_none());
}

#[tokio::test]
async fn search_is_a_case_insensitive_contains_match() {
    let halo = Halo::start(Seed::Demo).await;

    let tickets = halo.get_json("/api/Tickets?search=PRINTER").await;
    let by_id = halo.get_json("/api/Tickets?search=1002").await;
    let users = halo.get_json("/api/Users?search=northwind.example").await;
    let clients = halo.get_json("/api/Client?search=wind").await;
    let agents = halo.get_json("/api/Agent?search=tess").await;

    assert_eq!(ids(&tickets["tickets"]), [1001]);
    assert_eq!(ids(&by_id["tickets"]), [1002]);
    assert_eq!(users["record_count"], 2);
    assert_eq!(clients["clients"][0]["name"], "Northwind Traders");
    assert_eq!(agents[0]["name"], "Tess Tech");
}

#[tokio::test]
async fn ticket_filters_and_order() {
    let halo = Halo::start(Seed::Demo).await;

    let open = halo.get_json("/api/Tickets?open_only=true").await;
    let closed = halo.get_json("/api/Tickets?closed_only=True").await;
    let picked = halo.get_json("/api/Tickets?ticketids=1001,1003").await;
    let by_agent = halo.get_json("/api/Tickets?agent_id=4").await;
    let newest_first = halo
        .get_json("/api/Tickets?order=dateoccurred&orderdesc=true")
        .await;

    assert_eq!(ids(&open["tickets"]), [1001, 1002, 1004]);
    assert_eq!(ids(&closed["tickets"]), [1003]);
    assert_eq!(ids(&picked["tickets"]), [1001, 1003]);
    assert_eq!(ids(&by_agent["tickets"]), [1001, 1004]);
    assert_eq!(ids(&newest_first["tickets"]), [1002, 1004, 1001, 1003]);
}

#[tokio::test]
async fn last_update_filter_finds_recent_changes() {
    let halo = Halo::start(Seed::Demo).await;
    let before = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    halo.post_created(
        "/api/Actions",
        &serde_json::json!([{"ticket_id": 1003, "outcome": "Private Note", "note": "late note"}]),
    )
    .await;
    let changed = halo
        .get_json(&format!("/api/Tickets?lastupdatefromdate={before}"))
        .await;

    assert_eq!(ids(&changed["tickets"]), [1003]);
}

#[tokio::test]
async fn every_site_has_one_general_user() {
    let halo = Halo::start(Seed::Demo).await;

    let sites = halo.get_json("/api/Site?includeinactive=true").await;
    for site in sites["sites"].as_array().unwrap() {
        let users = halo
            .get_json(&format!(
                "/api/Users?site_id={}&search=General%20User",
                site["id"]
            ))
            .await;
        assert_eq!(users["record_count"], 1, "site {}", site["name"]);
    }
    assert!(
        sites["sites"][0]["client_id"].is_f64(),
        "Site client_id is a double"
    );
}

#[tokio::test]
async fn the_same_email_belongs_to_contacts_of_two_clients() {
    let halo = Halo::start(Seed::Demo).await;

    let found = halo
        .get_json("/api/Users?search=sam.jones@consultants.example")
        .await;

    let clients: BTreeSet<i64> = found["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|user| user["client_id"].as_i64().unwrap())
        .collect();
    assert_eq!(found["record_count"], 2);
    assert_eq!(clients.len(), 2);
}

#[tokio::test]
async fn users_carry_site_id_as_a_double_and_as_an_integer() {
    let halo = Halo::start(Seed::Demo).await;
    let listed = halo.get_json("/api/Users?search=alice").await;
    let user = &listed["users"][0];

    let full = halo.get_json(&format!("/api/Users/{}", user["id"])).await;

    assert!(user["site_id"].is_f64());
    assert_eq!(
        user["site_id"].as_f64(),
        Some(user["site_id_int"].as_i64().unwrap() as f64)
    );
    assert!(user["client_id"].is_i64());
    assert_eq!(user["use"], "user");
    assert!(
        full["datecreated"]
            .as_str()
            .is_some_and(|date| !date.ends_with('Z'))
    );
    assert!(full["site"]["client_id"].is_f64());
}

#[tokio::test]
async fn inactive_contacts_and_clients_need_asking_for() {
    let halo = Halo::start(Seed::Demo).await;

    let default = halo.get_json("/api/Users?search=dan.gone").await;
    let asked = halo
        .get_json("/api/Users?search=dan.gone&includeinactive=true")
        .await;
    let clients = halo.get_json("/api/Client").await;
    let all_clients = halo.get_json("/api/Client?includeinactive=true").await;

    assert_eq!(default["record_count"], 0);
    assert_eq!(asked["users"][0]["inactive"], true);
    assert_eq!(clients["record_count"], 3);
    assert_eq!(all_clients["record_count"], 4);
}

#[tokio::test]
async fn the_empty_seed_is_a_fresh_install() {
    let halo = Halo::start(Seed::Empty).await;

    let statuses = halo.get_json("/api/Status").await;
    let outcomes = halo.get_json("/api/Outcome").await;
    let agents = halo.get_json("/api/Agent?includeunassigned=true").await;
    let clients = halo.get_json("/api/Client").await;
    let tickets = halo.get_json("/api/Tickets").await;

    let status_names: BTreeMap<i64, (String, i64)> = statuses
        .as_array()
        .unwrap()
        .iter()
        .map(|status| {
            let name = status["name"].as_str().unwrap().to_owned();
            (
                status["id"].as_i64().unwrap(),
                (name, status["type"].as_i64().unwrap()),
            )
        })
        .collect();
    assert_eq!(status_names[&1], ("New".to_owned(), 0));
    assert_eq!(status_names[&9], ("Closed".to_owned(), 1));
    let private = outcomes
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["outcome"] == "Private Note");
    assert_eq!(private.unwrap()["hidefromuser"], true);
    assert!(
        outcomes
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["hidefromuser"] == false)
    );
    assert_eq!(ids(&agents), [1, 3]);
    assert_eq!(clients["record_count"], 0);
    assert_eq!(tickets["record_count"], 0);
}

#[tokio::test]
async fn priorities_repeat_once_per_sla_under_guid_ids() {
    let halo = Halo::start(Seed::Empty).await;

    let priorities = halo.get_json("/api/Priority").await;
    let lows: Vec<&Value> = priorities
        .as_array()
        .unwrap()
        .iter()
        .filter(|priority| priority["priorityid"] == 4)
        .collect();
    let guid = lows[0]["id"].as_str().unwrap();
    let one = halo
        .get_json(&format!("/api/Priority/{}", guid.to_uppercase()))
        .await;

    assert_eq!(lows.len(), 2);
    assert_ne!(lows[0]["slaid"], lows[1]["slaid"]);
    assert_eq!(guid.len(), 36);
    assert_eq!(one["id"], guid);
}

#[tokio::test]
async fn agents_hide_the_disabled_and_unassigned_unless_asked() {
    let halo = Halo::start(Seed::Demo).await;

    let default = halo.get_json("/api/Agent").await;
    let everyone = halo
        .get_json("/api/Agent?includedisabled=true&includeunassigned=true")
        .await;

    assert_eq!(ids(&default), [3, 4, 5]);
    assert_eq!(ids(&everyone), [1, 3, 4, 5, 6]);
}

#[tokio::test]
async fn missing_records_and_unknown_urls_are_404() {
    let halo = Halo::start(Seed::Demo).await;

    for path in [
        "/api/Tickets/99999",
        "/api/Users/abc",
        "/api/Agent/77",
        "/api/NoSuchThing",
        "/api/Actions/1",
    ] {
        assert_eq!(
            halo.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
}
