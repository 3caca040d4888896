//! A HaloPSA simulator: Halo's HTTP API over in-memory state, quirks included,
//! for tests, benchmarks and `parley demo`.
//!
//! It behaves as the evidence in `reference/halo-api.md` shows real Halo
//! behaving, not as a client would wish: OAuth2 client credentials with
//! Halo's scope names, 403 with an empty body when a scope is missing,
//! case-insensitive paths, `True`/`False` query booleans, unknown query
//! parameters ignored, wrapped lists for some resources and bare arrays for
//! others, POST bodies as arrays answered with a single object, action ids
//! numbered per ticket, base64 attachments, Halo's date formats and sentinels,
//! and a 300-requests-per-5-minutes style rate limit when switched on.
//!
//! On top of Halo it offers fault injection (latency, random 500s, forced
//! failures, dropped connections), request counters and a request log,
//! webhooks on ticket and action changes, and changes made "on Halo's side",
//! through [`RunningSim`] methods or the `/_sim` control API.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use halo_sim::{App, Seed, SimConfig, Simulator};
//!
//! let config = SimConfig {
//!     seed: Seed::Demo,
//!     apps: vec![App::parse("parley:secret:all").expect("a valid spec")],
//!     ..SimConfig::default()
//! };
//! let sim = Simulator::start("127.0.0.1:0".parse().expect("an address"), config).await?;
//! println!("Halo at {}", sim.url());
//! sim.shutdown().await;
//! # Ok(())
//! # }
//! ```

mod api;
mod auth;
mod config;
mod control;
mod faults;
mod frontdoor;
mod halo_side;
mod quirks;
mod rate_limit;
mod router;
mod seed;
mod server;
mod shape;
mod simulator;
mod state;
mod store;
mod traffic;
mod webhook;

pub use config::{
    App, ConfigError, Faults, KNOWN_SCOPES, RateLimit, Seed, SimConfig, WebhookTarget,
    is_known_scope,
};
pub use halo_side::{HaloAction, SimError};
pub use seed::{API_AGENT_ID, CLOSED_STATUS_ID};
pub use simulator::{RunningSim, Simulator};
pub use traffic::LoggedRequest;
pub use webhook::DeliveryStats;
