//! Starting a simulator, and the handle a test holds on to: its address,
//! counters, runtime switches (faults, rate limit, webhook, apps), a look at
//! its data, Halo-side changes, and a graceful shutdown.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{App, Faults, RateLimit, SimConfig, WebhookTarget};
use crate::halo_side::{self, HaloAction, SimError};
use crate::router::router;
use crate::server::{Connection, SimListener};
use crate::shape;
use crate::state::{Sim, SimState, lock};
use crate::traffic::LoggedRequest;
use crate::webhook::{DeliveryStats, Webhooks};

/// How long a shutdown waits for open requests and queued webhooks.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Starts simulators.
#[derive(Debug, Clone, Copy)]
pub struct Simulator;

impl Simulator {
    /// Binds `listen` (port 0 picks a free port) and serves a simulator
    /// configured by `config` until [`RunningSim::shutdown`] or drop.
    pub async fn start(listen: SocketAddr, config: SimConfig) -> io::Result<RunningSim> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (webhooks, webhook_worker) = Webhooks::start(config.webhook.clone());
        let sim: Sim = Arc::new(SimState::new(&config, webhooks));

        let app = router(Arc::clone(&sim));
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let service = app.into_make_service_with_connect_info::<Connection>();
            let shutdown = async {
                // A dropped sender means the handle is gone: stop as well.
                let _ = stopped.await;
            };
            if let Err(error) = axum::serve(SimListener::new(listener), service)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%error, "Halo simulator stopped with an error");
            }
        });

        tracing::info!(%addr, seed = %config.seed, apps = config.apps.len(), "Halo simulator listening");
        Ok(RunningSim {
            addr,
            sim,
            stop: Some(stop),
            server: Some(server),
            webhook_worker: Some(webhook_worker),
        })
    }
}

/// A running simulator. Dropping it stops the server in the background;
/// [`RunningSim::shutdown`] stops it and waits.
#[derive(Debug)]
pub struct RunningSim {
    addr: SocketAddr,
    sim: Sim,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    webhook_worker: Option<JoinHandle<()>>,
}

impl RunningSim {
    /// The address the simulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The site root, e.g. `http://127.0.0.1:41234`: what an admin enters as
    /// Halo's "Site URL". A wildcard listen address is given as loopback.
    pub fn url(&self) -> String {
        let ip = match self.addr.ip() {
            ip if ip.is_unspecified() && ip.is_ipv4() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            ip if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.addr.port()))
    }

    /// Halo requests counted for `method` on `endpoint` (`("GET", "tickets")`,
    /// `("POST", "auth/token")`), case-insensitively. Faulted, dropped and
    /// rate-limited requests count too: they reached Halo.
    pub fn requests_to(&self, method: &str, endpoint: &str) -> u64 {
        lock(&self.sim.traffic).requests_to(method, endpoint)
    }

    /// Halo requests counted in all (never the `/_sim` control API).
    pub fn total_requests(&self) -> u64 {
        lock(&self.sim.traffic).total()
    }

    /// Every counter, keyed `"METHOD resource"`.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        lock(&self.sim.traffic).counters()
    }

    /// The request log, oldest first.
    pub fn request_log(&self) -> Vec<LoggedRequest> {
        lock(&self.sim.traffic).entries()
    }

    /// Replaces the injected faults.
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.sim.faults).set(faults);
    }

    /// The faults still pending.
    pub fn faults(&self) -> Faults {
        lock(&self.sim.faults).current()
    }

    /// Switches the rate limit on, changes it, or (with `None`) off.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        lock(&self.sim.limiter).set(limit);
    }

    /// Changes (or with `None` removes) the webhook target.
    pub fn set_webhook(&self, target: Option<WebhookTarget>) {
        self.sim.webhooks.set_target(target);
    }

    /// How webhook deliveries went so far.
    pub fn webhook_stats(&self) -> DeliveryStats {
        self.sim.webhooks.stats()
    }

    /// Registers an API application (replacing one with the same client id).
    pub fn add_app(&self, app: App) {
        lock(&self.sim.auth).add_app(app);
    }

    /// Makes every issued token expire now.
    pub fn expire_tokens(&self) {
        lock(&self.sim.auth).expire_all();
    }

    /// Puts back the seeded data and clears counters, the request log, faults
    /// and the rate-limit window (apps, tokens and settings stay).
    pub fn reset(&self) {
        self.sim.reset();
    }

    /// How many tickets exist (deleted ones excluded).
    pub fn ticket_count(&self) -> usize {
        self.sim
            .read(|store| store.tickets.values().filter(|t| !t.deleted).count())
    }

    /// A ticket as `GET /api/Tickets/{id}` returns it.
    pub fn ticket(&self, ticket_id: i64) -> Option<Value> {
        self.sim.read(|store| {
            store
                .ticket(ticket_id)
                .map(|ticket| shape::ticket::detail(store, ticket))
        })
    }

    /// A ticket's actions as `GET /api/Actions/{id}` returns each, oldest first.
    pub fn actions(&self, ticket_id: i64) -> Vec<Value> {
        self.sim.read(|store| {
            store
                .ticket(ticket_id)
                .map(|ticket| {
                    ticket
                        .actions
                        .iter()
                        .map(|action| shape::action::action(store, action, true))
                        .collect()
                })
                .unwrap_or_default()
        })
    }

    /// Writes an action on Halo's side (a technician in the agent app, or a
    /// user's email reply), firing webhooks; returns the new action.
    pub fn add_action(&self, ticket_id: i64, action: &HaloAction) -> Result<Value, SimError> {
        halo_side::add_action(&self.sim, ticket_id, action)
    }

    /// Stops accepting requests, lets open ones finish (for up to a few
    /// seconds), and stops webhook delivery.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let abort = server.abort_handle();
            if tokio::time::timeout(SHUTDOWN_GRACE, server).await.is_err() {
                tracing::warn!("Halo simulator did not stop in time; aborting open requests");
                abort.abort();
            }
        }
        if let Some(worker) = self.webhook_worker.take() {
            // Deliveries still queued are abandoned; the worker holds nothing else.
            worker.abort();
        }
        tracing::info!(addr = %self.addr, "Halo simulator stopped");
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(worker) = self.webhook_worker.take() {
            worker.abort();
        }
    }
}
