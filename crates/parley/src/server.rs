//! Starting the service: open the store, build the chat and account services,
//! bind the listener and serve until told to stop.

use crate::accounts::Accounts;
use crate::chat::Chat;
use crate::chat::hub::Hub;
use crate::chat::relay;
use crate::config::Config;
use crate::identity::MasterKey;
use crate::psa::contacts::{Contacts, ContactsConfig};
use crate::psa::{Connectors, LivePsa, Psa};
use crate::store::{self, Store};
use crate::sync::{Inbound, InboundConfig, Outbox, OutboxConfig, Tickets, Webhook};
use crate::web::{self, AppState};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Extra set-up for `parley demo` and tests.
#[derive(Debug, Clone)]
pub struct Options {
    /// End users (name, email) the demo portal can sign tokens for; mounts
    /// `/demo/portal` when not empty.
    pub demo_end_users: Vec<(String, String)>,
    /// Cheap password hashing, for tests and seeded demo accounts only.
    pub cheap_hashing: bool,
    /// Whether this instance runs an outbox worker (tests that drive the
    /// outbox by hand turn it off).
    pub run_outbox: bool,
    /// The Halo-to-chat sync: the poller's pace, and whether it runs.
    pub inbound: InboundConfig,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            demo_end_users: Vec::new(),
            cheap_hashing: false,
            run_outbox: true,
            inbound: InboundConfig::default(),
        }
    }
}

/// A running server; dropping it does not stop it, [`Running::shutdown`] does.
#[derive(Debug)]
pub struct Running {
    pub address: SocketAddr,
    pub state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Running {
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops accepting, lets open requests finish, and waits.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.context("the server task panicked")??;
        Ok(())
    }

    /// Waits until the server stops on its own (after `stop_on` fired).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("the server task panicked")??;
        Ok(())
    }
}

/// Opens everything the configuration names and starts serving.
pub async fn start(config: Config, options: Options) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "could not create the data directory {}",
            config.data_dir.display()
        )
    })?;
    let database_url = config.database_url();
    let server_lock = match sqlite_path(&database_url) {
        Some(path) => Some(store::sqlite::lock_for_server(&path)?),
        None => None,
    };
    let store: Arc<dyn Store> = Arc::from(store::open(&database_url).await.with_context(|| {
        format!(
            "could not open the database {}",
            crate::config::redact_url(&database_url)
        )
    })?);

    let key = MasterKey::load(&config.data_dir).context("could not load the master key")?;
    let mut accounts = Accounts::new(
        store.clone(),
        key.clone(),
        Duration::from_secs(u64::from(config.session_hours) * 3600),
        Duration::from_secs(u64::from(config.widget_session_hours) * 3600),
    )
    .await
    .context("could not load the workspace")?;
    if options.cheap_hashing {
        accounts = accounts.with_cheap_hashing();
    }
    let connectors = Connectors::new(
        store.clone(),
        key.clone(),
        accounts.workspace_id(),
        config.allow_private_psa,
    );
    let backend = store.backend();
    let chat = Chat::new(store.clone(), Hub::new(), config.limits.clone());
    let accounts = accounts.with_technician_names(chat.technician_names().clone());
    if backend == store::Backend::Postgres {
        let relay = relay::start(&database_url, chat.clone(), accounts.workspace_id())
            .await
            .context("could not start the cross-instance fan-out on PostgreSQL")?;
        chat.hub().attach_relay(relay);
    }
    tokio::spawn(sweep_sessions(store.clone()));

    // The PSA as connected now; contact matching, tickets and the outbox
    // follow the saved connector through it.
    let psa: Arc<dyn Psa> = Arc::new(LivePsa::new(
        store.clone(),
        key.clone(),
        accounts.workspace_id(),
    ));
    let contacts = Contacts::new(store.clone(), psa.clone(), ContactsConfig::default());
    let tickets = Tickets::new(store.clone(), chat.clone(), contacts, psa.clone());
    if options.run_outbox {
        Outbox::new(
            store.clone(),
            psa.clone(),
            chat.clone(),
            OutboxConfig::default(),
        )
        .spawn();
    }
    // Halo to chat: the webhook's worker and the poller.
    let webhook = Webhook::new(
        store.clone(),
        key.clone(),
        accounts.workspace_id(),
        config.public_url.clone(),
    );
    let inbound = Inbound::new(store.clone(), psa, chat.clone(), webhook, options.inbound);
    inbound.spawn();

    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("could not listen on {}", config.listen))?;
    let address = listener
        .local_addr()
        .context("the listener has no address")?;

    let state = AppState {
        chat,
        accounts,
        connectors,
        tickets,
        inbound,
        config: Arc::new(config),
        metrics: Arc::default(),
        demo_end_users: Arc::new(options.demo_end_users),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let served = web::serve(listener, state.clone(), async move {
        let _ = stopped.await;
    });
    // The lock lives exactly as long as the server does.
    let task = tokio::spawn(async move {
        let _server_lock = server_lock;
        served.await
    });

    tracing::info!(%address, "Parley is serving");
    Ok(Running {
        address,
        state,
        stop: Some(stop),
        task,
    })
}

/// The file of a SQLite database URL, as `store::open` reads it.
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let url = url.trim();
    let path = url
        .strip_prefix("sqlite://")
        .or(url.strip_prefix("sqlite:"))
        .or((!url.contains("://") && url.ends_with(".db")).then_some(url))?;
    Some(std::path::PathBuf::from(path))
}

/// Deletes expired sessions now and then, so the table stays small.
async fn sweep_sessions(store: Arc<dyn Store>) {
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        every.tick().await;
        match store.delete_expired_sessions(store::now_millis()).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "expired sessions removed"),
            Err(error) => tracing::error!(%error, "could not remove expired sessions"),
        }
    }
}

/// Completes on Ctrl-C or SIGTERM, for a graceful shutdown.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
