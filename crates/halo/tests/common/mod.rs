//! Shared set-up for the client-against-simulator stories: a seeded simulator
//! and clients configured for fast tests (millisecond backoff, short timeouts).

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use halo::{HaloClient, HaloConfig, HostPolicy, RetryPolicy, Secret, SiteUrl};
use halo_sim::{App, RunningSim, Seed, SimConfig, Simulator};

/// The application Parley is meant to have: exactly the four scopes it needs.
pub const PARLEY_APP: &str =
    "parley:parley-secret-1234:read:tickets edit:tickets read:customers read:crm";
pub const PARLEY_ID: &str = "parley";
pub const PARLEY_SECRET: &str = "parley-secret-1234";

/// A demo-seeded simulator knowing the given applications (`ID:SECRET:SCOPES`).
pub async fn start_sim(apps: &[&str]) -> RunningSim {
    start_sim_with(apps, Duration::from_secs(3600)).await
}

/// As [`start_sim`], with tokens living `token_lifetime`.
pub async fn start_sim_with(apps: &[&str], token_lifetime: Duration) -> RunningSim {
    let config = SimConfig {
        seed: Seed::Demo,
        apps: apps
            .iter()
            .map(|spec| App::parse(spec).expect("a valid app spec"))
            .collect(),
        token_lifetime,
        ..SimConfig::default()
    };
    Simulator::start("127.0.0.1:0".parse().expect("an address"), config)
        .await
        .expect("the simulator starts")
}

/// The simulator's site, allowed as a private host.
pub fn site(sim: &RunningSim) -> SiteUrl {
    SiteUrl::parse(&sim.url(), HostPolicy::AllowPrivate)
        .expect("the simulator URL is a valid private site")
        .site
}

/// A configuration for Parley's application with fast retries.
pub fn config(sim: &RunningSim, client_id: &str, secret: &str) -> HaloConfig {
    let mut config = HaloConfig::new(site(sim), client_id, Secret::new(secret));
    config.timeout = Duration::from_secs(5);
    config.connect_timeout = Duration::from_secs(2);
    config.retry = fast_retry();
    config
}

/// Retries in milliseconds, so that retry stories run fast.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(5),
    }
}

/// A client for Parley's application.
pub fn parley_client(sim: &RunningSim) -> HaloClient {
    HaloClient::new(config(sim, PARLEY_ID, PARLEY_SECRET)).expect("a client")
}
