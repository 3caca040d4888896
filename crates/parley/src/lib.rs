//! Parley's service: the chat core, its store, identity and the web layer.
//!
//! The `parley` binary (in `main.rs` and `cli/`) is a thin shell over this
//! library, so that stories in `tests/` can start the real server on port 0.

/// Accounts and sessions: sign-in, the first admin, widget sessions.
pub mod accounts;
/// The chat core: conversations, messages, who may see what, the fan-out hub.
pub mod chat;
/// Configuration: defaults, a TOML file, `PARLEY_*` variables.
pub mod config;
/// Identity: passwords, sessions, CSRF, sign-in limits and widget tokens.
pub mod identity;
/// The PSA connector (HaloPSA first).
pub mod psa;
/// Starting the service and stopping it gracefully.
pub mod server;
/// The store: the `Store` trait and its SQLite and PostgreSQL backends.
pub mod store;
/// The sync engine: the outbox of PSA writes.
pub mod sync;
/// Throwaway data directories and databases for tests on both backends.
#[doc(hidden)]
pub mod testing;
/// The web layer: API, WebSocket, pages, assets.
pub mod web;
