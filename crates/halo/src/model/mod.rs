//! Typed, lenient models of the Halo records Parley reads and writes, one file
//! per resource.
//!
//! Read models ignore unknown fields (Halo sends hundreds per record) and use
//! the decoders in [`crate::de`] for every field, so a `null`, a float id or a
//! sentinel date never fails a whole record. Write models (`New*`, `*Update`)
//! serialize only the fields that are set.

mod action;
mod agent;
mod attachment;
mod auth;
mod client;
mod list;
mod outcome;
mod priority;
mod site;
mod status;
mod ticket;
mod ticket_type;
mod user;

pub use action::{Action, NewAction};
pub use agent::Agent;
pub use attachment::{Attachment, AttachmentFile, NewAttachment};
pub use auth::{AuthInfo, TokenResponse};
pub use client::Client;
pub use list::{ListResponse, Listed};
pub use outcome::Outcome;
pub use priority::Priority;
pub use site::Site;
pub use status::Status;
pub use ticket::{AttachmentLink, CustomFieldValue, NewTicket, Ticket, TicketUpdate};
pub use ticket_type::TicketType;
pub use user::User;
