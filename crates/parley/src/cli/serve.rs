//! `parley serve`: the service, configured from defaults, a TOML file,
//! `PARLEY_*` variables and these flags, in that order.

use anyhow::Context;
use clap::Args;
use parley::config::Config;
use parley::server;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// The options every command that opens Parley's data shares.
#[derive(Debug, Args)]
pub struct ServiceArgs {
    /// A TOML configuration file (see `parley config example`).
    #[arg(long, env = "PARLEY_CONFIG")]
    pub config: Option<PathBuf>,

    /// Where Parley keeps its files (the SQLite database among them).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,

    /// `sqlite://PATH` or `postgres://...`; by default a file in the data directory.
    #[arg(long)]
    pub database_url: Option<String>,
}

impl ServiceArgs {
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut config = Config::load(self.config.as_deref())?;
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(url) = &self.database_url {
            config.database_url = Some(url.clone());
        }
        Ok(config)
    }
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub service: ServiceArgs,

    /// Address to listen on; port 0 picks a free port.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = args.service.load()?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    tracing::debug!(?config, "configuration");

    let running = server::start(config, server::Options::default()).await?;
    println!("Parley is listening on {}", running.url());
    println!("  console: {}/console", running.url());

    server::shutdown_signal().await;
    println!("Shutting down.");
    running
        .shutdown()
        .await
        .context("the server did not stop cleanly")?;
    Ok(ExitCode::SUCCESS)
}
