//! The command line: one subcommand per job, each in its own file.
//!
//! `serve` runs Parley, `demo` runs it with demo data beside a seeded HaloPSA
//! simulator, `admin create` makes accounts, `config example` prints the
//! configuration format, `halo-sim` runs the simulator alone and `connector
//! test` runs the connection doctor against a Halo site.

/// `parley admin create`: accounts from a shell.
mod admin;
/// `parley config example`: the commented configuration file.
mod config;
/// `parley connector ...`: the HaloPSA connector from a shell.
mod connector;
/// `parley demo`: a seeded simulator and a connection test against it.
mod demo;
/// `parley halo-sim`: the HaloPSA simulator on its own.
mod halo_sim;
/// `parley keys rotate`: re-sealing secrets under a new master key.
mod keys;
/// `parley serve`: the service.
mod serve;

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
    /// Run Parley.
    Serve(serve::ServeArgs),
    /// Manage accounts.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Manage the master key that seals secrets.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Show the configuration format.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Run the HaloPSA simulator.
    HaloSim(halo_sim::HaloSimArgs),
    /// Work with the PSA connector.
    #[command(subcommand)]
    Connector(connector::ConnectorCommand),
    /// Start Parley with demo data and an in-process HaloPSA simulator.
    Demo(demo::DemoArgs),
}

impl Cli {
    /// The log filter when none is given: business events for the service,
    /// only warnings for one-shot commands whose output is the point.
    pub fn default_log_filter(&self) -> &'static str {
        match self.command {
            Command::Serve(_) | Command::Demo(_) => "info,sqlx=warn",
            _ => "warn",
        }
    }

    /// Runs the chosen command and returns the process exit status.
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Serve(args) => serve::run(args).await,
            Command::Admin(command) => admin::run(command).await,
            Command::Config(command) => Ok(config::run(command)),
            Command::Keys(command) => keys::run(command).await,
            Command::HaloSim(args) => halo_sim::run(args).await,
            Command::Connector(command) => connector::run(command).await,
            Command::Demo(args) => demo::run(args).await,
        }
    }
}

/// Sends logs to standard error so that a command's own output (a table or
/// JSON on standard output) stays clean for scripts.
pub fn init_logging(filter: Option<&str>, default: &str) {
    let filter = filter
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new(default));

    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
