//! Tickets from chats, and an end user's own tickets.
//!
//! Asking for a ticket links the conversation to a ticket-to-be and queues
//! its creation in the outbox, in one transaction; the outbox makes it once.
//! A follow-up can join one of the user's open tickets instead. Every read of
//! a ticket for an end user checks that its contact is the user's confirmed
//! contact; a user without one sees none, and is told why.

use crate::chat::{Actor, Chat, ChatError};
use crate::psa::contacts::{Contacts, MatchState};
use crate::psa::{Contact, Psa, PsaError, PsaNote, PsaTicket};
use crate::store::{
    AuthorKind, ConversationId, EndUser, MessageKind, NewMessage, Store, StoreError, TicketLink,
    TicketRequest, now_millis,
};
use crate::sync::outbox::CreateTicketPayload;
use serde::Serialize;
use std::sync::Arc;

/// Halo's summaries are short; a longer subject is cut.
const SUMMARY_CHARS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// The end user has no confirmed contact yet; the text says why.
    #[error("{0}")]
    NeedsContact(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    /// The PSA could not be asked right now.
    #[error("the PSA did not answer: {0}")]
    Unavailable(String),
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for TicketError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(why) => TicketError::Conflict(why),
            StoreError::NotFound(what) => TicketError::NotFound(what),
            other => TicketError::Store(other),
        }
    }
}

impl From<PsaError> for TicketError {
    fn from(error: PsaError) -> Self {
        match error {
            PsaError::NotFound(_) => TicketError::NotFound("ticket"),
            other => TicketError::Unavailable(other.to_string()),
        }
    }
}

pub type TicketResult<T> = Result<T, TicketError>;

/// A conversation's ticket as the chat shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TicketLinkView {
    /// `None` while the PSA has not answered yet.
    pub ticket_id: Option<i64>,
    pub summary: Option<String>,
    pub status: Option<String>,
    pub pending: bool,
}

impl From<&TicketLink> for TicketLinkView {
    fn from(link: &TicketLink) -> Self {
        TicketLinkView {
            ticket_id: link.ticket_id,
            summary: link.ticket_summary.clone(),
            status: link.ticket_status.clone(),
            pending: link.ticket_id.is_none(),
        }
    }
}

/// The tickets service. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Tickets {
    store: Arc<dyn Store>,
    chat: Chat,
    contacts: Contacts,
    psa: Arc<dyn Psa>,
}

impl Tickets {
    pub fn new(store: Arc<dyn Store>, chat: Chat, contacts: Contacts, psa: Arc<dyn Psa>) -> Self {
        Self {
            store,
            chat,
            contacts,
            psa,
        }
    }

    pub fn contacts(&self) -> &Contacts {
        &self.contacts
    }

    /// Asks for a ticket for the conversation, from the end user or a
    /// technician. The ticket is made once, by the outbox, for the end
    /// user's confirmed contact.
    pub async fn request(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
    ) -> TicketResult<TicketLinkView> {
        let conversation = self.chat.conversation(actor, conversation_id).await?;
        let end_user = self
            .store
            .end_user(actor.workspace_id(), conversation.end_user.id)
            .await?;
        let contact = self.confirmed_contact(&end_user).await?;

        let (history, _) = self.chat.history(actor, conversation_id, None, 200).await?;
        let details = history
            .iter()
            .filter(|m| m.kind != MessageKind::Note && m.kind != MessageKind::System)
            .map(|m| format!("{} ({}): {}", m.author.name, m.created_at, m.body))
            .collect::<Vec<_>>()
            .join("\n");
        let marker = format!(
            "parley-{}-{}-{}",
            actor.workspace_id(),
            conversation_id,
            uuid::Uuid::new_v4().simple()
        );
        let payload = CreateTicketPayload {
            summary: cut(&conversation.subject, SUMMARY_CHARS),
            details,
            contact,
            marker: marker.clone(),
        };
        let requested_by = match actor {
            Actor::EndUser(_) => "end_user",
            Actor::Technician(_) => "technician",
        };

        let link = self
            .store
            .request_ticket(TicketRequest {
                workspace_id: actor.workspace_id(),
                conversation_id,
                marker,
                requested_by: requested_by.to_owned(),
                payload: serde_json::to_string(&payload)
                    .expect("a ticket request is plain data that always serialises"),
                at: now_millis(),
            })
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => {
                    TicketError::Conflict("this chat already has a ticket".to_owned())
                }
                other => other.into(),
            })?;
        tracing::info!(
            conversation.id = conversation_id,
            by = requested_by,
            "ticket requested"
        );

        self.say(
            &end_user,
            conversation_id,
            "A ticket was asked for; its number appears here as soon as the help desk's \
             system answers.",
        )
        .await?;
        Ok(TicketLinkView::from(&link))
    }

    /// Links the conversation to one of the end user's open tickets instead
    /// of making a new one (a follow-up).
    pub async fn join(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        ticket_id: i64,
    ) -> TicketResult<TicketLinkView> {
        let conversation = self.chat.conversation(actor, conversation_id).await?;
        let end_user = self
            .store
            .end_user(actor.workspace_id(), conversation.end_user.id)
            .await?;
        let ticket = self.own_ticket(&end_user, ticket_id).await?.0;

        let now = now_millis();
        let link = self
            .store
            .join_ticket(TicketLink {
                conversation_id,
                workspace_id: actor.workspace_id(),
                marker: format!("parley-join-{conversation_id}-{ticket_id}"),
                ticket_id: Some(ticket.id),
                ticket_summary: Some(ticket.summary.clone()),
                ticket_status: ticket.status_name.clone(),
                requested_by: "end_user".to_owned(),
                created_at: now,
                linked_at: Some(now),
            })
            .await?;
        self.say(
            &end_user,
            conversation_id,
            &format!(
                "This chat continues ticket #{}: {}",
                ticket.id, ticket.summary
            ),
        )
        .await?;
        Ok(TicketLinkView::from(&link))
    }

    /// The conversation's ticket, if it has one.
    pub async fn link(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
    ) -> TicketResult<Option<TicketLinkView>> {
        self.chat.conversation(actor, conversation_id).await?;
        let link = self
            .store
            .ticket_link(actor.workspace_id(), conversation_id)
            .await?;
        Ok(link.as_ref().map(TicketLinkView::from))
    }

    /// The end user's tickets (open ones first), or why there are none.
    pub async fn mine(&self, end_user: &EndUser) -> TicketResult<Vec<PsaTicket>> {
        let state = self
            .contacts
            .match_for(end_user)
            .await
            .map_err(|e| TicketError::Unavailable(e.to_string()))?;
        let MatchState::Matched(found) = &state else {
            return Err(TicketError::NeedsContact(
                state.explanation().unwrap_or_default().to_owned(),
            ));
        };

        let mut tickets = self.psa.contact_tickets(found.contact.id, true).await?;
        tickets.extend(self.psa.contact_tickets(found.contact.id, false).await?);
        if found.catch_all {
            // A client's catch-all contact is shared: only the tickets this
            // user's own chats made or joined are theirs.
            let own = self.own_linked_tickets(end_user).await?;
            tickets.retain(|ticket| own.contains(&ticket.id));
        }
        Ok(tickets)
    }

    /// One of the end user's tickets with its user-visible notes; another
    /// contact's ticket is "not found", exactly like a missing one.
    pub async fn own_ticket(
        &self,
        end_user: &EndUser,
        ticket_id: i64,
    ) -> TicketResult<(PsaTicket, Vec<PsaNote>)> {
        let state = self
            .contacts
            .match_for(end_user)
            .await
            .map_err(|e| TicketError::Unavailable(e.to_string()))?;
        let MatchState::Matched(found) = &state else {
            return Err(TicketError::NeedsContact(
                state.explanation().unwrap_or_default().to_owned(),
            ));
        };

        let (ticket, notes) = self.psa.ticket_with_visible_notes(ticket_id).await?;
        let theirs = ticket.contact_id == Some(found.contact.id)
            && (!found.catch_all
                || self
                    .own_linked_tickets(end_user)
                    .await?
                    .contains(&ticket.id));
        if !theirs {
            tracing::warn!(
                end_user.id = end_user.id,
                ticket.id = ticket_id,
                "end user asked for a ticket that is not theirs"
            );
            return Err(TicketError::NotFound("ticket"));
        }
        let notes = notes
            .into_iter()
            .filter(|n| n.visible_to_user)
            .map(|mut note| {
                note.text = without_marker(&note.text);
                note
            })
            .collect();
        Ok((ticket, notes))
    }

    /// The end user's chat about one of their tickets: the open one already
    /// linked to it, or a new one that continues it. What they write there
    /// reaches the ticket as notes from them.
    pub async fn chat_about(
        &self,
        end_user: &EndUser,
        ticket_id: i64,
    ) -> TicketResult<crate::chat::view::ConversationView> {
        let (ticket, _) = self.own_ticket(end_user, ticket_id).await?;
        let actor = Actor::EndUser(end_user.clone());

        for link in self
            .store
            .links_for_ticket(end_user.workspace_id, ticket.id)
            .await?
        {
            let conversation = self
                .store
                .conversation(end_user.workspace_id, link.conversation_id)
                .await?;
            if conversation.end_user_id == end_user.id
                && conversation.status != crate::store::ConversationStatus::Closed
            {
                return Ok(self.chat.conversation(&actor, conversation.id).await?);
            }
        }

        let (conversation, _) = self
            .store
            .create_conversation(
                crate::store::NewConversation {
                    workspace_id: end_user.workspace_id,
                    end_user_id: end_user.id,
                    subject: cut(&ticket.summary, SUMMARY_CHARS),
                },
                NewMessage {
                    workspace_id: end_user.workspace_id,
                    conversation_id: 0,
                    kind: MessageKind::System,
                    author_kind: AuthorKind::System,
                    author_id: None,
                    author_name: None,
                    body: format!(
                        "This chat continues ticket #{}: {}",
                        ticket.id, ticket.summary
                    ),
                    at: now_millis(),
                },
            )
            .await?;
        let now = now_millis();
        self.store
            .join_ticket(TicketLink {
                conversation_id: conversation.id,
                workspace_id: end_user.workspace_id,
                marker: format!("parley-join-{}-{}", conversation.id, ticket.id),
                ticket_id: Some(ticket.id),
                ticket_summary: Some(ticket.summary.clone()),
                ticket_status: ticket.status_name.clone(),
                requested_by: "end_user".to_owned(),
                created_at: now,
                linked_at: Some(now),
            })
            .await?;
        tracing::info!(
            conversation.id = conversation.id,
            ticket.id = ticket.id,
            "chat opened about a ticket"
        );

        let event = self
            .chat
            .conversation_event(end_user.workspace_id, conversation.id)
            .await?;
        self.chat.hub().publish(event);
        Ok(self.chat.conversation(&actor, conversation.id).await?)
    }

    /// The tickets linked to this end user's own conversations.
    async fn own_linked_tickets(&self, end_user: &EndUser) -> TicketResult<Vec<i64>> {
        let actor = Actor::EndUser(end_user.clone());
        let conversations = self
            .chat
            .list(&actor, crate::chat::InboxView::All, 500)
            .await?;
        let mut ids = Vec::new();
        for conversation in conversations {
            if let Some(link) = self
                .store
                .ticket_link(end_user.workspace_id, conversation.id)
                .await?
                && let Some(id) = link.ticket_id
            {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    async fn confirmed_contact(&self, end_user: &EndUser) -> TicketResult<Contact> {
        let state = self
            .contacts
            .match_for(end_user)
            .await
            .map_err(|e| TicketError::Unavailable(e.to_string()))?;
        match state.contact() {
            Some(contact) => Ok(contact.clone()),
            None => Err(TicketError::NeedsContact(
                state.explanation().unwrap_or_default().to_owned(),
            )),
        }
    }

    /// A system message in the chat, seen live by both sides.
    async fn say(
        &self,
        end_user: &EndUser,
        conversation_id: ConversationId,
        text: &str,
    ) -> TicketResult<()> {
        let (_, message) = self
            .store
            .add_message(NewMessage {
                workspace_id: end_user.workspace_id,
                conversation_id,
                kind: MessageKind::System,
                author_kind: AuthorKind::System,
                author_id: None,
                author_name: None,
                body: text.to_owned(),
                at: now_millis(),
            })
            .await?;
        let event = self
            .chat
            .message_event(end_user.workspace_id, message.id)
            .await?;
        self.chat.hub().publish(event);
        Ok(())
    }
}

/// Note text without the marker line Parley puts in a ticket it makes: the
/// marker is for finding the ticket again, not for the end user to read.
fn without_marker(text: &str) -> String {
    text.lines()
        .filter(|line| {
            !line
                .trim_start()
                .starts_with(crate::psa::halo::MARKER_PREFIX)
        })
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_owned()
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::without_marker;

    #[test]
    fn the_marker_line_is_not_shown_to_end_users() {
        let text = "Alice (10:02): the printer jams\n\nParley chat reference: parley-1-2-abc";
        assert_eq!(without_marker(text), "Alice (10:02): the printer jams");
    }
}
