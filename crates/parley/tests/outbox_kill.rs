//! kill -9 while Parley syncs: a real `parley serve` is killed with SIGKILL
//! at random moments, over and over, while an end user writes into a chat
//! linked to a ticket, and restarted on the same data directory each time.
//! Afterwards every chat message is in Halo exactly once, in order, and the
//! simulator made exactly one ticket.

mod common;
mod sync_world;

use common::sign_with;
use parley::config::Config;
use parley::store::{JobState, MessagePage, Store};
use parley::testing::TempDir;
use rand::Rng;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use sync_world::{ALICE, CLIENT_ID, SECRET, eventually, note_texts, simulator};
use tokio::time::Instant;

const MASTER_KEY: &str = "BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAhIiMkJSY=";
const ROUNDS: usize = 20;
/// The whole kill loop stops early after this long, so the test stays short.
const LOOP_BUDGET: Duration = Duration::from_secs(35);

fn parley(data: &TempDir) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
    command
        .env("PARLEY_DATA_DIR", data.path())
        .env("PARLEY_MASTER_KEY", MASTER_KEY)
        .env("PARLEY_ALLOW_PRIVATE_PSA", "true")
        .env_remove("PARLEY_CONFIG")
        .env_remove("PARLEY_DATABASE_URL")
        .env_remove("HALO_CLIENT_SECRET");
    command
}

/// `parley serve` on a free port; returns the child and its URL.
fn serve(data: &TempDir, round: usize) -> (Child, String) {
    let log = std::fs::File::create(data.path().join(format!("serve-{round}.log"))).unwrap();
    let mut child = parley(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("parley serve starts");
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("Parley is listening on ") {
                let _ = sender.send(url.trim().to_owned());
            }
        }
    });
    let url = receiver
        .recv_timeout(Duration::from_secs(15))
        .unwrap_or_else(|_| panic!("parley serve (round {round}) never said where it listens"));
    (child, url)
}

fn kill(mut child: Child) {
    // `Child::kill` sends SIGKILL: no shutdown code runs.
    child.kill().expect("the server is killed");
    child.wait().expect("the killed server is reaped");
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// A widget session for Alice on the server at `url`.
async fn session(url: &str, secret: &str) -> String {
    let token = sign_with(secret, ALICE, "Alice Carter", chrono::Duration::minutes(10));
    let answer: Value = client()
        .post(format!("{url}/api/v1/widget/session"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .expect("the widget session answers")
        .json()
        .await
        .unwrap();
    answer["access_token"].as_str().expect("a token").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_loses_and_doubles_nothing() {
    let sim = simulator(|_| {}).await;
    let data = TempDir::new("kill9");

    // The connector is saved from a shell first, as an MSP would script it.
    let mut set = parley(&data);
    set.args([
        "connector",
        "set",
        "--site-url",
        &sim.url(),
        "--client-id",
        CLIENT_ID,
        "--allow-private",
    ])
    .env("HALO_CLIENT_SECRET", SECRET);
    let saved = tokio::task::spawn_blocking(move || set.output().unwrap())
        .await
        .unwrap();
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
    let tickets_before = sim.ticket_count();
    // Each Halo request takes a moment, so that kills land mid-write too.
    sim.set_faults(halo_sim::Faults {
        latency: Duration::from_millis(40),
        ..halo_sim::Faults::default()
    });

    // The test reads the same database (only reads: the server writes).
    let config = Config {
        data_dir: data.path().to_owned(),
        ..Config::default()
    };
    let store: Arc<dyn Store> = Arc::from(
        parley::store::open(&config.database_url())
            .await
            .expect("the database opens"),
    );
    let key = parley::identity::MasterKey::from_text(
        MASTER_KEY,
        parley::identity::KeySource::Environment,
    )
    .unwrap();
    let accounts = parley::accounts::Accounts::new(
        store.clone(),
        key,
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    let workspace = accounts.workspace();
    let secret = workspace.widget_secret.clone();

    // Round 0: the chat, Alice's contact, the ticket request.
    let (server, url) = serve(&data, 0);
    let token = session(&url, &secret).await;
    let started: Value = client()
        .post(format!("{url}/api/v1/conversations"))
        .bearer_auth(&token)
        .json(&json!({ "body": "Round 0: the file server is unreachable" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chat = started["conversation"]["id"].as_i64().expect("a chat");
    eventually("Alice's contact", Duration::from_secs(10), || async {
        let answer: Value = client()
            .get(format!("{url}/api/v1/me/contact"))
            .bearer_auth(&token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (answer["linked"] == true).then_some(())
    })
    .await;
    let asked = client()
        .post(format!("{url}/api/v1/conversations/{chat}/ticket"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 202);
    let mut server = Some(server);

    // The rounds: write, then die at a random moment, then come back.
    let started_at = Instant::now();
    let mut sent = 0;
    let mut rounds = 0;
    for round in 1..=ROUNDS {
        let pause = rand::rng().random_range(0..150);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        kill(
            server
                .take()
                .expect("a server runs at the start of each round"),
        );
        rounds = round;
        if started_at.elapsed() > LOOP_BUDGET {
            break;
        }

        let (next, url) = serve(&data, round);
        server = Some(next);
        let token = session(&url, &secret).await;
        let messages = rand::rng().random_range(1..=3);
        for i in 0..messages {
            let body = format!("Round {round} message {i}");
            // A message cut off by the kill may or may not have been stored:
            // the database says which, below.
            let _ = client()
                .post(format!("{url}/api/v1/conversations/{chat}/messages"))
                .bearer_auth(&token)
                .json(&json!({ "body": body }))
                .send()
                .await;
            sent += 1;
        }
    }

    // The last life runs until the outbox is empty. The loop's last server
    // goes first: one `parley serve` per SQLite database.
    if let Some(running) = server.take() {
        kill(running);
    }
    let (last, _) = serve(&data, ROUNDS + 1);
    let states = eventually("the outbox to empty", Duration::from_secs(30), || async {
        let states = store.message_sync(chat).await.ok()?;
        let ticket = store.ticket_job(workspace.id, chat).await.ok()??;
        (ticket.state == JobState::Done && states.iter().all(|s| s.state == JobState::Done))
            .then_some(states)
    })
    .await;
    kill(last);

    // Every message the chat holds after the ticket request, once, in order.
    let history = store
        .messages(MessagePage {
            workspace_id: workspace.id,
            conversation_id: chat,
            before: None,
            limit: 1000,
            include_notes: true,
        })
        .await
        .unwrap();
    let synced: Vec<i64> = states.iter().map(|s| s.message_id).collect();
    let expected: Vec<String> = history
        .iter()
        .filter(|m| synced.contains(&m.id))
        .map(|m| m.body.clone())
        .collect();
    let user_written = history
        .iter()
        .filter(|m| m.body.starts_with("Round ") && !m.body.starts_with("Round 0"))
        .count();
    assert_eq!(
        expected.len(),
        user_written,
        "every stored message had a job"
    );
    assert!(
        user_written > 0 && user_written <= sent,
        "{user_written} of {sent}"
    );

    let link = store
        .ticket_link(workspace.id, chat)
        .await
        .unwrap()
        .unwrap();
    let ticket = link.ticket_id.expect("the ticket was made");
    let texts = note_texts(&sim, ticket);
    assert_eq!(
        texts, expected,
        "Halo holds every chat message once, in order"
    );
    assert_eq!(sim.ticket_count(), tickets_before + 1, "one ticket");
    let created = sim
        .request_log()
        .iter()
        .filter(|r| r.endpoint == "POST tickets" && r.status.is_some_and(|s| s < 300))
        .count();
    assert_eq!(created, 1, "Halo was asked to create the ticket once");
    let interrupted = (0..=ROUNDS + 1)
        .filter_map(|round| {
            std::fs::read_to_string(data.path().join(format!("serve-{round}.log"))).ok()
        })
        .filter(|log| log.contains("interrupted by a crash are queued again"))
        .count();
    println!(
        "kill -9: {rounds} kills ({interrupted} mid-write), {user_written} messages synced \
         exactly once in {:?}",
        started_at.elapsed()
    );
}
