//! The outbox worker: runs every queued PSA write exactly once, in order per
//! conversation, through crashes, outages and rate limits.
//!
//! Jobs were written in the same transaction as the chat change that caused
//! them. A worker claims one with a lease (another instance's worker skips
//! it; a dead worker's lease runs out and the job is claimed again), runs it,
//! and records the result. Before a write that is not idempotent it marks the
//! job "maybe sent"; an attempt that finds that mark first looks for what the
//! earlier one may have done (the ticket with its marker, the note with its
//! text) and adopts it instead of writing again.

use crate::chat::Chat;
use crate::chat::hub::Event;
use crate::psa::{Contact, NewPsaFile, NewPsaNote, NewPsaTicket, Psa, PsaError, PsaNote};
use crate::store::{
    AuthorKind, JobKind, MessageKind, Millis, NewMessage, NoteDirection, OutboxJob, Store,
    StoreError, now_millis,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// What a ticket creation job carries, fixed when the ticket was asked for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateTicketPayload {
    pub summary: String,
    pub details: String,
    pub contact: Contact,
    pub marker: String,
}

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// How long a claimed job is a worker's before another may take it.
    pub lease: Duration,
    /// The first retry's delay; each later one doubles, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// A job still failing this long after it was queued is parked for an
    /// admin, with its last error.
    pub park_after: Duration,
    /// How long an idle worker sleeps before looking again (a new message
    /// wakes it sooner). This sweep is what guarantees progress: a wake-up
    /// is only a hint, the outbox table is the truth.
    pub idle_poll: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            base_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(300),
            park_after: Duration::from_secs(24 * 3600),
            idle_poll: Duration::from_secs(2),
        }
    }
}

/// Why a job did not finish this time.
#[derive(Debug, thiserror::Error)]
enum JobError {
    #[error(transparent)]
    Psa(#[from] PsaError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The job cannot be run as it is (its message is gone, its payload is
    /// unreadable); retrying will not help.
    #[error("{0}")]
    Broken(String),
}

/// The worker. Cloning shares it.
#[derive(Debug, Clone)]
pub struct Outbox {
    store: Arc<dyn Store>,
    psa: Arc<dyn Psa>,
    chat: Chat,
    config: OutboxConfig,
}

impl Outbox {
    pub fn new(store: Arc<dyn Store>, psa: Arc<dyn Psa>, chat: Chat, config: OutboxConfig) -> Self {
        Self {
            store,
            psa,
            chat,
            config,
        }
    }

    /// Runs the worker until the process ends. New chat messages wake it.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut wake = self.chat.hub().subscribe();
            self.recover().await;
            loop {
                match self.run_once().await {
                    Ok(true) => continue,
                    Ok(false) => {}
                    Err(error) => tracing::error!(%error, "outbox worker could not claim a job"),
                }

                idle(&mut wake, self.config.idle_poll).await;
            }
        })
    }

    /// On SQLite this process is the only worker, so a job still running
    /// is one a crash (kill -9, power loss) interrupted: it is queued again at
    /// once instead of after its lease, and its "maybe sent" mark makes the
    /// next attempt adopt what the interrupted one wrote. On PostgreSQL other
    /// instances' workers may be running their jobs, so leases decide.
    async fn recover(&self) {
        if self.store.backend() != crate::store::Backend::Sqlite {
            return;
        }
        match self.store.release_running_jobs(now_millis()).await {
            Ok(0) => {}
            Ok(released) => tracing::warn!(
                released,
                "PSA writes interrupted by a crash are queued again"
            ),
            Err(error) => tracing::error!(%error, "could not queue interrupted PSA writes again"),
        }
    }

    /// Claims and runs one due job; `false` when none was due.
    pub async fn run_once(&self) -> Result<bool, StoreError> {
        let now = now_millis();
        let Some(job) = self
            .store
            .claim_job(now, now + millis(self.config.lease))
            .await?
        else {
            return Ok(false);
        };

        let span = tracing::info_span!("outbox job", job.id = job.id, kind = %job.kind, attempt = job.attempts);
        let outcome = tracing::Instrument::instrument(self.run(&job), span.clone()).await;
        let _entered = span.enter();
        self.settle(&job, outcome).await?;
        Ok(true)
    }

    /// Runs jobs until none is due; for tests and for draining at shutdown.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut ran = 0;
        while self.run_once().await? {
            ran += 1;
        }
        Ok(ran)
    }

    async fn run(&self, job: &OutboxJob) -> Result<serde_json::Value, JobError> {
        match job.kind {
            JobKind::CreateTicket => self.create_ticket(job).await,
            JobKind::AddNote => self.add_note(job).await,
            JobKind::AddFile => self.add_file(job).await,
            JobKind::ChangeStatus => self.change_status(job).await,
        }
    }

    /// Records how the attempt went: done, retry later, or parked.
    async fn settle(
        &self,
        job: &OutboxJob,
        outcome: Result<serde_json::Value, JobError>,
    ) -> Result<(), StoreError> {
        let now = now_millis();
        let (error, maybe_sent, retry) = match outcome {
            Ok(result) => {
                self.store
                    .job_done(job.id, &result.to_string(), now)
                    .await?;
                tracing::info!("PSA write done");
                self.announce_sync(job).await;
                return Ok(());
            }
            Err(JobError::Psa(PsaError::Transient {
                message,
                maybe_sent,
            })) => (message, maybe_sent, true),
            // Not connected yet, or the connector cannot be opened: the admin
            // can fix it, so keep the job until they do (or it is too old).
            Err(JobError::Psa(PsaError::NotConfigured(message))) => (message, false, true),
            Err(JobError::Store(error)) => (error.to_string(), false, true),
            Err(JobError::Psa(error @ (PsaError::Permanent(_) | PsaError::NotFound(_)))) => {
                (error.to_string(), false, false)
            }
            Err(JobError::Broken(message)) => (message, false, false),
        };

        let too_old = now - job.created_at >= millis(self.config.park_after);
        if retry && !too_old {
            let delay = backoff(&self.config, job.attempts);
            self.store
                .job_retry(job.id, now + delay, &error, maybe_sent)
                .await?;
            tracing::warn!(%error, retry_in_ms = delay, "PSA write will be retried");
        } else {
            self.store.job_failed(job.id, &error, now).await?;
            tracing::error!(%error, "PSA write parked for an admin");
        }
        self.announce_sync(job).await;
        Ok(())
    }

    async fn create_ticket(&self, job: &OutboxJob) -> Result<serde_json::Value, JobError> {
        let link = self
            .store
            .ticket_link(job.workspace_id, job.conversation_id)
            .await?
            .ok_or_else(|| JobError::Broken("the chat's ticket request is gone".to_owned()))?;
        if let Some(ticket_id) = link.ticket_id {
            return Ok(json!({ "ticket_id": ticket_id, "adopted": true }));
        }
        let payload: CreateTicketPayload = serde_json::from_str(&job.payload)
            .map_err(|error| JobError::Broken(format!("unreadable ticket request: {error}")))?;

        // An earlier attempt may have made the ticket and died before saying
        // so: find it by its marker rather than make a second one.
        let found = if job.maybe_sent {
            self.psa.find_ticket_by_marker(&payload.marker).await?
        } else {
            None
        };
        let (ticket, adopted) = match found {
            Some(ticket) => (ticket, true),
            None => {
                let new = NewPsaTicket {
                    summary: payload.summary.clone(),
                    details: payload.details.clone(),
                    contact: payload.contact.clone(),
                    defaults: self.psa.ticket_defaults().await?,
                    marker: payload.marker.clone(),
                };
                self.store.job_sending(job.id).await?;
                (self.psa.create_ticket(&new).await?, false)
            }
        };

        self.store
            .set_linked_ticket(
                job.conversation_id,
                ticket.id,
                &ticket.summary,
                ticket.status_name.as_deref(),
                now_millis(),
            )
            .await?;
        tracing::info!(ticket.id = ticket.id, adopted, "ticket linked to the chat");
        self.tell_chat(
            job,
            format!("Ticket #{} was created: {}", ticket.id, ticket.summary),
        )
        .await;
        Ok(json!({ "ticket_id": ticket.id, "adopted": adopted }))
    }

    /// Gives the linked ticket a status. Setting the same status twice is
    /// harmless, so a retry needs no look-up first.
    async fn change_status(&self, job: &OutboxJob) -> Result<serde_json::Value, JobError> {
        let link = self
            .store
            .ticket_link(job.workspace_id, job.conversation_id)
            .await?
            .ok_or_else(|| JobError::Broken("the chat has no ticket".to_owned()))?;
        let ticket_id = link
            .ticket_id
            .ok_or_else(|| JobError::Broken("the ticket was never created".to_owned()))?;
        let payload: serde_json::Value = serde_json::from_str(&job.payload)
            .map_err(|error| JobError::Broken(format!("unreadable status change: {error}")))?;
        let status_id = payload["status_id"]
            .as_i64()
            .ok_or_else(|| JobError::Broken("the status change names no status".to_owned()))?;

        let ticket = self.psa.change_status(ticket_id, status_id).await?;
        self.store
            .set_linked_ticket(
                job.conversation_id,
                ticket.id,
                &ticket.summary,
                ticket.status_name.as_deref(),
                now_millis(),
            )
            .await?;
        tracing::info!(
            ticket.id = ticket.id,
            status_id,
            "ticket status changed from the chat"
        );
        Ok(json!({ "ticket_id": ticket.id, "status_id": status_id }))
    }

    async fn add_note(&self, job: &OutboxJob) -> Result<serde_json::Value, JobError> {
        let (ticket_id, message, author) = self.job_message(job).await?;
        let note = NewPsaNote {
            ticket_id,
            text: message.body.clone(),
            author,
            visible_to_user: message.kind != MessageKind::Note,
        };

        let note = self.write_note_once(job, &note).await?;
        Ok(json!({ "ticket_id": ticket_id, "note_id": note.id }))
    }

    async fn add_file(&self, job: &OutboxJob) -> Result<serde_json::Value, JobError> {
        let (ticket_id, message, author) = self.job_message(job).await?;
        let info = message
            .attachment
            .clone()
            .ok_or_else(|| JobError::Broken("the message has no file".to_owned()))?;
        let attachment = self.store.attachment(job.workspace_id, info.id).await?;

        // The file goes with a note saying who sent it, so it sits in the
        // ticket's history where it happened.
        let note = NewPsaNote {
            ticket_id,
            text: format!("{author} sent the file {}", info.file_name),
            author,
            visible_to_user: true,
        };
        let note = self.write_note_once(job, &note).await?;

        // An earlier attempt's upload may have reached the PSA before it was
        // cut off: adopt that file rather than upload it again.
        let earlier = if job.maybe_sent {
            self.earlier_file(job, ticket_id, note.id, &info.file_name, info.size)
                .await?
        } else {
            None
        };
        let file_id = match earlier {
            Some(file_id) => file_id,
            None => {
                self.store.job_sending(job.id).await?;
                self.psa
                    .add_file(&NewPsaFile {
                        ticket_id,
                        note_id: Some(note.id),
                        file_name: info.file_name.clone(),
                        content_type: info.content_type.clone(),
                        data: attachment.data,
                    })
                    .await?
            }
        };

        // Remembered, so that the inbound sync never brings Parley's own
        // file back.
        self.store
            .record_psa_file(
                job.workspace_id,
                ticket_id,
                file_id,
                NoteDirection::Out,
                job.message_id,
            )
            .await?;
        Ok(json!({ "ticket_id": ticket_id, "note_id": note.id, "file_id": file_id }))
    }

    /// Adds a note, or adopts the one an earlier attempt may have written.
    async fn write_note_once(
        &self,
        job: &OutboxJob,
        note: &NewPsaNote,
    ) -> Result<PsaNote, JobError> {
        let earlier = if job.maybe_sent {
            self.earlier_note(job, note).await?
        } else {
            None
        };
        let written = match earlier {
            Some(written) => written,
            None => {
                self.store.job_sending(job.id).await?;
                self.psa.add_note(note, None).await?
            }
        };

        // Remembered, so that the poller never brings Parley's own note back.
        self.store
            .record_psa_note(
                job.workspace_id,
                note.ticket_id,
                written.id,
                NoteDirection::Out,
                job.message_id,
            )
            .await?;
        Ok(written)
    }

    /// The note an earlier attempt of this job may have written: one with
    /// the same text and visibility that Parley does not know as another
    /// message's (the same words sent twice, "ok" and "ok", are two notes),
    /// the newest first, as the lost write is the latest.
    async fn earlier_note(
        &self,
        job: &OutboxJob,
        note: &NewPsaNote,
    ) -> Result<Option<PsaNote>, JobError> {
        let mut notes = self.psa.notes(note.ticket_id).await?;
        notes.sort_by_key(|written| std::cmp::Reverse(written.id));
        for written in notes {
            if !written.text.contains(note.text.trim())
                || written.visible_to_user != note.visible_to_user
            {
                continue;
            }
            let owner = self
                .store
                .psa_note_message(job.workspace_id, note.ticket_id, written.id)
                .await?;
            match owner {
                None => return Ok(Some(written)),
                Some(message) if message.is_some() && message == job.message_id => {
                    return Ok(Some(written));
                }
                Some(_) => {}
            }
        }
        Ok(None)
    }

    /// The file an earlier attempt of this job may have uploaded: one with
    /// the same name on the same note, or the same name and size, that
    /// Parley does not know as another message's; the newest first.
    async fn earlier_file(
        &self,
        job: &OutboxJob,
        ticket_id: i64,
        note_id: i64,
        file_name: &str,
        size: i64,
    ) -> Result<Option<i64>, JobError> {
        let mut files = self.psa.files(ticket_id).await?;
        files.sort_by_key(|file| std::cmp::Reverse(file.id));
        for file in files {
            let same_name = file.file_name.trim() == file_name.trim();
            if !same_name || (file.note_id != Some(note_id) && file.size != size) {
                continue;
            }
            let owner = self
                .store
                .psa_file_message(job.workspace_id, ticket_id, file.id)
                .await?;
            match owner {
                None => return Ok(Some(file.id)),
                Some(Some(message)) if Some(message) == job.message_id => {
                    return Ok(Some(file.id));
                }
                Some(_) => {}
            }
        }
        Ok(None)
    }

    /// The ticket, message and author name a message job needs.
    async fn job_message(
        &self,
        job: &OutboxJob,
    ) -> Result<(i64, crate::store::Message, String), JobError> {
        let link = self
            .store
            .ticket_link(job.workspace_id, job.conversation_id)
            .await?
            .ok_or_else(|| JobError::Broken("the chat has no ticket".to_owned()))?;
        // Jobs run in order, so the creation has finished before this one;
        // without a ticket id it was parked, and this job waits behind it.
        let ticket_id = link
            .ticket_id
            .ok_or_else(|| JobError::Broken("the ticket was never created".to_owned()))?;
        let message_id = job
            .message_id
            .ok_or_else(|| JobError::Broken("the job names no message".to_owned()))?;
        let message = self.store.message(job.workspace_id, message_id).await?;

        let author = match (message.author_kind, message.author_id) {
            (AuthorKind::Technician, Some(id)) => self
                .store
                .account(job.workspace_id, id)
                .await
                .map(|account| account.name)
                .unwrap_or_else(|_| "A technician".to_owned()),
            (AuthorKind::EndUser, Some(id)) => self
                .store
                .end_user(job.workspace_id, id)
                .await
                .map(|user| user.name)
                .unwrap_or_else(|_| "The user".to_owned()),
            _ => message
                .author_name
                .clone()
                .unwrap_or_else(|| "Parley".to_owned()),
        };
        Ok((ticket_id, message, author))
    }

    /// Puts a system message in the chat (for example the new ticket's
    /// number) and tells both sides.
    async fn tell_chat(&self, job: &OutboxJob, text: String) {
        let message = NewMessage {
            workspace_id: job.workspace_id,
            conversation_id: job.conversation_id,
            kind: MessageKind::System,
            author_kind: AuthorKind::System,
            author_id: None,
            author_name: None,
            body: text,
            at: now_millis(),
        };
        let published = match self.store.add_message(message).await {
            Ok((_, message)) => self.chat.message_event(job.workspace_id, message.id).await,
            Err(error) => Err(error.into()),
        };
        match published {
            Ok(event) => self.chat.hub().publish(event),
            Err(error) => tracing::error!(%error, "could not tell the chat about its ticket"),
        }
    }

    /// Tells technicians' consoles how a message's sync stands now.
    async fn announce_sync(&self, job: &OutboxJob) {
        let Some(message_id) = job.message_id else {
            if let Ok(event) = self
                .chat
                .conversation_event(job.workspace_id, job.conversation_id)
                .await
            {
                self.chat.hub().publish(event);
            }
            return;
        };
        match self.store.message_sync(job.conversation_id).await {
            Ok(states) => {
                if let Some(state) = states.into_iter().find(|s| s.message_id == message_id) {
                    self.chat.hub().publish(Event::Sync {
                        workspace_id: job.workspace_id,
                        sync: crate::chat::view::SyncView::from(&state),
                    });
                }
            }
            Err(error) => tracing::error!(%error, "could not read a message's sync state"),
        }
    }
}

/// Waits, while idle, until an event that may have queued work or until the
/// poll interval; then takes every hint already waiting, since one look at
/// the outbox answers them all.
async fn idle(wake: &mut broadcast::Receiver<Arc<Event>>, poll: Duration) {
    let sweep = tokio::time::sleep(poll);
    tokio::pin!(sweep);
    loop {
        tokio::select! {
            received = wake.recv() => match received {
                Ok(event) if may_queue_work(&event) => break,
                Ok(_) => {}
                // Missed events may have been messages.
                Err(broadcast::error::RecvError::Lagged(_)) => break,
                // No more hints ever: only the sweep is left.
                Err(broadcast::error::RecvError::Closed) => {
                    (&mut sweep).await;
                    return;
                }
            },
            () = &mut sweep => return,
        }
    }

    while wake.try_recv().is_ok() {}
}

/// Whether an event may come with new outbox work. Jobs are queued in the
/// transaction of a new message (a text, a note, a file, or the system
/// message a ticket request posts) or of a conversation change (closing with
/// a ticket status); typing, read receipts, sync states and presence never
/// queue any, and the sync states are this worker's own.
fn may_queue_work(event: &Event) -> bool {
    match event {
        Event::Message { .. } | Event::Conversation { .. } => true,
        Event::Typing { .. } | Event::Read { .. } | Event::Sync { .. } | Event::Presence { .. } => {
            false
        }
    }
}

/// The delay before attempt `attempts + 1`: doubling from the base, capped,
/// with up to a fifth of jitter so that many jobs failing together do not
/// retry together.
fn backoff(config: &OutboxConfig, attempts: i64) -> Millis {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let base = millis(config.base_backoff).saturating_mul(1 << exponent);
    let capped = base.min(millis(config.max_backoff));
    let jitter = rand::random_range(0..=capped / 5 + 1);
    capped - capped / 10 + jitter
}

fn millis(duration: Duration) -> Millis {
    Millis::try_from(duration.as_millis()).unwrap_or(Millis::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::hub::{Hub, Scope};
    use crate::chat::view::{AuthorView, SyncView};

    fn typing() -> Event {
        Event::Typing {
            scope: Scope::default(),
            conversation_id: 3,
            author: AuthorView {
                kind: AuthorKind::EndUser,
                id: Some(7),
                name: "Dana".to_owned(),
            },
        }
    }

    fn sync() -> Event {
        Event::Sync {
            workspace_id: 1,
            sync: SyncView {
                message_id: 5,
                job_id: 9,
                state: "synced",
                note_id: Some(11),
                error: None,
            },
        }
    }

    #[test]
    fn only_messages_and_conversation_changes_may_queue_work() {
        let presence = Event::Presence {
            workspace_id: 1,
            online: true,
        };

        assert!(!may_queue_work(&typing()));
        assert!(!may_queue_work(&sync()));
        assert!(!may_queue_work(&presence));
    }

    /// Whether the idle wait ends on its first look, without its sweep.
    fn ends_at_once(wake: &mut broadcast::Receiver<Arc<Event>>) -> bool {
        let waiting = std::pin::pin!(idle(wake, Duration::from_secs(3600)));
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        waiting.poll(&mut context).is_ready()
    }

    #[tokio::test]
    async fn a_typing_event_does_not_wake_the_idle_worker_but_a_message_does() {
        let hub = Hub::new();
        let mut wake = hub.subscribe();
        let message = crate::store::Message {
            id: 5,
            workspace_id: 1,
            conversation_id: 3,
            kind: MessageKind::Text,
            author_kind: AuthorKind::EndUser,
            author_id: Some(7),
            author_name: None,
            body: "hello".to_owned(),
            attachment: None,
            created_at: 0,
        };
        let message = Event::Message {
            scope: Scope::default(),
            message: crate::chat::view::Names::default().message(&message),
        };

        hub.publish(typing());
        hub.publish(sync());
        let woke_for_typing = ends_at_once(&mut wake);
        hub.publish(typing());
        hub.publish(message);
        hub.publish(typing());
        let woke_for_message = ends_at_once(&mut wake);

        assert!(!woke_for_typing);
        assert!(woke_for_message);
        assert!(wake.try_recv().is_err(), "hints were left waiting");
    }

    #[test]
    fn backoff_doubles_and_stays_under_its_cap() {
        let config = OutboxConfig {
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            ..OutboxConfig::default()
        };

        let first = backoff(&config, 1);
        let second = backoff(&config, 2);
        let late = backoff(&config, 30);

        assert!((900..=1200).contains(&first), "{first}");
        assert!((1800..=2400).contains(&second), "{second}");
        assert!((9000..=12_001).contains(&late), "{late}");
    }
}
