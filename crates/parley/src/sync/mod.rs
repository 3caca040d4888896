//! The sync engine: PSA writes out through the durable outbox, and PSA
//! changes in through the webhook and the poller.

/// Halo to chat: agents' notes and status changes, by webhook and poller.
pub mod inbound;
/// The outbox worker: every PSA write exactly once, in order.
pub mod outbox;
/// Tickets from chats, and an end user's own tickets.
pub mod tickets;
/// The PSA webhook's own secret.
pub mod webhook;

pub use inbound::{Inbound, InboundConfig, PollPolicy};
pub use outbox::{CreateTicketPayload, Outbox, OutboxConfig};
pub use tickets::{TicketError, TicketLinkView, Tickets};
pub use webhook::Webhook;
