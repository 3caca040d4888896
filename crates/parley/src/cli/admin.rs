//! `parley admin create`: an account from a shell, for scripted set-ups and
//! for getting back in when every admin password is lost; `parley admin
//! widget-secret`: the secret a client portal signs widget tokens with, for
//! scripted portal set-ups (the same one the admin's account page shows).

use anyhow::Context;
use clap::{Args, Subcommand};
use parley::accounts::Accounts;
use parley::identity::MasterKey;
use parley::store::{self, Role, Store};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::serve::ServiceArgs;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an admin or technician account.
    Create(CreateArgs),
    /// Print the workspace's widget secret (what client portals sign with).
    WidgetSecret(WidgetSecretArgs),
}

#[derive(Debug, Args)]
pub struct WidgetSecretArgs {
    #[command(flatten)]
    service: ServiceArgs,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    service: ServiceArgs,

    #[arg(long)]
    email: String,

    #[arg(long)]
    name: String,

    /// Make a technician rather than an admin.
    #[arg(long)]
    technician: bool,

    /// The password; prefer the environment variable, which other local users
    /// cannot see in the process list.
    #[arg(long, env = "PARLEY_ADMIN_PASSWORD", hide_env_values = true)]
    password: String,
}

pub async fn run(command: AdminCommand) -> anyhow::Result<ExitCode> {
    match command {
        AdminCommand::Create(args) => create(args).await,
        AdminCommand::WidgetSecret(args) => widget_secret(args).await,
    }
}

/// Opens the accounts the way `parley serve` does, creating the data
/// directory, the key and the workspace on first use.
async fn open_accounts(service: &ServiceArgs) -> anyhow::Result<Accounts> {
    let config = service.load()?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("could not create {}", config.data_dir.display()))?;

    let store: Arc<dyn Store> = Arc::from(store::open(&config.database_url()).await?);
    let key = MasterKey::load(&config.data_dir)?;
    let accounts = Accounts::new(
        store,
        key,
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    )
    .await?;
    Ok(accounts)
}

async fn create(args: CreateArgs) -> anyhow::Result<ExitCode> {
    let accounts = open_accounts(&args.service).await?;
    let role = if args.technician {
        Role::Technician
    } else {
        Role::Admin
    };

    let account = accounts
        .create(&args.email, &args.name, role, &args.password)
        .await?;
    println!(
        "Created {} account {} ({}).",
        account.role, account.email, account.name
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints the secret alone on standard output, so a script can capture it;
/// whoever can run this can already read the data directory and its key.
async fn widget_secret(args: WidgetSecretArgs) -> anyhow::Result<ExitCode> {
    let accounts = open_accounts(&args.service).await?;
    println!("{}", accounts.workspace().widget_secret);
    Ok(ExitCode::SUCCESS)
}
