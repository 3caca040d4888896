//! The fan-out hub: every chat event goes to every live socket on this
//! instance that may see it.
//!
//! Events travel on one broadcast channel; each socket filters what it may
//! see. A socket that falls too far behind misses events and is dropped (it
//! reconnects and resumes from the store), so one slow client never slows the
//! others. Messages are in the store before they reach the hub.

use crate::chat::relay::Outbound;
use crate::chat::view::{AuthorView, ConversationView, MessageView, SyncView};
use crate::store::{ConversationId, EndUserId, MessageId, WorkspaceId};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use tokio::sync::broadcast;

/// How many events a socket may fall behind before it is dropped.
const BACKLOG: usize = 1024;

/// Something that happened in a conversation, as sockets receive it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Message {
        #[serde(skip)]
        scope: Scope,
        message: MessageView,
    },
    Conversation {
        #[serde(skip)]
        scope: Scope,
        conversation: ConversationView,
    },
    Typing {
        #[serde(skip)]
        scope: Scope,
        conversation_id: ConversationId,
        author: AuthorView,
    },
    Read {
        #[serde(skip)]
        scope: Scope,
        conversation_id: ConversationId,
        message_id: MessageId,
        reader: AuthorView,
    },
    /// How a message stands with the PSA: for technicians only.
    Sync {
        #[serde(skip)]
        workspace_id: WorkspaceId,
        sync: SyncView,
    },
    /// Whether any technician is connected; for end users' "offline" state.
    Presence {
        #[serde(skip)]
        workspace_id: WorkspaceId,
        online: bool,
    },
}

/// Whose conversation an event is about, and whether it is for the help desk
/// only (an internal note).
#[derive(Debug, Clone, Copy, Default)]
pub struct Scope {
    pub workspace_id: WorkspaceId,
    pub end_user_id: EndUserId,
    pub internal: bool,
}

/// Who is listening on a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// A technician or admin sees the whole workspace, notes included.
    HelpDesk { workspace_id: WorkspaceId },
    /// An end user sees their own conversations, without notes.
    EndUser {
        workspace_id: WorkspaceId,
        end_user_id: EndUserId,
    },
}

impl Event {
    /// Whether `listener` may receive this event.
    pub fn visible_to(&self, listener: Listener) -> bool {
        let scope = match self {
            Event::Message { scope, .. }
            | Event::Conversation { scope, .. }
            | Event::Typing { scope, .. }
            | Event::Read { scope, .. } => *scope,
            Event::Presence { workspace_id, .. } => {
                return matches!(listener, Listener::EndUser { workspace_id: w, .. } if w == *workspace_id);
            }
            Event::Sync { workspace_id, .. } => {
                return matches!(listener, Listener::HelpDesk { workspace_id: w } if w == *workspace_id);
            }
        };

        match listener {
            Listener::HelpDesk { workspace_id } => workspace_id == scope.workspace_id,
            Listener::EndUser {
                workspace_id,
                end_user_id,
            } => {
                workspace_id == scope.workspace_id
                    && end_user_id == scope.end_user_id
                    && !scope.internal
            }
        }
    }
}

/// The in-process hub. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Hub {
    sender: broadcast::Sender<Arc<Event>>,
    technicians_online: Arc<AtomicUsize>,
    messages_published: Arc<AtomicU64>,
    /// Other instances to tell, when several share a PostgreSQL database.
    relay: Arc<OnceLock<Outbound>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(BACKLOG);
        Self {
            sender,
            technicians_online: Arc::new(AtomicUsize::new(0)),
            messages_published: Arc::new(AtomicU64::new(0)),
            relay: Arc::default(),
        }
    }

    /// Sends an event to every socket that may see it, on this instance and
    /// (once a relay is attached) on the others.
    pub fn publish(&self, event: Event) {
        if let Some(relay) = self.relay.get() {
            relay.send(&event);
        }
        self.publish_here(event);
    }

    /// Attaches the cross-instance relay; a second one is ignored.
    pub fn attach_relay(&self, relay: Outbound) {
        let _ = self.relay.set(relay);
    }

    /// Sends an event to this instance's sockets only: for events that came
    /// from another instance. Having no socket to deliver to is normal.
    pub fn publish_here(&self, event: Event) {
        if let Event::Message { .. } = event {
            self.messages_published.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self.sender.send(Arc::new(event));
    }

    /// How many messages this instance has published since it started.
    pub fn messages_published(&self) -> u64 {
        self.messages_published.load(Ordering::Relaxed)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// Whether any technician has a socket open on this instance.
    ///
    /// FIXME(until presence is shared between instances): with several
    /// instances, an end user on one may see "offline" while a technician is
    /// connected to another.
    pub fn help_desk_online(&self) -> bool {
        self.technicians_online.load(Ordering::Relaxed) > 0
    }

    /// Counts a technician's socket until the returned guard is dropped, and
    /// tells end users when the help desk comes online or goes offline.
    pub fn technician_connected(&self, workspace_id: WorkspaceId) -> PresenceGuard {
        if self.technicians_online.fetch_add(1, Ordering::Relaxed) == 0 {
            self.publish(Event::Presence {
                workspace_id,
                online: true,
            });
        }
        PresenceGuard {
            hub: self.clone(),
            workspace_id,
        }
    }
}

/// Keeps a technician counted as online while their socket lives.
#[derive(Debug)]
pub struct PresenceGuard {
    hub: Hub,
    workspace_id: WorkspaceId,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        if self.hub.technicians_online.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.hub.publish(Event::Presence {
                workspace_id: self.workspace_id,
                online: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AuthorKind;

    fn typing(internal: bool) -> Event {
        Event::Typing {
            scope: Scope {
                workspace_id: 1,
                end_user_id: 7,
                internal,
            },
            conversation_id: 3,
            author: AuthorView {
                kind: AuthorKind::Technician,
                id: Some(1),
                name: "Alex".to_owned(),
            },
        }
    }

    #[test]
    fn an_end_user_sees_only_their_own_and_never_internal_events() {
        let own = Listener::EndUser {
            workspace_id: 1,
            end_user_id: 7,
        };
        let other = Listener::EndUser {
            workspace_id: 1,
            end_user_id: 8,
        };

        assert!(typing(false).visible_to(own));
        assert!(!typing(false).visible_to(other));
        assert!(!typing(true).visible_to(own));
    }

    #[test]
    fn the_help_desk_sees_its_workspace_only() {
        assert!(typing(true).visible_to(Listener::HelpDesk { workspace_id: 1 }));
        assert!(!typing(false).visible_to(Listener::HelpDesk { workspace_id: 2 }));
    }

    #[test]
    fn presence_follows_the_first_and_last_technician() {
        let hub = Hub::new();
        let mut events = hub.subscribe();

        let first = hub.technician_connected(1);
        let second = hub.technician_connected(1);
        assert!(hub.help_desk_online());
        drop(first);
        assert!(hub.help_desk_online());
        drop(second);
        assert!(!hub.help_desk_online());

        let online: Vec<bool> = std::iter::from_fn(|| events.try_recv().ok())
            .filter_map(|event| match *event {
                Event::Presence { online, .. } => Some(online),
                _ => None,
            })
            .collect();
        assert_eq!(online, [true, false]);
    }

    #[test]
    fn events_serialise_with_their_type_and_without_their_scope() {
        let json = serde_json::to_value(typing(false)).unwrap();
        assert_eq!(json["type"], "typing");
        assert_eq!(json["conversation_id"], 3);
        assert!(json.get("scope").is_none());
    }
}
