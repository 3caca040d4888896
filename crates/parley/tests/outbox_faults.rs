//! The outbox against the simulator's fault injection: Halo down for a
//! while, 429 storms, expiring tokens, a ticket creation whose answer never
//! arrives, and a permanent refusal parked for an admin. Afterwards every
//! chat message is in Halo exactly once, in order, and there is one ticket.
//!
//! The server runs no worker of its own: each test runs one with short
//! backoffs (and, where it matters, a short Halo request timeout) over the
//! same store, PSA connector and chat as the server.

mod common;
mod sync_world;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use common::{Party, TestServer};
use halo_sim::{Faults, RateLimit, RunningSim};
use parley::identity::MasterKey;
use parley::psa::LivePsa;
use parley::server;
use parley::sync::{Outbox, OutboxConfig};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use sync_world::{ALICE, eventually, linked, note_texts, settled, simulator, sync, ticket_id};

const SETTLE: Duration = Duration::from_secs(30);

/// Fast retries, so that an outage of a few requests costs a second.
fn fast() -> OutboxConfig {
    OutboxConfig {
        lease: Duration::from_secs(20),
        base_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(400),
        park_after: Duration::from_secs(120),
        idle_poll: Duration::from_millis(100),
    }
}

struct World {
    sim: RunningSim,
    _server: TestServer,
    alice: Party,
    tess: Party,
}

impl World {
    async fn new(sim: RunningSim, timeout: Option<Duration>) -> Self {
        let server = sync_world::parley(
            &sim,
            server::Options {
                run_outbox: false,
                ..server::Options::default()
            },
        )
        .await;
        Self::with_server(sim, server, timeout).await
    }

    async fn with_server(sim: RunningSim, server: TestServer, timeout: Option<Duration>) -> Self {
        let state = &server.running.state;
        let store = state.chat.shared_store();
        let key = MasterKey::load(&state.config.data_dir).expect("the master key");
        let mut psa = LivePsa::new(store.clone(), key, state.accounts.workspace_id());
        if let Some(timeout) = timeout {
            psa = psa.with_request_timeout(timeout);
        }
        Outbox::new(store, Arc::new(psa), state.chat.clone(), fast()).spawn();

        let alice = server.end_user(ALICE, "Alice Carter").await;
        let tess = server.technician("tess@msp.example", "Tess Tech").await;
        linked(&alice).await;
        Self {
            sim,
            _server: server,
            alice,
            tess,
        }
    }

    /// A chat with its ticket made (and the worker's token and caches warm).
    async fn chat_with_ticket(&self, subject: &str) -> (i64, i64) {
        let (chat, _) = self.alice.start_conversation(subject).await;
        self.alice
            .post(&format!("/api/v1/conversations/{chat}/ticket"), json!({}))
            .await
            .expect(202);
        let ticket = ticket_id(&self.alice, chat, SETTLE).await;
        (chat, ticket)
    }

    /// Alice and Tess take turns saying `lines`.
    async fn converse(&self, chat: i64, lines: &[&str]) -> Vec<i64> {
        let mut ids = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            let who = if i % 2 == 0 { &self.alice } else { &self.tess };
            ids.push(who.say(chat, line).await);
        }
        ids
    }

    /// Every message synced, each with its own note, in the order sent; and
    /// the ticket's notes are exactly these texts, once each, in order.
    async fn assert_exactly_once(&self, chat: i64, ticket: i64, ids: &[i64], lines: &[&str]) {
        let states = settled(&self.tess, chat, SETTLE).await;
        let synced: Vec<i64> = states
            .iter()
            .map(|s| s["message_id"].as_i64().unwrap())
            .collect();
        assert_eq!(synced, ids, "{states:#?}");
        assert!(states.iter().all(|s| s["state"] == "synced"), "{states:#?}");
        let mut note_ids: Vec<i64> = states
            .iter()
            .map(|s| s["note_id"].as_i64().unwrap())
            .collect();
        note_ids.dedup();
        assert_eq!(
            note_ids.len(),
            ids.len(),
            "one note per message: {states:#?}"
        );

        let texts = note_texts(&self.sim, ticket);
        assert_eq!(texts, lines, "Halo holds every message once, in order");
    }
}

fn tickets_posted(sim: &RunningSim) -> u64 {
    sim.requests_to("POST", "tickets")
}

#[tokio::test]
async fn halo_down_for_a_while_then_everything_lands_once_in_order() {
    let world = World::new(simulator(|_| {}).await, None).await;
    let (chat, _) = world.alice.start_conversation("Laptop will not boot").await;
    let before = world.sim.ticket_count();

    // Halo answers 503 to the next dozen requests: the ticket request and the
    // messages after it all wait, and arrive once it is back.
    world.sim.set_faults(Faults {
        fail_next: Some((12, 503)),
        ..Faults::default()
    });
    world
        .alice
        .post(&format!("/api/v1/conversations/{chat}/ticket"), json!({}))
        .await
        .expect(202);
    let lines = ["ok", "Any news?", "ok", "Rebooted twice", "ok thanks", "ok"];
    let ids = world.converse(chat, &lines).await;

    let ticket = ticket_id(&world.alice, chat, SETTLE).await;
    world.assert_exactly_once(chat, ticket, &ids, &lines).await;
    assert!(
        world.sim.faults().fail_next.is_none(),
        "the outage was used up"
    );
    assert_eq!(world.sim.ticket_count(), before + 1);
    assert_eq!(
        world
            .sim
            .request_log()
            .iter()
            .filter(|r| r.endpoint == "POST tickets" && r.status.is_some_and(|s| s < 300))
            .count(),
        1,
        "one ticket was created"
    );
}

#[tokio::test]
async fn a_write_that_failed_after_reaching_halo_is_not_confused_with_an_earlier_same_text() {
    let world = World::new(simulator(|_| {}).await, None).await;
    let (chat, ticket) = world.chat_with_ticket("Teams keeps crashing").await;

    // The same words twice: when the second write's answer is lost (a 503 may
    // come after Halo saved), the retry must not take the first note for it.
    let first = world.alice.say(chat, "ok").await;
    settled(&world.tess, chat, SETTLE).await;
    world.sim.set_faults(Faults {
        fail_next: Some((1, 503)),
        ..Faults::default()
    });
    let second = world.alice.say(chat, "ok").await;
    eventually("the failed write to be retried", SETTLE, || async {
        (world.sim.faults().fail_next.is_none()).then_some(())
    })
    .await;
    // A dropped connection after "ok thanks": the next "ok" is contained in
    // it, and must not be taken for it either.
    let third = world.tess.say(chat, "ok thanks").await;
    settled(&world.tess, chat, SETTLE).await;
    world.sim.set_faults(Faults {
        drop_next: 1,
        ..Faults::default()
    });
    let fourth = world.alice.say(chat, "ok").await;

    world
        .assert_exactly_once(
            chat,
            ticket,
            &[first, second, third, fourth],
            &["ok", "ok", "ok thanks", "ok"],
        )
        .await;
}

#[tokio::test]
async fn a_429_storm_slows_the_outbox_down_but_loses_and_doubles_nothing() {
    let world = World::new(simulator(|_| {}).await, None).await;
    let (chat, ticket) = world.chat_with_ticket("Shared drive is slow").await;

    // Forced 429s first, then Halo's own limit: a few requests a second.
    world.sim.set_faults(Faults {
        fail_next: Some((6, 429)),
        ..Faults::default()
    });
    world.sim.set_rate_limit(Some(RateLimit {
        requests: 3,
        window: Duration::from_secs(1),
    }));
    let lines = [
        "It takes a minute to open a file",
        "Which drive letter?",
        "S:",
        "Since when?",
        "Since Monday",
        "Thanks, checking",
        "ok",
        "ok",
    ];
    let ids = world.converse(chat, &lines).await;

    world.assert_exactly_once(chat, ticket, &ids, &lines).await;
    let refused = world
        .sim
        .request_log()
        .iter()
        .filter(|r| r.status == Some(429))
        .count();
    assert!(refused >= 6, "the storm happened: {refused} refusals");
    world.sim.set_rate_limit(None);
    assert_eq!(tickets_posted(&world.sim), 1);
}

#[tokio::test]
async fn expiring_tokens_are_renewed_without_losing_or_doubling_a_message() {
    let sim = simulator(|config| config.token_lifetime = Duration::from_secs(1)).await;
    let world = World::new(sim, None).await;
    let (chat, ticket) = world.chat_with_ticket("Cannot print to PDF").await;
    let tokens = world.sim.requests_to("POST", "auth/token");

    let lines = ["Still broken", "Trying a fix", "Now?", "Works!"];
    let mut ids = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        // Every token issued so far stops working now.
        world.sim.expire_tokens();
        let who = if i % 2 == 0 {
            &world.alice
        } else {
            &world.tess
        };
        ids.push(who.say(chat, line).await);
        settled(&world.tess, chat, SETTLE).await;
    }
    // And once more by the clock: the one-second token runs out on its own
    // (this wait is the fault itself, not a synchronisation).
    let line = "One more thing";
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ids.push(world.alice.say(chat, line).await);

    let mut all = lines.to_vec();
    all.push(line);
    world.assert_exactly_once(chat, ticket, &ids, &all).await;
    assert!(
        world.sim.requests_to("POST", "auth/token") > tokens + 3,
        "new tokens were fetched"
    );
    assert_eq!(tickets_posted(&world.sim), 1);
}

/// A gateway in front of the simulator that, once armed, lets the next
/// ticket creation through to Halo and then holds its answer back until the
/// client gave up.
#[derive(Clone)]
struct SlowGateway {
    upstream: String,
    hold_next_create: Arc<AtomicBool>,
    hold: Duration,
    http: reqwest::Client,
}

async fn gateway(State(gate): State<SlowGateway>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request
        .uri()
        .path_and_query()
        .map_or("/".to_owned(), ToString::to_string);
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 64 << 20)
        .await
        .unwrap_or_default();

    let mut forward = gate
        .http
        .request(method.clone(), format!("{}{path}", gate.upstream))
        .body(body);
    for name in ["authorization", "content-type", "accept"] {
        if let Some(value) = headers.get(name) {
            forward = forward.header(name, value);
        }
    }
    let Ok(answer) = forward.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let mut out = HeaderMap::new();
    if let Some(value) = answer.headers().get("content-type") {
        out.insert("content-type", value.clone());
    }
    let bytes: Bytes = answer.bytes().await.unwrap_or_default();

    let is_create = method == Method::POST && path.to_ascii_lowercase().starts_with("/api/tickets");
    if is_create && gate.hold_next_create.swap(false, Ordering::SeqCst) {
        // Halo has made the ticket; its answer arrives too late.
        tokio::time::sleep(gate.hold).await;
    }
    (status, out, bytes).into_response()
}

#[tokio::test]
async fn a_creation_that_timed_out_after_halo_made_the_ticket_adopts_it() {
    let sim = simulator(|_| {}).await;
    let armed = Arc::new(AtomicBool::new(false));
    let gate = SlowGateway {
        upstream: sim.url(),
        hold_next_create: armed.clone(),
        hold: Duration::from_secs(3),
        http: reqwest::Client::new(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gate_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(gateway).with_state(gate);
        axum::serve(listener, app).await.unwrap();
    });

    // Parley reaches Halo through the gateway, with a one-second timeout.
    let server = TestServer::start_with_options(
        |config| config.allow_private_psa = true,
        server::Options {
            run_outbox: false,
            cheap_hashing: true,
            ..server::Options::default()
        },
    )
    .await;
    server
        .running
        .state
        .connectors
        .save(
            &parley::psa::ConnectorForm {
                site_url: gate_url,
                client_id: sync_world::CLIENT_ID.to_owned(),
                client_secret: Some(sync_world::SECRET.to_owned()),
                tenant: None,
            },
            parley::psa::TicketDefaults::default(),
            &parley::psa::connector::Actor("test".into()),
        )
        .await
        .expect("the connector is saved");
    let world = World::with_server(sim, server, Some(Duration::from_secs(1))).await;

    let (chat, _) = world.alice.start_conversation("Monitor flickers").await;
    let before = world.sim.ticket_count();
    armed.store(true, Ordering::SeqCst);
    world
        .alice
        .post(&format!("/api/v1/conversations/{chat}/ticket"), json!({}))
        .await
        .expect(202);
    let said = world.alice.say(chat, "It is the left one").await;

    let ticket = ticket_id(&world.alice, chat, SETTLE).await;
    assert!(!armed.load(Ordering::SeqCst), "the creation was held back");
    world
        .assert_exactly_once(chat, ticket, &[said], &["It is the left one"])
        .await;
    assert_eq!(world.sim.ticket_count(), before + 1, "no second ticket");
    assert_eq!(tickets_posted(&world.sim), 1, "created once, adopted after");
    let halo = world.sim.ticket(ticket).unwrap();
    assert!(
        halo["details"]
            .as_str()
            .unwrap()
            .contains("Parley chat reference")
    );
    let history = world.alice.history(chat).await;
    assert!(
        history
            .iter()
            .any(|m| m["body"].as_str().unwrap().contains(&format!("#{ticket}"))),
        "the chat shows the adopted ticket's number"
    );
}

#[tokio::test]
async fn a_permanent_refusal_is_parked_with_its_reason_and_retried_by_an_admin() {
    let world = World::new(simulator(|_| {}).await, None).await;
    let (chat, ticket) = world.chat_with_ticket("Password reset").await;

    // Halo refuses the note as invalid: retrying the same request cannot
    // help, so it is parked at once, and the next message waits behind it.
    world.sim.set_faults(Faults {
        fail_next: Some((1, 400)),
        ..Faults::default()
    });
    let refused = world.alice.say(chat, "My username is alice.c").await;
    let failed: Value = eventually("the refusal to be parked", SETTLE, || async {
        sync(&world.tess, chat)
            .await
            .into_iter()
            .find(|s| s["message_id"] == refused && s["state"] == "failed")
    })
    .await;
    let reason = failed["error"].as_str().expect("the reason");
    assert!(!reason.is_empty(), "{failed}");
    let next = world.tess.say(chat, "Reset done, try now").await;
    let states = sync(&world.tess, chat).await;
    assert_eq!(states.last().unwrap()["message_id"], next);
    assert_eq!(
        states.last().unwrap()["state"],
        "pending",
        "it waits in order"
    );
    assert!(note_texts(&world.sim, ticket).is_empty());

    // An end user cannot retry; a technician can, and both land in order.
    let job = failed["job_id"].as_i64().unwrap();
    let by_user = world
        .alice
        .post(&format!("/api/v1/outbox/{job}/retry"), json!({}))
        .await;
    assert_eq!(by_user.status, 403, "{}", by_user.text());
    world
        .tess
        .post(&format!("/api/v1/outbox/{job}/retry"), json!({}))
        .await
        .expect(202);
    world
        .assert_exactly_once(
            chat,
            ticket,
            &[refused, next],
            &["My username is alice.c", "Reset done, try now"],
        )
        .await;
    let again = world
        .tess
        .post(&format!("/api/v1/outbox/{job}/retry"), json!({}))
        .await;
    assert_eq!(again.status, 404, "only a parked job can be retried");

    // A refused ticket creation is parked too, and shown with the chat's
    // sync state so that it can be retried.
    let (second_chat, _) = world.alice.start_conversation("VPN certificate").await;
    world.sim.set_faults(Faults {
        fail_next: Some((1, 400)),
        ..Faults::default()
    });
    world
        .alice
        .post(
            &format!("/api/v1/conversations/{second_chat}/ticket"),
            json!({}),
        )
        .await
        .expect(202);
    let creation: Value = eventually("the refused creation to be parked", SETTLE, || async {
        let answer = world
            .tess
            .get(&format!("/api/v1/conversations/{second_chat}/sync"))
            .await
            .expect(200);
        (answer["ticket"]["state"] == "failed").then(|| answer["ticket"].clone())
    })
    .await;
    assert!(
        creation["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{creation}"
    );
    let posted = tickets_posted(&world.sim);
    world
        .tess
        .post(
            &format!("/api/v1/outbox/{}/retry", creation["job_id"]),
            json!({}),
        )
        .await
        .expect(202);
    let made = ticket_id(&world.alice, second_chat, SETTLE).await;
    assert_ne!(made, ticket);
    assert_eq!(tickets_posted(&world.sim), posted + 1);
}
