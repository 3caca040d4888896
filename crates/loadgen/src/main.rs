//! `parley-loadgen`: loads a Parley (in-process or running elsewhere) with
//! WebSocket clients and timed messages, prints the figures as a Markdown
//! table, and exits non-zero if a message was lost or errors passed the limit.

use anyhow::bail;
use clap::Parser;
use loadgen::{Load, Target};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(name = "parley-loadgen", about = "Load Parley and measure it")]
struct Args {
    /// Start Parley in this process on a throwaway data directory.
    #[arg(long, conflicts_with = "url")]
    self_host: bool,
    /// The base URL of a running Parley (needs the widget secret and a technician).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// The workspace's widget secret, for signing end users' tokens.
    #[arg(long, env = "PARLEY_LOADGEN_WIDGET_SECRET", requires = "url")]
    widget_secret: Option<String>,
    /// A technician's email, for `--url`.
    #[arg(long, requires = "url")]
    technician_email: Option<String>,
    /// That technician's password.
    #[arg(long, env = "PARLEY_LOADGEN_TECHNICIAN_PASSWORD", requires = "url")]
    technician_password: Option<String>,
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
    /// Messages in all.
    #[arg(long, default_value_t = 2_000)]
    messages: usize,
    /// Messages per second per sender.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Bytes per message body.
    #[arg(long, default_value_t = 100)]
    body_bytes: usize,
    /// Seconds to wait for the last deliveries.
    #[arg(long, default_value_t = 10)]
    drain_secs: u64,
    /// Errors allowed before the run counts as failed.
    #[arg(long, default_value_t = 0)]
    max_errors: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
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
    match runtime.block_on(run(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("parley-loadgen: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the load; `Ok(false)` when the run failed its checks.
async fn run(args: Args) -> anyhow::Result<bool> {
    let target = match (args.self_host, args.url) {
        (true, _) => Target::SelfHost,
        (false, Some(url)) => {
            let (Some(widget_secret), Some(technician_email), Some(technician_password)) = (
                args.widget_secret,
                args.technician_email,
                args.technician_password,
            ) else {
                bail!("--url needs --widget-secret, --technician-email and --technician-password");
            };
            Target::Remote {
                url,
                widget_secret,
                technician_email,
                technician_password,
            }
        }
        (false, None) => bail!("say --self-host or --url"),
    };
    let load = Load {
        clients: args.clients,
        technicians: args.technicians,
        conversations: args.conversations,
        senders: args.senders,
        messages: args.messages,
        rate: args.rate,
        body_bytes: args.body_bytes,
        drain: Duration::from_secs(args.drain_secs),
    };

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
