//! Webhooks: when a ticket or action changes, through the API or the control
//! API, a JSON payload is POSTed to the configured URL, with Basic
//! authentication when configured, as Halo's "Standard webhook" does.
//!
//! Halo's exact payload keys are not public (evidence, section 5), so the keys
//! below are INVENTED, shaped after what Halo's guide says every payload
//! carries (an id, the event name, the webhook id, the object id and a
//! timestamp). A client should only rely on finding the ticket id and then
//! re-read the ticket through the API. "New Ticket Logged" is a real Halo event
//! name; "Ticket Updated", "Action Added" and "Action Updated" are invented.
//!
//! Deliveries run on one background task, in order; a failed delivery is
//! logged and counted, never retried and never fatal.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::config::WebhookTarget;
use crate::quirks::dates;
use crate::state::lock;
use crate::store::Change;

/// How long one delivery may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// One payload on its way to one target.
#[derive(Debug)]
struct Delivery {
    target: WebhookTarget,
    payload: Value,
}

/// The webhook configuration and its delivery queue.
#[derive(Debug)]
pub struct Webhooks {
    target: Mutex<Option<WebhookTarget>>,
    /// The id this simulated Halo gives its one webhook.
    webhook_id: Uuid,
    queue: mpsc::UnboundedSender<Delivery>,
    delivered: AtomicU64,
    failed: AtomicU64,
}

/// How deliveries went so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryStats {
    /// Payloads answered with a 2xx.
    pub delivered: u64,
    /// Payloads refused or not delivered.
    pub failed: u64,
}

impl Webhooks {
    /// Webhooks posting to `target`, with the task that delivers them. The task
    /// ends when the returned `Webhooks` is dropped.
    pub fn start(target: Option<WebhookTarget>) -> (Arc<Webhooks>, JoinHandle<()>) {
        let (queue, deliveries) = mpsc::unbounded_channel();
        let webhooks = Arc::new(Webhooks {
            target: Mutex::new(target),
            webhook_id: Uuid::new_v4(),
            queue,
            delivered: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });

        let worker = tokio::spawn(deliver(deliveries, Arc::downgrade(&webhooks)));
        (webhooks, worker)
    }

    /// Changes (or removes) where payloads go.
    pub fn set_target(&self, target: Option<WebhookTarget>) {
        *lock(&self.target) = target;
    }

    /// Where payloads go.
    pub fn target(&self) -> Option<WebhookTarget> {
        lock(&self.target).clone()
    }

    /// How deliveries went so far.
    pub fn stats(&self) -> DeliveryStats {
        DeliveryStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// Queues the payload of `change`, if a target is configured.
    pub fn notify(&self, change: Change) {
        let Some(target) = self.target() else {
            return;
        };
        let delivery = Delivery {
            target,
            payload: payload(change, self.webhook_id),
        };

        if self.queue.send(delivery).is_err() {
            tracing::warn!("webhook delivery task has stopped; payload dropped");
        }
    }
}

/// The payload of `change` (key names invented, see the module docs).
pub fn payload(change: Change, webhook_id: Uuid) -> Value {
    let (event, ticket_id, action_id) = match change {
        Change::TicketLogged { ticket_id } => ("New Ticket Logged", ticket_id, None),
        Change::TicketUpdated { ticket_id } => ("Ticket Updated", ticket_id, None),
        Change::ActionAdded {
            ticket_id,
            action_id,
        } => ("Action Added", ticket_id, Some(action_id)),
        Change::ActionUpdated {
            ticket_id,
            action_id,
        } => ("Action Updated", ticket_id, Some(action_id)),
    };

    let mut payload = json!({
        "id": Uuid::new_v4().to_string(),
        "event": event,
        "webhook_id": webhook_id.to_string(),
        "object_id": ticket_id,
        "ticket_id": ticket_id,
        "timestamp": dates::utc7(Utc::now()),
    });
    if let (Some(action_id), Value::Object(fields)) = (action_id, &mut payload) {
        fields.insert("action_id".into(), json!(action_id));
    }
    payload
}

/// Delivers queued payloads one by one until the queue closes.
async fn deliver(mut deliveries: mpsc::UnboundedReceiver<Delivery>, webhooks: Weak<Webhooks>) {
    let client = match reqwest::Client::builder().timeout(DELIVERY_TIMEOUT).build() {
        Ok(client) => Some(client),
        Err(error) => {
            tracing::error!(%error, "cannot build the webhook HTTP client; webhooks are disabled");
            None
        }
    };

    while let Some(delivery) = deliveries.recv().await {
        let delivered = match &client {
            Some(client) => post(client, &delivery).await,
            None => false,
        };

        let Some(webhooks) = webhooks.upgrade() else {
            break;
        };
        let counter = if delivered {
            &webhooks.delivered
        } else {
            &webhooks.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Posts one payload; whether the target accepted it.
async fn post(client: &reqwest::Client, delivery: &Delivery) -> bool {
    let mut request = client.post(&delivery.target.url).json(&delivery.payload);
    if let Some((username, password)) = &delivery.target.basic_auth {
        request = request.basic_auth(username, Some(password));
    }
    let event = delivery.payload["event"].as_str().unwrap_or_default();

    match request.send().await {
        Ok(response) if response.status().is_success() => {
            tracing::debug!(
                event,
                status = response.status().as_u16(),
                "webhook delivered"
            );
            true
        }
        Ok(response) => {
            tracing::warn!(
                event,
                status = response.status().as_u16(),
                "webhook refused"
            );
            false
        }
        Err(error) => {
            tracing::warn!(event, error = %error.without_url(), "webhook not delivered");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_the_event_and_the_ticket() {
        let webhook_id = Uuid::new_v4();
        let payload = payload(
            Change::ActionAdded {
                ticket_id: 1001,
                action_id: 4,
            },
            webhook_id,
        );

        assert_eq!(payload["event"], "Action Added");
        assert_eq!(payload["object_id"], 1001);
        assert_eq!(payload["ticket_id"], 1001);
        assert_eq!(payload["action_id"], 4);
        assert_eq!(payload["webhook_id"], webhook_id.to_string());
        assert!(payload["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
