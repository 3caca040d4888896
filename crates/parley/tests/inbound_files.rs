//! Files added in Halo reach the chat, against the simulator: a file an agent
//! uploads to a visible action arrives as an attachment the end user can
//! download (same bytes); one on a private action never does; Parley's own
//! upload never comes back; seen by the webhook and the poller, it arrives once.

#![allow(dead_code, unused_imports)]

mod common;

use common::{Party, TestServer, WAIT, http};
use halo_sim::{App, HaloAction, RunningSim, Seed, SimConfig, Simulator, WebhookTarget};
use parley::psa::connector::Actor as AuditActor;
use parley::psa::{ConnectorForm, HaloPsa, NewPsaNote, NewPsaTicket, Psa, TicketDefaults};
use parley::server;
use parley::store::{NoteDirection, TicketRequest, now_millis};
use parley::sync::{InboundConfig, PollPolicy};
use serde_json::{Value, json};
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

const CLIENT_ID: &str = "parley";
const CLIENT_SECRET: &str = "parley-inbound-secret-7731";
/// The only contact with this email: she matches.
const ALICE: &str = "alice.carter@northwind.example";
/// A demo agent (halo-sim's seed).
const MARCO: i64 = 5;
/// The seed's "Waiting on User" status.
const WAITING_ON_USER: i64 = 4;

/// The longest a change in Halo may take to reach the chat.
const ARRIVES: Duration = Duration::from_secs(15);

/// Every log line of this test binary.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

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
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The binary's one log capture (a subscriber is global).
fn logs() -> &'static CapturedLogs {
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
enum Sources {
    /// Only the webhook: the poller is off.
    Webhook,
    /// Only a quick poller: the simulator sends no webhooks.
    Poller,
    /// Both.
    Both,
    /// Neither, and no outbox worker: the story drives every step.
    Manual,
}

struct World {
    sim: RunningSim,
    server: TestServer,
    admin: Party,
    tech: Party,
    alice: Party,
    /// The webhook's secret, when the webhook is on.
    secret: Option<String>,
}

impl World {
    async fn new(sources: Sources) -> Self {
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
    async fn linked_chat(&self, first: &str) -> (i64, i64) {
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
    fn agent_note(&self, ticket: i64, text: &str, private: bool) {
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
    async fn arrives(&self, chat: i64, body: &str) -> Value {
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
    async fn synced(&self, chat: i64) {
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
async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
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

fn count(history: &[Value], body: &str) -> usize {
    history.iter().filter(|m| m["body"] == body).count()
}

/// An agent's app client of the simulator, as an agent's tool would use it.
fn agent_client(world: &World) -> halo::HaloClient {
    let site = halo::SiteUrl::parse(&world.sim.url(), halo::HostPolicy::AllowPrivate)
        .unwrap()
        .site;
    let config = halo::HaloConfig::new(site, CLIENT_ID, halo::Secret::new(CLIENT_SECRET));
    halo::HaloClient::new(config).expect("a client")
}

/// An agent writes a note and uploads a file to it: the file's id.
async fn agent_file(
    world: &World,
    ticket: i64,
    text: &str,
    private: bool,
    name: &str,
    data: &[u8],
) -> i64 {
    let action = world
        .sim
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
    let action_id = action["id"].as_i64().expect("the action's id");
    let upload = halo::model::NewAttachment::new(name, "text/plain", data)
        .for_ticket(ticket)
        .on_action(action_id);
    agent_client(world)
        .upload_attachment(&upload)
        .await
        .expect("the upload")
        .id
}

fn files_named(history: &[Value], name: &str) -> Vec<Value> {
    history
        .iter()
        .filter(|m| m["kind"] == "attachment" && m["attachment"]["file_name"] == name)
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_agents_file_reaches_the_chat_once_and_private_and_own_files_never_do() {
    let world = World::new(Sources::Both).await;
    let (chat, ticket) = world.linked_chat("The scanner shows an error").await;

    // Parley's own upload: Alice sends a file, the outbox puts it in Halo.
    world
        .alice
        .upload(
            chat,
            "photo.txt",
            "text/plain",
            b"what the screen says".to_vec(),
        )
        .await
        .expect(201);
    world.synced(chat).await;

    agent_file(
        &world,
        ticket,
        "Internal: the lamp log",
        true,
        "internal.txt",
        b"secret",
    )
    .await;
    agent_file(
        &world,
        ticket,
        "Here is the fix.",
        false,
        "fix.txt",
        b"Replace lamp E42\n",
    )
    .await;

    world.arrives(chat, "Here is the fix.").await;
    let message = eventually("the agent's file in the chat", ARRIVES, || async {
        files_named(&world.alice.history(chat).await, "fix.txt")
            .into_iter()
            .next()
    })
    .await;
    assert_eq!(message["author"]["kind"], "technician");
    assert!(message["author"]["id"].is_null());
    assert_eq!(message["author"]["name"], "Marco Rossi");

    // More rounds of webhooks and polls: nothing arrives twice.
    world.agent_note(ticket, "Anything else?", false);
    world.arrives(chat, "Anything else?").await;
    let report = world
        .server
        .running
        .state
        .inbound
        .poll_once()
        .await
        .expect("a poll");
    assert!(report.complete, "{report:?}");
    world
        .server
        .running
        .state
        .inbound
        .process_ticket(ticket)
        .await
        .expect("a pass");

    let history = world.alice.history(chat).await;
    assert_eq!(files_named(&history, "fix.txt").len(), 1, "{history:#?}");
    assert_eq!(
        files_named(&history, "photo.txt").len(),
        1,
        "own file once: {history:#?}"
    );
    assert!(
        files_named(&history, "internal.txt").is_empty(),
        "{history:#?}"
    );
    let tech_history = world.tech.history(chat).await;
    assert!(files_named(&tech_history, "internal.txt").is_empty());

    // The end user downloads the same bytes.
    let id = files_named(&history, "fix.txt")[0]["attachment"]["id"].clone();
    let download = world.alice.get(&format!("/api/v1/attachments/{id}")).await;
    assert_eq!(download.status, 200);
    assert_eq!(download.text(), "Replace lamp E42\n");

    // The file from Halo is not sent back to Halo.
    let in_halo = agent_client(&world)
        .list_attachments(ticket, None)
        .await
        .unwrap();
    assert_eq!(
        in_halo
            .iter()
            .filter(|file| file.filename == "fix.txt")
            .count(),
        1
    );
    assert_eq!(
        in_halo
            .iter()
            .filter(|file| file.filename == "photo.txt")
            .count(),
        1
    );
}
