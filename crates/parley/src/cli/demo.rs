//! `parley demo`: Parley on SQLite with seeded technicians and a demo portal
//! for seeded end users, beside a seeded HaloPSA simulator with a registered
//! application and the connection doctor run against it, so a newcomer can
//! play both sides of a chat at once. The connector is saved against the
//! simulator, so the demo starts connected.

use crate::cli::connector::render_table;
use anyhow::Context;
use clap::Args;
use halo_sim::{App, RateLimit, Seed, SimConfig, Simulator};
use parley::accounts::{AccountError, Accounts};
use parley::config::Config;
use parley::psa::connector::Actor as AuditActor;
use parley::psa::{ConnectorForm, TicketDefaults};
use parley::server;
use parley::store::Role;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The demo application's credentials; they only ever open the local simulator.
const DEMO_CLIENT_ID: &str = "parley-demo";
const DEMO_CLIENT_SECRET: &str = "demo-secret";

/// Seeded sign-ins; the demo's data lives in its own directory only.
const DEMO_PASSWORD: &str = "demo-password";
const DEMO_TECHNICIANS: [(&str, &str, Role); 3] = [
    ("admin@msp.example", "Morgan Admin", Role::Admin),
    ("tess.tech@msp.example", "Tess Tech", Role::Technician),
    ("marco.rossi@msp.example", "Marco Rossi", Role::Technician),
];
/// End users the demo portal signs widget tokens for: contacts in the
/// simulator's seed, so the later PSA issues find them there.
const DEMO_END_USERS: [(&str, &str); 3] = [
    ("Alice Carter", "alice.carter@northwind.example"),
    ("Chloe Kim", "chloe.kim@contoso.example"),
    ("Erin Diaz", "erin.diaz@fabrikam.example"),
];

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address for Parley; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Where the demo keeps its database; a fresh directory is safest.
    #[arg(long, default_value = "parley-demo-data")]
    data_dir: PathBuf,

    /// Address for the simulator; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8090")]
    halo_listen: SocketAddr,

    /// Run the connection test and exit instead of serving until Ctrl-C.
    #[arg(long)]
    once: bool,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let app = App {
        client_id: DEMO_CLIENT_ID.to_owned(),
        client_secret: DEMO_CLIENT_SECRET.to_owned(),
        scopes: halo::DEFAULT_SCOPES.split(' ').map(str::to_owned).collect(),
    };
    // The demo runs under Halo's cloud rate limit so that what it shows is what
    // an MSP's own Halo would allow.
    let config = SimConfig {
        seed: Seed::Demo,
        apps: vec![app],
        rate_limit: Some(RateLimit {
            requests: 300,
            window: Duration::from_secs(300),
        }),
        ..SimConfig::default()
    };
    let sim = Simulator::start(args.halo_listen, config)
        .await
        .with_context(|| format!("could not start the simulator on {}", args.halo_listen))?;

    println!("HaloPSA simulator (demo data): {}", sim.url());
    println!("  Client ID:     {DEMO_CLIENT_ID}");
    println!("  Client Secret: {DEMO_CLIENT_SECRET}");
    // The simulator listens on loopback over plain http, which only a
    // private-hosts set-up accepts.
    let config = Config {
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        allow_private_psa: true,
        ..Config::default()
    };
    let options = server::Options {
        demo_end_users: DEMO_END_USERS
            .iter()
            .map(|(name, email)| (name.to_string(), email.to_string()))
            .collect(),
        cheap_hashing: true,
        ..server::Options::default()
    };
    let running = server::start(config, options).await?;
    seed_accounts(&running.state.accounts).await?;

    println!();
    println!("Connecting Parley to it, as the Connectors page's Test and Save would:");
    println!();
    let form = ConnectorForm {
        site_url: sim.url(),
        client_id: DEMO_CLIENT_ID.to_owned(),
        client_secret: Some(DEMO_CLIENT_SECRET.to_owned()),
        tenant: None,
    };
    let actor = AuditActor("parley demo".to_owned());
    let report = match running
        .state
        .connectors
        .save(&form, TicketDefaults::default(), &actor)
        .await
    {
        Ok((_, report)) => report,
        Err(_) => running.state.connectors.test(&form, &actor).await?,
    };
    print!("{}", render_table(&report));

    println!();
    println!(
        "Parley (demo data in {}): {}",
        args.data_dir.display(),
        running.url()
    );
    println!(
        "  demo portal (play an end user): {}/demo/portal",
        running.url()
    );
    println!(
        "  technician console:             {}/console",
        running.url()
    );
    for (email, name, role) in DEMO_TECHNICIANS {
        println!("    {name} ({role}): {email} / {DEMO_PASSWORD}");
    }

    if !args.once {
        println!();
        println!("Serving until Ctrl-C.");
        server::shutdown_signal().await;
    }
    running.shutdown().await?;
    sim.shutdown().await;
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Creates the demo's technicians, once: a second run finds them in place.
async fn seed_accounts(accounts: &Accounts) -> anyhow::Result<()> {
    for (email, name, role) in DEMO_TECHNICIANS {
        match accounts.create(email, name, role, DEMO_PASSWORD).await {
            Ok(_) | Err(AccountError::Conflict(_)) => {}
            Err(other) => {
                return Err(anyhow::Error::new(other).context("could not seed demo accounts"));
            }
        }
    }
    Ok(())
}
