//! `parley connector ...`: the HaloPSA connector from a shell.
//!
//! `connector test` runs the same connection doctor that the Connectors page
//! runs, prints one line per check (or JSON for scripts) and exits with status 0
//! exactly when no check failed. `connector set`, `show` and `remove` do what
//! the page does, on the data `parley serve` with the same options uses.

use anyhow::Context;
use clap::{Args, Subcommand};
use halo::Secret;
use halo::doctor::{self, CheckStatus, DoctorInput, Report};
use parley::accounts::Accounts;
use parley::identity::MasterKey;
use parley::psa::connector::Actor as AuditActor;
use parley::psa::{ConnectorError, ConnectorForm, Connectors, TicketDefaults};
use parley::store::{self, Store};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::serve::ServiceArgs;

#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// Test a HaloPSA connection without saving it and without writing to Halo.
    Test(TestArgs),
    /// Test and save the HaloPSA connector, its Client Secret sealed.
    Set(SetArgs),
    /// Show the saved connector (never its secret).
    Show(ShowArgs),
    /// Disconnect the PSA.
    Remove(RemoveArgs),
}

#[derive(Debug, Args)]
pub struct SetArgs {
    #[command(flatten)]
    service: ServiceArgs,

    /// The Halo site URL, as shown in the browser (`/api` or `/auth` is removed).
    #[arg(long)]
    site_url: String,

    /// The Client ID of the API application in Halo.
    #[arg(long)]
    client_id: String,

    /// A file holding the Client Secret; otherwise `HALO_CLIENT_SECRET`, and if
    /// neither is given on an edit, the saved secret is kept.
    #[arg(long, value_name = "FILE")]
    client_secret_file: Option<PathBuf>,

    #[arg(long, env = "HALO_CLIENT_SECRET", hide_env_values = true, hide = true)]
    client_secret_env: Option<String>,

    /// The tenant, for hosted Halo set-ups that need one.
    #[arg(long)]
    tenant: Option<String>,

    /// Allow `http`, loopback and private addresses (Halo on a LAN, the simulator).
    #[arg(long)]
    allow_private: bool,

    /// Ticket type for chat tickets (its own defaults fill status, priority and team).
    #[arg(long)]
    ticket_type_id: Option<i64>,
    #[arg(long)]
    initial_status_id: Option<i64>,
    #[arg(long)]
    priority_id: Option<i64>,
    #[arg(long)]
    team: Option<String>,
    /// Outcome for notes the end user sees.
    #[arg(long)]
    visible_outcome_id: Option<i64>,
    /// Outcome for private notes (one Halo hides from users).
    #[arg(long)]
    private_outcome_id: Option<i64>,
    /// Status that means closed.
    #[arg(long)]
    closed_status_id: Option<i64>,
    /// Make every new chat a ticket, without anyone asking.
    #[arg(long)]
    every_chat_becomes_ticket: bool,

    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    service: ServiceArgs,

    /// Print the connector as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    service: ServiceArgs,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The Halo site URL, as shown in the browser (`/api` or `/auth` is removed).
    #[arg(long)]
    site_url: String,

    /// The Client ID of the API application in Halo.
    #[arg(long)]
    client_id: String,

    /// The Client Secret of the API application. Prefer the environment
    /// variable: a value on the command line is visible to other local users.
    #[arg(long, env = "HALO_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,

    /// The tenant, for hosted Halo set-ups that need one (sent as `?tenant=`).
    #[arg(long)]
    tenant: Option<String>,

    /// Scopes to request, separated by spaces (default: the four Parley needs).
    #[arg(long)]
    scopes: Option<String>,

    /// Allow `http`, loopback and private addresses (tests, demo, Halo on a LAN).
    #[arg(long)]
    allow_private: bool,

    /// Extra CA certificate (PEM) to trust, for Halo behind an internal CA.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,

    /// Seconds to wait for each answer from Halo.
    #[arg(long, default_value_t = 15)]
    timeout: u64,

    /// Print the result as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

pub async fn run(command: ConnectorCommand) -> anyhow::Result<ExitCode> {
    match command {
        ConnectorCommand::Test(args) => test(args).await,
        ConnectorCommand::Set(args) => set(args).await,
        ConnectorCommand::Show(args) => show(args).await,
        ConnectorCommand::Remove(args) => remove(args).await,
    }
}

/// The connector service on the data a `parley serve` with the same options
/// would use.
async fn connectors(service: &ServiceArgs, allow_private: bool) -> anyhow::Result<Connectors> {
    let config = service.load()?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("could not create {}", config.data_dir.display()))?;
    let store: Arc<dyn Store> = Arc::from(store::open(&config.database_url()).await?);
    let key = MasterKey::load(&config.data_dir)?;
    let accounts = Accounts::new(
        store.clone(),
        key.clone(),
        Duration::from_secs(3600),
        Duration::from_secs(3600),
    )
    .await?;

    let allow_private = allow_private || config.allow_private_psa;
    Ok(Connectors::new(
        store,
        key,
        accounts.workspace_id(),
        allow_private,
    ))
}

/// Who ran a command, for the audit log.
fn shell_actor(command: &str) -> AuditActor {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown user".to_owned());
    AuditActor(format!("{user} (parley connector {command})"))
}

async fn set(args: SetArgs) -> anyhow::Result<ExitCode> {
    let client_secret = match &args.client_secret_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("could not read the secret file {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => args.client_secret_env.clone(),
    };
    let form = ConnectorForm {
        site_url: args.site_url.clone(),
        client_id: args.client_id.clone(),
        client_secret,
        tenant: args.tenant.clone(),
    };
    let defaults = TicketDefaults {
        ticket_type_id: args.ticket_type_id,
        initial_status_id: args.initial_status_id,
        priority_id: args.priority_id,
        team: args.team.clone(),
        visible_outcome_id: args.visible_outcome_id,
        private_outcome_id: args.private_outcome_id,
        closed_status_id: args.closed_status_id,
        every_chat_becomes_ticket: args.every_chat_becomes_ticket,
    };

    let connectors = connectors(&args.service, args.allow_private).await?;
    match connectors.save(&form, defaults, &shell_actor("set")).await {
        Ok((view, report)) => {
            if args.json {
                let json = serde_json::json!({ "connector": view, "checks": report.checks });
                println!("{}", serde_json::to_string_pretty(&json)?);
            } else {
                print!("{}", render_table(&report));
                println!();
                println!(
                    "Saved: HaloPSA at {} (Client ID {}).",
                    view.site_url, view.client_id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ConnectorError::TestFailed(_)) => {
            // Show every check, as `connector test` would, so the fix is at hand.
            let report = connectors.test(&form, &shell_actor("set")).await?;
            print!("{}", render_table(&report));
            eprintln!("error: the connection test failed, so nothing was saved");
            Ok(ExitCode::FAILURE)
        }
        Err(other) => Err(other.into()),
    }
}

async fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let connectors = connectors(&args.service, false).await?;
    let Some(view) = connectors.show().await? else {
        if args.json {
            println!("null");
        } else {
            println!("No PSA is connected.");
        }
        return Ok(ExitCode::SUCCESS);
    };

    if args.json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("PSA:           HaloPSA");
    println!("Site URL:      {}", view.site_url);
    println!("Client ID:     {}", view.client_id);
    println!(
        "Client Secret: {}",
        if view.client_secret_set {
            "set (never shown)"
        } else {
            "not set"
        }
    );
    if let Some(tenant) = &view.tenant {
        println!("Tenant:        {tenant}");
    }
    println!("State:         {:?}", view.state);
    if let Some(error) = &view.last_error {
        println!("Last error:    {error}");
    }
    println!("Defaults:      {}", serde_json::to_string(&view.defaults)?);
    Ok(ExitCode::SUCCESS)
}

async fn remove(args: RemoveArgs) -> anyhow::Result<ExitCode> {
    let connectors = connectors(&args.service, false).await?;
    connectors.remove(&shell_actor("remove")).await?;
    println!("The PSA connector is removed. Chats keep their history; nothing changed in Halo.");
    Ok(ExitCode::SUCCESS)
}

async fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let client_secret = args
        .client_secret
        .filter(|secret| !secret.is_empty())
        .context("no Client Secret: set HALO_CLIENT_SECRET or pass --client-secret")?;
    let ca_cert_pem = match &args.ca_cert {
        Some(path) => Some(
            std::fs::read(path)
                .with_context(|| format!("could not read the CA certificate {}", path.display()))?,
        ),
        None => None,
    };
    let input = DoctorInput {
        site_url: args.site_url,
        client_id: args.client_id,
        client_secret: Secret::new(client_secret),
        tenant: args.tenant.filter(|tenant| !tenant.trim().is_empty()),
        scopes: args.scopes,
        allow_private: args.allow_private,
        ca_cert_pem,
        timeout: Duration::from_secs(args.timeout.max(1)),
    };

    let report = doctor::run(input).await;

    if args.json {
        let json = serde_json::to_string_pretty(&report).context("could not encode the report")?;
        println!("{json}");
    } else {
        print!("{}", render_table(&report));
    }
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Renders the report as aligned lines, with each failure's fix under it.
pub fn render_table(report: &Report) -> String {
    let name_width = report
        .checks
        .iter()
        .map(|check| check.name.len())
        .max()
        .unwrap_or(0);
    let mut out = String::new();

    for check in &report.checks {
        let label = match check.status {
            CheckStatus::Pass => "pass",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Skip => "skip",
        };
        out.push_str(&format!(
            "{label}  {:<name_width$}  {}\n",
            check.name, check.detail
        ));
        if let Some(fix) = &check.fix {
            out.push_str(&format!("      {:<name_width$}  fix: {fix}\n", ""));
        }
    }

    let failed = report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .count();
    let warned = report
        .checks
        .iter()
        .filter(|c| c.status == CheckStatus::Warn)
        .count();
    out.push('\n');
    out.push_str(&match (failed, warned) {
        (0, 0) => "Connection OK.\n".to_owned(),
        (0, warned) => format!("Connection OK, with {warned} warning(s).\n"),
        (failed, _) => format!("Connection failed: {failed} check(s) failed.\n"),
    });
    out
}
