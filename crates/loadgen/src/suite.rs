//! The whole benchmark that `bench/run` starts: `parley serve` on SQLite,
//! then on PostgreSQL, then the socket.io reference server, each as its own
//! process on this machine, each given the same loads in turn; and the
//! Markdown report of what they did.
//!
//! Each server is measured for start-up time and idle memory, fan-out at
//! saturation and latency at half of that rate, durable throughput (Parley)
//! and memory per idle socket.

use crate::{Load, Report, Target};
use anyhow::{Context, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::{Instant, timeout};

/// The technician the benchmark creates in each Parley.
const TECHNICIAN_EMAIL: &str = "bench-tech@bench.example";
const TECHNICIAN_PASSWORD: &str = "bench password 1234";

/// How many times start-up is timed; the median is reported.
const START_SAMPLES: usize = 5;

/// What to run and how hard.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The release `parley` binary.
    pub parley_bin: PathBuf,
    /// `bench/socketio`, with its `node_modules` installed.
    pub socketio_dir: PathBuf,
    /// The `node` to run it with.
    pub node: PathBuf,
    /// A PostgreSQL server whose role may create databases; `None` skips
    /// Parley on PostgreSQL.
    pub postgres_url: Option<String>,
    /// The fan-out load: clients, conversations, senders, in flight, messages.
    pub fan_out: Load,
    /// The durable-throughput load (few sockets, many writers).
    pub persist: Load,
    /// How many idle sockets to open for the memory figure.
    pub idle_clients: usize,
    /// How long the run at half of saturation lasts.
    pub half_rate_seconds: f64,
}

/// One server's figures.
#[derive(Debug, Clone)]
pub struct ServerFigures {
    pub name: String,
    pub start_ms: f64,
    pub idle_rss_kib: Option<u64>,
    pub saturation: Report,
    pub half_rate: Report,
    pub persist: Option<Report>,
    pub idle: Report,
}

/// Runs every server in turn and gives the Markdown report.
pub async fn run(plan: &Plan) -> anyhow::Result<String> {
    let mut figures = Vec::new();

    let sqlite = ParleyDatabase::Sqlite;
    figures.push(measure_parley(plan, "Parley (SQLite)", &sqlite).await?);
    if let Some(server_url) = &plan.postgres_url {
        let database = parley::testing::TestDatabase::postgres_at(server_url)
            .await
            .context("could not create the benchmark's PostgreSQL database")?;
        let database = ParleyDatabase::Postgres(database);
        figures.push(measure_parley(plan, "Parley (PostgreSQL)", &database).await?);
    }
    figures.push(measure_socket_io(plan).await?);

    Ok(markdown(plan, &figures).await)
}

/// Where a Parley under test keeps its data.
enum ParleyDatabase {
    /// The default: a file in the data directory.
    Sqlite,
    /// A fresh database on a PostgreSQL server, dropped with this.
    Postgres(parley::testing::TestDatabase),
}

impl ParleyDatabase {
    fn url(&self) -> Option<String> {
        match self {
            Self::Sqlite => None,
            Self::Postgres(database) => Some(database.url.clone()),
        }
    }
}

/// A server process the benchmark started; killed if the run fails.
struct Process {
    child: Child,
    url: String,
    pid: u32,
}

impl Process {
    /// Asks the process to stop as an operator would (SIGTERM), and waits.
    async fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await;
        if timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await.context("could not kill a server")?;
        }
        Ok(())
    }

    fn rss_kib(&self) -> Option<u64> {
        crate::rss_kib(&format!("/proc/{}/status", self.pid))
    }
}

/// Starts `command` and waits for the line that gives its URL (found by
/// `url_of`), then for its health check; gives it and how long that took.
async fn start(
    mut command: Command,
    log: &Path,
    health_path: &str,
    url_of: impl Fn(&str) -> Option<String>,
) -> anyhow::Result<(Process, Duration)> {
    let log = std::fs::File::create(log).context("could not create a server log")?;
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true);

    let started = Instant::now();
    let mut child = command.spawn().context("could not start a server")?;
    let pid = child.id().context("the server exited at once")?;
    let stdout = child.stdout.take().context("the server's output")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = url_of(&line) {
                return Ok(url);
            }
        }
        bail!("the server exited before it said where it listens")
    })
    .await
    .context("the server did not say where it listens within 30 s")??;

    // Keep reading its output so that it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let http = reqwest::Client::new();
    let health = format!("{url}{health_path}");
    loop {
        if let Ok(response) = http.get(&health).send().await
            && response.status().is_success()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("the server at {url} was not healthy within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let took = started.elapsed();
    Ok((Process { child, url, pid }, took))
}

/// `parley ARGS --data-dir DIR`, with the database URL if there is one.
fn parley_command(
    plan: &Plan,
    args: &[&str],
    data_dir: &Path,
    database: &ParleyDatabase,
) -> Command {
    let mut command = Command::new(&plan.parley_bin);
    command.args(args).arg("--data-dir").arg(data_dir);
    command.env_remove("PARLEY_MASTER_KEY");
    match database.url() {
        Some(url) => command.env("PARLEY_DATABASE_URL", url),
        None => command.env_remove("PARLEY_DATABASE_URL"),
    };
    command
}

async fn measure_parley(
    plan: &Plan,
    name: &str,
    database: &ParleyDatabase,
) -> anyhow::Result<ServerFigures> {
    let dir = parley::testing::TempDir::new("bench");
    let data_dir = dir.path().join("data");
    eprintln!("bench: {name}: setting up");

    // The technician and the widget secret, from a shell, as an MSP would.
    let create_args = [
        "admin",
        "create",
        "--technician",
        "--email",
        TECHNICIAN_EMAIL,
        "--name",
        "Bench Technician",
    ];
    let mut create = parley_command(plan, &create_args, &data_dir, database);
    create.env("PARLEY_ADMIN_PASSWORD", TECHNICIAN_PASSWORD);
    let created = create.output().await.context("parley admin create")?;
    if !created.status.success() {
        bail!(
            "parley admin create failed: {}",
            String::from_utf8_lossy(&created.stderr)
        );
    }
    let secret = parley_command(plan, &["admin", "widget-secret"], &data_dir, database)
        .output()
        .await
        .context("parley admin widget-secret")?;
    if !secret.status.success() {
        bail!(
            "parley admin widget-secret failed: {}",
            String::from_utf8_lossy(&secret.stderr)
        );
    }
    let widget_secret = String::from_utf8_lossy(&secret.stdout).trim().to_owned();

    let serve = || {
        parley_command(
            plan,
            &["serve", "--listen", "127.0.0.1:0"],
            &data_dir,
            database,
        )
    };
    let url_of = |line: &str| {
        line.strip_prefix("Parley is listening on ")
            .map(|url| url.trim().to_owned())
    };
    let log = dir.path().join("serve.log");
    let (process, start_ms) = timed_starts(|| start(serve(), &log, "/healthz", url_of)).await?;

    let target = Target::Parley {
        url: process.url.clone(),
        widget_secret,
        technician_email: TECHNICIAN_EMAIL.to_owned(),
        technician_password: TECHNICIAN_PASSWORD.to_owned(),
        pid: Some(process.pid),
    };
    measure_and_stop(plan, name, process, start_ms, &target, true).await
}

async fn measure_socket_io(plan: &Plan) -> anyhow::Result<ServerFigures> {
    let name = "socket.io 4.8 (Node.js)";
    let dir = parley::testing::TempDir::new("bench-socketio");
    eprintln!("bench: {name}: setting up");
    if !plan.socketio_dir.join("node_modules/socket.io").is_dir() {
        bail!(
            "{} has no node_modules: run `npm ci` there first",
            plan.socketio_dir.display()
        );
    }

    let serve = || {
        let mut command = Command::new(&plan.node);
        command
            .arg("server.js")
            .current_dir(&plan.socketio_dir)
            .env("PORT", "0");
        command
    };
    let url_of = |line: &str| {
        line.strip_prefix("listening on ")
            .map(|port| format!("http://127.0.0.1:{}", port.trim()))
    };
    let log = dir.path().join("socketio.log");
    let (process, start_ms) = timed_starts(|| start(serve(), &log, "/healthz", url_of)).await?;

    let target = Target::SocketIo {
        url: process.url.clone(),
        pid: Some(process.pid),
    };
    measure_and_stop(plan, name, process, start_ms, &target, false).await
}

/// Reads the started server's idle memory, gives it every load, and stops
/// it whether or not the loads went well.
async fn measure_and_stop(
    plan: &Plan,
    name: &str,
    process: Process,
    start_ms: f64,
    target: &Target,
    persists: bool,
) -> anyhow::Result<ServerFigures> {
    let idle_rss_kib = process.rss_kib();

    let figures = measure(plan, name, target, persists).await;
    process.stop().await?;

    let (saturation, half_rate, persist, idle) = figures?;
    Ok(ServerFigures {
        name: name.to_owned(),
        start_ms,
        idle_rss_kib,
        saturation,
        half_rate,
        persist,
        idle,
    })
}

/// Starts a server several times, stopping all but the last; gives the last
/// and the median start-up time in milliseconds.
async fn timed_starts<F, Fut>(mut start: F) -> anyhow::Result<(Process, f64)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<(Process, Duration)>>,
{
    let mut samples = Vec::with_capacity(START_SAMPLES);
    loop {
        let (process, took) = start().await?;
        samples.push(took.as_secs_f64() * 1000.0);
        if samples.len() == START_SAMPLES {
            samples.sort_by(f64::total_cmp);
            // Idle means idle: let the start-up's own allocations settle.
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Ok((process, samples[samples.len() / 2]));
        }
        process.stop().await?;
    }
}

/// The loads every server gets: idle sockets, saturation, half of it, and
/// durable throughput (only where messages are stored).
async fn measure(
    plan: &Plan,
    name: &str,
    target: &Target,
    persists: bool,
) -> anyhow::Result<(Report, Report, Option<Report>, Report)> {
    // Idle first, while the server's heap is as start-up left it: after a
    // heavy run, freed memory would absorb the sockets and hide their cost.
    eprintln!("bench: {name}: {} idle sockets", plan.idle_clients);
    let idle_load = Load {
        clients: plan.idle_clients,
        technicians: 0,
        messages: 0,
        ..plan.fan_out.clone()
    };
    let idle = crate::run(target.clone(), idle_load).await?;
    if idle.connected < idle.clients {
        eprintln!(
            "bench: {name}: only {} of {} idle sockets opened (is `ulimit -n` high enough?)",
            idle.connected, idle.clients
        );
    }

    eprintln!("bench: {name}: fan-out at saturation");
    let saturation = checked(crate::run(target.clone(), plan.fan_out.clone()).await?)?;

    // Half of the saturation rate, shared by the senders, for long enough
    // that p99 means something.
    let half = saturation.accepted_per_second() / 2.0;
    let senders = plan.fan_out.senders;
    let messages = ((half * plan.half_rate_seconds) as usize).max(senders);
    let half_load = Load {
        rate: Some((half / senders as f64).max(0.1)),
        in_flight: plan.fan_out.in_flight,
        messages,
        ..plan.fan_out.clone()
    };
    eprintln!("bench: {name}: fan-out at half of saturation ({half:.0} messages/s)");
    let half_rate = checked(crate::run(target.clone(), half_load).await?)?;

    let persist = if persists {
        eprintln!("bench: {name}: durable throughput");
        Some(checked(
            crate::run(target.clone(), plan.persist.clone()).await?,
        )?)
    } else {
        None
    };

    Ok((saturation, half_rate, persist, idle))
}

/// A run whose deliveries went missing measures nothing worth printing.
fn checked(report: Report) -> anyhow::Result<Report> {
    if !report.nothing_lost() || report.errors > 0 {
        bail!("a benchmark run lost messages or failed:\n{report}");
    }
    Ok(report)
}

/// The versions and machine the figures were measured on.
async fn environment(plan: &Plan) -> Vec<(String, String)> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let socket_io = std::fs::read_to_string(
        plan.socketio_dir
            .join("node_modules/socket.io/package.json"),
    )
    .ok()
    .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
    .and_then(|package| package["version"].as_str().map(str::to_owned))
    .unwrap_or_else(|| "unknown".to_owned());
    let parley = version_of(plan.parley_bin.as_os_str()).await;
    let node = version_of(plan.node.as_os_str()).await;
    let rustc = version_of("rustc".as_ref()).await;
    let postgres = match &plan.postgres_url {
        Some(_) => version_of("psql".as_ref()).await,
        None => "not run".to_owned(),
    };
    vec![
        (
            "date".to_owned(),
            chrono::Utc::now().format("%Y-%m-%d").to_string(),
        ),
        ("machine".to_owned(), format!("{cores} cores, {cpu}")),
        ("parley".to_owned(), parley),
        ("rustc".to_owned(), rustc),
        ("Node.js".to_owned(), node),
        ("socket.io".to_owned(), socket_io),
        ("PostgreSQL".to_owned(), postgres),
    ]
}

/// What `program --version` prints, or "unknown".
async fn version_of(program: &std::ffi::OsStr) -> String {
    match Command::new(program).arg("--version").output().await {
        Ok(output) if output.status.success() => {
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        }
        _ => "unknown".to_owned(),
    }
}

fn kib_text(kib: Option<f64>) -> String {
    kib.map_or_else(|| "n/a".to_owned(), |kib| format!("{kib:.1} KiB"))
}

fn mib_text(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "n/a".to_owned(),
        |kib| format!("{:.1} MiB", kib as f64 / 1024.0),
    )
}

/// The report: the environment, the load, and one column per server.
async fn markdown(plan: &Plan, figures: &[ServerFigures]) -> String {
    let mut out = String::new();
    for (name, value) in environment(plan).await {
        let _ = writeln!(out, "- {name}: {value}");
    }
    let load = &plan.fan_out;
    let per_message = load.technicians as f64
        + (load.clients - load.technicians) as f64 / load.conversations as f64;
    let _ = writeln!(
        out,
        "- fan-out load: {} sockets ({} technicians who see everything, the rest end users \
         spread over {} conversations; about {per_message:.0} deliveries per message), {} \
         senders with {} requests in flight each, {}-byte bodies, {} messages",
        load.clients,
        load.technicians,
        load.conversations,
        load.senders,
        load.in_flight,
        load.body_bytes,
        load.messages
    );
    let persist = &plan.persist;
    let _ = writeln!(
        out,
        "- durable-throughput load: {} senders with {} requests in flight each, {} messages, \
         {} socket(s)",
        persist.senders, persist.in_flight, persist.messages, persist.clients
    );
    out.push('\n');

    let _ = write!(out, "| measure |");
    for server in figures {
        let _ = write!(out, " {} |", server.name);
    }
    let _ = write!(out, "\n| --- |");
    for _ in figures {
        let _ = write!(out, " ---: |");
    }
    out.push('\n');

    type Cell = fn(&ServerFigures) -> String;
    let rows: [(&str, Cell); 13] = [
        ("start-up (spawn to healthy, median of 5)", |server| {
            format!("{:.0} ms", server.start_ms)
        }),
        ("idle RSS after start-up", |server| {
            mib_text(server.idle_rss_kib)
        }),
        ("fan-out at saturation: deliveries/s", |server| {
            format!("{:.0}", server.saturation.delivered_per_second())
        }),
        ("fan-out at saturation: messages/s", |server| {
            format!("{:.0}", server.saturation.accepted_per_second())
        }),
        ("fan-out at saturation: p99", |server| {
            format!("{:.1} ms", server.saturation.millis(0.99))
        }),
        ("at half of saturation: messages/s", |server| {
            format!("{:.0}", server.half_rate.accepted_per_second())
        }),
        ("at half of saturation: p50 / p99 / p99.9", |server| {
            format!(
                "{:.1} / {:.1} / {:.1} ms",
                server.half_rate.millis(0.5),
                server.half_rate.millis(0.99),
                server.half_rate.millis(0.999)
            )
        }),
        (
            "at half of saturation: send to answer p50 / p99",
            |server| {
                format!(
                    "{:.1} / {:.1} ms",
                    server.half_rate.acknowledged_millis(0.5),
                    server.half_rate.acknowledged_millis(0.99)
                )
            },
        ),
        ("durable throughput: messages persisted/s", |server| {
            server.persist.as_ref().map_or_else(
                || "no persistence".to_owned(),
                |persist| format!("{:.0}", persist.accepted_per_second()),
            )
        }),
        ("idle sockets opened", |server| {
            format!("{} of {}", server.idle.connected, server.idle.clients)
        }),
        ("connection set-up rate", |server| {
            format!("{:.0}/s", server.idle.connections_per_second())
        }),
        ("memory per idle socket", |server| {
            kib_text(server.idle.kib_per_connection())
        }),
        ("lost or duplicated deliveries", |server| {
            let runs = [&server.saturation, &server.half_rate, &server.idle];
            let bad: u64 = runs
                .iter()
                .map(|run| run.lost + run.duplicates + run.missing_sockets)
                .sum();
            bad.to_string()
        }),
    ];
    for (name, cell) in rows {
        let _ = write!(out, "| {name} |");
        for server in figures {
            let _ = write!(out, " {} |", cell(server));
        }
        out.push('\n');
    }

    // The aims of issue 6, against socket.io where they compare.
    if let (Some(parley), Some(socket_io)) = (
        figures.first(),
        figures.iter().find(|server| server.persist.is_none()),
    ) {
        let ratio = parley.saturation.delivered_per_second()
            / socket_io.saturation.delivered_per_second().max(1.0);
        let _ = writeln!(
            out,
            "\n{} delivers {ratio:.1}× the messages per second of {} on the same load.",
            parley.name, socket_io.name
        );
    }
    out
}
