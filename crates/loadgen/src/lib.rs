//! Parley's load generator: opens many WebSocket clients (end users and
//! technicians, signed in the way real clients are) over a set of
//! conversations, sends timed messages from some of them, and measures
//! publish-to-deliver latency, throughput, set-up rate, errors, loss and the
//! server's memory. The same load drives the socket.io reference server in
//! `bench/socketio`, for a side-by-side comparison.
//!
//! [`run`] is one run, [`step`] raises the client count until p99 passes a
//! limit, and [`suite`] is the whole benchmark that `bench/run` starts; the
//! `parley-loadgen` binary is a CLI around them and the smoke test calls
//! [`run`] directly.

mod client;
mod parley_api;
mod report;
pub mod suite;

pub use report::{Report, StepRow};

use anyhow::{Context, bail};
use client::{Credentials, Subscriber, SubscriberResult};
use hdrhistogram::Histogram;
use parley::identity::WidgetSecret;
use parley_api::{Conversation, post_json};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

/// How many sockets may be mid-handshake at once, so a large N measures the
/// server's set-up rate rather than a thundering herd of SYNs.
const CONNECT_CONCURRENCY: usize = 256;

/// How long the server gets to settle after the last socket connects,
/// before its memory is read.
const SETTLE: Duration = Duration::from_secs(1);

/// Which server to load.
#[derive(Debug, Clone)]
pub enum Target {
    /// Start Parley in this process on a throwaway data directory.
    SelfHost,
    /// A Parley that is already running.
    Parley {
        /// Its base URL, `http://host:port`.
        url: String,
        /// The workspace's widget secret, to sign end users' tokens.
        widget_secret: String,
        /// A technician account to sign in with.
        technician_email: String,
        technician_password: String,
        /// Its process, to read its memory from `/proc`.
        pid: Option<u32>,
    },
    /// The socket.io reference server of `bench/socketio`.
    SocketIo {
        /// Its base URL, `http://host:port`.
        url: String,
        /// Its process, to read its memory from `/proc`.
        pid: Option<u32>,
    },
}

impl Target {
    fn pid(&self) -> Option<u32> {
        match self {
            Target::SelfHost => None,
            Target::Parley { pid, .. } | Target::SocketIo { pid, .. } => *pid,
        }
    }
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
    /// Messages to send in all, shared out between the senders; zero opens
    /// the sockets and measures them idle.
    pub messages: usize,
    /// Messages per second per sender; `None` sends as fast as the server
    /// answers (saturation).
    pub rate: Option<f64>,
    /// Requests each sender keeps in flight.
    pub in_flight: usize,
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
            rate: Some(50.0),
            in_flight: 1,
            body_bytes: 100,
            drain: Duration::from_secs(10),
        }
    }
}

/// The server a run talks to, once it is up.
struct Server {
    base: String,
    ws_url: String,
    socket_io: bool,
    pid: Option<u32>,
    /// A self-hosted server and its directory, kept until the end of the run.
    self_hosted: Option<(parley::server::Running, parley::testing::TempDir)>,
    /// The Parley sign-ins: widget secret, technician email and password.
    parley: Option<(WidgetSecret, String, String)>,
}

impl Server {
    async fn up(target: Target) -> anyhow::Result<Self> {
        let pid = target.pid();
        match target {
            Target::SelfHost => {
                let (running, dir) = parley_api::self_host().await?;
                let secret = WidgetSecret::parse(&running.state.accounts.workspace().widget_secret)
                    .context("the widget secret does not parse")?;
                let base = running.url();
                Ok(Self {
                    ws_url: ws_url(&base, "/api/v1/ws"),
                    base,
                    socket_io: false,
                    pid,
                    self_hosted: Some((running, dir)),
                    parley: Some((
                        secret,
                        parley_api::SELF_HOST_EMAIL.to_owned(),
                        parley_api::SELF_HOST_PASSWORD.to_owned(),
                    )),
                })
            }
            Target::Parley {
                url,
                widget_secret,
                technician_email,
                technician_password,
                ..
            } => {
                let secret = WidgetSecret::parse(&widget_secret)
                    .context("the widget secret does not parse")?;
                let base = url.trim_end_matches('/').to_owned();
                Ok(Self {
                    ws_url: ws_url(&base, "/api/v1/ws"),
                    base,
                    socket_io: false,
                    pid,
                    self_hosted: None,
                    parley: Some((secret, technician_email, technician_password)),
                })
            }
            Target::SocketIo { url, .. } => {
                let base = url.trim_end_matches('/').to_owned();
                Ok(Self {
                    ws_url: ws_url(&base, "/socket.io/?EIO=4&transport=websocket"),
                    base,
                    socket_io: true,
                    pid,
                    self_hosted: None,
                    parley: None,
                })
            }
        }
    }

    /// The server's resident memory: its own process when known, or this
    /// one when it runs in-process.
    fn rss_kib(&self) -> Option<u64> {
        match (self.pid, &self.self_hosted) {
            (Some(pid), _) => rss_kib(&format!("/proc/{pid}/status")),
            (None, Some(_)) => rss_kib("/proc/self/status"),
            (None, None) => None,
        }
    }

    /// Where a sender posts in `conversation`.
    fn messages_url(&self, conversation: i64) -> String {
        if self.socket_io {
            format!("{}/conversations/{conversation}/messages", self.base)
        } else {
            format!("{}/api/v1/conversations/{conversation}/messages", self.base)
        }
    }

    async fn down(self) -> anyhow::Result<()> {
        if let Some((running, _dir)) = self.self_hosted {
            running
                .shutdown()
                .await
                .context("the self-hosted server did not stop")?;
        }
        Ok(())
    }
}

fn ws_url(base: &str, path: &str) -> String {
    let origin = base
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    format!("{origin}{path}")
}

/// Runs the load against `target` and reports what was measured.
pub async fn run(target: Target, load: Load) -> anyhow::Result<Report> {
    check(&load)?;
    let server = Server::up(target).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .context("could not build the HTTP client")?;

    // A run id in every address and body keeps runs against one server apart.
    let run_id = chrono::Utc::now().timestamp_millis();
    let marker = format!("lg{run_id}");

    // The technicians' session, and one end user per conversation.
    let (conversations, cookie, latest) = open_conversations(&http, &server, &load, run_id).await?;
    let rss_before_kib = server.rss_kib();

    // Every Parley socket resumes after the newest message so far, so it
    // sees only what this run sends from now on.
    let (stop_tx, stop_rx) = watch::channel(false);
    let delivered = Arc::new(AtomicU64::new(0));
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let connect_started = Instant::now();
    let mut connecting = Vec::with_capacity(load.clients);
    for index in 0..load.clients {
        let conversation = (index >= load.technicians)
            .then(|| &conversations[(index - load.technicians) % conversations.len()]);
        let credentials = match (server.socket_io, conversation) {
            (true, None) => Credentials::SocketIo(json!({ "role": "technician" })),
            (true, Some(conversation)) => {
                Credentials::SocketIo(json!({ "conversation": conversation.id }))
            }
            (false, None) => Credentials::Cookie(cookie.clone().unwrap_or_default()),
            (false, Some(conversation)) => {
                Credentials::Bearer(conversation.access_token.clone().unwrap_or_default())
            }
        };
        let subscriber = Subscriber {
            ws_url: server.ws_url.clone(),
            credentials,
            watches: conversation.map(|conversation| conversation.id),
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
    let rss_connected_kib = if server.pid.is_some() || server.self_hosted.is_some() {
        tokio::time::sleep(SETTLE).await;
        server.rss_kib()
    } else {
        None
    };

    // The senders: each end user sends in its own conversation.
    let sent: Arc<std::sync::Mutex<Vec<(i64, i64)>>> = Arc::default();
    let accepted = Arc::new(AtomicU64::new(0));
    let send_errors = Arc::new(std::sync::Mutex::new(Errors::default()));
    let acknowledged = Arc::new(std::sync::Mutex::new(client::new_histogram()?));
    let send_started = Instant::now();
    let mut senders = Vec::new();
    for sender in 0..load.senders {
        let share =
            load.messages / load.senders + usize::from(sender < load.messages % load.senders);
        let conversation = conversations[sender % conversations.len()].clone();
        let url = Arc::new(server.messages_url(conversation.id));
        // Each of a sender's requests in flight takes its turn at the rate.
        let lanes = load.in_flight.min(share.max(1));
        for lane in 0..lanes {
            let every = load
                .rate
                .map(|rate| Duration::from_secs_f64(lanes as f64 / rate));
            // Lanes start spread over one period, as independent people
            // would, not all on the same tick: a synchronised burst measures
            // the queue it builds rather than the server.
            let slot = (sender * lanes + lane) as f64 / (load.senders * lanes) as f64;
            let job = Lane {
                http: http.clone(),
                url: url.clone(),
                conversation: conversation.clone(),
                count: share / lanes + usize::from(lane < share % lanes),
                every,
                phase: every.map_or(Duration::ZERO, |every| every.mul_f64(slot)),
                marker: format!("{marker} {sender}.{lane}"),
                body_bytes: load.body_bytes,
                sent: sent.clone(),
                accepted: accepted.clone(),
                acknowledged: acknowledged.clone(),
                errors: send_errors.clone(),
            };
            senders.push(tokio::spawn(job.run()));
        }
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
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let deliver_seconds = send_started.elapsed().as_secs_f64();
    let rss_kib = server.rss_kib();
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

    let persists = !server.socket_io;
    let self_hosted = server.self_hosted.is_some();
    server.down().await?;

    Ok(Report {
        clients: load.clients as u64,
        connected: connected as u64,
        connect_seconds,
        sent: sent.len() as u64,
        accepted: accepted.load(Ordering::Relaxed),
        acknowledged: std::mem::replace(&mut *lock(&acknowledged), client::new_histogram()?),
        persists,
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
        rss_before_kib,
        rss_connected_kib,
        rss_kib,
        self_hosted,
    })
}

/// The conversations of a run, the technicians' cookie (Parley) and the
/// newest message id before the run's own.
async fn open_conversations(
    http: &reqwest::Client,
    server: &Server,
    load: &Load,
    run_id: i64,
) -> anyhow::Result<(Vec<Conversation>, Option<String>, i64)> {
    let Some((secret, email, password)) = &server.parley else {
        // socket.io has no accounts: a conversation is a room named by a number.
        let conversations = (1..=load.conversations as i64)
            .map(|id| Conversation {
                id,
                access_token: None,
            })
            .collect();
        return Ok((conversations, None, 0));
    };

    let cookie = if load.technicians > 0 {
        Some(parley_api::sign_in(http, &server.base, email, password).await?)
    } else {
        None
    };
    let mut conversations = Vec::with_capacity(load.conversations);
    let mut latest = 0;
    for index in 0..load.conversations {
        let (conversation, first_message) =
            parley_api::open_conversation(http, &server.base, secret, run_id, index).await?;
        latest = latest.max(first_message);
        conversations.push(conversation);
    }
    Ok((conversations, cookie, latest))
}

/// How a step run raises the client count.
#[derive(Debug, Clone)]
pub struct StepPlan {
    /// Clients in the first step.
    pub start: usize,
    /// Each step multiplies the clients by this.
    pub factor: f64,
    /// No step goes beyond this many clients.
    pub max: usize,
    /// The run stops after the first step whose p99 passes this.
    pub p99_limit: Duration,
}

/// Runs `load` with more and more clients (the conversations growing in
/// proportion) until p99 passes the limit, a step fails, or `max` is reached.
pub async fn step(target: Target, load: Load, plan: StepPlan) -> anyhow::Result<Vec<StepRow>> {
    if plan.start == 0 || plan.factor.is_nan() || plan.factor <= 1.0 {
        bail!("a step run needs a start of at least 1 client and a factor above 1");
    }
    let per_conversation = (load.clients as f64 / load.conversations as f64).max(1.0);
    let mut rows = Vec::new();
    let mut clients = plan.start;
    loop {
        let conversations = ((clients as f64 / per_conversation).round() as usize).max(1);
        let step_load = Load {
            clients,
            technicians: load.technicians.min(clients),
            conversations,
            senders: load.senders.min(conversations),
            ..load.clone()
        };
        let report = run(target.clone(), step_load).await?;
        let passed = report.latency.value_at_quantile(0.99) as u128 <= plan.p99_limit.as_micros()
            && report.nothing_lost()
            && report.errors == 0;
        rows.push(StepRow::from(&report));
        if !passed || clients >= plan.max {
            return Ok(rows);
        }
        clients = ((clients as f64 * plan.factor).ceil() as usize).min(plan.max);
    }
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
    if let Some(rate) = load.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        bail!("the rate must be a positive number of messages per second");
    }
    if load.in_flight == 0 {
        bail!("each sender needs at least one request in flight");
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

/// One of a sender's lanes: an end user posting timed messages in its
/// conversation, one request at a time.
#[derive(Debug)]
struct Lane {
    http: reqwest::Client,
    url: Arc<String>,
    conversation: Conversation,
    count: usize,
    /// The pause between sends; `None` sends as soon as the last is answered.
    every: Option<Duration>,
    /// How long after the start this lane's first send is.
    phase: Duration,
    /// The run's marker and this lane's name, which start every body.
    marker: String,
    body_bytes: usize,
    sent: Arc<std::sync::Mutex<Vec<(i64, i64)>>>,
    accepted: Arc<AtomicU64>,
    errors: Arc<std::sync::Mutex<Errors>>,
    /// Send-to-answer times in microseconds, shared by every lane.
    acknowledged: Arc<std::sync::Mutex<Histogram<u64>>>,
}

impl Lane {
    async fn run(self) {
        // Skipped ticks are not made up in a burst: a slow server gets the
        // set rate or less, never more.
        let mut tick = self.every.map(|every| {
            let mut tick = tokio::time::interval_at(Instant::now() + self.phase, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick
        });
        let mut body = String::with_capacity(self.body_bytes + 64);
        for seq in 0..self.count {
            if let Some(tick) = &mut tick {
                tick.tick().await;
            }

            // The send time goes in the body; receivers subtract it.
            let stamp = chrono::Utc::now().timestamp_micros();
            body.clear();
            body.push_str(&format!("{} {stamp} {seq} ", self.marker));
            while body.len() < self.body_bytes {
                body.push('x');
            }
            let posted = Instant::now();
            let answer = post_json(
                &self.http,
                &self.url,
                self.conversation.access_token.as_deref(),
                &json!({ "body": body }),
            )
            .await;

            match answer.and_then(|message| message["id"].as_i64().context("no message id")) {
                Ok(id) => {
                    let micros = posted.elapsed().as_micros();
                    lock(&self.acknowledged)
                        .saturating_record(u64::try_from(micros).unwrap_or(u64::MAX).max(1));
                    // A 201 from Parley means the message is stored.
                    self.accepted.fetch_add(1, Ordering::Relaxed);
                    lock(&self.sent).push((self.conversation.id, id));
                }
                Err(error) => lock(&self.errors).note("send", &error),
            }
        }
    }
}

/// A resident set in KiB, from a `/proc/.../status` file (Linux only).
fn rss_kib(status_file: &str) -> Option<u64> {
    let status = std::fs::read_to_string(status_file).ok()?;
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
            rate: Some(0.0),
            ..Load::default()
        };
        assert!(check(&rate).is_err());
        let in_flight = Load {
            in_flight: 0,
            ..Load::default()
        };
        assert!(check(&in_flight).is_err());
        let saturating = Load {
            rate: None,
            ..Load::default()
        };
        assert!(check(&saturating).is_ok());
        assert!(check(&Load::default()).is_ok());
    }
}
