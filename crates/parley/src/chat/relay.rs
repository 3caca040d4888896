//! Fan-out across instances: with PostgreSQL, each instance tells the others
//! about its events through `LISTEN/NOTIFY` on one channel.
//!
//! A notification is a hint, not the data: messages and conversation changes
//! travel as ids and each instance reads them back from the database, which
//! stays the source of truth (and keeps payloads far below PostgreSQL's 8000
//! byte limit). Typing and read events, which are never stored, travel whole.
//! Notifications sent while a listener reconnects are lost, so after every
//! reconnect the listener replays from the store what it may have missed.

use crate::chat::Chat;
use crate::chat::hub::{Event, Scope};
use crate::chat::view::AuthorView;
use crate::store::{ResumeQuery, StoreError};
use serde::{Deserialize, Serialize};
use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgListener};
use std::time::Duration;
use tokio::sync::mpsc;

/// The one channel every instance listens on.
const CHANNEL: &str = "parley_events";

/// What crosses between instances.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Note {
    /// The instance that sent it, so that it ignores its own.
    origin: String,
    #[serde(flatten)]
    what: NoteKind,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum NoteKind {
    Message {
        workspace_id: i64,
        message_id: i64,
    },
    Conversation {
        workspace_id: i64,
        conversation_id: i64,
    },
    Typing {
        workspace_id: i64,
        end_user_id: i64,
        conversation_id: i64,
        author: AuthorView,
    },
    Read {
        workspace_id: i64,
        end_user_id: i64,
        conversation_id: i64,
        message_id: i64,
        reader: AuthorView,
    },
}

impl NoteKind {
    /// The note for an event, or `None` for what stays on this instance
    /// (presence is per instance).
    fn of(event: &Event) -> Option<Self> {
        Some(match event {
            Event::Message { scope, message } => NoteKind::Message {
                workspace_id: scope.workspace_id,
                message_id: message.id,
            },
            Event::Conversation {
                scope,
                conversation,
            } => NoteKind::Conversation {
                workspace_id: scope.workspace_id,
                conversation_id: conversation.id,
            },
            Event::Typing {
                scope,
                conversation_id,
                author,
            } => NoteKind::Typing {
                workspace_id: scope.workspace_id,
                end_user_id: scope.end_user_id,
                conversation_id: *conversation_id,
                author: author.clone(),
            },
            Event::Read {
                scope,
                conversation_id,
                message_id,
                reader,
            } => NoteKind::Read {
                workspace_id: scope.workspace_id,
                end_user_id: scope.end_user_id,
                conversation_id: *conversation_id,
                message_id: *message_id,
                reader: reader.clone(),
            },
            // Presence is per instance.
            // FIXME(until sync states cross instances): a console on another
            // instance sees a message's new sync state on its next load.
            Event::Presence { .. } | Event::Sync { .. } => return None,
        })
    }
}

/// The sending half, held by the hub: events go out in the order published.
#[derive(Debug, Clone)]
pub struct Outbound {
    origin: String,
    sender: mpsc::UnboundedSender<Note>,
}

impl Outbound {
    pub fn send(&self, event: &Event) {
        if let Some(what) = NoteKind::of(event) {
            let note = Note {
                origin: self.origin.clone(),
                what,
            };
            // The relay ends only with the process; a send then is moot.
            let _ = self.sender.send(note);
        }
    }
}

/// Starts relaying: notifies other instances of this one's events and
/// publishes theirs here. Returns the outbound half for the hub.
pub async fn start(
    database_url: &str,
    chat: Chat,
    workspace_id: i64,
) -> Result<Outbound, StoreError> {
    let origin = uuid::Uuid::new_v4().to_string();
    let (sender, receiver) = mpsc::unbounded_channel();

    let notifier = PgConnection::connect(database_url).await?;
    let mut listener = PgListener::connect(database_url).await?;
    listener.listen(CHANNEL).await?;

    tokio::spawn(notify_loop(notifier, database_url.to_owned(), receiver));
    tokio::spawn(listen_loop(listener, chat, origin.clone(), workspace_id));

    tracing::info!(instance = %origin, "cross-instance fan-out on PostgreSQL");
    Ok(Outbound { origin, sender })
}

async fn notify_loop(
    mut connection: PgConnection,
    database_url: String,
    mut notes: mpsc::UnboundedReceiver<Note>,
) {
    while let Some(note) = notes.recv().await {
        let Ok(payload) = serde_json::to_string(&note) else {
            continue;
        };

        // One retry on a fresh connection: a lost note is not a lost message
        // (it is in the store), but live delivery elsewhere would lag until
        // the other side's next reconnect.
        for attempt in 0..2 {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(&payload)
                .execute(&mut connection)
                .await;
            match sent {
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, attempt, "could not notify other instances");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    match PgConnection::connect(&database_url).await {
                        Ok(fresh) => connection = fresh,
                        Err(error) => tracing::error!(%error, "could not reconnect the notifier"),
                    }
                }
            }
        }
    }
}

async fn listen_loop(mut listener: PgListener, chat: Chat, origin: String, workspace_id: i64) {
    // The newest message id this instance knows of: where to replay from
    // after a reconnect.
    let mut newest_seen = chat
        .newest_message_id(workspace_id)
        .await
        .unwrap_or_default();

    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                let Ok(note) = serde_json::from_str::<Note>(notification.payload()) else {
                    tracing::warn!("ignored a notification that is not Parley's");
                    continue;
                };
                if note.origin == origin {
                    continue;
                }
                if let NoteKind::Message { message_id, .. } = note.what {
                    newest_seen = newest_seen.max(message_id);
                }
                if let Err(error) = publish_here(&chat, note.what).await {
                    tracing::error!(%error, "could not publish another instance's event");
                }
            }
            Ok(None) => {
                tracing::warn!("fan-out listener reconnected; replaying what it may have missed");
                newest_seen = catch_up(&chat, workspace_id, newest_seen).await;
            }
            Err(error) => {
                tracing::error!(%error, "fan-out listener failed; retrying in a second");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Publishes, on this instance, every message stored after `after`.
async fn catch_up(chat: &Chat, workspace_id: i64, after: i64) -> i64 {
    let missed = chat
        .store()
        .messages_after(ResumeQuery {
            workspace_id,
            end_user: None,
            after,
            include_notes: true,
            limit: 10_000,
        })
        .await;
    let Ok(missed) = missed else {
        return after;
    };

    let mut newest = after;
    for message in missed {
        newest = newest.max(message.id);
        let what = NoteKind::Message {
            workspace_id,
            message_id: message.id,
        };
        if let Err(error) = publish_here(chat, what).await {
            tracing::error!(%error, "could not replay a missed message");
        }
    }
    newest
}

/// Rebuilds an event from a note (reading stored things back) and gives it
/// to this instance's sockets, without sending it on again.
async fn publish_here(chat: &Chat, what: NoteKind) -> Result<(), crate::chat::ChatError> {
    let event = match what {
        NoteKind::Message {
            workspace_id,
            message_id,
        } => chat.message_event(workspace_id, message_id).await?,
        NoteKind::Conversation {
            workspace_id,
            conversation_id,
        } => {
            chat.conversation_event(workspace_id, conversation_id)
                .await?
        }
        NoteKind::Typing {
            workspace_id,
            end_user_id,
            conversation_id,
            author,
        } => Event::Typing {
            scope: Scope {
                workspace_id,
                end_user_id,
                internal: false,
            },
            conversation_id,
            author,
        },
        NoteKind::Read {
            workspace_id,
            end_user_id,
            conversation_id,
            message_id,
            reader,
        } => Event::Read {
            scope: Scope {
                workspace_id,
                end_user_id,
                internal: false,
            },
            conversation_id,
            message_id,
            reader,
        },
    };
    chat.hub().publish_here(event);
    Ok(())
}
