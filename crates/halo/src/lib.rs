//! HaloPSA REST client: OAuth2 client credentials, lenient models of what Halo
//! really sends, errors that name the cause in an admin's words, and the
//! connection doctor that checks a Halo setup without writing to it.
//!
//! The crate knows nothing about chat: it speaks Halo's language only (tickets,
//! actions, attachments, clients, sites, users, agents, statuses, ticket types,
//! priorities, outcomes).
//!
//! ```no_run
//! # async fn demo() -> Result<(), halo::HaloError> {
//! use halo::{HaloClient, HaloConfig, HostPolicy, Secret, SiteUrl, TicketQuery};
//!
//! let site = SiteUrl::parse("https://acme.halopsa.com/api", HostPolicy::PublicOnly)?.site;
//! let client = HaloClient::new(HaloConfig::new(site, "client-id", Secret::new("secret")))?;
//! let open = TicketQuery { open_only: true, ..TicketQuery::default() };
//! for ticket in client.list_tickets(&open).await? {
//!     println!("{} {}", ticket.id, ticket.summary);
//! }
//! # Ok(())
//! # }
//! ```

mod api;
mod auth;
mod budget;
mod client;
mod config;
pub mod de;
pub mod doctor;
mod error;
mod error_body;
pub mod model;
mod paging;
mod permission;
mod resolve;
mod response;
mod retry;
mod secret;
mod site;

pub use api::{ActionQuery, AgentQuery, ClientQuery, TicketQuery, UserQuery};
pub use auth::TokenInfo;
pub use budget::{Budget, BudgetConfig};
pub use client::HaloClient;
pub use config::HaloConfig;
pub use error::{HaloError, PERMISSIONS_PLACE};
pub use paging::{DEFAULT_PAGE_SIZE, Paging};
pub use permission::{DEFAULT_SCOPES, Permission};
pub use retry::RetryPolicy;
pub use secret::Secret;
pub use site::{HostPolicy, Normalized, SiteUrl, SiteUrlError};
