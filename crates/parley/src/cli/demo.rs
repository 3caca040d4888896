//! `parley demo`: a seeded HaloPSA simulator with a registered application, and
//! the connection doctor run against it, so a newcomer sees a working setup.
//!
//! TODO(when the chat service lands, issue 3): start `parley serve` on SQLite
//! here too, with the connector already configured against the simulator.

use crate::cli::connector::render_table;
use anyhow::Context;
use clap::Args;
use halo::Secret;
use halo::doctor::{self, DoctorInput};
use halo_sim::{App, RateLimit, Seed, SimConfig, Simulator};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

/// The demo application's credentials; they only ever open the local simulator.
const DEMO_CLIENT_ID: &str = "parley-demo";
const DEMO_CLIENT_SECRET: &str = "demo-secret";

#[derive(Debug, Args)]
pub struct DemoArgs {
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
    println!();
    println!("Testing the connection as `parley connector test` would:");
    println!();

    let report = doctor::run(DoctorInput {
        site_url: sim.url(),
        client_id: DEMO_CLIENT_ID.to_owned(),
        client_secret: Secret::new(DEMO_CLIENT_SECRET.to_owned()),
        tenant: None,
        scopes: None,
        allow_private: true,
        ca_cert_pem: None,
        timeout: Duration::from_secs(10),
    })
    .await;
    print!("{}", render_table(&report));

    if !args.once {
        println!();
        println!("Serving until Ctrl-C.");
        tokio::signal::ctrl_c()
            .await
            .context("could not listen for Ctrl-C")?;
    }
    sim.shutdown().await;
    Ok(if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
