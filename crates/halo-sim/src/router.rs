//! How the simulator's HTTP surface is stacked.
//!
//! ```text
//! front door (fold path case, count, faults, latency, rate limit, log)
//!  ├─ /_sim/...        control API (passes the front door untouched)
//!  └─ everything else  Halo: /auth/token, /api/authinfo, /api/<resource> behind the token gate
//! ```
//!
//! The front door is a layer around the outer router, so it runs before the
//! inner Halo router matches a route: that is what lets it fold `/API/Tickets`
//! to `/api/tickets` first. Unknown URLs get Halo's bare 404.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::post;

use crate::control::{self, CONTROL_PREFIX};
use crate::state::Sim;
use crate::{api, auth, frontdoor};

/// Largest request body accepted; base64 attachments make bodies big.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// The whole simulator as one router.
pub fn router(sim: Sim) -> Router {
    let halo = Router::new()
        .route("/auth/token", post(auth::token))
        .nest("/api", api::routes(sim.clone()))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(sim.clone());

    Router::new()
        .nest(CONTROL_PREFIX, control::routes())
        .fallback_service(halo)
        .layer(middleware::from_fn_with_state(
            sim.clone(),
            frontdoor::admit,
        ))
        .with_state(sim)
}
