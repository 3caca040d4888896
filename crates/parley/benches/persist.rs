//! How many chat messages per second the store persists, and how long each
//! `add_message` call waits, with 1 to 256 writers at once.
//!
//! Runs on SQLite always (a file in the system's temporary directory, opened
//! as `parley serve` opens it), and on PostgreSQL too when
//! `PARLEY_TEST_POSTGRES_URL` names a server (in a fresh database, dropped at
//! the end). Prints a Markdown table; it asserts nothing about speed.
//!
//! `cargo bench -p parley --bench persist`. `PARLEY_BENCH_SECONDS` sets how
//! long each row runs (3 by default); `PARLEY_BENCH_WRITERS` the writer
//! counts, comma-separated (`1,8,64,256` by default).

use parley::store::{
    AuthorKind, Backend, ConversationId, MessageKind, NewConversation, NewEndUser, NewMessage,
    Store, WorkspaceId, now_millis,
};
use parley::testing::TestDatabase;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One row of the table.
#[derive(Debug)]
struct Figures {
    backend: Backend,
    writers: usize,
    messages: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

#[tokio::main]
async fn main() {
    let seconds: f64 = env_or("PARLEY_BENCH_SECONDS", "3")
        .parse()
        .expect("PARLEY_BENCH_SECONDS is a number of seconds");
    let run_for = Duration::from_secs_f64(seconds);
    let writer_counts: Vec<usize> = env_or("PARLEY_BENCH_WRITERS", "1,8,64,256")
        .split(',')
        .map(|count| {
            count
                .trim()
                .parse()
                .expect("PARLEY_BENCH_WRITERS is a comma-separated list of counts")
        })
        .collect();

    let mut databases = vec![TestDatabase::sqlite()];
    if let Some(postgres) = TestDatabase::postgres("the persist bench").await {
        databases.push(postgres);
    }

    let mut rows = Vec::new();
    for database in &databases {
        let store: Arc<dyn Store> =
            Arc::from(database.open().await.expect("the bench database opens"));
        for &writers in &writer_counts {
            rows.push(run(&store, writers, run_for).await);
        }
    }

    print_table(&rows);
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// `writers` tasks, each an end user writing into their own conversation as
/// fast as the store answers, for `run_for`.
async fn run(store: &Arc<dyn Store>, writers: usize, run_for: Duration) -> Figures {
    let workspace = store
        .default_workspace("bench-widget-secret")
        .await
        .expect("the default workspace opens")
        .id;
    let mut conversations = Vec::with_capacity(writers);
    for writer in 0..writers {
        conversations.push(start_conversation(&**store, workspace, writers, writer).await);
    }

    let started = Instant::now();
    let deadline = started + run_for;
    let mut tasks = Vec::with_capacity(writers);
    for (end_user, conversation) in conversations {
        let store = Arc::clone(store);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let message = text(workspace, conversation, end_user, latencies.len());
                let call = Instant::now();
                store
                    .add_message(message)
                    .await
                    .expect("the message persists");
                latencies.push(call.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("a bench writer does not panic"));
    }
    let elapsed = started.elapsed();

    latencies.sort_unstable();
    Figures {
        backend: store.backend(),
        writers,
        messages: latencies.len(),
        elapsed,
        latencies,
    }
}

async fn start_conversation(
    store: &dyn Store,
    workspace: WorkspaceId,
    writers: usize,
    writer: usize,
) -> (i64, ConversationId) {
    let end_user = store
        .upsert_end_user(NewEndUser {
            workspace_id: workspace,
            email: format!("writer-{writers}-{writer}@client.example"),
            name: format!("Writer {writer}"),
            subject: None,
        })
        .await
        .expect("the bench end user is stored");
    let (conversation, _) = store
        .create_conversation(
            NewConversation {
                workspace_id: workspace,
                end_user_id: end_user.id,
                subject: "Bench".to_owned(),
            },
            text(workspace, 0, end_user.id, 0),
        )
        .await
        .expect("the bench conversation is stored");
    (end_user.id, conversation.id)
}

fn text(
    workspace: WorkspaceId,
    conversation: ConversationId,
    end_user: i64,
    sequence: usize,
) -> NewMessage {
    NewMessage {
        workspace_id: workspace,
        conversation_id: conversation,
        kind: MessageKind::Text,
        author_kind: AuthorKind::EndUser,
        author_id: Some(end_user),
        author_name: None,
        body: format!("Message {sequence}: the printer on the second floor is jammed again"),
        at: now_millis(),
    }
}

fn print_table(rows: &[Figures]) {
    println!();
    println!("| backend | writers | messages | seconds | messages/s | p50 ms | p99 ms |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for row in rows {
        let seconds = row.elapsed.as_secs_f64();
        println!(
            "| {} | {} | {} | {:.2} | {:.0} | {:.2} | {:.2} |",
            match row.backend {
                Backend::Sqlite => "sqlite",
                Backend::Postgres => "postgres",
            },
            row.writers,
            row.messages,
            seconds,
            row.messages as f64 / seconds,
            millis(percentile(&row.latencies, 50)),
            millis(percentile(&row.latencies, 99)),
        );
    }
}

/// The `percent`th of sorted latencies (nearest rank), zero when there are none.
fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
