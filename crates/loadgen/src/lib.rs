//! Parley's load generator: opens many WebSocket clients (end users and
//! technicians, signed in the way real clients are) over a set of
//! conversations, sends timed messages from a few of them, and measures
//! publish-to-deliver latency, throughput, set-up rate, errors and loss.
//!
//! [`run`] is the whole run; the `parley-loadgen` binary is a CLI around it
//! and the smoke test calls it directly.

mod client;
mod report;

pub use report::Report;

use anyhow::{Context, bail};
use client::{Credentials, Subscriber, SubscriberResult};
use parley::identity::{WidgetClaims, WidgetSecret, sign_widget_token};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

/// The password of the technician a self-hosted run seeds.
const SELF_HOST_PASSWORD: &str = "loadgen password 1234";

/// How many sockets may be mid-handshake at once, so a large N measures the
/// server's set-up rate rather than a thundering herd of SYNs.
const CONNECT_CONCURRENCY: usize = 256;

/// Which Parley to load.
#[derive(Debug, Clone)]
pub enum Target {
    /// Start Parley in this process on a throwaway data directory.
    SelfHost,
    /// A Parley that is already running.
    Remote {
        /// Its base URL, `http://host:port`.
        url: String,
        /// The workspace's widget secret, to sign end users' tokens.
        widget_secret: String,
        /// A technician account to sign in with.
        technician_email: String,
        technician_password: String,
    },
}

/// The shape of the load.
#[derive(Debug, Clone)]
pub struct Load {
    /// WebSocket clients in all, technicians included.
    pub clients: usize,
    /// Of those, how many are technicians (who see every conversation).
    pub technicians: usize,
    /// Conversations, each opened by its own end user.
    pub conversations: usize,
    /// How many end users send; each sends in its own conversation.
    pub senders: usize,
    /// Messages to send in all, shared out between the senders.
    pub messages: usize,
    /// Messages per second per sender.
    pub rate: f64,
    /// Bytes of each message body (at least what the timestamp needs).
    pub body_bytes: usize,
    /// How long to wait for the last deliveries after the last send.
    pub drain: Duration,
}

impl Default for Load {
    fn default() -> Self {
        Self {
            clients: 200,
            technicians: 2,
            conversations: 50,
            senders: 10,
            messages: 2_000,
            rate: 50.0,
            body_bytes: 100,
            drain: Duration::from_secs(10),
        }
    }
}

/// A conversation the run opened, and the end user who owns it.
#[derive(Debug, Clone)]
struct Conversation {
    id: i64,
    access_token: String,
}

/// Runs the load against `target` and reports what was measured.
pub async fn run(target: Target, load: Load) -> anyhow::Result<Report> {
    check(&load)?;

    // A self-hosted server lives until the end of the run; its directory is
    // removed when `data_dir` drops.
    let (base, secret, email, password, server, data_dir) = match target {
        Target::SelfHost => {
            let (running, dir) = self_host().await?;
            let secret = running.state.accounts.workspace().widget_secret;
            (
                running.url(),
                secret,
                "loadgen-tech@loadgen.example".to_owned(),
                SELF_HOST_PASSWORD.to_owned(),
                Some(running),
                Some(dir),
            )
        }
        Target::Remote {
            url,
            widget_secret,
            technician_email,
            technician_password,
        } => (
            url.trim_end_matches('/').to_owned(),
            widget_secret,
            technician_email,
            technician_password,
            None,
            None,
        ),
    };
    let secret = WidgetSecret::parse(&secret).context("the widget secret does not parse")?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .context("could not build the HTTP client")?;
    let ws_url = format!(
        "{}/api/v1/ws",
        base.replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1)
    );

    // A run id in every address and body keeps runs against one server apart.
    let run_id = chrono::Utc::now().timestamp_millis();
    let marker = format!("lg{run_id}");

    // The technicians' session, and one end user per conversation.
    let cookie = if load.technicians > 0 {
        Some(sign_in(&http, &base, &email, &password).await?)
    } else {
        None
    };
    let mut conversations = Vec::with_capacity(load.conversations);
    let mut latest = 0;
    for index in 0..load.conversations {
        let (conversation, first_message) =
            open_conversation(&http, &base, &secret, run_id, index).await?;
        latest = latest.max(first_message);
        conversations.push(conversation);
    }

    // Every socket resumes after the newest message so far, so it sees only
    // what this run sends from now on.
    let (stop_tx, stop_rx) = watch::channel(false);
    let delivered = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let connect_started = Instant::now();
    let mut connecting = Vec::with_capacity(load.clients);
    for index in 0..load.clients {
        let (credentials, watches) = if index < load.technicians {
            let cookie = cookie.clone().unwrap_or_default();
            (Credentials::Cookie(cookie), None)
        } else {
            let conversation = &conversations[(index - load.technicians) % conversations.len()];
            (
                Credentials::Bearer(conversation.access_token.clone()),
                Some(conversation.id),
            )
        };
        let subscriber = Subscriber {
            ws_url: ws_url.clone(),
            credentials,
            watches,
            after: latest,
            marker: marker.clone(),
            delivered: delivered.clone(),
            stop: stop_rx.clone(),
        };
        let gate = gate.clone();
        connecting.push(tokio::spawn(async move {
            let permit = gate.acquire_owned().await;
            subscriber.connect(permit.ok()).await
        }));
    }
    let mut sockets = Vec::with_capacity(load.clients);
    let mut errors = Errors::default();
    for task in connecting {
        match task.await {
            Ok(Ok(socket)) => sockets.push(socket),
            Ok(Err(error)) => errors.note("connect", &error),
            Err(error) => errors.note("connect", &anyhow::Error::from(error)),
        }
    }
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    let connected = sockets.len();
    // Who should see what: end users their own conversation, technicians all.
    let plan: Vec<Option<i64>> = sockets.iter().map(|socket| socket.watches).collect();
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|socket| tokio::spawn(socket.read_until_stopped()))
        .collect();

    // The senders: each end user sends in its own conversation at the rate.
    let sent: Arc<std::sync::Mutex<Vec<(i64, i64)>>> = Arc::default();
    let persisted = Arc::new(AtomicU64::new(0));
    let send_errors = Arc::new(std::sync::Mutex::new(Errors::default()));
    let send_started = Instant::now();
    let mut senders = Vec::with_capacity(load.senders);
    for sender in 0..load.senders {
        let share =
            load.messages / load.senders + usize::from(sender < load.messages % load.senders);
        let conversation = conversations[sender % conversations.len()].clone();
        let job = Sender {
            http: http.clone(),
            base: base.clone(),
            conversation,
            count: share,
            every: Duration::from_secs_f64(1.0 / load.rate),
            marker: marker.clone(),
            body_bytes: load.body_bytes,
            sent: sent.clone(),
            persisted: persisted.clone(),
            errors: send_errors.clone(),
        };
        senders.push(tokio::spawn(job.run()));
    }
    for task in senders {
        if let Err(error) = task.await {
            errors.note("sender", &anyhow::Error::from(error));
        }
    }
    let send_seconds = send_started.elapsed().as_secs_f64();
    let sent = std::mem::take(&mut *lock(&sent));
    errors.merge(std::mem::take(&mut *lock(&send_errors)));

    // Wait for the deliveries the sockets should get, up to the drain time.
    let expected_total = expected_deliveries(&plan, &sent);
    let drain_deadline = Instant::now() + load.drain;
    while delivered.load(Ordering::Relaxed) < expected_total && Instant::now() < drain_deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deliver_seconds = send_started.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);

    // Gather what every socket saw and check it against what was sent.
    let mut latency = client::new_histogram()?;
    let by_conversation = ids_by_conversation(&sent);
    let all_ids: HashSet<i64> = sent.iter().map(|(_, id)| *id).collect();
    let mut lost = 0u64;
    let mut duplicates = 0u64;
    let mut deliveries = 0u64;
    for task in readers {
        let result: SubscriberResult = match task.await {
            Ok(result) => result,
            Err(error) => {
                errors.note("reader", &anyhow::Error::from(error));
                continue;
            }
        };
        if let Some(error) = &result.error {
            errors.note("socket", error);
        }
        let expected = match result.watches {
            None => &all_ids,
            Some(conversation) => by_conversation.get(&conversation).unwrap_or(&EMPTY_IDS),
        };
        lost += expected.difference(&result.received).count() as u64;
        duplicates += result.duplicates;
        deliveries += result.received.len() as u64;
        latency
            .add(&result.latency)
            .context("could not merge a socket's latencies")?;
    }
    // Sockets that never connected lost everything they should have seen.
    let missing_sockets = (load.clients - connected) as u64;

    let rss_kib = if server.is_some() { rss_kib() } else { None };
    if let Some(running) = server {
        running
            .shutdown()
            .await
            .context("the self-hosted server did not stop")?;
    }

    Ok(Report {
        clients: load.clients as u64,
        connected: connected as u64,
        connect_seconds,
        sent: sent.len() as u64,
        persisted: persisted.load(Ordering::Relaxed),
        send_seconds,
        expected_deliveries: expected_total,
        deliveries,
        deliver_seconds,
        lost,
        missing_sockets,
        duplicates,
        errors: errors.count,
        first_errors: errors.first,
        latency,
        rss_kib,
        self_hosted: data_dir.is_some(),
    })
}

static EMPTY_IDS: std::sync::LazyLock<HashSet<i64>> = std::sync::LazyLock::new(HashSet::new);

/// Refuses loads that cannot be run as asked.
fn check(load: &Load) -> anyhow::Result<()> {
    if load.conversations == 0 {
        bail!("a run needs at least one conversation");
    }
    if load.technicians > load.clients {
        bail!("there cannot be more technicians than clients");
    }
    if load.senders == 0 || load.senders > load.conversations {
        bail!("senders must be between 1 and the number of conversations");
    }
    if !(load.rate.is_finite() && load.rate > 0.0) {
        bail!("the rate must be a positive number of messages per second");
    }
    Ok(())
}

/// How many deliveries the connected sockets should get for what was sent.
fn expected_deliveries(plan: &[Option<i64>], sent: &[(i64, i64)]) -> u64 {
    let mut per_conversation = HashMap::<i64, u64>::new();
    for (conversation, _) in sent {
        *per_conversation.entry(*conversation).or_default() += 1;
    }
    plan.iter()
        .map(|watches| match watches {
            None => sent.len() as u64,
            Some(conversation) => per_conversation.get(conversation).copied().unwrap_or(0),
        })
        .sum()
}

/// The ids sent, grouped by conversation.
fn ids_by_conversation(sent: &[(i64, i64)]) -> HashMap<i64, HashSet<i64>> {
    let mut by = HashMap::<i64, HashSet<i64>>::new();
    for (conversation, id) in sent {
        by.entry(*conversation).or_default().insert(*id);
    }
    by
}

/// Errors counted, with the first few kept to show.
#[derive(Debug, Default)]
struct Errors {
    count: u64,
    first: Vec<String>,
}

impl Errors {
    fn note(&mut self, what: &str, error: &anyhow::Error) {
        self.count += 1;
        if self.first.len() < 5 {
            self.first.push(format!("{what}: {error:#}"));
        }
    }

    fn merge(&mut self, other: Errors) {
        self.count += other.count;
        for line in other.first {
            if self.first.len() < 5 {
                self.first.push(line);
            }
        }
    }
}

/// A poisoned lock only means a sender panicked; its data is still good.
fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts Parley in this process with cheap hashing and one technician.
async fn self_host() -> anyhow::Result<(parley::server::Running, parley::testing::TempDir)> {
    let dir = parley::testing::TempDir::new("loadgen");
    let config = parley::config::Config {
        listen: "127.0.0.1:0".parse().context("a valid address")?,
        data_dir: dir.path().to_owned(),
        ..parley::config::Config::default()
    };
    let options = parley::server::Options {
        cheap_hashing: true,
        ..parley::server::Options::default()
    };
    let running = parley::server::start(config, options)
        .await
        .context("the in-process Parley did not start")?;
    running
        .state
        .accounts
        .create(
            "loadgen-tech@loadgen.example",
            "Load Technician",
            parley::store::Role::Technician,
            SELF_HOST_PASSWORD,
        )
        .await
        .context("could not seed the technician")?;
    Ok((running, dir))
}

/// Signs a technician in on `/login` and gives the session cookie.
async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base}/login"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .context("POST /login failed")?;
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with("parley_session=") && pair.len() > "parley_session=".len())
        .map(str::to_owned);
    match cookie {
        Some(cookie) => Ok(cookie),
        None => bail!(
            "signing in as {email} gave no session cookie (status {})",
            response.status()
        ),
    }
}

/// Signs a widget token for end user `index`, exchanges it for an access
/// token and opens that user's conversation; gives it and its first message id.
async fn open_conversation(
    http: &reqwest::Client,
    base: &str,
    secret: &WidgetSecret,
    run_id: i64,
    index: usize,
) -> anyhow::Result<(Conversation, i64)> {
    let now = chrono::Utc::now();
    let claims = WidgetClaims::new(
        format!("user{index}.run{run_id}@loadgen.example"),
        format!("Load User {index}"),
        now,
        now + chrono::Duration::hours(2),
    );
    let token = sign_widget_token(&claims, secret.as_bytes());
    let session = post_json(
        http,
        &format!("{base}/api/v1/widget/session"),
        None,
        &json!({ "token": token }),
    )
    .await
    .context("POST /api/v1/widget/session failed")?;
    let access_token = session["access_token"]
        .as_str()
        .context("the widget session has no access token")?
        .to_owned();

    let opened = post_json(
        http,
        &format!("{base}/api/v1/conversations"),
        Some(&access_token),
        &json!({ "subject": "Load test", "body": "Opening the load test" }),
    )
    .await
    .context("POST /api/v1/conversations failed")?;
    let id = opened["conversation"]["id"]
        .as_i64()
        .context("the new conversation has no id")?;
    let first = opened["message"]["id"].as_i64().unwrap_or(0);
    Ok((Conversation { id, access_token }, first))
}

/// POSTs JSON (with a bearer token, if given) and gives the JSON answer, or
/// an error naming the status.
async fn post_json(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    body: &Value,
) -> anyhow::Result<Value> {
    let mut request = http.post(url).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("status {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}

/// One sender: an end user posting timed messages in its conversation.
#[derive(Debug)]
struct Sender {
    http: reqwest::Client,
    base: String,
    conversation: Conversation,
    count: usize,
    every: Duration,
    marker: String,
    body_bytes: usize,
    sent: Arc<std::sync::Mutex<Vec<(i64, i64)>>>,
    persisted: Arc<AtomicU64>,
    errors: Arc<std::sync::Mutex<Errors>>,
}

impl Sender {
    async fn run(self) {
        let url = format!(
            "{}/api/v1/conversations/{}/messages",
            self.base, self.conversation.id
        );
        // Skipped ticks are not made up in a burst: a slow server gets the
        // set rate or less, never more.
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for seq in 0..self.count {
            tick.tick().await;

            // The send time goes in the body; receivers subtract it.
            let stamp = chrono::Utc::now().timestamp_micros();
            let mut body = format!("{} {seq} {stamp} ", self.marker);
            while body.len() < self.body_bytes {
                body.push('x');
            }
            let answer = post_json(
                &self.http,
                &url,
                Some(&self.conversation.access_token),
                &json!({ "body": body }),
            )
            .await;

            match answer.and_then(|message| message["id"].as_i64().context("no message id")) {
                Ok(id) => {
                    // A 201 means the message is stored: that is "persisted".
                    self.persisted.fetch_add(1, Ordering::Relaxed);
                    lock(&self.sent).push((self.conversation.id, id));
                }
                Err(error) => lock(&self.errors).note("send", &error),
            }
        }
    }
}

/// The resident set of this process, in KiB, from `/proc` (Linux only).
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::{Load, check, expected_deliveries};

    #[test]
    fn technicians_expect_everything_and_end_users_their_own() {
        let sent = [(1, 10), (1, 11), (2, 12)];
        let plan = [None, Some(1), Some(2), Some(3)];
        assert_eq!(expected_deliveries(&plan, &sent), 3 + 2 + 1);
    }

    #[test]
    fn impossible_loads_are_refused() {
        let senders = Load {
            senders: 60,
            ..Load::default()
        };
        assert!(check(&senders).is_err());
        let rate = Load {
            rate: 0.0,
            ..Load::default()
        };
        assert!(check(&rate).is_err());
        assert!(check(&Load::default()).is_ok());
    }
}
