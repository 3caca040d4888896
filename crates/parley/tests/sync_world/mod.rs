//! What the ticket stories and the fault tests share: a simulator with the
//! demo seed, a Parley with its connector saved to it, and bounded waits on
//! the outbox (through `GET /conversations/{id}/sync`) and on the simulator.

// Each test file uses its own share of these helpers.
#![allow(dead_code)]

use crate::common::{Party, TestServer};
use halo_sim::{App, RunningSim, Seed, SimConfig, Simulator};
use parley::psa::connector::Actor as AuditActor;
use parley::psa::{ConnectorForm, TicketDefaults};
use parley::server;
use serde_json::Value;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

pub const CLIENT_ID: &str = "parley";
pub const SECRET: &str = "parley-sim-secret-5521";

/// Alice is the only contact with her email: she matches.
pub const ALICE: &str = "alice.carter@northwind.example";
/// Sam's email is on contacts of two clients: never guessed.
pub const SAM: &str = "sam.jones@consultants.example";
/// Chloe matches too, at another client.
pub const CHLOE: &str = "chloe.kim@contoso.example";

/// A simulator seeded with the demo data and Parley's API application.
pub async fn simulator(adjust: impl FnOnce(&mut SimConfig)) -> RunningSim {
    let mut config = SimConfig {
        seed: Seed::Demo,
        apps: vec![App {
            client_id: CLIENT_ID.to_owned(),
            client_secret: SECRET.to_owned(),
            scopes: halo::DEFAULT_SCOPES.split(' ').map(str::to_owned).collect(),
        }],
        ..SimConfig::default()
    };
    adjust(&mut config);
    Simulator::start("127.0.0.1:0".parse().expect("an address"), config)
        .await
        .expect("the simulator starts")
}

/// Parley (with the given options) whose connector is saved to `sim`.
pub async fn parley(sim: &RunningSim, options: server::Options) -> TestServer {
    let server = TestServer::start_with_options(
        |config| config.allow_private_psa = true,
        server::Options {
            cheap_hashing: true,
            ..options
        },
    )
    .await;
    save_connector(&server, sim).await;
    server
}

pub async fn save_connector(server: &TestServer, sim: &RunningSim) {
    server
        .running
        .state
        .connectors
        .save(
            &ConnectorForm {
                site_url: sim.url(),
                client_id: CLIENT_ID.to_owned(),
                client_secret: Some(SECRET.to_owned()),
                tenant: None,
            },
            TicketDefaults::default(),
            &AuditActor("test".into()),
        )
        .await
        .expect("the connector is saved");
}

/// Polls `check` every 20 ms until it gives a value, failing the test with
/// `what` after `within`.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the end user's contact lookup settled and they are linked.
pub async fn linked(user: &Party) {
    eventually(
        "the end user's contact match",
        Duration::from_secs(10),
        || async {
            let answer = user.get("/api/v1/me/contact").await.expect(200);
            (answer["linked"] == true).then_some(())
        },
    )
    .await;
}

/// Waits until the end user's contact lookup has run (matched or not).
pub async fn looked_up(user: &Party) -> Value {
    eventually(
        "the end user's contact lookup",
        Duration::from_secs(10),
        || async {
            let answer = user.get("/api/v1/me/contact").await.expect(200);
            let pending = answer["explanation"]
                .as_str()
                .is_some_and(|why| why.contains("still linking"));
            (answer["linked"] == true || (answer["explanation"].is_string() && !pending))
                .then_some(answer)
        },
    )
    .await
}

/// The conversation's sync states, as a technician sees them.
pub async fn sync(tech: &Party, conversation: i64) -> Vec<Value> {
    tech.get(&format!("/api/v1/conversations/{conversation}/sync"))
        .await
        .expect(200)["sync"]
        .as_array()
        .expect("sync states")
        .clone()
}

/// Waits until no message of the conversation is pending, and returns the
/// states.
pub async fn settled(tech: &Party, conversation: i64, within: Duration) -> Vec<Value> {
    eventually("the outbox to settle", within, || async {
        let states = sync(tech, conversation).await;
        states
            .iter()
            .all(|state| state["state"] != "pending")
            .then_some(states)
    })
    .await
}

/// The conversation's ticket id, once Halo answered.
pub async fn ticket_id(party: &Party, conversation: i64, within: Duration) -> i64 {
    eventually("the ticket number", within, || async {
        let answer = party
            .get(&format!("/api/v1/conversations/{conversation}/ticket"))
            .await
            .expect(200);
        answer["ticket"]["ticket_id"].as_i64()
    })
    .await
}

/// A ticket's actions with a note, oldest first, leaving out the one Halo
/// logs with the ticket's details when it is created.
pub fn notes(sim: &RunningSim, ticket: i64) -> Vec<Value> {
    sim.actions(ticket)
        .into_iter()
        .filter(|action| {
            action["note"]
                .as_str()
                .is_some_and(|n| !n.is_empty() && !n.contains("Parley chat reference:"))
        })
        .collect()
}

pub fn note_texts(sim: &RunningSim, ticket: i64) -> Vec<String> {
    notes(sim, ticket)
        .iter()
        .map(|action| action["note"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// How many tickets Halo holds whose details carry Parley's marker for this
/// conversation.
pub fn tickets_for_chat(sim: &RunningSim, ticket_ids: impl IntoIterator<Item = i64>) -> usize {
    ticket_ids
        .into_iter()
        .filter(|id| sim.ticket(*id).is_some())
        .count()
}
