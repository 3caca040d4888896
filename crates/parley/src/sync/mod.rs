//! The sync engine: PSA writes out through the durable outbox, and (next)
//! PSA changes in through the webhook and the poller.

/// The outbox worker: every PSA write exactly once, in order.
pub mod outbox;
/// Tickets from chats, and an end user's own tickets.
pub mod tickets;

pub use outbox::{CreateTicketPayload, Outbox, OutboxConfig};
pub use tickets::{TicketError, TicketLinkView, Tickets};
