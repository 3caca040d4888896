//! Halo to chat: agents' replies and status changes on linked tickets appear
//! in their chats, live.
//!
//! Two sources name tickets that changed: the PSA's webhook (fast, when an
//! admin set it up; [`Inbound::notify`]) and a poller (always, as the safety
//! net; [`Inbound::poll_once`]). Either way [`Inbound::process_ticket`]
//! re-reads the ticket through the [`Psa`] (a webhook's payload is never
//! trusted for content: its keys are not even known, halo-api.md §5) and for
//! each conversation linked to it:
//!
//! - brings in each new note an agent wrote that the end user may see, as a
//!   text message named after the agent. Private notes never; notes by the
//!   end user (their emails) and by the PSA itself neither;
//! - never brings back a note Parley wrote: those are recorded `Out` by the
//!   outbox, and a note whose write is still settling (the outbox has sent
//!   it but not yet recorded it) is left for a later pass;
//! - brings each note in exactly once, however many webhooks and polls see
//!   it, on however many instances: the note's record and its messages are
//!   written in one transaction ([`Store::bring_in_psa_note`]);
//! - brings in each new file the end user may see that is on a note it
//!   brought in (or on no note), as an attachment from the agent, exactly
//!   once ([`Store::bring_in_psa_file`]); never a file on a private note,
//!   and never one Parley uploaded (recorded `Out` by the outbox, and on
//!   Parley's own note while that record is settling);
//! - says "Ticket #N is now <status>" when the ticket's status moved, once
//!   (a conditional update, [`Store::move_linked_status`]).
//!
//! The poller spends at most a share of Halo's request budget and adapts to
//! what is left of it; see [`poll_pace`].

use crate::chat::Chat;
use crate::psa::{Psa, PsaError, PsaFile, PsaNote, PsaTicket};
use crate::store::{
    AuthorKind, ConversationId, JobKind, JobState, MessageId, MessageKind, Millis, NewAttachment,
    NewMessage, NoteDirection, StatusMove, Store, StoreError, TicketLink, WorkspaceId, now_millis,
};
use crate::sync::webhook::Webhook;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Stripes of the per-ticket lock: two passes over one ticket in this
/// process wait for each other (they would only read Halo twice).
const TICKET_LOCKS: usize = 64;

/// How many unsettled outbox jobs of each state are looked at for echoes.
const UNSETTLED_LIMIT: i64 = 1000;

/// How long after a deferred note (its write still settling) the ticket is
/// looked at again.
const DEFERRED_RECHECK: Duration = Duration::from_secs(3);

/// What went wrong bringing a ticket's changes in.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error(transparent)]
    Psa(#[from] PsaError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl InboundError {
    /// Whether a later attempt may succeed (so the poller keeps its cursor).
    pub fn is_transient(&self) -> bool {
        match self {
            InboundError::Psa(PsaError::Transient { .. } | PsaError::NotConfigured(_)) => true,
            InboundError::Psa(PsaError::Permanent(_) | PsaError::NotFound(_)) => false,
            InboundError::Store(StoreError::NotFound(_) | StoreError::Conflict(_)) => false,
            InboundError::Store(_) => true,
        }
    }
}

pub type InboundResult<T> = Result<T, InboundError>;

/// How the poller paces itself against Halo's request budget.
///
/// The policy, in order (see [`poll_pace`]):
///
/// 1. Poll every `base` (15 s).
/// 2. While webhooks arrive (one within `webhook_fresh`), the poller is only
///    the safety net: every `safety_net` (2 min).
/// 3. Spend at most `share` (20 %) of the budget: with each poll costing
///    what the last one did, no more polls than fit in that share per
///    window.
/// 4. When less than `scarce_below` (half) of the budget is left, slow down
///    in proportion: a quarter left is twice the wait, a tenth five times.
/// 5. When what is left is within the `reserve` (5 %, at least what a poll
///    costs), do not poll at all: look again after `pause`, leaving the rest
///    to chats and the outbox.
/// 6. Never wait longer than `max` (5 min) between looks.
#[derive(Debug, Clone, PartialEq)]
pub struct PollPolicy {
    pub base: Duration,
    pub safety_net: Duration,
    pub webhook_fresh: Duration,
    pub share: f64,
    pub scarce_below: f64,
    pub reserve: f64,
    pub pause: Duration,
    pub max: Duration,
}

impl Default for PollPolicy {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(15),
            safety_net: Duration::from_secs(120),
            webhook_fresh: Duration::from_secs(600),
            share: 0.2,
            scarce_below: 0.5,
            reserve: 0.05,
            pause: Duration::from_secs(60),
            max: Duration::from_secs(300),
        }
    }
}

/// What is left of the PSA's request budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetLeft {
    pub remaining: u32,
    pub capacity: u32,
    pub window: Duration,
}

/// Which rule set the wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaceReason {
    Base,
    SafetyNet,
    Share,
    Scarce,
    Paused,
}

/// When to look next, and whether to poll then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub wait: Duration,
    /// `false` while paused: nothing is sent, the pace is decided again.
    pub poll: bool,
    pub reason: PaceReason,
}

/// The poller's pace: the policy of [`PollPolicy`] as a pure function of
/// the budget left (`None` when unknown), whether webhooks are arriving,
/// and what the last poll cost in requests.
pub fn poll_pace(
    policy: &PollPolicy,
    budget: Option<BudgetLeft>,
    webhooks_arriving: bool,
    last_cost: u32,
) -> Pace {
    let mut pace = Pace {
        wait: policy.base,
        poll: true,
        reason: PaceReason::Base,
    };
    let mut raise = |wait: Duration, reason: PaceReason| {
        if wait > pace.wait {
            pace.wait = wait;
            pace.reason = reason;
        }
    };

    if webhooks_arriving {
        raise(policy.safety_net, PaceReason::SafetyNet);
    }

    if let Some(budget) = budget.filter(|budget| budget.capacity > 0) {
        let capacity = f64::from(budget.capacity);
        let cost = last_cost.clamp(1, (budget.capacity / 4).max(1));

        let reserve = ((capacity * policy.reserve).ceil() as u32).max(cost);
        if budget.remaining <= reserve {
            return Pace {
                wait: policy.pause.min(policy.max),
                poll: false,
                reason: PaceReason::Paused,
            };
        }

        let polls_per_window = (capacity * policy.share / f64::from(cost)).floor().max(1.0);
        raise(budget.window.div_f64(polls_per_window), PaceReason::Share);

        let left = f64::from(budget.remaining) / capacity;
        if left < policy.scarce_below {
            raise(
                policy.base.mul_f64(policy.scarce_below / left),
                PaceReason::Scarce,
            );
        }
    }

    pace.wait = pace.wait.min(policy.max);
    pace
}

/// How the inbound sync runs.
#[derive(Debug, Clone)]
pub struct InboundConfig {
    pub poll: PollPolicy,
    /// Whether this instance polls (tests of the webhook alone turn it off).
    pub run_poller: bool,
    /// A note written this long before its chat was linked is the ticket's
    /// history, not news for the chat (allowing for the clocks of Parley and
    /// the PSA to differ this much).
    pub history_grace: Duration,
    /// Tickets waiting from webhooks at most; beyond, the poller catches up.
    pub max_queued: usize,
}

impl Default for InboundConfig {
    fn default() -> Self {
        Self {
            poll: PollPolicy::default(),
            run_poller: true,
            history_grace: Duration::from_secs(120),
            max_queued: 1000,
        }
    }
}

/// What one pass over a ticket did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketOutcome {
    /// Conversations linked to the ticket (0: nothing was asked of the PSA).
    pub linked: usize,
    pub notes_brought_in: usize,
    pub files_brought_in: usize,
    pub status_changed: bool,
    /// Notes left for later because Parley's own write of the same text is
    /// still settling.
    pub deferred: usize,
}

/// What one poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// Tickets the PSA said changed.
    pub changed: usize,
    /// Of those, the linked ones that were read.
    pub linked: usize,
    pub notes_brought_in: usize,
    /// Requests the poll cost, roughly: the list and one per linked ticket.
    pub cost: u32,
    /// Whether the cursor moved on (not when a ticket must be read again).
    pub complete: bool,
}

/// The inbound sync. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Inbound {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    psa: Arc<dyn Psa>,
    chat: Chat,
    webhook: Webhook,
    workspace_id: WorkspaceId,
    config: InboundConfig,
    queue: mpsc::UnboundedSender<i64>,
    /// The queue's receiving end until [`Inbound::spawn`] takes it.
    receiver: Mutex<Option<mpsc::UnboundedReceiver<i64>>>,
    /// Tickets in the queue, so that a burst of webhooks reads each once.
    queued: Mutex<HashSet<i64>>,
    locks: Vec<tokio::sync::Mutex<()>>,
}

/// A write of Parley's to the PSA that has not settled yet.
struct Unsettled {
    /// Text the note it writes contains.
    text: String,
    /// A worker has it now (so it settles within its lease).
    running: bool,
}

impl Inbound {
    pub fn new(
        store: Arc<dyn Store>,
        psa: Arc<dyn Psa>,
        chat: Chat,
        webhook: Webhook,
        config: InboundConfig,
    ) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        Self {
            inner: Arc::new(Inner {
                store,
                psa,
                chat,
                workspace_id: webhook.workspace_id(),
                webhook,
                config,
                queue,
                receiver: Mutex::new(Some(receiver)),
                queued: Mutex::new(HashSet::new()),
                locks: (0..TICKET_LOCKS)
                    .map(|_| tokio::sync::Mutex::new(()))
                    .collect(),
            }),
        }
    }

    pub fn webhook(&self) -> &Webhook {
        &self.inner.webhook
    }

    /// Starts the webhook worker and, when configured, the poller. Calling
    /// it again starts nothing more.
    pub fn spawn(&self) {
        let receiver = self
            .inner
            .receiver
            .lock()
            .expect("the receiver lock is never held across a panic")
            .take();
        let Some(receiver) = receiver else {
            return;
        };
        tokio::spawn(self.clone().work(receiver));
        if self.inner.config.run_poller {
            tokio::spawn(self.clone().poll_forever());
        }
    }

    /// Queues tickets a webhook named; returns how many were queued (a
    /// ticket already waiting is not queued twice). Never waits.
    pub fn notify(&self, ticket_ids: &[i64]) -> usize {
        let mut queued = self
            .inner
            .queued
            .lock()
            .expect("the queue lock is never held across a panic");
        let mut added = 0;
        for &ticket_id in ticket_ids {
            if queued.len() >= self.inner.config.max_queued {
                tracing::warn!(
                    waiting = queued.len(),
                    "too many tickets wait from webhooks; the poller will catch up"
                );
                break;
            }
            if queued.insert(ticket_id) && self.inner.queue.send(ticket_id).is_ok() {
                added += 1;
            }
        }
        added
    }

    /// Brings a ticket's new agent notes and its status into its chats.
    pub async fn process_ticket(&self, ticket_id: i64) -> InboundResult<TicketOutcome> {
        self.process(ticket_id, None).await
    }

    /// Asks the PSA what changed since the stored cursor and processes the
    /// linked tickets among the changes. The cursor moves on only when every
    /// one of them was processed, so a restart or a failure continues where
    /// the last complete poll ended.
    pub async fn poll_once(&self) -> InboundResult<PollReport> {
        let inner = &self.inner;
        let cursor = inner.store.psa_cursor(inner.workspace_id).await?;
        let changes = inner.psa.changes_since(cursor.as_deref()).await?;
        let linked: HashSet<i64> = inner
            .store
            .linked_tickets(inner.workspace_id)
            .await?
            .iter()
            .filter_map(|link| link.ticket_id)
            .collect();

        let mut report = PollReport {
            changed: changes.tickets.len(),
            cost: 1,
            complete: true,
            ..PollReport::default()
        };
        let mut seen = HashSet::new();
        for ticket in changes.tickets {
            if !linked.contains(&ticket.id) || !seen.insert(ticket.id) {
                continue;
            }
            let ticket_id = ticket.id;
            report.linked += 1;
            // The ticket's notes and its files.
            report.cost += 2;
            match self.process(ticket_id, Some(ticket)).await {
                Ok(outcome) => {
                    report.notes_brought_in += outcome.notes_brought_in;
                    if outcome.deferred > 0 {
                        report.complete = false;
                    }
                }
                // Deleted in the PSA: nothing more will come from it.
                Err(InboundError::Psa(PsaError::NotFound(_))) => {
                    tracing::debug!(ticket.id = ticket_id, "a linked ticket is gone in the PSA");
                }
                Err(error) if error.is_transient() => {
                    report.complete = false;
                    tracing::warn!(ticket.id = ticket_id, %error, "ticket not read; the next poll tries again");
                }
                Err(error) => {
                    tracing::warn!(ticket.id = ticket_id, %error, "ticket skipped");
                }
            }
        }

        if report.complete && cursor.as_deref() != Some(changes.cursor.as_str()) {
            inner
                .store
                .set_psa_cursor(inner.workspace_id, &changes.cursor)
                .await?;
        }
        tracing::debug!(
            changed = report.changed,
            linked = report.linked,
            brought_in = report.notes_brought_in,
            complete = report.complete,
            "polled the PSA"
        );
        Ok(report)
    }

    /// The poller's next pace, from the budget left now.
    pub async fn pace(&self, last_cost: u32) -> Pace {
        let policy = &self.inner.config.poll;
        let fresh = Millis::try_from(policy.webhook_fresh.as_millis()).unwrap_or(Millis::MAX);
        let arriving = self
            .inner
            .webhook
            .last_received_at()
            .await
            .is_some_and(|at| now_millis() - at < fresh);
        poll_pace(policy, self.budget_left().await, arriving, last_cost)
    }

    /// One pass over a ticket; `known` is the ticket as a poll just listed
    /// it, which saves reading it again.
    async fn process(
        &self,
        ticket_id: i64,
        known: Option<PsaTicket>,
    ) -> InboundResult<TicketOutcome> {
        let inner = &self.inner;
        let stripe = usize::try_from(ticket_id.unsigned_abs() % TICKET_LOCKS as u64).unwrap_or(0);
        let _turn = inner.locks[stripe].lock().await;

        // Most tickets a webhook names are not linked to any chat: those cost
        // no request at all.
        let links = inner
            .store
            .links_for_ticket(inner.workspace_id, ticket_id)
            .await?;
        if links.is_empty() {
            return Ok(TicketOutcome::default());
        }

        let (ticket, notes) = match known {
            Some(ticket) => (ticket, inner.psa.notes(ticket_id).await?),
            None => inner.psa.ticket_with_visible_notes(ticket_id).await?,
        };
        let mut outcome = TicketOutcome {
            linked: links.len(),
            ..TicketOutcome::default()
        };

        let mut unsettled: Option<Vec<Unsettled>> = None;
        for note in notes.iter().filter(|note| worth_bringing(note)) {
            if inner
                .store
                .psa_note_known(inner.workspace_id, ticket_id, note.id)
                .await?
            {
                continue;
            }

            // The ticket's first note carries the transcript Parley sent.
            if links.iter().any(|link| note.text.contains(&link.marker)) {
                self.record_seen(ticket_id, note.id).await?;
                continue;
            }

            // Parley's own write may have reached the PSA before the outbox
            // recorded it: leave a note with the same text for a later pass.
            if unsettled.is_none() {
                unsettled = Some(self.unsettled_writes(&links).await?);
            }
            if let Some(write) = unsettled
                .iter()
                .flatten()
                .find(|write| note.text.contains(&write.text))
            {
                tracing::debug!(
                    ticket.id = ticket_id,
                    note.id = note.id,
                    running = write.running,
                    "note left for later: Parley's write of it may be settling"
                );
                if write.running {
                    outcome.deferred += 1;
                }
                continue;
            }

            let targets: Vec<&TicketLink> = links
                .iter()
                .filter(|link| is_news(note, link, inner.config.history_grace))
                .collect();
            if targets.is_empty() {
                self.record_seen(ticket_id, note.id).await?;
                continue;
            }

            let messages = targets
                .iter()
                .map(|link| self.agent_message(link.conversation_id, note))
                .collect();
            let Some(added) = inner
                .store
                .bring_in_psa_note(inner.workspace_id, ticket_id, note.id, messages)
                .await?
            else {
                continue;
            };
            outcome.notes_brought_in += 1;
            tracing::info!(
                ticket.id = ticket_id,
                note.id = note.id,
                conversations = added.len(),
                "agent's note brought into the chat"
            );
            for (_, message) in added {
                self.publish(message.id).await;
            }
        }

        outcome.files_brought_in = self.bring_in_files(ticket_id, &links, &notes).await?;

        if let Some(status) = ticket
            .status_name
            .as_deref()
            .map(str::trim)
            .filter(|status| !status.is_empty())
        {
            for link in &links {
                if self.move_status(ticket_id, link, status).await? {
                    outcome.status_changed = true;
                }
            }
        }

        if outcome.deferred > 0 {
            self.recheck_later(ticket_id);
        }
        Ok(outcome)
    }

    /// Brings the ticket's new files into its chats; returns how many.
    async fn bring_in_files(
        &self,
        ticket_id: i64,
        links: &[TicketLink],
        notes: &[PsaNote],
    ) -> InboundResult<usize> {
        let inner = &self.inner;
        let files = inner.psa.files(ticket_id).await?;
        let mut brought = 0;
        for file in files.iter().filter(|file| file.visible_to_user) {
            if inner
                .store
                .psa_file_message(inner.workspace_id, ticket_id, file.id)
                .await?
                .is_some()
            {
                continue;
            }
            let Some((author, targets)) = self.file_targets(ticket_id, links, notes, file).await?
            else {
                continue;
            };
            if targets.is_empty() {
                self.record_file_seen(ticket_id, file.id).await?;
                continue;
            }
            if self
                .bring_in_file(ticket_id, file, &author, &targets)
                .await?
            {
                brought += 1;
            }
        }
        Ok(brought)
    }

    /// Who a file is from and which chats it is news for; `None` to leave
    /// it for now (its note is Parley's own, or not settled yet).
    async fn file_targets<'a>(
        &self,
        ticket_id: i64,
        links: &'a [TicketLink],
        notes: &[PsaNote],
        file: &PsaFile,
    ) -> InboundResult<Option<(String, Vec<&'a TicketLink>)>> {
        let inner = &self.inner;
        let grace = inner.config.history_grace;
        let Some(note_id) = file.note_id else {
            let targets = links
                .iter()
                .filter(|link| is_dated_news(file.created_at.as_deref(), link, grace))
                .collect();
            return Ok(Some(("Help desk".to_owned(), targets)));
        };

        let note = notes.iter().find(|note| note.id == note_id);
        let named = |fallback: Option<&str>| {
            note.map(|note| note.author.trim())
                .or(fallback.map(str::trim))
                .filter(|name| !name.is_empty())
                .unwrap_or("Help desk")
                .to_owned()
        };
        match inner
            .store
            .psa_note_message(inner.workspace_id, ticket_id, note_id)
            .await?
        {
            // Seen without being brought in (history, the transcript).
            Some(None) => Ok(Some((named(None), Vec::new()))),
            Some(Some(message_id)) => {
                let message = match inner.store.message(inner.workspace_id, message_id).await {
                    Ok(message) => message,
                    Err(StoreError::NotFound(_)) => return Ok(None),
                    Err(error) => return Err(error.into()),
                };
                // Only a note that came from the PSA was brought in; any
                // other is Parley's own, and so is a file on it.
                let from_psa =
                    message.author_kind == AuthorKind::Technician && message.author_id.is_none();
                if !from_psa {
                    return Ok(None);
                }
                let targets = links
                    .iter()
                    .filter(|link| link.conversation_id == message.conversation_id)
                    .chain(links.iter().filter(|link| {
                        link.conversation_id != message.conversation_id
                            && note.is_some_and(|note| is_news(note, link, grace))
                    }))
                    .collect();
                Ok(Some((named(message.author_name.as_deref()), targets)))
            }
            // An agent's visible note with nothing but the file is not
            // brought in as text: the file is its news.
            None => match note {
                Some(note)
                    if note.by_agent && note.visible_to_user && note.text.trim().is_empty() =>
                {
                    let targets = links
                        .iter()
                        .filter(|link| is_news(note, link, grace))
                        .collect();
                    Ok(Some((named(None), targets)))
                }
                // Unknown yet (its note waits for a later pass) or not an
                // agent's: left alone.
                _ => Ok(None),
            },
        }
    }

    /// Downloads a file and adds it to the chats, once; `false` when it was
    /// skipped or another pass brought it in first.
    async fn bring_in_file(
        &self,
        ticket_id: i64,
        file: &PsaFile,
        author: &str,
        targets: &[&TicketLink],
    ) -> InboundResult<bool> {
        let inner = &self.inner;
        let limits = inner.chat.limits();
        let too_large = |size: usize| size > limits.max_attachment_bytes;
        let allowed =
            |content_type: &str| limits.attachment_types.iter().any(|t| t == content_type);

        if usize::try_from(file.size).is_ok_and(too_large) {
            tracing::warn!(
                ticket.id = ticket_id,
                file.id = file.id,
                size = file.size,
                limit = limits.max_attachment_bytes,
                "a file from the PSA is larger than the chat allows; not brought in"
            );
            self.record_file_seen(ticket_id, file.id).await?;
            return Ok(false);
        }
        if let Some(listed) = file.content_type.as_deref().map(normal_type)
            && listed != "application/octet-stream"
            && !allowed(&listed)
        {
            tracing::warn!(
                ticket.id = ticket_id,
                file.id = file.id,
                content_type = %listed,
                "a file from the PSA is of a type the chat does not allow; not brought in"
            );
            self.record_file_seen(ticket_id, file.id).await?;
            return Ok(false);
        }

        let (name, downloaded_type, data) = match inner.psa.download_file(file.id).await {
            Ok(download) => download,
            Err(PsaError::NotFound(_)) => {
                tracing::debug!(
                    ticket.id = ticket_id,
                    file.id = file.id,
                    "a file is gone in the PSA"
                );
                return Ok(false);
            }
            Err(error) => return Err(error.into()),
        };
        let downloaded_type = normal_type(&downloaded_type);
        let content_type = match file.content_type.as_deref().map(normal_type) {
            Some(listed) if allowed(&listed) => listed,
            _ => downloaded_type,
        };
        if data.is_empty() || too_large(data.len()) || !allowed(&content_type) {
            tracing::warn!(
                ticket.id = ticket_id,
                file.id = file.id,
                size = data.len(),
                %content_type,
                "a file from the PSA is empty, too large or of a type the chat does not allow; not brought in"
            );
            self.record_file_seen(ticket_id, file.id).await?;
            return Ok(false);
        }
        let listed_name = file.file_name.trim();
        let file_name = crate::chat::clean_file_name(if listed_name.is_empty() {
            &name
        } else {
            listed_name
        })
        .unwrap_or_else(|_| format!("file-{}", file.id));

        let at = now_millis();
        let files = targets
            .iter()
            .map(|link| {
                (
                    NewAttachment {
                        workspace_id: inner.workspace_id,
                        conversation_id: link.conversation_id,
                        file_name: file_name.clone(),
                        content_type: content_type.clone(),
                        data: data.clone(),
                    },
                    NewMessage {
                        workspace_id: inner.workspace_id,
                        conversation_id: link.conversation_id,
                        kind: MessageKind::Attachment,
                        // An agent without a Parley account: named, not
                        // linked, and so never queued back to the PSA.
                        author_kind: AuthorKind::Technician,
                        author_id: None,
                        author_name: Some(author.to_owned()),
                        body: String::new(),
                        at,
                    },
                )
            })
            .collect();
        let Some(added) = inner
            .store
            .bring_in_psa_file(inner.workspace_id, ticket_id, file.id, files)
            .await?
        else {
            return Ok(false);
        };
        tracing::info!(
            ticket.id = ticket_id,
            file.id = file.id,
            conversations = added.len(),
            "agent's file brought into the chat"
        );
        for (_, message) in added {
            self.publish(message.id).await;
        }
        Ok(true)
    }

    /// Records a file as seen without bringing it in.
    async fn record_file_seen(&self, ticket_id: i64, file_id: i64) -> InboundResult<()> {
        self.inner
            .store
            .record_psa_file(
                self.inner.workspace_id,
                ticket_id,
                file_id,
                NoteDirection::In,
                None,
            )
            .await?;
        Ok(())
    }

    /// Moves a link's status on and says so in its chat; `false` when it
    /// had moved already.
    async fn move_status(
        &self,
        ticket_id: i64,
        link: &TicketLink,
        status: &str,
    ) -> InboundResult<bool> {
        if link.ticket_status.as_deref() == Some(status) {
            return Ok(false);
        }
        // A first status (none was known) is recorded quietly: it is not a
        // change the user should read about.
        let message = link.ticket_status.as_ref().map(|_| NewMessage {
            workspace_id: self.inner.workspace_id,
            conversation_id: link.conversation_id,
            kind: MessageKind::System,
            author_kind: AuthorKind::System,
            author_id: None,
            author_name: None,
            body: format!("Ticket #{ticket_id} is now {status}"),
            at: now_millis(),
        });

        let moved = self
            .inner
            .store
            .move_linked_status(
                self.inner.workspace_id,
                link.conversation_id,
                link.ticket_status.as_deref(),
                status,
                message,
            )
            .await?;
        match moved {
            StatusMove::Moved(said) => {
                tracing::info!(
                    ticket.id = ticket_id,
                    conversation.id = link.conversation_id,
                    %status,
                    "ticket status changed in the PSA"
                );
                if let Some(message) = said {
                    self.publish(message.id).await;
                }
                Ok(true)
            }
            StatusMove::Stale => Ok(false),
        }
    }

    /// Parley's note writes to the ticket's conversations that have not
    /// settled: running, or waiting or parked after an attempt that may
    /// have reached the PSA.
    async fn unsettled_writes(&self, links: &[TicketLink]) -> InboundResult<Vec<Unsettled>> {
        let inner = &self.inner;
        let conversations: HashSet<ConversationId> =
            links.iter().map(|link| link.conversation_id).collect();

        let mut writes = Vec::new();
        for state in [JobState::Running, JobState::Pending, JobState::Failed] {
            let jobs = inner
                .store
                .jobs(inner.workspace_id, state, UNSETTLED_LIMIT)
                .await?;
            for job in jobs {
                let may_have_written = state == JobState::Running || job.maybe_sent;
                if !conversations.contains(&job.conversation_id) || !may_have_written {
                    continue;
                }
                let Some(message_id) = job.message_id else {
                    continue;
                };
                let message = match inner.store.message(inner.workspace_id, message_id).await {
                    Ok(message) => message,
                    Err(StoreError::NotFound(_)) => continue,
                    Err(error) => return Err(error.into()),
                };
                // The texts the outbox puts in these notes (see outbox.rs).
                let text = match (job.kind, &message.attachment) {
                    (JobKind::AddNote, _) => message.body.trim().to_owned(),
                    (JobKind::AddFile, Some(file)) => format!("sent the file {}", file.file_name),
                    _ => continue,
                };
                if !text.is_empty() {
                    writes.push(Unsettled {
                        text,
                        running: state == JobState::Running,
                    });
                }
            }
        }
        Ok(writes)
    }

    /// Records a note as seen without bringing it in (the ticket's history,
    /// or the transcript Parley sent), so it is not looked at again.
    async fn record_seen(&self, ticket_id: i64, note_id: i64) -> InboundResult<()> {
        self.inner
            .store
            .record_psa_note(
                self.inner.workspace_id,
                ticket_id,
                note_id,
                NoteDirection::In,
                None,
            )
            .await?;
        Ok(())
    }

    fn agent_message(&self, conversation_id: ConversationId, note: &PsaNote) -> NewMessage {
        NewMessage {
            workspace_id: self.inner.workspace_id,
            conversation_id,
            kind: MessageKind::Text,
            // An agent without a Parley account: named, not linked.
            author_kind: AuthorKind::Technician,
            author_id: None,
            author_name: Some(note.author.trim().to_owned()),
            body: cut(note.text.trim(), self.inner.chat.limits().max_message_chars),
            at: now_millis(),
        }
    }

    /// Tells live sockets about a new message.
    async fn publish(&self, message_id: MessageId) {
        match self
            .inner
            .chat
            .message_event(self.inner.workspace_id, message_id)
            .await
        {
            Ok(event) => self.inner.chat.hub().publish(event),
            Err(error) => {
                tracing::error!(message.id = message_id, %error, "could not announce a message from the PSA");
            }
        }
    }

    /// Looks at the ticket again shortly, for a note whose write was
    /// settling (its outbox job holds a lease, so this ends).
    fn recheck_later(&self, ticket_id: i64) {
        let inbound = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(DEFERRED_RECHECK).await;
            inbound.notify(&[ticket_id]);
        });
    }

    /// The webhook worker: one queued ticket after another.
    async fn work(self, mut receiver: mpsc::UnboundedReceiver<i64>) {
        while let Some(ticket_id) = receiver.recv().await {
            // Out of the set first: a webhook arriving while this pass reads
            // the PSA queues the ticket again, so no change is missed.
            self.inner
                .queued
                .lock()
                .expect("the queue lock is never held across a panic")
                .remove(&ticket_id);
            if let Err(error) = self.process(ticket_id, None).await {
                tracing::warn!(
                    ticket.id = ticket_id,
                    %error,
                    "could not bring a ticket's changes in; the poller will"
                );
            }
        }
    }

    /// The poller: polls, then waits as [`poll_pace`] decides.
    async fn poll_forever(self) {
        let mut last_cost = 1;
        let mut paused = false;
        loop {
            let pace = self.pace(last_cost).await;
            if pace.poll {
                if paused {
                    tracing::info!("PSA polling resumes");
                    paused = false;
                }
                last_cost = match self.poll_once().await {
                    Ok(report) => report.cost,
                    Err(InboundError::Psa(PsaError::NotConfigured(why))) => {
                        tracing::debug!(%why, "PSA not polled: not connected");
                        1
                    }
                    Err(error) => {
                        tracing::warn!(%error, "polling the PSA failed; trying again later");
                        1
                    }
                };
            } else if !paused {
                tracing::warn!(
                    wait_ms = pace.wait.as_millis() as u64,
                    "PSA polling paused: Halo's request budget is nearly used up"
                );
                paused = true;
            }
            tracing::trace!(wait_ms = pace.wait.as_millis() as u64, reason = ?pace.reason, "next PSA poll");
            tokio::time::sleep(pace.wait).await;
        }
    }

    /// What is left of the connected Halo's request budget (the process-wide
    /// budget every client of that site draws from).
    async fn budget_left(&self) -> Option<BudgetLeft> {
        let saved = self
            .inner
            .store
            .connector(self.inner.workspace_id)
            .await
            .ok()??;
        let policy = if saved.allow_private {
            halo::HostPolicy::AllowPrivate
        } else {
            halo::HostPolicy::PublicOnly
        };
        let site = halo::SiteUrl::parse(&saved.site_url, policy).ok()?.site;
        let budget = halo::Budget::shared_for(&site);
        Some(BudgetLeft {
            remaining: budget.remaining(),
            capacity: budget.capacity(),
            window: budget.window(),
        })
    }
}

/// A note worth a look: an agent's, visible to the end user, with text.
fn worth_bringing(note: &PsaNote) -> bool {
    note.by_agent && note.visible_to_user && !note.text.trim().is_empty()
}

/// Whether a note is news for a chat: written after the chat was linked (or
/// not long before, as clocks differ), or at an unknown time.
fn is_news(note: &PsaNote, link: &TicketLink, grace: Duration) -> bool {
    is_dated_news(note.created_at.as_deref(), link, grace)
}

/// [`is_news`] for anything with an RFC 3339 time of writing.
fn is_dated_news(created_at: Option<&str>, link: &TicketLink, grace: Duration) -> bool {
    let written = created_at
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.timestamp_millis());
    let grace = Millis::try_from(grace.as_millis()).unwrap_or(Millis::MAX);
    match (written, link.linked_at) {
        (Some(written), Some(linked)) => written >= linked.saturating_sub(grace),
        _ => true,
    }
}

/// A content type without parameters, in lower case.
fn normal_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn halo(remaining: u32) -> Option<BudgetLeft> {
        Some(BudgetLeft {
            remaining,
            capacity: 300,
            window: Duration::from_secs(300),
        })
    }

    fn secs(pace: Pace) -> f64 {
        pace.wait.as_secs_f64()
    }

    #[test]
    fn with_budget_to_spare_it_polls_at_the_base_rate() {
        let policy = PollPolicy::default();

        let full = poll_pace(&policy, halo(300), false, 1);
        let unknown = poll_pace(&policy, None, false, 1);
        let no_capacity = poll_pace(
            &policy,
            Some(BudgetLeft {
                remaining: 0,
                capacity: 0,
                window: Duration::from_secs(300),
            }),
            false,
            1,
        );

        for pace in [full, unknown, no_capacity] {
            assert_eq!(pace.wait, Duration::from_secs(15), "{pace:?}");
            assert!(pace.poll);
            assert_eq!(pace.reason, PaceReason::Base);
        }
    }

    #[test]
    fn arriving_webhooks_leave_the_poller_as_a_safety_net() {
        let pace = poll_pace(&PollPolicy::default(), halo(300), true, 1);

        assert_eq!(pace.wait, Duration::from_secs(120));
        assert_eq!(pace.reason, PaceReason::SafetyNet);
        assert!(pace.poll);
    }

    #[test]
    fn polls_spend_at_most_a_fifth_of_the_budget() {
        let policy = PollPolicy::default();

        // 60 requests of 300 are the poller's; at 10 a poll, 6 polls fit in
        // five minutes: one every 50 s.
        let costly = poll_pace(&policy, halo(300), false, 10);
        // A tiny budget (20 a minute): 4 requests, polls of 2, every 30 s.
        let tiny = poll_pace(
            &policy,
            Some(BudgetLeft {
                remaining: 20,
                capacity: 20,
                window: Duration::from_secs(60),
            }),
            false,
            2,
        );

        assert!((secs(costly) - 50.0).abs() < 0.01, "{costly:?}");
        assert_eq!(costly.reason, PaceReason::Share);
        assert!((secs(tiny) - 30.0).abs() < 0.01, "{tiny:?}");
        assert_eq!(tiny.reason, PaceReason::Share);
    }

    #[test]
    fn it_slows_down_as_the_budget_runs_low() {
        let policy = PollPolicy::default();

        let half = poll_pace(&policy, halo(150), false, 1);
        let quarter = poll_pace(&policy, halo(75), false, 1);
        let tenth = poll_pace(&policy, halo(30), false, 1);

        assert!((secs(half) - 15.0).abs() < 0.01, "{half:?}");
        assert!((secs(quarter) - 30.0).abs() < 0.01, "{quarter:?}");
        assert_eq!(quarter.reason, PaceReason::Scarce);
        assert!((secs(tenth) - 75.0).abs() < 0.01, "{tenth:?}");
        assert!(tenth.poll);
    }

    #[test]
    fn it_pauses_when_the_budget_is_nearly_exhausted() {
        let policy = PollPolicy::default();

        let reserve = poll_pace(&policy, halo(15), false, 1);
        let empty = poll_pace(&policy, halo(0), false, 1);
        // A poll that cost more than the reserve is not started either.
        let costly = poll_pace(&policy, halo(30), false, 40);

        for pace in [reserve, empty, costly] {
            assert!(!pace.poll, "{pace:?}");
            assert_eq!(pace.reason, PaceReason::Paused);
            assert_eq!(pace.wait, Duration::from_secs(60));
        }
        assert!(poll_pace(&policy, halo(16), false, 1).poll);
    }

    #[test]
    fn no_wait_is_longer_than_the_maximum() {
        let policy = PollPolicy::default();

        // A long window and costly polls would mean one poll in 15 minutes.
        let long_window = Some(BudgetLeft {
            remaining: 300,
            capacity: 300,
            window: Duration::from_secs(900),
        });
        let greedy = poll_pace(&policy, long_window, false, 75);
        let short = PollPolicy {
            max: Duration::from_secs(20),
            ..PollPolicy::default()
        };
        let paused = poll_pace(&short, halo(0), false, 1);
        let scarce = poll_pace(&short, halo(30), true, 1);

        assert_eq!(greedy.wait, Duration::from_secs(300));
        assert_eq!(greedy.reason, PaceReason::Share);
        assert_eq!(paused.wait, Duration::from_secs(20));
        assert_eq!(scarce.wait, Duration::from_secs(20));
    }

    fn note(at: Option<&str>) -> PsaNote {
        PsaNote {
            id: 3,
            ticket_id: 1001,
            text: "Rebooted the printer".to_owned(),
            author: "Marco Rossi".to_owned(),
            by_agent: true,
            visible_to_user: true,
            created_at: at.map(str::to_owned),
        }
    }

    fn link(linked_at: Option<Millis>) -> TicketLink {
        TicketLink {
            conversation_id: 1,
            workspace_id: 1,
            marker: "parley-1-1-abc".to_owned(),
            ticket_id: Some(1001),
            ticket_summary: None,
            ticket_status: None,
            requested_by: "end_user".to_owned(),
            created_at: 0,
            linked_at,
        }
    }

    #[test]
    fn notes_from_before_the_link_are_history_within_the_clocks_grace() {
        let grace = Duration::from_secs(120);
        // 2024-06-20T12:00:00Z
        let linked = Some(1_718_884_800_000);

        let after = note(Some("2024-06-20T12:00:05Z"));
        let just_before = note(Some("2024-06-20T11:59:00Z"));
        let long_before = note(Some("2024-06-20T11:00:00Z"));
        let undated = note(None);

        assert!(is_news(&after, &link(linked), grace));
        assert!(is_news(&just_before, &link(linked), grace));
        assert!(!is_news(&long_before, &link(linked), grace));
        assert!(is_news(&undated, &link(linked), grace));
        assert!(is_news(&long_before, &link(None), grace));
    }

    #[test]
    fn only_agents_visible_notes_with_text_are_brought_in() {
        let agent = note(None);
        let private = PsaNote {
            visible_to_user: false,
            ..note(None)
        };
        let users_email = PsaNote {
            by_agent: false,
            ..note(None)
        };
        let blank = PsaNote {
            text: "  ".to_owned(),
            ..note(None)
        };

        assert!(worth_bringing(&agent));
        assert!(!worth_bringing(&private));
        assert!(!worth_bringing(&users_email));
        assert!(!worth_bringing(&blank));
    }

    #[test]
    fn long_notes_are_cut_to_the_message_limit() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
    }
}
