//! The Halo endpoints Parley uses, as methods on [`crate::HaloClient`], one
//! file per resource. Every method goes through the client's request machinery
//! (budget, token, retries for reads, errors that name the cause).

mod actions;
mod agents;
mod attachments;
mod auth_info;
mod clients;
mod outcomes;
mod priorities;
mod sites;
mod statuses;
mod ticket_types;
mod tickets;
mod users;

pub use actions::ActionQuery;
pub use agents::AgentQuery;
pub use clients::ClientQuery;
pub use tickets::TicketQuery;
pub use users::UserQuery;
