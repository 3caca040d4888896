//! The chat core: conversations between an end user and the help desk, and
//! the rules of who may see and do what.
//!
//! [`Chat`] is the one place those rules live: the API, the WebSocket and the
//! pages all go through it. Every change is persisted in the store first and
//! only then published to the [`hub::Hub`].

/// The fan-out hub and the events it carries.
pub mod hub;
/// Technicians' names for views, kept for a few seconds.
pub mod names;
/// Fan-out across instances through PostgreSQL's `LISTEN/NOTIFY`.
pub mod relay;
/// Message text made safe for a page.
pub mod text;
/// The JSON shapes clients see.
pub mod view;

use crate::store::{
    Account, Attachment, AuthorKind, ConversationChange, ConversationFilter, ConversationId,
    ConversationQuery, ConversationStatus, EndUser, MessageId, MessageKind, MessagePage,
    NewAttachment, NewConversation, NewMessage, ReadReceipt, ResumeQuery, Store, StoreError,
    WorkspaceId, now_millis,
};
use hub::{Event, Hub, Listener, Scope};
use names::TechnicianNames;
use std::sync::Arc;
use view::{AuthorView, ConversationView, MessageView, Names};

/// What went wrong, in the cases a caller shows differently.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// Not there, or not theirs to see: the two look the same from outside,
    /// so that ids cannot be probed.
    #[error("{0} not found")]
    NotFound(&'static str),

    #[error("{0}")]
    Forbidden(&'static str),

    #[error("{0}")]
    Invalid(String),

    #[error("{0}")]
    TooLarge(String),

    #[error("{0}")]
    UnsupportedType(String),

    #[error("{0}")]
    Conflict(String),

    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ChatError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(what) => ChatError::NotFound(what),
            StoreError::Conflict(why) => ChatError::Conflict(why),
            other => ChatError::Store(other),
        }
    }
}

pub type ChatResult<T> = Result<T, ChatError>;

/// Who is acting, as authentication established it.
#[derive(Debug, Clone)]
pub enum Actor {
    EndUser(EndUser),
    Technician(Account),
}

impl Actor {
    pub fn workspace_id(&self) -> WorkspaceId {
        match self {
            Actor::EndUser(user) => user.workspace_id,
            Actor::Technician(account) => account.workspace_id,
        }
    }

    pub fn listener(&self) -> Listener {
        match self {
            Actor::EndUser(user) => Listener::EndUser {
                workspace_id: user.workspace_id,
                end_user_id: user.id,
            },
            Actor::Technician(account) => Listener::HelpDesk {
                workspace_id: account.workspace_id,
            },
        }
    }

    fn author(&self) -> AuthorView {
        match self {
            Actor::EndUser(user) => AuthorView {
                kind: AuthorKind::EndUser,
                id: Some(user.id),
                name: user.name.clone(),
            },
            Actor::Technician(account) => AuthorView {
                kind: AuthorKind::Technician,
                id: Some(account.id),
                name: account.name.clone(),
            },
        }
    }

    fn is_help_desk(&self) -> bool {
        matches!(self, Actor::Technician(_))
    }
}

/// The size and type limits on what users send.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// The longest message, in characters.
    pub max_message_chars: usize,
    /// The largest attachment, in bytes.
    pub max_attachment_bytes: usize,
    /// Content types an attachment may have.
    pub attachment_types: Vec<String>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_chars: 4000,
            max_attachment_bytes: 10 * 1024 * 1024,
            attachment_types: [
                "image/png",
                "image/jpeg",
                "image/gif",
                "image/webp",
                "application/pdf",
                "text/plain",
                "text/csv",
                "application/zip",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ]
            .map(str::to_owned)
            .to_vec(),
        }
    }
}

/// Which conversations a technician's inbox shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InboxView {
    Waiting,
    Mine,
    All,
    Closed,
}

/// A file someone sends into a conversation.
#[derive(Debug)]
pub struct Upload {
    pub file_name: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// The chat service. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Chat {
    store: Arc<dyn Store>,
    hub: Hub,
    limits: Arc<Limits>,
    names: TechnicianNames,
}

/// The longest subject, in characters; longer ones are cut.
const SUBJECT_CHARS: usize = 120;

impl Chat {
    pub fn new(store: Arc<dyn Store>, hub: Hub, limits: Limits) -> Self {
        Self {
            store,
            hub,
            limits: Arc::new(limits),
            names: TechnicianNames::default(),
        }
    }

    /// The technicians' names views show; the account service forgets them
    /// when it changes an account, so views never wait out the cache.
    pub fn technician_names(&self) -> &TechnicianNames {
        &self.names
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The store itself, for a service that keeps it (an outbox worker built
    /// beside the server's, in tests). SQLite needs one shared store per
    /// process: its writer turn is kept inside it.
    pub fn shared_store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The event for a stored message, as its author's instance published it:
    /// how another instance rebuilds it from an id.
    pub async fn message_event(
        &self,
        workspace_id: WorkspaceId,
        id: MessageId,
    ) -> ChatResult<Event> {
        let message = self.store.message(workspace_id, id).await?;
        let conversation = self
            .store
            .conversation(workspace_id, message.conversation_id)
            .await?;
        let end_user = self
            .store
            .end_user(workspace_id, conversation.end_user_id)
            .await?;

        let names = self
            .names(&[&end_user], authored(&message).as_slice())
            .await?;
        let view = names.message(&message);
        Ok(Event::Message {
            scope: scope(&end_user, !view.visible_to_end_users()),
            message: view,
        })
    }

    /// The event for a conversation's current state, rebuilt from its id.
    pub async fn conversation_event(
        &self,
        workspace_id: WorkspaceId,
        id: ConversationId,
    ) -> ChatResult<Event> {
        let conversation = self.store.conversation(workspace_id, id).await?;
        let end_user = self
            .store
            .end_user(workspace_id, conversation.end_user_id)
            .await?;

        let names = self
            .names(&[&end_user], conversation.technician_id.as_slice())
            .await?;
        Ok(Event::Conversation {
            scope: scope(&end_user, false),
            conversation: names.conversation(&conversation, &end_user),
        })
    }

    /// The newest message id in the workspace (0 when there is none).
    pub async fn newest_message_id(&self, workspace_id: WorkspaceId) -> ChatResult<MessageId> {
        Ok(self.store.newest_message_id(workspace_id).await?)
    }

    /// An end user starts a conversation with its first message.
    pub async fn start(
        &self,
        actor: &Actor,
        subject: Option<&str>,
        body: &str,
    ) -> ChatResult<(ConversationView, MessageView)> {
        let Actor::EndUser(user) = actor else {
            return Err(ChatError::Forbidden(
                "only an end user can start a conversation",
            ));
        };
        let body = self.check_body(body)?;
        let subject = subject
            .map(str::trim)
            .filter(|subject| !subject.is_empty())
            .unwrap_or(body);
        let subject = cut(subject.lines().next().unwrap_or(subject), SUBJECT_CHARS);

        let (conversation, message) = self
            .store
            .create_conversation(
                NewConversation {
                    workspace_id: user.workspace_id,
                    end_user_id: user.id,
                    subject,
                },
                NewMessage {
                    workspace_id: user.workspace_id,
                    conversation_id: 0,
                    kind: MessageKind::Text,
                    author_kind: AuthorKind::EndUser,
                    author_id: Some(user.id),
                    author_name: None,
                    body: body.to_owned(),
                    at: now_millis(),
                },
            )
            .await?;
        tracing::info!(
            conversation.id = conversation.id,
            end_user.id = user.id,
            "conversation started"
        );

        let names = self.names(&[user], &[]).await?;
        let conversation = names.conversation(&conversation, user);
        let message = names.message(&message);
        self.publish_conversation(&conversation, user);
        self.publish_message(&message, user);
        Ok((conversation, message))
    }

    /// Sends a text message, or for technicians an internal note.
    pub async fn post(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        body: &str,
        internal: bool,
    ) -> ChatResult<MessageView> {
        if internal && !actor.is_help_desk() {
            return Err(ChatError::Forbidden(
                "only technicians write internal notes",
            ));
        }
        let body = self.check_body(body)?;
        let (before, end_user) = self.visible(actor, conversation_id).await?;

        let kind = if internal {
            MessageKind::Note
        } else {
            MessageKind::Text
        };
        let message = self.new_message(actor, conversation_id, kind, body);
        let (after, message) = self.store.add_message(message).await?;

        self.announce(actor, before.status, after, message, &end_user)
            .await
    }

    /// Sends a file as a message of its own.
    pub async fn attach(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        upload: Upload,
    ) -> ChatResult<MessageView> {
        let file_name = clean_file_name(&upload.file_name)?;
        let content_type = self.check_upload(&upload)?;
        let (before, end_user) = self.visible(actor, conversation_id).await?;

        let message = self.new_message(actor, conversation_id, MessageKind::Attachment, "");
        let attachment = NewAttachment {
            workspace_id: actor.workspace_id(),
            conversation_id,
            file_name,
            content_type,
            data: upload.data,
        };
        let (after, message) = self.store.add_attachment(attachment, message).await?;

        self.announce(actor, before.status, after, message, &end_user)
            .await
    }

    /// An attachment's bytes, for a participant of its conversation.
    pub async fn attachment(&self, actor: &Actor, id: i64) -> ChatResult<Attachment> {
        let attachment = self.store.attachment(actor.workspace_id(), id).await?;
        self.visible(actor, attachment.conversation_id)
            .await
            .map_err(|_| ChatError::NotFound("attachment"))?;
        Ok(attachment)
    }

    /// One conversation, if the actor may see it.
    pub async fn conversation(
        &self,
        actor: &Actor,
        id: ConversationId,
    ) -> ChatResult<ConversationView> {
        let (conversation, end_user) = self.visible(actor, id).await?;
        let names = self
            .names(&[&end_user], conversation.technician_id.as_slice())
            .await?;
        Ok(names.conversation(&conversation, &end_user))
    }

    /// An end user's own conversations, or a technician's inbox view.
    pub async fn list(
        &self,
        actor: &Actor,
        inbox: InboxView,
        limit: i64,
    ) -> ChatResult<Vec<ConversationView>> {
        let filter = match (actor, inbox) {
            (Actor::EndUser(user), _) => ConversationFilter::EndUser(user.id),
            (Actor::Technician(_), InboxView::Waiting) => ConversationFilter::Waiting,
            (Actor::Technician(account), InboxView::Mine) => {
                ConversationFilter::ClaimedBy(account.id)
            }
            (Actor::Technician(_), InboxView::All) => ConversationFilter::Open,
            (Actor::Technician(_), InboxView::Closed) => ConversationFilter::Closed,
        };
        let conversations = self
            .store
            .conversations(ConversationQuery {
                workspace_id: actor.workspace_id(),
                filter,
                limit: limit.clamp(1, 500),
            })
            .await?;

        let mut end_users = Vec::with_capacity(conversations.len());
        for conversation in &conversations {
            end_users.push(self.end_user_of(actor, conversation.end_user_id).await?);
        }
        let technicians: Vec<_> = conversations
            .iter()
            .filter_map(|c| c.technician_id)
            .collect();
        let names = self
            .names(&end_users.iter().collect::<Vec<_>>(), &technicians)
            .await?;
        Ok(conversations
            .iter()
            .zip(&end_users)
            .map(|(conversation, end_user)| names.conversation(conversation, end_user))
            .collect())
    }

    /// A page of history, oldest first; end users never see notes.
    pub async fn history(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        before: Option<MessageId>,
        limit: i64,
    ) -> ChatResult<(Vec<MessageView>, bool)> {
        let (_, end_user) = self.visible(actor, conversation_id).await?;
        let limit = limit.clamp(1, 200);

        // One more than asked tells whether there is an earlier page.
        let mut messages = self
            .store
            .messages(MessagePage {
                workspace_id: actor.workspace_id(),
                conversation_id,
                before,
                limit: limit + 1,
                include_notes: actor.is_help_desk(),
            })
            .await?;
        let has_more = messages.len() as i64 > limit;
        if has_more {
            messages.remove(0);
        }

        let names = self.names(&[&end_user], &technicians_in(&messages)).await?;
        Ok((
            messages.iter().map(|m| names.message(m)).collect(),
            has_more,
        ))
    }

    /// What a reconnecting socket missed after message `after`.
    pub async fn missed(&self, actor: &Actor, after: MessageId) -> ChatResult<Vec<MessageView>> {
        let end_user = match actor {
            Actor::EndUser(user) => Some(user.id),
            Actor::Technician(_) => None,
        };
        let messages = self
            .store
            .messages_after(ResumeQuery {
                workspace_id: actor.workspace_id(),
                end_user,
                after,
                include_notes: actor.is_help_desk(),
                limit: 1000,
            })
            .await?;

        let names = match actor {
            Actor::EndUser(user) => self.names(&[user], &technicians_in(&messages)).await?,
            Actor::Technician(_) => self.names_for_messages(actor, &messages).await?,
        };
        Ok(messages.iter().map(|m| names.message(m)).collect())
    }

    /// A technician takes a waiting conversation.
    pub async fn claim(&self, actor: &Actor, id: ConversationId) -> ChatResult<ConversationView> {
        let account = technician(actor)?;
        self.change(actor, id, |current| {
            if current.status == ConversationStatus::Active
                && current.technician_id == Some(account.id)
            {
                return Err(ChatError::Conflict(
                    "you have already claimed this chat".into(),
                ));
            }
            Ok(ConversationChange {
                workspace_id: account.workspace_id,
                id,
                expected_status: vec![ConversationStatus::Waiting],
                expected_technician: None,
                status: ConversationStatus::Active,
                technician_id: Some(account.id),
                psa_status: None,
                at: now_millis(),
            })
        })
        .await
    }

    /// Hands an open conversation to another technician.
    pub async fn transfer(
        &self,
        actor: &Actor,
        id: ConversationId,
        to: i64,
    ) -> ChatResult<ConversationView> {
        let account = technician(actor)?;
        let target = self
            .store
            .account(account.workspace_id, to)
            .await
            .map_err(|_| ChatError::Invalid("there is no such technician".to_owned()))?;

        self.change(actor, id, |current| {
            if current.technician_id == Some(target.id) {
                return Err(ChatError::Conflict(format!(
                    "{} already has this chat",
                    target.name
                )));
            }
            Ok(ConversationChange {
                workspace_id: account.workspace_id,
                id,
                expected_status: vec![ConversationStatus::Waiting, ConversationStatus::Active],
                expected_technician: Some(current.technician_id),
                status: ConversationStatus::Active,
                technician_id: Some(target.id),
                psa_status: None,
                at: now_millis(),
            })
        })
        .await
    }

    /// Closes a conversation; the end user or any technician may.
    pub async fn close(&self, actor: &Actor, id: ConversationId) -> ChatResult<ConversationView> {
        self.close_with_ticket(actor, id, None).await
    }

    /// Closes a conversation and, when a technician asks, gives its ticket a
    /// status in the PSA (queued with the close, sent by the outbox).
    pub async fn close_with_ticket(
        &self,
        actor: &Actor,
        id: ConversationId,
        ticket_status: Option<i64>,
    ) -> ChatResult<ConversationView> {
        if ticket_status.is_some() && !actor.is_help_desk() {
            return Err(ChatError::Forbidden("only technicians close tickets"));
        }
        let workspace_id = actor.workspace_id();
        self.change(actor, id, |current| {
            if current.status == ConversationStatus::Closed {
                return Err(ChatError::Conflict("the chat is already closed".into()));
            }
            Ok(ConversationChange {
                workspace_id,
                id,
                expected_status: vec![current.status],
                expected_technician: Some(current.technician_id),
                status: ConversationStatus::Closed,
                technician_id: current.technician_id,
                psa_status: ticket_status,
                at: now_millis(),
            })
        })
        .await
    }

    /// Tells the other side that someone is typing. Nothing is stored.
    pub async fn typing(&self, actor: &Actor, id: ConversationId) -> ChatResult<()> {
        let (_, end_user) = self.visible(actor, id).await?;
        self.hub.publish(Event::Typing {
            scope: scope(&end_user, false),
            conversation_id: id,
            author: actor.author(),
        });
        Ok(())
    }

    /// Records that the actor has read up to a message, and tells the others.
    pub async fn read(
        &self,
        actor: &Actor,
        id: ConversationId,
        message_id: MessageId,
    ) -> ChatResult<()> {
        let (_, end_user) = self.visible(actor, id).await?;
        let not_here = || ChatError::Invalid("that message is not in this conversation".into());
        let message = match self.store.message(actor.workspace_id(), message_id).await {
            Ok(message) => message,
            Err(StoreError::NotFound(_)) => return Err(not_here()),
            Err(other) => return Err(other.into()),
        };
        // An end user may not learn of a note's id by reading "up to" it.
        let hidden = message.kind == MessageKind::Note && !actor.is_help_desk();
        if message.conversation_id != id || hidden {
            return Err(not_here());
        }

        let author = actor.author();
        self.store
            .mark_read(ReadReceipt {
                conversation_id: id,
                reader_kind: author.kind,
                reader_id: author.id.unwrap_or_default(),
                message_id,
                at: now_millis(),
            })
            .await?;
        // Reading up to a note is the help desk's business only.
        self.hub.publish(Event::Read {
            scope: scope(&end_user, message.kind == MessageKind::Note),
            conversation_id: id,
            message_id,
            reader: author,
        });
        Ok(())
    }

    /// The conversation and its end user, if the actor may see it. Someone
    /// else's conversation is "not found", exactly like a missing one.
    async fn visible(
        &self,
        actor: &Actor,
        id: ConversationId,
    ) -> ChatResult<(crate::store::Conversation, EndUser)> {
        let conversation = self.store.conversation(actor.workspace_id(), id).await?;
        match actor {
            Actor::EndUser(user) if conversation.end_user_id != user.id => {
                tracing::warn!(
                    end_user.id = user.id,
                    conversation.id = id,
                    "end user asked for a conversation that is not theirs"
                );
                Err(ChatError::NotFound("conversation"))
            }
            Actor::EndUser(user) => Ok((conversation, user.clone())),
            Actor::Technician(_) => {
                let end_user = self
                    .store
                    .end_user(conversation.workspace_id, conversation.end_user_id)
                    .await?;
                Ok((conversation, end_user))
            }
        }
    }

    async fn end_user_of(&self, actor: &Actor, id: i64) -> ChatResult<EndUser> {
        match actor {
            Actor::EndUser(user) => Ok(user.clone()),
            Actor::Technician(_) => Ok(self.store.end_user(actor.workspace_id(), id).await?),
        }
    }

    async fn change(
        &self,
        actor: &Actor,
        id: ConversationId,
        decide: impl FnOnce(&crate::store::Conversation) -> ChatResult<ConversationChange>,
    ) -> ChatResult<ConversationView> {
        let (current, end_user) = self.visible(actor, id).await?;
        let change = decide(&current)?;

        let updated = self.store.change_conversation(change).await?;
        tracing::info!(
            conversation.id = id,
            status = %updated.status,
            technician.id = updated.technician_id,
            "conversation changed"
        );

        let technicians: Vec<_> = [current.technician_id, updated.technician_id]
            .into_iter()
            .flatten()
            .collect();
        let names = self.names(&[&end_user], &technicians).await?;
        let view = names.conversation(&updated, &end_user);
        self.publish_conversation(&view, &end_user);

        // Both sides see what happened, in the history as well as live.
        let said = match (current.technician_id, updated.technician_id, updated.status) {
            (_, _, ConversationStatus::Closed) => {
                format!("{} closed the chat.", actor.author().name)
            }
            (None, Some(joined), _) => format!("{} joined the chat.", names.technician(joined)),
            (Some(from), Some(to), _) if from != to => format!(
                "{} handed the chat to {}.",
                names.technician(from),
                names.technician(to)
            ),
            _ => return Ok(view),
        };
        let system = NewMessage {
            workspace_id: updated.workspace_id,
            conversation_id: id,
            kind: MessageKind::System,
            author_kind: AuthorKind::System,
            author_id: None,
            author_name: None,
            body: said,
            at: now_millis(),
        };
        let (_, message) = self.store.add_message(system).await?;
        self.publish_message(&names.message(&message), &end_user);
        Ok(view)
    }

    /// Publishes a new message, and the conversation too when its state moved
    /// (a closed chat reopened by the end user).
    async fn announce(
        &self,
        actor: &Actor,
        status_before: ConversationStatus,
        after: crate::store::Conversation,
        message: crate::store::Message,
        end_user: &EndUser,
    ) -> ChatResult<MessageView> {
        let technicians: Vec<_> = [authored(&message), after.technician_id]
            .into_iter()
            .flatten()
            .collect();
        let names = self.names(&[end_user], &technicians).await?;
        let view = names.message(&message);
        self.publish_message(&view, end_user);

        if after.status != status_before {
            tracing::info!(conversation.id = after.id, status = %after.status, "conversation reopened");
            self.publish_conversation(&names.conversation(&after, end_user), end_user);
        }
        tracing::debug!(message.id = view.id, kind = %message.kind, by = ?actor.author().kind, "message posted");
        Ok(view)
    }

    fn publish_message(&self, message: &MessageView, end_user: &EndUser) {
        self.hub.publish(Event::Message {
            scope: scope(end_user, !message.visible_to_end_users()),
            message: message.clone(),
        });
    }

    fn publish_conversation(&self, conversation: &ConversationView, end_user: &EndUser) {
        self.hub.publish(Event::Conversation {
            scope: scope(end_user, false),
            conversation: conversation.clone(),
        });
    }

    fn new_message(
        &self,
        actor: &Actor,
        conversation_id: ConversationId,
        kind: MessageKind,
        body: &str,
    ) -> NewMessage {
        let author = actor.author();
        NewMessage {
            workspace_id: actor.workspace_id(),
            conversation_id,
            kind,
            author_kind: author.kind,
            author_id: author.id,
            author_name: None,
            body: body.to_owned(),
            at: now_millis(),
        }
    }

    /// The names for views of the end users given and of the technicians
    /// `wanted` (the ones the views will name), from the cache when it knows
    /// them all.
    async fn names(&self, end_users: &[&EndUser], wanted: &[i64]) -> ChatResult<Names> {
        let workspace = end_users.first().map_or(1, |user| user.workspace_id);
        let technicians = self.names.get(&*self.store, workspace, wanted).await?;
        Ok(Names::with_technicians(technicians, end_users))
    }

    async fn names_for_messages(
        &self,
        actor: &Actor,
        messages: &[crate::store::Message],
    ) -> ChatResult<Names> {
        let mut ids: Vec<i64> = messages
            .iter()
            .filter(|m| m.author_kind == AuthorKind::EndUser)
            .filter_map(|m| m.author_id)
            .collect();
        ids.sort_unstable();
        ids.dedup();

        let mut end_users = Vec::with_capacity(ids.len());
        for id in ids {
            end_users.push(self.store.end_user(actor.workspace_id(), id).await?);
        }
        let technicians = self
            .names
            .get(
                &*self.store,
                actor.workspace_id(),
                &technicians_in(messages),
            )
            .await?;
        Ok(Names::with_technicians(
            technicians,
            &end_users.iter().collect::<Vec<_>>(),
        ))
    }

    fn check_body<'a>(&self, body: &'a str) -> ChatResult<&'a str> {
        let body = body.trim();
        if body.is_empty() {
            return Err(ChatError::Invalid("the message is empty".to_owned()));
        }
        let chars = body.chars().count();
        if chars > self.limits.max_message_chars {
            return Err(ChatError::TooLarge(format!(
                "the message is {chars} characters long; the limit is {}",
                self.limits.max_message_chars
            )));
        }
        Ok(body)
    }

    fn check_upload(&self, upload: &Upload) -> ChatResult<String> {
        if upload.data.is_empty() {
            return Err(ChatError::Invalid("the file is empty".to_owned()));
        }
        if upload.data.len() > self.limits.max_attachment_bytes {
            return Err(ChatError::TooLarge(format!(
                "the file is {} bytes; the limit is {} bytes",
                upload.data.len(),
                self.limits.max_attachment_bytes
            )));
        }

        // Parameters such as `; charset=utf-8` do not change what the file is.
        let content_type = upload
            .content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if !self.limits.attachment_types.contains(&content_type) {
            return Err(ChatError::UnsupportedType(format!(
                "files of type {content_type} cannot be sent; allowed are: {}",
                self.limits.attachment_types.join(", ")
            )));
        }
        Ok(content_type)
    }
}

/// The technician who wrote a message, if one did.
fn authored(message: &crate::store::Message) -> Option<i64> {
    match message.author_kind {
        AuthorKind::Technician => message.author_id,
        _ => None,
    }
}

/// The technicians who wrote any of `messages`.
fn technicians_in(messages: &[crate::store::Message]) -> Vec<i64> {
    let mut ids: Vec<i64> = messages.iter().filter_map(authored).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

fn technician(actor: &Actor) -> ChatResult<&Account> {
    match actor {
        Actor::Technician(account) => Ok(account),
        Actor::EndUser(_) => Err(ChatError::Forbidden("only technicians can do that")),
    }
}

fn scope(end_user: &EndUser, internal: bool) -> Scope {
    Scope {
        workspace_id: end_user.workspace_id,
        end_user_id: end_user.id,
        internal,
    }
}

/// Cuts text to at most `max` characters, marking the cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// A file name safe to store and to put in a download header: no path, no
/// control characters, not empty.
pub(crate) fn clean_file_name(name: &str) -> ChatResult<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let clean: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .collect::<String>()
        .trim()
        .to_owned();
    if clean.is_empty() || clean == "." || clean == ".." {
        return Err(ChatError::Invalid("the file has no name".to_owned()));
    }
    Ok(cut(&clean, 200))
}

#[cfg(test)]
mod tests;
