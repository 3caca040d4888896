//! The command line: one subcommand per job, each in its own file.
//!
//! `halo-sim` runs the HaloPSA simulator, `connector test` runs the connection
//! doctor against a Halo site, and `demo` starts a seeded simulator and shows a
//! passing connection test against it.

/// `parley connector ...`: the HaloPSA connector from a shell.
mod connector;
/// `parley demo`: a seeded simulator and a connection test against it.
mod demo;
/// `parley halo-sim`: the HaloPSA simulator on its own.
mod halo_sim;

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

/// Parley: chat for MSP help desks that turns chats into HaloPSA tickets.
#[derive(Debug, Parser)]
#[command(name = "parley", version, about)]
pub struct Cli {
    /// Log filter, in `RUST_LOG` syntax (for example `info` or `parley=debug`).
    #[arg(long, global = true, env = "PARLEY_LOG")]
    pub log: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HaloPSA simulator.
    HaloSim(halo_sim::HaloSimArgs),
    /// Work with the PSA connector.
    #[command(subcommand)]
    Connector(connector::ConnectorCommand),
    /// Start a seeded HaloPSA simulator and test a connection against it.
    Demo(demo::DemoArgs),
}

impl Cli {
    /// Runs the chosen command and returns the process exit status.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::HaloSim(args) => halo_sim::run(args).await,
            Command::Connector(command) => connector::run(command).await,
            Command::Demo(args) => demo::run(args).await,
        }
    }
}

/// Sends logs to standard error so that a command's own output (a table or
/// JSON on standard output) stays clean for scripts.
pub fn init_logging(filter: Option<&str>) {
    let filter = filter
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("warn"));

    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
