//! The fan-out hub: every chat event goes to every live socket on this
//! instance that may see it.
//!
//! Sockets subscribe by who they are: the help desk of a workspace, or one end
//! user. An event is serialised to its frame once and sent only to the
//! listeners that may see it, so a message wakes the sockets that show it and
//! not every socket on the instance. A socket that falls too far behind misses
//! events and is dropped (it reconnects and resumes from the store), so one
//! slow client never slows the others. Messages are in the store before they
//! reach the hub.

use crate::chat::relay::Outbound;
use crate::chat::view::{AuthorView, ConversationView, MessageView, SyncView};
use crate::store::{ConversationId, EndUserId, MessageId, WorkspaceId};
use axum::extract::ws::Utf8Bytes;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tokio::sync::broadcast;

/// How many events an in-process subscriber (the outbox worker) may fall
/// behind before it misses some.
const BACKLOG: usize = 1024;
/// How many events a help desk's socket may fall behind before it is dropped:
/// it sees all of its workspace's traffic.
const HELP_DESK_BACKLOG: usize = 1024;
/// The same for an end user's socket, which sees only its own conversations.
/// Every end user online holds one such queue, so it is kept small; a socket
/// that overflows it resumes from the store and loses nothing.
const END_USER_BACKLOG: usize = 64;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// The listeners who may see this event, other than end users told of
    /// presence (who are found by workspace); `None` for presence.
    fn audience(&self) -> Option<(Listener, Option<Listener>)> {
        let scope = match self {
            Event::Message { scope, .. }
            | Event::Conversation { scope, .. }
            | Event::Typing { scope, .. }
            | Event::Read { scope, .. } => *scope,
            Event::Sync { workspace_id, .. } => {
                let help_desk = Listener::HelpDesk {
                    workspace_id: *workspace_id,
                };
                return Some((help_desk, None));
            }
            Event::Presence { .. } => return None,
        };

        let help_desk = Listener::HelpDesk {
            workspace_id: scope.workspace_id,
        };
        let end_user = (!scope.internal).then_some(Listener::EndUser {
            workspace_id: scope.workspace_id,
            end_user_id: scope.end_user_id,
        });
        Some((help_desk, end_user))
    }

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

/// An event on its way to sockets, with its frame serialised once for all.
#[derive(Debug)]
pub struct Delivery {
    pub event: Arc<Event>,
    /// The JSON text frame, as the client protocol writes the event.
    pub frame: Utf8Bytes,
}

/// The live sockets' queues, one per listener; a queue is removed when its
/// last socket goes.
type Routes = Arc<Mutex<HashMap<Listener, broadcast::Sender<Arc<Delivery>>>>>;

/// The in-process hub. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Hub {
    /// Every event, for in-process subscribers that are not sockets.
    sender: broadcast::Sender<Arc<Event>>,
    routes: Routes,
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
            routes: Arc::default(),
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
        let event = Arc::new(event);

        self.deliver(&event);

        let _ = self.sender.send(event);
    }

    /// Sends the event's frame to the sockets that may see it.
    fn deliver(&self, event: &Arc<Event>) {
        // Serialised outside the lock, so publishers only queue under it.
        let frame = match serde_json::to_string(&**event) {
            Ok(frame) => Utf8Bytes::from(frame),
            Err(error) => {
                tracing::error!(%error, "an event could not be serialised");
                return;
            }
        };
        let delivery = Arc::new(Delivery {
            event: event.clone(),
            frame,
        });

        let routes = lock(&self.routes);
        match event.audience() {
            Some((help_desk, end_user)) => {
                for listener in std::iter::once(help_desk).chain(end_user) {
                    if let Some(queue) = routes.get(&listener) {
                        let _ = queue.send(delivery.clone());
                    }
                }
            }
            // Presence goes to every end user of the workspace; it changes
            // only when the first technician comes or the last one goes.
            None => {
                for (listener, queue) in routes.iter() {
                    if event.visible_to(*listener) {
                        let _ = queue.send(delivery.clone());
                    }
                }
            }
        }
    }

    /// How many messages this instance has published since it started.
    pub fn messages_published(&self) -> u64 {
        self.messages_published.load(Ordering::Relaxed)
    }

    /// Every event published here, for in-process subscribers; sockets use
    /// [`Hub::listen`].
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    /// The events `listener` may see, with their frames, from now on.
    pub fn listen(&self, listener: Listener) -> Subscription {
        let mut routes = lock(&self.routes);
        let receiver = routes
            .entry(listener)
            .or_insert_with(|| {
                let backlog = match listener {
                    Listener::HelpDesk { .. } => HELP_DESK_BACKLOG,
                    Listener::EndUser { .. } => END_USER_BACKLOG,
                };
                broadcast::channel(backlog).0
            })
            .subscribe();
        Subscription {
            receiver,
            listener,
            routes: self.routes.clone(),
        }
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

/// A socket's subscription: its listener's events, until dropped.
#[derive(Debug)]
pub struct Subscription {
    receiver: broadcast::Receiver<Arc<Delivery>>,
    listener: Listener,
    routes: Routes,
}

impl Subscription {
    /// The next event; `Lagged` when the socket fell too far behind.
    pub async fn recv(&mut self) -> Result<Arc<Delivery>, broadcast::error::RecvError> {
        self.receiver.recv().await
    }

    /// The next event if one is waiting, for writing several at once.
    pub fn try_recv(&mut self) -> Result<Arc<Delivery>, broadcast::error::TryRecvError> {
        self.receiver.try_recv()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Checked under the lock that `listen` takes, so a socket subscribing
        // meanwhile either keeps the queue alive or gets a new one. Our own
        // receiver still counts here.
        let mut routes = lock(&self.routes);
        if routes
            .get(&self.listener)
            .is_some_and(|queue| queue.receiver_count() <= 1)
        {
            routes.remove(&self.listener);
        }
    }
}

/// The routes stay consistent even if a holder panicked: every change to the
/// map is a single insert or remove.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
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
    fn a_socket_queue_gets_only_what_its_listener_may_see() {
        let hub = Hub::new();
        let mut own = hub.listen(Listener::EndUser {
            workspace_id: 1,
            end_user_id: 7,
        });
        let mut other = hub.listen(Listener::EndUser {
            workspace_id: 1,
            end_user_id: 8,
        });
        let mut desk = hub.listen(Listener::HelpDesk { workspace_id: 1 });

        hub.publish(typing(true));
        hub.publish(typing(false));

        let frame = own.try_recv().unwrap().frame.to_string();
        assert!(frame.contains(r#""type":"typing""#));
        assert!(own.try_recv().is_err());
        assert!(other.try_recv().is_err());
        assert!(desk.try_recv().is_ok());
        assert!(desk.try_recv().is_ok());
    }

    #[test]
    fn a_queue_goes_with_its_last_socket() {
        let hub = Hub::new();
        let listener = Listener::EndUser {
            workspace_id: 1,
            end_user_id: 7,
        };

        let first = hub.listen(listener);
        let second = hub.listen(listener);
        drop(first);
        assert!(lock(&hub.routes).contains_key(&listener));
        drop(second);
        assert!(lock(&hub.routes).is_empty());
    }

    #[test]
    fn events_serialise_with_their_type_and_without_their_scope() {
        let json = serde_json::to_value(typing(false)).unwrap();
        assert_eq!(json["type"], "typing");
        assert_eq!(json["conversation_id"], 3);
        assert!(json.get("scope").is_none());
    }
}
