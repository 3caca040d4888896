//! `parley connector ...`: the HaloPSA connector from a shell.
//!
//! `connector test` runs the same connection doctor that the Connectors page
//! runs, prints one line per check (or JSON for scripts) and exits with status 0
//! exactly when no check failed.

use anyhow::Context;
use clap::{Args, Subcommand};
use halo::Secret;
use halo::doctor::{self, CheckStatus, DoctorInput, Report};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Subcommand)]
pub enum ConnectorCommand {
    /// Test a HaloPSA connection without saving it and without writing to Halo.
    Test(TestArgs),
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
    }
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
