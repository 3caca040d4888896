//! [`HaloPsa`]: the [`Psa`] trait over HaloPSA, through [`halo::HaloClient`].
//!
//! This is the only place that knows how Parley's PSA-neutral requests map to
//! Halo's API (`reference/halo-api.md` has the evidence for every choice):
//!
//! - contacts are Halo users, found by a "like" search and filtered here to an
//!   exact, case-insensitive email among active users (§3.6, §4);
//! - tickets are created with a marker line in their details, so a retried
//!   creation can find the ticket an earlier attempt made (§3.1);
//! - notes are actions whose outcome (action type) is named, not numbered
//!   (§3.2), so the outcome list is fetched once and cached;
//! - every [`HaloError`] becomes a [`PsaError`] the sync engine acts on (see
//!   [`psa_error`]).
//!
//! Setup lists (outcomes, statuses) are cached for an hour: one request per
//! process and hour, not one per note. The client draws from the site's shared
//! request budget, so every connector of one Halo site respects one limit.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use halo::model::{
    Action, NewAction, NewAttachment, NewTicket, Outcome, Status, Ticket, TicketUpdate, User,
};
use halo::{
    ActionQuery, HaloClient, HaloConfig, HaloError, HostPolicy, Paging, Secret, SiteUrl,
    TicketQuery, UserQuery,
};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{
    Changes, Contact, NewPsaFile, NewPsaNote, NewPsaTicket, Psa, PsaError, PsaFile, PsaNote,
    PsaResult, PsaTicket, TicketDefaults,
};

/// The longest summary Parley sends. halo-api.md records no limit for
/// `summary` (the swagger gives no `maxLength`); 100 characters is a
/// conservative guess that fits Halo's ticket lists and e-mail subjects.
pub const SUMMARY_LIMIT: usize = 100;

/// What starts the marker line at the end of a chat ticket's details.
pub const MARKER_PREFIX: &str = "Parley chat reference: ";

/// The name of the catch-all contact Halo has on every site (§3.6: real
/// integrations look for `name == "General User"`).
pub const GENERAL_USER: &str = "General User";

/// How long outcome and status lists are reused before being fetched again.
const SETUP_TTL: Duration = Duration::from_secs(3600);

/// At most this many contacts come back for a technician's search.
const CONTACT_SEARCH_LIMIT: usize = 25;

/// At most this many of a contact's tickets are listed (newest first).
const CONTACT_TICKETS_LIMIT: usize = 100;

/// Tickets a marker search looks at; a marker is unique, so one is expected.
const MARKER_SEARCH_LIMIT: usize = 20;

/// The first look for changes, and the most one poll walks in a burst.
const CHANGES_PAGE: usize = 100;
const CHANGES_MAX: usize = 1000;

/// How to reach one Halo, as the connector stores it.
#[derive(Debug, Clone)]
pub struct HaloSettings {
    pub site_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub tenant: Option<String>,
    /// Whether plain http and private addresses are allowed (tests, the demo,
    /// a Halo on the LAN).
    pub allow_private: bool,
}

impl HaloSettings {
    /// The client configuration: Halo's defaults, the site's shared budget.
    pub fn config(&self) -> PsaResult<HaloConfig> {
        let policy = if self.allow_private {
            HostPolicy::AllowPrivate
        } else {
            HostPolicy::PublicOnly
        };
        let site = SiteUrl::parse(&self.site_url, policy)
            .map_err(|error| PsaError::NotConfigured(error.to_string()))?
            .site;

        let mut config = HaloConfig::new(site, self.client_id.trim(), self.client_secret.clone());
        config.tenant = self
            .tenant
            .as_deref()
            .map(str::trim)
            .filter(|tenant| !tenant.is_empty())
            .map(str::to_owned);
        // `budget: None` is the site's process-wide budget: every client of
        // this site draws from it, as Halo's limit is per instance.
        config.budget = None;
        Ok(config)
    }
}

/// HaloPSA as Parley's [`Psa`]. Cheap to clone: clones share the client
/// (connections, token, budget) and the setup caches.
#[derive(Debug, Clone)]
pub struct HaloPsa {
    client: HaloClient,
    /// Note outcomes and the closed status come from here; ticket defaults
    /// travel with each [`NewPsaTicket`].
    defaults: TicketDefaults,
    outcomes: Arc<SetupCache<Outcome>>,
    statuses: Arc<SetupCache<Status>>,
}

impl HaloPsa {
    /// A connector from the admin's saved settings.
    pub fn connect(settings: &HaloSettings, defaults: TicketDefaults) -> PsaResult<Self> {
        Self::new(settings.config()?, defaults)
    }

    /// A connector over a client built from `config`.
    pub fn new(config: HaloConfig, defaults: TicketDefaults) -> PsaResult<Self> {
        let client = HaloClient::new(config).map_err(|error| psa_error(error, "Halo"))?;
        Ok(Self::from_client(client, defaults))
    }

    /// A connector over an existing client (sharing its token and budget).
    pub fn from_client(client: HaloClient, defaults: TicketDefaults) -> Self {
        Self {
            client,
            defaults,
            outcomes: Arc::new(SetupCache::new(SETUP_TTL)),
            statuses: Arc::new(SetupCache::new(SETUP_TTL)),
        }
    }

    pub fn client(&self) -> &HaloClient {
        &self.client
    }

    pub fn defaults(&self) -> &TicketDefaults {
        &self.defaults
    }

    /// The outcome (action type) name for a note: the one asked for, else the
    /// connector's default for the note's visibility.
    async fn outcome_for(&self, visible: bool, asked: Option<i64>) -> PsaResult<String> {
        let wanted = asked.or(if visible {
            self.defaults.visible_outcome_id
        } else {
            self.defaults.private_outcome_id
        });
        let fetch = || self.client.list_outcomes();
        let outcomes = self
            .outcomes
            .get(fetch)
            .await
            .map_err(fail("the note types (outcomes)"))?;

        let Some(id) = wanted else {
            // No default saved (an older connector): the first active outcome
            // whose own visibility agrees, preferring ones that send no email.
            let mut fitting: Vec<&Outcome> = outcomes
                .iter()
                .filter(|o| !o.inactive && o.hidefromuser != visible)
                .collect();
            fitting.sort_by_key(|o| (o.sendemail, o.id));
            return fitting.first().map(|o| o.outcome.clone()).ok_or_else(|| {
                PsaError::Permanent(format!(
                    "Halo has no {} note type (outcome); add one in Halo or choose one on \
                         the Connectors page",
                    if visible { "user-visible" } else { "private" }
                ))
            });
        };

        if let Some(outcome) = outcomes.iter().find(|o| o.id == id) {
            return Ok(outcome.outcome.clone());
        }
        // The admin may have added it since the list was cached: look once more.
        let outcomes = self
            .outcomes
            .refresh(fetch)
            .await
            .map_err(fail("the note types (outcomes)"))?;
        outcomes
            .iter()
            .find(|o| o.id == id)
            .map(|o| o.outcome.clone())
            .ok_or_else(|| {
                PsaError::Permanent(format!(
                    "Halo has no note type (outcome) with id {id}; choose the note types again \
                     on the Connectors page"
                ))
            })
    }

    /// A ticket as Parley shows it. Status names come from the cached status
    /// list when Halo's answer has none (lists only carry `status_id`); a
    /// failure to read the list leaves the name out rather than failing.
    async fn view(&self, ticket: Ticket) -> PsaTicket {
        let status_name = match ticket.status_name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => Some(name.to_owned()),
            _ => self.status_name(ticket.status_id).await,
        };
        let closed = ticket.dateclosed.is_some()
            || (ticket.status_id.is_some() && ticket.status_id == self.defaults.closed_status_id);

        PsaTicket {
            id: ticket.id,
            summary: ticket.summary.clone(),
            status_id: ticket.status_id,
            status_name,
            closed,
            contact_id: ticket.user_id,
            client_id: ticket.client_id,
            updated_at: changed_at(&ticket).map(time),
        }
    }

    async fn status_name(&self, status_id: Option<i64>) -> Option<String> {
        let status_id = status_id?;
        match self.statuses.get(|| self.client.list_statuses()).await {
            Ok(statuses) => statuses
                .iter()
                .find(|s| s.id == status_id)
                .map(|s| s.name.clone()),
            Err(error) => {
                tracing::debug!(cause = error.kind(), "status names unavailable");
                None
            }
        }
    }

    async fn views(&self, tickets: Vec<Ticket>) -> Vec<PsaTicket> {
        let mut views = Vec::with_capacity(tickets.len());
        for ticket in tickets {
            views.push(self.view(ticket).await);
        }
        views
    }

    /// The newest change Halo knows of, as the first cursor: Halo's clock,
    /// not ours, so a skew between the two cannot skip changes.
    async fn start_cursor(&self) -> PsaResult<Changes> {
        let newest = self
            .client
            .list_tickets(&by_last_action(Paging::first(1)))
            .await
            .map_err(fail("the newest tickets"))?;
        let at = newest.first().and_then(changed_at).unwrap_or_else(Utc::now);
        Ok(Changes {
            tickets: Vec::new(),
            cursor: time(at),
        })
    }
}

#[async_trait]
impl Psa for HaloPsa {
    async fn ticket_defaults(&self) -> PsaResult<TicketDefaults> {
        Ok(self.defaults.clone())
    }

    #[tracing::instrument(skip_all)]
    async fn contacts_by_email(&self, email: &str) -> PsaResult<Vec<Contact>> {
        let email = email.trim();
        if email.is_empty() || !email.contains('@') {
            return Ok(Vec::new());
        }

        // Halo's search is a "like" match; `find_users_by_email` keeps exact
        // matches, and the check is repeated here because a wrong match would
        // show one person another's tickets.
        let users = self
            .client
            .find_users_by_email(email)
            .await
            .map_err(fail("contacts"))?;
        let contacts: Vec<Contact> = users
            .into_iter()
            .filter(|user| !user.inactive)
            .filter(|user| {
                user.emailaddress
                    .as_deref()
                    .is_some_and(|address| address.trim().eq_ignore_ascii_case(email))
            })
            .filter_map(contact_from)
            .collect();

        tracing::debug!(found = contacts.len(), "contacts looked up by email");
        Ok(contacts)
    }

    #[tracing::instrument(skip_all)]
    async fn search_contacts(&self, text: &str) -> PsaResult<Vec<Contact>> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(Vec::new());
        }

        let query = UserQuery {
            search: Some(text.to_owned()),
            paging: Paging::first(CONTACT_SEARCH_LIMIT),
            ..UserQuery::default()
        };
        let users = self
            .client
            .list_users(&query)
            .await
            .map_err(fail("contacts"))?;
        Ok(users
            .into_iter()
            .filter(|user| !user.inactive)
            .filter_map(contact_from)
            .collect())
    }

    /// An active contact by id. An inactive one is [`PsaError::NotFound`]:
    /// Parley never matches or picks a contact Halo has switched off.
    #[tracing::instrument(skip_all, fields(contact.id = id))]
    async fn contact(&self, id: i64) -> PsaResult<Contact> {
        let what = format!("contact {id}");
        let user = self.client.get_user(id).await.map_err(fail(&what))?;

        if user.inactive {
            return Err(PsaError::NotFound(format!("active {what}")));
        }
        contact_from(user)
            .ok_or_else(|| PsaError::Permanent(format!("Halo user {id} belongs to no client")))
    }

    #[tracing::instrument(skip_all, fields(client.id = client_id))]
    async fn catch_all_contact(&self, client_id: i64) -> PsaResult<Option<Contact>> {
        let query = UserQuery {
            search: Some(GENERAL_USER.to_owned()),
            client_id: Some(client_id),
            paging: Paging::first(50),
            ..UserQuery::default()
        };
        let users = self
            .client
            .list_users(&query)
            .await
            .map_err(fail("the client's General User"))?;

        // Filter again: the search is "like", and a client filter Halo did
        // not honour must not hand over another client's contact.
        let mut generals: Vec<User> = users
            .into_iter()
            .filter(|user| !user.inactive && user.client_id == Some(client_id))
            .filter(|user| user.name.trim().eq_ignore_ascii_case(GENERAL_USER))
            .collect();
        generals.sort_by_key(|user| user.id);
        if generals.len() <= 1 {
            return Ok(generals.into_iter().next().and_then(contact_from));
        }

        // Every site has one: prefer the client's main site.
        let main_site = self
            .client
            .get_client(client_id)
            .await
            .map_err(fail(&format!("client {client_id}")))?
            .main_site_id;
        let index = generals
            .iter()
            .position(|user| user.site_id.is_some() && user.site_id == main_site)
            .unwrap_or(0);
        Ok(contact_from(generals.swap_remove(index)))
    }

    #[tracing::instrument(skip_all, fields(contact.id = contact_id, open))]
    async fn contact_tickets(&self, contact_id: i64, open: bool) -> PsaResult<Vec<PsaTicket>> {
        let query = TicketQuery {
            user_id: Some(contact_id),
            open_only: open,
            closed_only: !open,
            ..by_last_action(Paging::first(CONTACT_TICKETS_LIMIT))
        };
        let tickets = self
            .client
            .list_tickets(&query)
            .await
            .map_err(fail("tickets"))?;

        // Halo silently ignores filters it does not know (§2): were `user_id`
        // ever ignored, this check is what keeps other people's tickets out.
        let own: Vec<Ticket> = tickets
            .into_iter()
            .filter(|ticket| ticket.user_id == Some(contact_id))
            .collect();
        let mut views = self.views(own).await;
        // The filter Halo applied says which side they are on; a closed
        // status Parley does not know must not show a closed ticket as open.
        for view in &mut views {
            view.closed = !open;
        }
        Ok(views)
    }

    #[tracing::instrument(skip_all, fields(ticket.id = id))]
    async fn ticket_with_visible_notes(&self, id: i64) -> PsaResult<(PsaTicket, Vec<PsaNote>)> {
        let what = format!("ticket {id}");
        let ticket = self.client.get_ticket(id).await.map_err(fail(&what))?;
        let query = ActionQuery {
            exclude_private: true,
            exclude_system: true,
            ..ActionQuery::default()
        };
        let actions = self
            .client
            .list_actions(id, &query)
            .await
            .map_err(fail(&what))?;

        // `excludeprivate` asks Halo to leave private notes out; checking
        // each action as well means an ignored filter cannot leak one.
        let mut notes: Vec<PsaNote> = actions
            .into_iter()
            .filter(|action| !action.hiddenfromuser && !action.note.trim().is_empty())
            .map(note_from)
            .collect();
        notes.sort_by_key(|note| note.id);
        Ok((self.view(ticket).await, notes))
    }

    #[tracing::instrument(skip_all, fields(contact.id = ticket.contact.id))]
    async fn create_ticket(&self, ticket: &NewPsaTicket) -> PsaResult<PsaTicket> {
        let defaults = &ticket.defaults;
        let mut summary = cut_summary(&ticket.summary, SUMMARY_LIMIT);
        if summary.is_empty() {
            // Halo refuses a ticket without a summary.
            summary = cut_summary(&format!("Chat with {}", ticket.contact.name), SUMMARY_LIMIT);
        }
        let new = NewTicket {
            summary,
            details: Some(details_with_marker(&ticket.details, &ticket.marker)),
            tickettype_id: defaults.ticket_type_id,
            client_id: Some(ticket.contact.client_id),
            site_id: ticket.contact.site_id,
            user_id: Some(ticket.contact.id),
            status_id: defaults.initial_status_id,
            priority_id: defaults.priority_id,
            team: defaults.team.clone(),
            ..NewTicket::default()
        };

        let created = self
            .client
            .create_ticket(&new)
            .await
            .map_err(fail("the new ticket"))?;
        tracing::info!(ticket.id = created.id, "ticket created in Halo");
        Ok(self.view(created).await)
    }

    #[tracing::instrument(skip_all)]
    async fn find_ticket_by_marker(&self, marker: &str) -> PsaResult<Option<PsaTicket>> {
        let marker = marker.trim();
        if marker.is_empty() {
            return Ok(None);
        }

        let hits = self
            .client
            .search_tickets(marker, MARKER_SEARCH_LIMIT)
            .await
            .map_err(fail("tickets"))?;
        let line = format!("{MARKER_PREFIX}{marker}");
        let mut hits = hits;
        // The oldest is the one the first attempt made.
        hits.sort_by_key(|ticket| ticket.id);

        for hit in hits {
            if carries_marker(&hit, &line) {
                return Ok(Some(self.view(hit).await));
            }
            // The marker in the text but not as Parley's line: someone quoted
            // it, and this is not the ticket Parley made.
            if hit.details.contains(marker) || hit.summary.contains(marker) {
                continue;
            }
            // "like" matched text this copy does not show (a list item's
            // details may be shortened): only the full ticket can tell.
            let full = self
                .client
                .get_ticket(hit.id)
                .await
                .map_err(fail(&format!("ticket {}", hit.id)))?;
            if carries_marker(&full, &line) {
                return Ok(Some(self.view(full).await));
            }
        }
        Ok(None)
    }

    #[tracing::instrument(skip_all, fields(ticket.id = note.ticket_id, visible = note.visible_to_user))]
    async fn add_note(&self, note: &NewPsaNote, outcome_id: Option<i64>) -> PsaResult<PsaNote> {
        let outcome = self.outcome_for(note.visible_to_user, outcome_id).await?;
        let html = note_html(&note.text);
        let mut action = if note.visible_to_user {
            NewAction::visible_note(note.ticket_id, outcome, html)
        } else {
            NewAction::private_note(note.ticket_id, outcome, html)
        };
        action.note = Some(note.text.clone());
        let author = note.author.trim();
        if !author.is_empty() {
            action.who = Some(author.to_owned());
        }

        let what = format!("ticket {}", note.ticket_id);
        let saved = self
            .client
            .create_action(&action)
            .await
            .map_err(fail(&what))?;
        tracing::info!(action.id = saved.id, "note added in Halo");
        Ok(note_from(saved))
    }

    #[tracing::instrument(skip_all, fields(ticket.id = ticket_id))]
    async fn notes(&self, ticket_id: i64) -> PsaResult<Vec<PsaNote>> {
        let actions = self
            .client
            .list_actions(ticket_id, &ActionQuery::default())
            .await
            .map_err(fail(&format!("ticket {ticket_id}")))?;

        // Halo lists the newest first; callers want the ticket's order.
        let mut notes: Vec<PsaNote> = actions.into_iter().map(note_from).collect();
        notes.sort_by_key(|note| note.id);
        Ok(notes)
    }

    #[tracing::instrument(skip_all, fields(ticket.id = file.ticket_id, size = file.data.len()))]
    async fn add_file(&self, file: &NewPsaFile) -> PsaResult<i64> {
        let content_type = match file.content_type.trim() {
            "" => "application/octet-stream",
            given => given,
        };
        let mut upload = NewAttachment::new(&file.file_name, content_type, &file.data)
            .for_ticket(file.ticket_id);
        if let Some(note_id) = file.note_id {
            upload = upload.on_action(note_id);
        }

        let saved = self
            .client
            .upload_attachment(&upload)
            .await
            .map_err(fail(&format!("ticket {}", file.ticket_id)))?;
        tracing::info!(attachment.id = saved.id, "file uploaded to Halo");
        Ok(saved.id)
    }

    /// The ticket's attachments. Halo's list does not say (in the fields
    /// `halo::model::Attachment` reads) whether a file is on a private
    /// action, so the ticket's actions are read too: a file on a private
    /// action, or on one that cannot be found, is not visible.
    #[tracing::instrument(skip_all, fields(ticket.id = ticket_id))]
    async fn files(&self, ticket_id: i64) -> PsaResult<Vec<PsaFile>> {
        let what = format!("ticket {ticket_id}");
        let attachments = self
            .client
            .list_attachments(ticket_id, None)
            .await
            .map_err(fail(&what))?;
        if attachments.is_empty() {
            return Ok(Vec::new());
        }
        let actions = self
            .client
            .list_actions(ticket_id, &ActionQuery::default())
            .await
            .map_err(fail(&what))?;

        let mut files: Vec<PsaFile> = attachments
            .into_iter()
            .filter(|file| file.ticket_id.is_none_or(|id| id == ticket_id))
            .map(|file| {
                let visible_to_user = match file.action_id {
                    None => true,
                    Some(action_id) => actions
                        .iter()
                        .find(|action| action.id == action_id)
                        .is_some_and(|action| !action.hiddenfromuser),
                };
                PsaFile {
                    id: file.id,
                    ticket_id,
                    note_id: file.action_id,
                    file_name: file.filename.trim().to_owned(),
                    content_type: file.content_type.filter(|given| !given.trim().is_empty()),
                    size: file.filesize,
                    visible_to_user,
                    created_at: file.datecreated.map(time),
                }
            })
            .collect();
        files.sort_by_key(|file| file.id);
        Ok(files)
    }

    #[tracing::instrument(skip_all, fields(attachment.id = id))]
    async fn download_file(&self, id: i64) -> PsaResult<(String, String, Vec<u8>)> {
        let file = self
            .client
            .download_attachment(id)
            .await
            .map_err(fail(&format!("file {id}")))?;
        let content_type = file
            .content_type
            .as_deref()
            .and_then(|given| given.split(';').next())
            .map(str::trim)
            .filter(|given| !given.is_empty())
            .unwrap_or("application/octet-stream")
            .to_owned();
        Ok((
            file.filename.unwrap_or_else(|| format!("file-{id}")),
            content_type,
            file.bytes,
        ))
    }

    /// Changes the status with a ticket update (`POST /Tickets` with `id`
    /// and `status_id`), the way halo-api.md §3.1 records integrations
    /// closing tickets. An action with `new_status` would work too (the
    /// simulator honours both) but is only [likely] in §3.2 and would need an
    /// outcome that every instance names differently.
    #[tracing::instrument(skip_all, fields(ticket.id = ticket_id, status.id = status_id))]
    async fn change_status(&self, ticket_id: i64, status_id: i64) -> PsaResult<PsaTicket> {
        let update = TicketUpdate {
            status_id: Some(status_id),
            ..TicketUpdate::new(ticket_id)
        };

        let saved = self
            .client
            .update_ticket(&update)
            .await
            .map_err(fail(&format!("ticket {ticket_id}")))?;
        tracing::info!("ticket status changed in Halo");
        Ok(self.view(saved).await)
    }

    /// Tickets whose last action (or last update) is newer than the cursor,
    /// oldest change first. The cursor is an RFC 3339 time on Halo's clock.
    ///
    /// Uncertain (halo-api.md §5, §7.10): the default ticket order is unknown,
    /// so `order=lastactiondate&orderdesc=true` is always sent, as §5
    /// suggests for polling. Whether every change moves `lastactiondate` is
    /// not established: a status changed by a plain ticket update may move
    /// only `last_update`, which is compared too but does not decide the
    /// order, so such a ticket is only seen when it is also among the most
    /// recently actioned. `lastupdatefromdate` (§3.1) would filter on the
    /// server; `halo::TicketQuery` does not offer it yet.
    #[tracing::instrument(skip_all)]
    async fn changes_since(&self, cursor: Option<&str>) -> PsaResult<Changes> {
        let Some(cursor) = cursor else {
            return self.start_cursor().await;
        };
        let since = DateTime::parse_from_rfc3339(cursor.trim())
            .map(|at| at.with_timezone(&Utc))
            .map_err(|_| {
                PsaError::Permanent(format!("the poll cursor `{cursor}` is not a time"))
            })?;

        let mut limit = CHANGES_PAGE;
        let tickets = loop {
            let tickets = self
                .client
                .list_tickets(&by_last_action(Paging::first(limit)))
                .await
                .map_err(fail("changed tickets"))?;
            // Newest first: once the oldest fetched is not newer than the
            // cursor, nothing further down can be.
            let reached_cursor = tickets
                .last()
                .is_none_or(|oldest| oldest.lastactiondate.is_none_or(|at| at <= since));
            if reached_cursor || tickets.len() < limit || limit >= CHANGES_MAX {
                if !reached_cursor && tickets.len() >= limit {
                    tracing::warn!(
                        limit,
                        "more tickets changed than one poll reads; the oldest wait for a later poll"
                    );
                }
                break tickets;
            }
            limit = CHANGES_MAX;
        };

        let mut changed: Vec<(DateTime<Utc>, Ticket)> = tickets
            .into_iter()
            .filter_map(|ticket| changed_at(&ticket).map(|at| (at, ticket)))
            .filter(|(at, _)| *at > since)
            .collect();
        changed.sort_by_key(|(at, ticket)| (*at, ticket.id));
        let newest = changed.last().map_or(since, |(at, _)| *at);

        let views = self
            .views(changed.into_iter().map(|(_, ticket)| ticket).collect())
            .await;
        tracing::debug!(changed = views.len(), "polled Halo for changes");
        Ok(Changes {
            tickets: views,
            cursor: time(newest),
        })
    }
}

/// Maps a Halo failure to what the sync engine acts on; `what` names the
/// record for [`PsaError::NotFound`] (e.g. `ticket 1001`).
///
/// - 429, Parley's own budget, 5xx, timeouts and connection failures are
///   [`PsaError::Transient`]. `maybe_sent` is true only for a write (a POST
///   other than the token request) that may have reached Halo: a timeout, a
///   dropped connection, a 5xx (a gateway's 502/504 can come after Halo
///   saved), or a success answer that could not be read. It is false for
///   reads, connection refused, DNS and 429, where nothing was done.
/// - 404 is [`PsaError::NotFound`].
/// - Everything else (validation, permissions, credentials, TLS, a redirect)
///   is [`PsaError::Permanent`] with Halo's words and the fix, as retrying
///   cannot help. TLS counts here: an untrusted certificate needs an admin.
pub fn psa_error(error: HaloError, what: &str) -> PsaError {
    let transient = |maybe_sent: bool| PsaError::Transient {
        message: error.to_string(),
        maybe_sent,
    };

    match &error {
        HaloError::NotFound { .. } => PsaError::NotFound(what.to_owned()),
        HaloError::RateLimited { .. }
        | HaloError::BudgetExhausted { .. }
        | HaloError::Connect { .. } => transient(false),
        HaloError::Server { call, .. }
        | HaloError::Timeout { call, .. }
        | HaloError::Transport { call, .. } => transient(is_write(call)),
        HaloError::Decode { call, .. } if is_write(call) => transient(true),
        _ => PsaError::Permanent(match error.fix() {
            Some(fix) => format!("{error}. {fix}"),
            None => error.to_string(),
        }),
    }
}

/// Maps and logs a failure. Only the kind and status are logged: Halo's
/// answer text can quote what was sent.
fn fail(what: &str) -> impl FnOnce(HaloError) -> PsaError + '_ {
    move |error| {
        tracing::debug!(
            cause = error.kind(),
            status = ?error.status(),
            what,
            "Halo call failed"
        );
        psa_error(error, what)
    }
}

/// Whether a call (`POST Tickets`) writes to Halo. The token request is a
/// POST too, but asking for a token again changes nothing.
fn is_write(call: &str) -> bool {
    call.starts_with("POST ") && !call.eq_ignore_ascii_case("POST auth/token")
}

/// A list query for the most recently actioned tickets first.
fn by_last_action(paging: Paging) -> TicketQuery {
    TicketQuery {
        order: Some("lastactiondate".to_owned()),
        order_descending: true,
        paging,
        ..TicketQuery::default()
    }
}

/// When a ticket last changed: its last action or last update, whichever is
/// later.
fn changed_at(ticket: &Ticket) -> Option<DateTime<Utc>> {
    ticket.lastactiondate.max(ticket.last_update)
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A Halo user as a contact; `None` for one without a client, who cannot
/// have tickets placed.
fn contact_from(user: User) -> Option<Contact> {
    let Some(client_id) = user.client_id else {
        tracing::debug!(
            user.id = user.id,
            "a Halo user without a client was left out"
        );
        return None;
    };

    Some(Contact {
        id: user.id,
        name: user.name.trim().to_owned(),
        email: user
            .emailaddress
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned(),
        client_id,
        client_name: user.client_name.unwrap_or_default(),
        site_id: user.site_id,
        site_name: user.site_name,
    })
}

fn note_from(action: Action) -> PsaNote {
    let by_agent = action.who_type == Some(1) || action.who_agentid.is_some();
    let created_at = action.datetime.or(action.actiondatecreated).map(time);

    PsaNote {
        id: action.id,
        ticket_id: action.ticket_id,
        text: action.note,
        author: action
            .who
            .map(|who| who.trim().to_owned())
            .filter(|who| !who.is_empty())
            .unwrap_or_else(|| "Halo".to_owned()),
        by_agent,
        visible_to_user: !action.hiddenfromuser,
        created_at,
    }
}

/// The summary on one line, cut to `limit` characters (an ellipsis marks a
/// cut) at a character boundary.
pub fn cut_summary(text: &str, limit: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= limit {
        return line;
    }

    let mut cut: String = line.chars().take(limit.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// The details as sent: the transcript, then the marker on its own line.
pub fn details_with_marker(details: &str, marker: &str) -> String {
    let details = details.trim_end();
    let marker = marker.trim();
    match (details.is_empty(), marker.is_empty()) {
        (_, true) => details.to_owned(),
        (true, false) => format!("{MARKER_PREFIX}{marker}"),
        (false, false) => format!("{details}\n\n{MARKER_PREFIX}{marker}"),
    }
}

/// Whether a ticket's details hold the marker line (plain or HTML copy).
fn carries_marker(ticket: &Ticket, line: &str) -> bool {
    ticket.details.contains(line)
        || ticket
            .details_html
            .as_deref()
            .is_some_and(|html| html.contains(line))
}

/// Plain text as the HTML of a note: escaped, line breaks kept.
fn note_html(text: &str) -> String {
    let mut html = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => html.push_str("&amp;"),
            '<' => html.push_str("&lt;"),
            '>' => html.push_str("&gt;"),
            '"' => html.push_str("&quot;"),
            '\'' => html.push_str("&#39;"),
            '\n' => html.push_str("<br>"),
            '\r' => {}
            c => html.push(c),
        }
    }
    format!("<p>{html}</p>")
}

/// A setup list fetched once and reused for a while. The lock is held while
/// fetching, so callers arriving meanwhile wait for that one request instead
/// of making their own.
#[derive(Debug)]
struct SetupCache<T> {
    ttl: Duration,
    slot: Mutex<Option<(Instant, Arc<Vec<T>>)>>,
}

impl<T> SetupCache<T> {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            slot: Mutex::new(None),
        }
    }

    async fn get<F, Fut>(&self, fetch: F) -> Result<Arc<Vec<T>>, HaloError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<T>, HaloError>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((at, items)) = slot.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(Arc::clone(items));
        }

        let items = Arc::new(fetch().await?);
        *slot = Some((Instant::now(), Arc::clone(&items)));
        Ok(items)
    }

    async fn refresh<F, Fut>(&self, fetch: F) -> Result<Arc<Vec<T>>, HaloError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<T>, HaloError>>,
    {
        self.slot.lock().await.take();
        self.get(fetch).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_summary_is_cut_on_one_line() {
        let long = format!("Printer\njams   {}", "x".repeat(200));

        let cut = cut_summary(&long, SUMMARY_LIMIT);

        assert_eq!(cut.chars().count(), SUMMARY_LIMIT);
        assert!(cut.starts_with("Printer jams x"), "{cut}");
        assert!(cut.ends_with('…'));
        assert_eq!(cut_summary("  short  ", 100), "short");
        assert_eq!(cut_summary(&"é".repeat(150), 10).chars().count(), 10);
    }

    #[test]
    fn the_marker_is_the_last_line_of_the_details() {
        assert_eq!(
            details_with_marker("Dana: hi\n", "m-1"),
            "Dana: hi\n\nParley chat reference: m-1"
        );
        assert_eq!(details_with_marker("", "m-1"), "Parley chat reference: m-1");
        assert_eq!(details_with_marker("text", " "), "text");
    }

    #[test]
    fn note_text_is_escaped_as_html() {
        assert_eq!(
            note_html("a < b & \"c\"\nnext"),
            "<p>a &lt; b &amp; &quot;c&quot;<br>next</p>"
        );
    }

    #[test]
    fn reads_and_refusals_were_not_sent_but_write_timeouts_may_have_been() {
        let timeout = |call: &str| HaloError::Timeout {
            call: call.to_owned(),
            after: Duration::from_secs(30),
        };
        let sent = |error: PsaError| match error {
            PsaError::Transient { maybe_sent, .. } => Some(maybe_sent),
            _ => None,
        };

        assert_eq!(sent(psa_error(timeout("POST Tickets"), "t")), Some(true));
        assert_eq!(sent(psa_error(timeout("GET Tickets"), "t")), Some(false));
        assert_eq!(
            sent(psa_error(timeout("POST auth/token"), "t")),
            Some(false)
        );
        let refused = HaloError::Connect {
            host: "h".into(),
            reason: "refused".into(),
        };
        assert_eq!(sent(psa_error(refused, "t")), Some(false));
        let limited = HaloError::RateLimited {
            retry_after: None,
            message: None,
        };
        assert_eq!(sent(psa_error(limited, "t")), Some(false));
        let dropped = HaloError::Transport {
            call: "POST Actions".into(),
            reason: "connection closed".into(),
        };
        assert_eq!(sent(psa_error(dropped, "t")), Some(true));
        let unreadable = HaloError::Decode {
            call: "POST Tickets".into(),
            path: "id".into(),
            reason: "x".into(),
        };
        assert_eq!(sent(psa_error(unreadable, "t")), Some(true));
    }

    #[test]
    fn mistakes_are_permanent_in_halos_words_and_404_is_not_found() {
        let invalid = HaloError::Validation {
            call: "POST Actions".into(),
            status: 400,
            message: "Outcome 'Nope' does not exist.".into(),
        };
        let PsaError::Permanent(message) = psa_error(invalid, "ticket 1") else {
            panic!("validation is permanent");
        };
        assert!(
            message.contains("Outcome 'Nope' does not exist."),
            "{message}"
        );

        let tls = HaloError::Tls {
            host: "h".into(),
            reason: "unknown issuer".into(),
        };
        let PsaError::Permanent(message) = psa_error(tls, "ticket 1") else {
            panic!("TLS is permanent");
        };
        assert!(message.contains("PEM"), "the fix is included: {message}");

        let missing = HaloError::NotFound {
            call: "GET Tickets/9".into(),
            message: None,
        };
        assert!(matches!(
            psa_error(missing, "ticket 9"),
            PsaError::NotFound(what) if what == "ticket 9"
        ));
    }
}
