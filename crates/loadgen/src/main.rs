//! `parley-loadgen`: loads a Parley (in-process or running elsewhere) or the
//! socket.io reference server with WebSocket clients and timed messages,
//! prints the figures as a Markdown table, and exits non-zero if a message was
//! lost or errors passed the limit. `parley-loadgen suite` is the whole
//! side-by-side benchmark that `bench/run` starts.

use anyhow::bail;
use clap::{Args, Parser, Subcommand};
use loadgen::suite::{self, Plan};
use loadgen::{Load, StepPlan, StepRow, Target};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "parley-loadgen",
    about = "Load Parley (or the socket.io reference server) and measure it",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    one: OneRun,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the side-by-side benchmark: parley serve on SQLite and PostgreSQL,
    /// then socket.io, each started here, and print the Markdown report.
    Suite(SuiteArgs),
}

/// One run (or one step run) against one server.
#[derive(Debug, Args)]
struct OneRun {
    /// Start Parley in this process on a throwaway data directory.
    #[arg(long, conflicts_with_all = ["url", "socketio"])]
    self_host: bool,
    /// The base URL of a running Parley (needs the widget secret and a technician).
    #[arg(long, value_name = "URL", conflicts_with = "socketio")]
    url: Option<String>,
    /// The base URL of a running socket.io reference server (bench/socketio).
    #[arg(long, value_name = "URL")]
    socketio: Option<String>,
    /// The server's process id, to report its memory (from /proc).
    #[arg(long, value_name = "PID")]
    server_pid: Option<u32>,
    /// The workspace's widget secret, for signing end users' tokens.
    #[arg(long, env = "PARLEY_LOADGEN_WIDGET_SECRET", requires = "url")]
    widget_secret: Option<String>,
    /// A technician's email, for `--url`.
    #[arg(long, requires = "url")]
    technician_email: Option<String>,
    /// That technician's password.
    #[arg(long, env = "PARLEY_LOADGEN_TECHNICIAN_PASSWORD", requires = "url")]
    technician_password: Option<String>,
    #[command(flatten)]
    load: LoadArgs,
    /// Step mode: raise the clients from -n by --step-factor up to this many,
    /// until p99 passes --p99-limit-ms, and print one row per step.
    #[arg(long, value_name = "CLIENTS")]
    step_to: Option<usize>,
    /// How much each step multiplies the clients by.
    #[arg(long, default_value_t = 2.0, requires = "step_to")]
    step_factor: f64,
    /// The p99 (ms) at which a step run stops.
    #[arg(long, default_value_t = 25.0, requires = "step_to")]
    p99_limit_ms: f64,
    /// Errors allowed before the run counts as failed.
    #[arg(long, default_value_t = 0)]
    max_errors: u64,
}

#[derive(Debug, Clone, Args)]
struct LoadArgs {
    /// WebSocket clients in all.
    #[arg(long, short = 'n', default_value_t = 200)]
    clients: usize,
    /// How many of the clients are technicians.
    #[arg(long, default_value_t = 2)]
    technicians: usize,
    /// Conversations the end users' clients are spread over.
    #[arg(long, short = 'm', default_value_t = 50)]
    conversations: usize,
    /// End users who send.
    #[arg(long, short = 'k', default_value_t = 10)]
    senders: usize,
    /// Messages in all (0: open the sockets and measure them idle).
    #[arg(long, default_value_t = 2_000)]
    messages: usize,
    /// Messages per second per sender.
    #[arg(long, default_value_t = 50.0, conflicts_with = "saturate")]
    rate: f64,
    /// Send as fast as the server answers, ignoring --rate.
    #[arg(long)]
    saturate: bool,
    /// Requests each sender keeps in flight.
    #[arg(long, default_value_t = 1)]
    in_flight: usize,
    /// Bytes per message body.
    #[arg(long, default_value_t = 100)]
    body_bytes: usize,
    /// Seconds to wait for the last deliveries.
    #[arg(long, default_value_t = 10)]
    drain_secs: u64,
}

impl LoadArgs {
    fn load(&self) -> Load {
        Load {
            clients: self.clients,
            technicians: self.technicians,
            conversations: self.conversations,
            senders: self.senders,
            messages: self.messages,
            rate: (!self.saturate).then_some(self.rate),
            in_flight: self.in_flight,
            body_bytes: self.body_bytes,
            drain: Duration::from_secs(self.drain_secs),
        }
    }
}

#[derive(Debug, Args)]
struct SuiteArgs {
    /// The release `parley` binary.
    #[arg(long, default_value = "target/release/parley")]
    parley_bin: PathBuf,
    /// The socket.io reference server's directory (after `npm ci`).
    #[arg(long, default_value = "bench/socketio")]
    socketio_dir: PathBuf,
    /// The Node.js to run it with.
    #[arg(long, default_value = "node")]
    node: PathBuf,
    /// A PostgreSQL server whose role may create databases (for Parley on
    /// PostgreSQL); without it that column is left out.
    #[arg(long, env = "BENCH_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// The fan-out load; rate flags are ignored (saturation, then half).
    #[command(flatten)]
    load: LoadArgs,
    /// Senders in the durable-throughput run.
    #[arg(long, default_value_t = 100)]
    persist_senders: usize,
    /// Requests each of them keeps in flight.
    #[arg(long, default_value_t = 8)]
    persist_in_flight: usize,
    /// Messages in the durable-throughput run.
    #[arg(long, default_value_t = 40_000)]
    persist_messages: usize,
    /// Idle sockets to open for the memory figure (raise `ulimit -n` first).
    #[arg(long, default_value_t = 10_000)]
    idle_clients: usize,
    /// Seconds the run at half of saturation lasts.
    #[arg(long, default_value_t = 10.0)]
    half_rate_seconds: f64,
    /// Also write the report to this file.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("parley-loadgen: could not start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let outcome = match cli.command {
        Some(Command::Suite(args)) => runtime.block_on(run_suite(args)),
        None => runtime.block_on(run_one(cli.one)),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("parley-loadgen: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the load (or the step run); `Ok(false)` when it failed its checks.
async fn run_one(args: OneRun) -> anyhow::Result<bool> {
    let target = match (args.self_host, args.url, args.socketio) {
        (true, _, _) => Target::SelfHost,
        (false, Some(url), _) => {
            let (Some(widget_secret), Some(technician_email), Some(technician_password)) = (
                args.widget_secret,
                args.technician_email,
                args.technician_password,
            ) else {
                bail!("--url needs --widget-secret, --technician-email and --technician-password");
            };
            Target::Parley {
                url,
                widget_secret,
                technician_email,
                technician_password,
                pid: args.server_pid,
            }
        }
        (false, None, Some(url)) => Target::SocketIo {
            url,
            pid: args.server_pid,
        },
        (false, None, None) => bail!("say --self-host, --url or --socketio"),
    };
    let load = args.load.load();

    if let Some(max) = args.step_to {
        let plan = StepPlan {
            start: load.clients,
            factor: args.step_factor,
            max,
            p99_limit: Duration::from_secs_f64(args.p99_limit_ms / 1000.0),
        };
        let rows = loadgen::step(target, load, plan).await?;
        print!("{}", StepRow::table(&rows));
        return Ok(rows.iter().all(|row| row.lost == 0));
    }

    let report = loadgen::run(target, load).await?;
    print!("{report}");

    let passed = report.nothing_lost() && report.errors <= args.max_errors;
    if !passed {
        eprintln!(
            "parley-loadgen: FAILED ({} lost, {} duplicated, {} errors, limit {})",
            report.lost, report.duplicates, report.errors, args.max_errors
        );
    }
    Ok(passed)
}

async fn run_suite(args: SuiteArgs) -> anyhow::Result<bool> {
    let fan_out = Load {
        rate: None,
        ..args.load.load()
    };
    let persist = Load {
        clients: 1,
        technicians: 1,
        conversations: args.persist_senders,
        senders: args.persist_senders,
        messages: args.persist_messages,
        rate: None,
        in_flight: args.persist_in_flight,
        ..fan_out.clone()
    };
    let plan = Plan {
        parley_bin: args.parley_bin,
        socketio_dir: args.socketio_dir,
        node: args.node,
        postgres_url: args.postgres_url,
        fan_out,
        persist,
        idle_clients: args.idle_clients,
        half_rate_seconds: args.half_rate_seconds,
    };
    let report = suite::run(&plan).await?;
    print!("{report}");
    if let Some(out) = args.out {
        std::fs::write(&out, &report)
            .map_err(|error| anyhow::anyhow!("could not write {}: {error}", out.display()))?;
    }
    Ok(true)
}
