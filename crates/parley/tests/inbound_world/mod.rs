//! What the Halo-to-chat stories share: a simulator with the demo seed, a
//! Parley with a saved connector and the chosen ways of hearing from Halo,
//! its people, and waits that are always bounded.

#![allow(dead_code)]

use super::common::{Party, TestServer, WAIT};
use halo_sim::{App, HaloAction, RunningSim, Seed, SimConfig, Simulator, WebhookTarget};
use parley::psa::connector::Actor as AuditActor;
use parley::psa::{ConnectorForm, TicketDefaults};
use parley::server;
use parley::sync::{InboundConfig, PollPolicy};
use serde_json::{Value, json};
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

pub const CLIENT_ID: &str = "parley";
pub const CLIENT_SECRET: &str = "parley-inbound-secret-7731";
/// The only contact with this email: she matches.
pub const ALICE: &str = "alice.carter@northwind.example";
/// A demo agent (halo-sim's seed).
pub const MARCO: i64 = 5;
/// The seed's "Waiting on User" status.
pub const WAITING_ON_USER: i64 = 4;

/// The longest a change in Halo may take to reach the chat.
pub const ARRIVES: Duration = Duration::from_secs(15);

/// Every log line of this test binary.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The binary's one log capture (a subscriber is global).
pub fn logs() -> &'static CapturedLogs {
    static LOGS: OnceLock<CapturedLogs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = CapturedLogs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_env_filter("parley=debug")
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .init();
        logs
    })
}

/// How the world's Parley finds Halo's changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources {
    /// Only the webhook: the poller is off.
    Webhook,
    /// Only a quick poller: the simulator sends no webhooks.
    Poller,
    /// Both.
    Both,
    /// Neither, and no outbox worker: the story drives every step.
    Manual,
}

pub struct World {
    pub sim: RunningSim,
    pub server: TestServer,
    pub admin: Party,
    pub tech: Party,
    pub alice: Party,
    /// The webhook's secret, when the webhook is on.
    pub secret: Option<String>,
}

impl World {
    pub async fn new(sources: Sources) -> Self {
        logs();
        let sim = Simulator::start(
            "127.0.0.1:0".parse().expect("an address"),
            SimConfig {
                seed: Seed::Demo,
                apps: vec![App {
                    client_id: CLIENT_ID.to_owned(),
                    client_secret: CLIENT_SECRET.to_owned(),
                    scopes: halo::DEFAULT_SCOPES.split(' ').map(str::to_owned).collect(),
                }],
                ..SimConfig::default()
            },
        )
        .await
        .expect("the simulator starts");

        // A quick poller for the stories: every 200 ms, and allowed the whole
        // budget (the policy itself is unit-tested in sync::inbound).
        let inbound = InboundConfig {
            run_poller: matches!(sources, Sources::Poller | Sources::Both),
            poll: PollPolicy {
                base: Duration::from_millis(200),
                share: 1.0,
                safety_net: Duration::from_millis(200),
                ..PollPolicy::default()
            },
            ..InboundConfig::default()
        };
        let server = TestServer::start_with_options(
            |config| config.allow_private_psa = true,
            server::Options {
                cheap_hashing: true,
                inbound,
                run_outbox: sources != Sources::Manual,
                ..server::Options::default()
            },
        )
        .await;
        server
            .running
            .state
            .connectors
            .save(
                &ConnectorForm {
                    site_url: sim.url(),
                    client_id: CLIENT_ID.to_owned(),
                    client_secret: Some(CLIENT_SECRET.to_owned()),
                    tenant: None,
                },
                TicketDefaults::default(),
                &AuditActor("test".into()),
            )
            .await
            .expect("the connector is saved");

        let admin = server.admin("morgan@msp.example", "Morgan Admin").await;
        let tech = server.technician("tess@msp.example", "Tess Parley").await;
        let alice = server.end_user(ALICE, "Alice Carter").await;

        let mut world = World {
            sim,
            server,
            admin,
            tech,
            alice,
            secret: None,
        };
        if matches!(sources, Sources::Webhook | Sources::Both) {
            // The admin shows the secret once and sets Halo's webhook with it.
            let shown = world
                .admin
                .post("/api/v1/connector/webhook/reveal", json!({}))
                .await
                .expect(200);
            assert_eq!(shown["username"], "parley");
            let secret = shown["secret"].as_str().expect("the secret").to_owned();
            world.sim.set_webhook(Some(WebhookTarget {
                url: world.server.url("/api/v1/psa/webhook"),
                basic_auth: Some(("parley".to_owned(), secret.clone())),
            }));
            world.secret = Some(secret);
        }
        world
    }

    /// A chat of Alice's linked to a new Halo ticket: (conversation, ticket).
    pub async fn linked_chat(&self, first: &str) -> (i64, i64) {
        eventually("Alice's contact match", WAIT, || async {
            let contact = self.alice.get("/api/v1/me/contact").await.expect(200);
            (contact["linked"] == true).then_some(())
        })
        .await;
        let (chat, _) = self.alice.start_conversation(first).await;
        self.alice
            .post(&format!("/api/v1/conversations/{chat}/ticket"), json!({}))
            .await
            .expect(202);
        let ticket = eventually("the ticket number", ARRIVES, || async {
            let link = self
                .alice
                .get(&format!("/api/v1/conversations/{chat}/ticket"))
                .await
                .expect(200);
            link["ticket"]["ticket_id"].as_i64()
        })
        .await;
        (chat, ticket)
    }

    /// An agent writes in Halo (visible unless `private`).
    pub fn agent_note(&self, ticket: i64, text: &str, private: bool) {
        self.sim
            .add_action(
                ticket,
                &HaloAction {
                    agent_id: Some(MARCO),
                    note: text.to_owned(),
                    hiddenfromuser: Some(private),
                    ..HaloAction::default()
                },
            )
            .expect("the simulator takes the action");
    }

    /// Waits until a message with this body is in the chat as Alice sees it.
    pub async fn arrives(&self, chat: i64, body: &str) -> Value {
        eventually(&format!("{body:?} in the chat"), ARRIVES, || async {
            self.alice
                .history(chat)
                .await
                .into_iter()
                .find(|message| message["body"] == body)
        })
        .await
    }

    /// Waits until every message of the chat reached Halo.
    pub async fn synced(&self, chat: i64) {
        eventually("the chat's notes to reach Halo", ARRIVES, || async {
            let sync = self
                .tech
                .get(&format!("/api/v1/conversations/{chat}/sync"))
                .await
                .expect(200);
            let states = sync["sync"].as_array().cloned().unwrap_or_default();
            (!states.is_empty() && states.iter().all(|s| s["state"] == "synced")).then_some(())
        })
        .await;
    }
}

/// Polls `check` every 25 ms until it gives a value; fails after `within`.
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
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub fn count(history: &[Value], body: &str) -> usize {
    history.iter().filter(|m| m["body"] == body).count()
}
