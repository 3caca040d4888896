//! `parley halo-sim`: serves the HaloPSA simulator until interrupted.

use anyhow::Context;
use clap::Args;
use halo_sim::{App, RateLimit, SimConfig, Simulator, WebhookTarget};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct HaloSimArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,

    /// Data to start with: `demo` (clients, users, agents, tickets) or `empty`.
    #[arg(long, default_value = "demo")]
    seed: halo_sim::Seed,

    /// A registered API application, as `CLIENT_ID:SECRET:SCOPES` with the
    /// scopes separated by spaces. May be given more than once.
    #[arg(long = "app", value_name = "ID:SECRET:SCOPES", value_parser = parse_app)]
    apps: Vec<App>,

    /// Rate limit as `REQUESTS/SECONDS` (Halo's cloud default is `300/300`).
    /// Off unless given.
    #[arg(long, value_name = "REQUESTS/SECONDS", value_parser = parse_rate_limit)]
    rate_limit: Option<RateLimit>,

    /// Lifetime of issued access tokens, in seconds.
    #[arg(long, default_value_t = 3600)]
    token_lifetime: u64,

    /// URL to POST a webhook to when a ticket or action changes.
    #[arg(long)]
    webhook_url: Option<String>,

    /// Basic-auth credentials for the webhook, as `USER:PASSWORD`.
    #[arg(
        long,
        requires = "webhook_url",
        env = "HALO_SIM_WEBHOOK_AUTH",
        hide_env_values = true
    )]
    webhook_auth: Option<String>,
}

pub async fn run(args: HaloSimArgs) -> anyhow::Result<ExitCode> {
    let webhook = args.webhook_url.map(|url| WebhookTarget {
        url,
        basic_auth: args.webhook_auth.as_deref().map(split_basic_auth),
    });
    let config = SimConfig {
        seed: args.seed,
        apps: args.apps,
        token_lifetime: Duration::from_secs(args.token_lifetime),
        rate_limit: args.rate_limit,
        webhook,
        ..SimConfig::default()
    };

    let sim = Simulator::start(args.listen, config)
        .await
        .with_context(|| format!("could not start the simulator on {}", args.listen))?;
    println!("HaloPSA simulator listening on {}", sim.url());
    println!("  token endpoint: {}/auth/token", sim.url());
    println!("  API:            {}/api", sim.url());
    println!("  control:        {}/_sim/counters", sim.url());

    tokio::signal::ctrl_c()
        .await
        .context("could not listen for Ctrl-C")?;
    sim.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

fn parse_app(spec: &str) -> Result<App, String> {
    App::parse(spec).map_err(|error| error.to_string())
}

fn parse_rate_limit(spec: &str) -> Result<RateLimit, String> {
    let (requests, seconds) = spec
        .split_once('/')
        .ok_or_else(|| format!("expected REQUESTS/SECONDS, such as 300/300, not `{spec}`"))?;
    let requests = requests
        .trim()
        .parse()
        .map_err(|_| format!("`{requests}` is not a number of requests"))?;
    let seconds: u64 = seconds
        .trim()
        .parse()
        .map_err(|_| format!("`{seconds}` is not a number of seconds"))?;
    if requests == 0 || seconds == 0 {
        return Err("both the request count and the window must be above zero".to_owned());
    }

    Ok(RateLimit {
        requests,
        window: Duration::from_secs(seconds),
    })
}

fn split_basic_auth(credentials: &str) -> (String, String) {
    match credentials.split_once(':') {
        Some((user, password)) => (user.to_owned(), password.to_owned()),
        None => (credentials.to_owned(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_reads_requests_per_window() {
        let limit = parse_rate_limit("300/300").unwrap();
        assert_eq!(limit.requests, 300);
        assert_eq!(limit.window, Duration::from_secs(300));
    }

    #[test]
    fn rate_limit_refuses_nonsense() {
        assert!(parse_rate_limit("300").is_err());
        assert!(parse_rate_limit("a/5").is_err());
        assert!(parse_rate_limit("0/5").is_err());
    }
}
