//! Matching end users to PSA contacts, and the "needs a contact" queue.
//!
//! An end user's email comes from their signed widget token, so it is
//! verified; it is matched to a PSA contact by an exact, case-insensitive
//! email among active contacts. The rules ([`match_by_email`]):
//!
//! - exactly one contact has it: matched, rule `email`;
//! - none, or several (at one client or at several): not guessed. The end user
//!   goes to the "needs a contact" queue, where a technician picks a contact
//!   (searching the PSA) or the client's catch-all contact (Halo's General
//!   User); the choice is remembered, rule `technician`, with who and when.
//!
//! Until matched, the end user can chat but sees no tickets, and
//! [`MatchState::explanation`] tells them why in plain words.
//!
//! [`Contacts`] keeps matches in the store with a time-to-live and refreshes
//! them in the background: [`Contacts::match_for`] answers from the store at
//! once and, when the answer is stale or missing, starts one refresh for that
//! end user, so a chat never waits on the PSA. A technician's choice is never
//! overwritten by a refresh (the store refuses it too, for a refresh racing
//! the choice).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use tokio::time::Instant;

use super::{Contact, Psa, PsaError};
use crate::store::{
    ContactMatchRow, ContactMatchState, EndUser, EndUserId, Millis, Store, StoreError, WorkspaceId,
    now_millis,
};

pub use crate::store::MatchRule;

/// What can go wrong matching contacts.
#[derive(Debug, thiserror::Error)]
pub enum ContactsError {
    /// The PSA could not be asked, or refused.
    #[error(transparent)]
    Psa(#[from] PsaError),

    #[error(transparent)]
    Store(#[from] StoreError),

    /// The request cannot be done as asked; the text says why, for a technician.
    #[error("{0}")]
    Invalid(String),
}

pub type ContactsResult<T> = Result<T, ContactsError>;

/// How long matches live and how soon a failed lookup is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactsConfig {
    /// A match (or a queue entry) older than this is looked up again.
    pub ttl: Duration,
    /// After the PSA failed a lookup, wait this long before the next one for
    /// the same end user, so that a PSA outage is not hammered by every chat.
    pub retry_after_failure: Duration,
}

impl Default for ContactsConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(3600),
            retry_after_failure: Duration::from_secs(60),
        }
    }
}

/// Where an end user stands with their PSA contact.
///
/// The serialized form is for technicians (it names candidate contacts and
/// their companies); end users get [`MatchState::end_user_view`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum MatchState {
    /// Not looked up yet (or the PSA could not be asked so far).
    Pending,
    Matched(ContactMatch),
    /// In the "needs a contact" queue.
    NeedsContact(NeedsContact),
}

/// A confirmed contact, and how it was confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContactMatch {
    pub contact: Contact,
    pub rule: MatchRule,
    /// Who chose it, for rule `technician`.
    pub chosen_by: Option<String>,
    /// The contact is a client's catch-all (Halo's General User): not every
    /// ticket of that contact is this end user's.
    pub catch_all: bool,
    /// When the match was made.
    pub matched_at: Millis,
    /// When it was last confirmed with the PSA (or chosen).
    pub checked_at: Millis,
}

/// Why an end user waits for a technician, and what the lookup found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeedsContact {
    pub reason: NeedsReason,
    /// The active contacts with the end user's email (none for `no_contact`).
    pub candidates: Vec<Contact>,
    pub checked_at: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NeedsReason {
    /// No active contact has the email.
    NoContact,
    /// Contacts of more than one client have it.
    SeveralClients,
    /// Several contacts of one client have it.
    SeveralContacts,
}

/// What an end user may know about their match: whether tickets can be
/// shown, and if not, why. Never names a contact or a company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndUserMatchView {
    pub linked: bool,
    pub explanation: Option<&'static str>,
}

impl MatchState {
    /// The confirmed contact, whose tickets the end user may see.
    pub fn contact(&self) -> Option<&Contact> {
        match self {
            MatchState::Matched(found) => Some(&found.contact),
            _ => None,
        }
    }

    pub fn is_matched(&self) -> bool {
        matches!(self, MatchState::Matched(_))
    }

    /// Whether a technician has to pick the contact.
    pub fn needs_contact(&self) -> bool {
        matches!(self, MatchState::NeedsContact(_))
    }

    /// Why the end user sees no tickets, in plain words for them; `None`
    /// when matched.
    pub fn explanation(&self) -> Option<&'static str> {
        match self {
            MatchState::Matched(_) => None,
            MatchState::Pending => Some(
                "We are still linking your chat to your account with the help desk. You can \
                 chat right away; your tickets will show here once that is done.",
            ),
            MatchState::NeedsContact(needs) => Some(match needs.reason {
                NeedsReason::NoContact => {
                    "The help desk has no contact with your email address yet, so your tickets \
                     cannot be shown here. You can still chat: a technician will link your \
                     account."
                }
                NeedsReason::SeveralClients | NeedsReason::SeveralContacts => {
                    "Your email address belongs to more than one contact at the help desk, so \
                     we cannot tell yet which tickets are yours. You can still chat: a \
                     technician will confirm your account."
                }
            }),
        }
    }

    /// The end user's side of it.
    pub fn end_user_view(&self) -> EndUserMatchView {
        EndUserMatchView {
            linked: self.is_matched(),
            explanation: self.explanation(),
        }
    }

    /// When the PSA was last asked about this end user; `None` if never.
    pub fn checked_at(&self) -> Option<Millis> {
        match self {
            MatchState::Pending => None,
            MatchState::Matched(found) => Some(found.checked_at),
            MatchState::NeedsContact(needs) => Some(needs.checked_at),
        }
    }

    /// Whether a background refresh should look again. A technician's choice
    /// never goes stale: only a technician changes it.
    pub fn is_stale(&self, now: Millis, ttl: Duration) -> bool {
        if let MatchState::Matched(found) = self
            && found.rule == MatchRule::Technician
        {
            return false;
        }
        let ttl = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        self.checked_at()
            .is_none_or(|checked| now.saturating_sub(checked) >= ttl)
    }
}

/// An end user waiting in the "needs a contact" queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueEntry {
    pub end_user_id: EndUserId,
    pub email: String,
    pub name: String,
    #[serde(flatten)]
    pub needs: NeedsContact,
}

/// The email rule: what the active contacts found for an email make of an
/// end user. `previous` keeps the time of an earlier match to the same
/// contact, so a refresh that confirms it does not look like a new match.
pub fn match_by_email(
    found: Vec<Contact>,
    now: Millis,
    previous: Option<&ContactMatch>,
) -> MatchState {
    let clients: BTreeSet<i64> = found.iter().map(|contact| contact.client_id).collect();

    match (found.len(), clients.len()) {
        (0, _) => MatchState::NeedsContact(NeedsContact {
            reason: NeedsReason::NoContact,
            candidates: Vec::new(),
            checked_at: now,
        }),
        (1, _) => {
            let mut found = found;
            // The list has exactly one contact, so index 0 exists.
            let contact = found.swap_remove(0);
            let matched_at = previous
                .filter(|p| p.rule == MatchRule::Email && p.contact.id == contact.id)
                .map_or(now, |p| p.matched_at);
            MatchState::Matched(ContactMatch {
                contact,
                rule: MatchRule::Email,
                chosen_by: None,
                catch_all: false,
                matched_at,
                checked_at: now,
            })
        }
        (_, 1) => MatchState::NeedsContact(NeedsContact {
            reason: NeedsReason::SeveralContacts,
            candidates: found,
            checked_at: now,
        }),
        _ => MatchState::NeedsContact(NeedsContact {
            reason: NeedsReason::SeveralClients,
            candidates: found,
            checked_at: now,
        }),
    }
}

/// The contact-matching service. Cheap to clone: clones share the store, the
/// PSA and the bookkeeping of running refreshes.
#[derive(Debug, Clone)]
pub struct Contacts {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    psa: Arc<dyn Psa>,
    config: ContactsConfig,
    /// End users whose refresh is running, so that a burst of messages starts
    /// one lookup, not one per message.
    running: Mutex<HashSet<(WorkspaceId, EndUserId)>>,
    /// When the PSA last failed a lookup per end user.
    failed: Mutex<HashMap<(WorkspaceId, EndUserId), Instant>>,
}

type Key = (WorkspaceId, EndUserId);

fn key(end_user: &EndUser) -> Key {
    (end_user.workspace_id, end_user.id)
}

/// Bookkeeping maps stay usable after a panic elsewhere: they hold plain
/// sets, which a panic cannot leave half-changed.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes an end user off the running set when their refresh ends, however
/// it ends.
struct RunningGuard {
    inner: Arc<Inner>,
    key: Key,
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        lock(&self.inner.running).remove(&self.key);
    }
}

impl Contacts {
    pub fn new(store: Arc<dyn Store>, psa: Arc<dyn Psa>, config: ContactsConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                psa,
                config,
                running: Mutex::new(HashSet::new()),
                failed: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The end user's match as stored, at once. When it is missing or stale,
    /// a refresh starts in the background (unless one is running for this
    /// end user, or the PSA failed them a moment ago); the next call sees
    /// its result.
    #[tracing::instrument(skip_all, fields(end_user.id = end_user.id))]
    pub async fn match_for(&self, end_user: &EndUser) -> ContactsResult<MatchState> {
        let state = self.inner.stored(end_user).await?;

        if state.is_stale(now_millis(), self.inner.config.ttl) {
            self.schedule_refresh(end_user);
        }
        Ok(state)
    }

    /// Looks the end user up in the PSA now and stores the result (a
    /// technician's choice stays as it is). For tests, and for a technician
    /// asking to check again.
    pub async fn refresh_now(&self, end_user: &EndUser) -> ContactsResult<MatchState> {
        self.inner.refresh(end_user).await
    }

    /// Whether a background refresh for this end user is running.
    pub fn is_refreshing(&self, end_user: &EndUser) -> bool {
        lock(&self.inner.running).contains(&key(end_user))
    }

    /// Waits until no refresh for this end user runs (tests), at most `within`.
    pub async fn settled(&self, end_user: &EndUser, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while self.is_refreshing(end_user) {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    /// The "needs a contact" queue, longest waiting first.
    pub async fn queue(
        &self,
        workspace: WorkspaceId,
        limit: i64,
    ) -> ContactsResult<Vec<QueueEntry>> {
        let rows = self.inner.store.contact_queue(workspace, limit).await?;

        let mut entries = Vec::with_capacity(rows.len());
        for (end_user, row) in rows {
            if let MatchState::NeedsContact(needs) = state_from_row(&row)? {
                entries.push(QueueEntry {
                    end_user_id: end_user.id,
                    email: end_user.email,
                    name: end_user.name,
                    needs,
                });
            }
        }
        Ok(entries)
    }

    /// Contacts matching a technician's search text.
    pub async fn search(&self, text: &str) -> ContactsResult<Vec<Contact>> {
        Ok(self.inner.psa.search_contacts(text).await?)
    }

    /// A technician's pick: the end user's contact from now on, whatever
    /// later lookups find. The contact must be active in the PSA.
    #[tracing::instrument(skip_all, fields(end_user.id = end_user.id, contact.id = contact_id))]
    pub async fn choose_contact(
        &self,
        end_user: &EndUser,
        contact_id: i64,
        chosen_by: &str,
    ) -> ContactsResult<MatchState> {
        let contact = self.inner.psa.contact(contact_id).await?;

        self.inner
            .remember_choice(end_user, contact, false, chosen_by)
            .await
    }

    /// A technician's pick of the client's catch-all contact (Halo's General
    /// User), for someone the PSA does not know.
    #[tracing::instrument(skip_all, fields(end_user.id = end_user.id, client.id = client_id))]
    pub async fn choose_catch_all(
        &self,
        end_user: &EndUser,
        client_id: i64,
        chosen_by: &str,
    ) -> ContactsResult<MatchState> {
        let Some(contact) = self.inner.psa.catch_all_contact(client_id).await? else {
            return Err(ContactsError::Invalid(format!(
                "client {client_id} has no General User (catch-all contact) in the PSA; pick a \
                 contact instead"
            )));
        };

        self.inner
            .remember_choice(end_user, contact, true, chosen_by)
            .await
    }

    /// Forgets the end user's match (a technician undoing a choice); the
    /// next [`Contacts::match_for`] looks them up by email again.
    #[tracing::instrument(skip_all, fields(end_user.id = end_user.id))]
    pub async fn forget(&self, end_user: &EndUser, by: &str) -> ContactsResult<()> {
        match self
            .inner
            .store
            .delete_contact_match(end_user.workspace_id, end_user.id)
            .await
        {
            Ok(()) | Err(StoreError::NotFound(_)) => {}
            Err(error) => return Err(error.into()),
        }

        let detail = json!({ "end_user_id": end_user.id });
        self.inner
            .store
            .add_audit(
                end_user.workspace_id,
                by,
                "contact.forgotten",
                &detail.to_string(),
            )
            .await?;
        tracing::info!("contact match forgotten");
        Ok(())
    }

    fn schedule_refresh(&self, end_user: &EndUser) {
        let key = key(end_user);

        let recently_failed = lock(&self.inner.failed)
            .get(&key)
            .is_some_and(|at| at.elapsed() < self.inner.config.retry_after_failure);
        if recently_failed {
            return;
        }
        if !lock(&self.inner.running).insert(key) {
            return;
        }

        let guard = RunningGuard {
            inner: Arc::clone(&self.inner),
            key,
        };
        let end_user = end_user.clone();
        tokio::spawn(async move {
            let inner = Arc::clone(&guard.inner);
            if let Err(error) = inner.refresh(&end_user).await {
                // The cause's text can quote the PSA; its kind is enough here.
                tracing::warn!(
                    end_user.id = end_user.id,
                    cause = error_kind(&error),
                    "background contact lookup failed"
                );
            }
            drop(guard);
        });
    }
}

impl Inner {
    async fn stored(&self, end_user: &EndUser) -> ContactsResult<MatchState> {
        let row = self
            .store
            .contact_match(end_user.workspace_id, end_user.id)
            .await?;
        row.as_ref().map_or(Ok(MatchState::Pending), state_from_row)
    }

    async fn refresh(&self, end_user: &EndUser) -> ContactsResult<MatchState> {
        let current = self.stored(end_user).await?;
        if let MatchState::Matched(found) = &current
            && found.rule == MatchRule::Technician
        {
            return Ok(current);
        }

        let found = match self.psa.contacts_by_email(&end_user.email).await {
            Ok(found) => found,
            Err(error) => {
                lock(&self.failed).insert(key(end_user), Instant::now());
                return Err(error.into());
            }
        };
        lock(&self.failed).remove(&key(end_user));

        let previous = match &current {
            MatchState::Matched(found) => Some(found),
            _ => None,
        };
        let state = match_by_email(found, now_millis(), previous);
        let row = row_from_state(end_user, &state)?;

        // A technician may have chosen while the PSA was asked; the store
        // keeps that choice, and it is what the end user has now.
        if !self.store.save_checked_match(row).await? {
            return self.stored(end_user).await;
        }
        if state_word(&current) != state_word(&state) {
            tracing::info!(
                end_user.id = end_user.id,
                state = state_word(&state),
                "contact match changed"
            );
        }
        Ok(state)
    }

    async fn remember_choice(
        &self,
        end_user: &EndUser,
        contact: Contact,
        catch_all: bool,
        chosen_by: &str,
    ) -> ContactsResult<MatchState> {
        let now = now_millis();
        let detail = json!({
            "end_user_id": end_user.id,
            "contact_id": contact.id,
            "client_id": contact.client_id,
            "catch_all": catch_all,
        });
        let state = MatchState::Matched(ContactMatch {
            contact,
            rule: MatchRule::Technician,
            chosen_by: Some(chosen_by.to_owned()),
            catch_all,
            matched_at: now,
            checked_at: now,
        });

        self.store
            .save_chosen_match(row_from_state(end_user, &state)?)
            .await?;
        self.store
            .add_audit(
                end_user.workspace_id,
                chosen_by,
                "contact.chosen",
                &detail.to_string(),
            )
            .await?;
        tracing::info!(end_user.id = end_user.id, "technician chose a contact");
        Ok(state)
    }
}

fn state_word(state: &MatchState) -> &'static str {
    match state {
        MatchState::Pending => "pending",
        MatchState::Matched(_) => "matched",
        MatchState::NeedsContact(_) => "needs_contact",
    }
}

fn error_kind(error: &ContactsError) -> &'static str {
    match error {
        ContactsError::Psa(PsaError::Transient { .. }) => "psa_transient",
        ContactsError::Psa(PsaError::Permanent(_)) => "psa_permanent",
        ContactsError::Psa(PsaError::NotFound(_)) => "psa_not_found",
        ContactsError::Psa(PsaError::NotConfigured(_)) => "psa_not_configured",
        ContactsError::Store(_) => "store",
        ContactsError::Invalid(_) => "invalid",
    }
}

/// A stored value that does not decode: the database holds something this
/// version cannot read.
fn corrupt(error: serde_json::Error) -> ContactsError {
    ContactsError::Store(StoreError::Database(sqlx::Error::Decode(Box::new(error))))
}

fn state_from_row(row: &ContactMatchRow) -> ContactsResult<MatchState> {
    let candidates: Vec<Contact> = serde_json::from_str(&row.candidates).map_err(corrupt)?;

    let state = match row.state {
        ContactMatchState::Matched => {
            let contact = row.contact.as_deref().unwrap_or("null");
            MatchState::Matched(ContactMatch {
                contact: serde_json::from_str(contact).map_err(corrupt)?,
                rule: row.rule.unwrap_or(MatchRule::Email),
                chosen_by: row.chosen_by.clone(),
                catch_all: row.catch_all,
                matched_at: row.matched_at.unwrap_or(row.checked_at),
                checked_at: row.checked_at,
            })
        }
        ContactMatchState::NoMatch => MatchState::NeedsContact(NeedsContact {
            reason: NeedsReason::NoContact,
            candidates,
            checked_at: row.checked_at,
        }),
        ContactMatchState::Ambiguous => {
            let clients: BTreeSet<i64> = candidates.iter().map(|c| c.client_id).collect();
            MatchState::NeedsContact(NeedsContact {
                reason: if clients.len() > 1 {
                    NeedsReason::SeveralClients
                } else {
                    NeedsReason::SeveralContacts
                },
                candidates,
                checked_at: row.checked_at,
            })
        }
    };
    Ok(state)
}

fn row_from_state(end_user: &EndUser, state: &MatchState) -> ContactsResult<ContactMatchRow> {
    let base = |state, checked_at| ContactMatchRow {
        workspace_id: end_user.workspace_id,
        end_user_id: end_user.id,
        state,
        contact: None,
        rule: None,
        chosen_by: None,
        catch_all: false,
        matched_at: None,
        checked_at,
        candidates: "[]".to_owned(),
    };

    match state {
        MatchState::Pending => Err(ContactsError::Invalid(
            "a pending match is not stored".to_owned(),
        )),
        MatchState::Matched(found) => Ok(ContactMatchRow {
            contact: Some(serde_json::to_string(&found.contact).map_err(corrupt)?),
            rule: Some(found.rule),
            chosen_by: found.chosen_by.clone(),
            catch_all: found.catch_all,
            matched_at: Some(found.matched_at),
            ..base(ContactMatchState::Matched, found.checked_at)
        }),
        MatchState::NeedsContact(needs) => {
            let word = match needs.reason {
                NeedsReason::NoContact => ContactMatchState::NoMatch,
                NeedsReason::SeveralClients | NeedsReason::SeveralContacts => {
                    ContactMatchState::Ambiguous
                }
            };
            Ok(ContactMatchRow {
                candidates: serde_json::to_string(&needs.candidates).map_err(corrupt)?,
                ..base(word, needs.checked_at)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(id: i64, client_id: i64) -> Contact {
        Contact {
            id,
            name: format!("Contact {id}"),
            email: "sam@consultants.example".to_owned(),
            client_id,
            client_name: format!("Client {client_id}"),
            site_id: Some(client_id * 10),
            site_name: Some("Main".to_owned()),
        }
    }

    fn end_user() -> EndUser {
        EndUser {
            id: 7,
            workspace_id: 1,
            email: "sam@consultants.example".to_owned(),
            name: "Sam".to_owned(),
            subject: None,
        }
    }

    #[test]
    fn exactly_one_contact_is_a_match_by_email() {
        let state = match_by_email(vec![contact(38, 12)], 1000, None);

        let MatchState::Matched(found) = &state else {
            panic!("matched: {state:?}");
        };
        assert_eq!(found.contact.id, 38);
        assert_eq!(found.rule, MatchRule::Email);
        assert_eq!((found.matched_at, found.checked_at), (1000, 1000));
        assert!(state.explanation().is_none());
        assert!(state.end_user_view().linked);
    }

    #[test]
    fn confirming_the_same_contact_keeps_when_it_was_matched() {
        let MatchState::Matched(first) = match_by_email(vec![contact(38, 12)], 1000, None) else {
            panic!("matched");
        };

        let again = match_by_email(vec![contact(38, 12)], 5000, Some(&first));
        let other = match_by_email(vec![contact(39, 12)], 5000, Some(&first));

        let MatchState::Matched(again) = again else {
            panic!("matched")
        };
        assert_eq!((again.matched_at, again.checked_at), (1000, 5000));
        let MatchState::Matched(other) = other else {
            panic!("matched")
        };
        assert_eq!(other.matched_at, 5000, "a different contact is a new match");
    }

    #[test]
    fn no_contact_or_several_go_to_the_queue_never_guessed() {
        let none = match_by_email(Vec::new(), 1, None);
        let two_clients = match_by_email(vec![contact(39, 12), contact(45, 14)], 1, None);
        let one_client = match_by_email(vec![contact(39, 12), contact(40, 12)], 1, None);

        let reason = |state: &MatchState| match state {
            MatchState::NeedsContact(needs) => Some((needs.reason, needs.candidates.len())),
            _ => None,
        };
        assert_eq!(reason(&none), Some((NeedsReason::NoContact, 0)));
        assert_eq!(reason(&two_clients), Some((NeedsReason::SeveralClients, 2)));
        assert_eq!(reason(&one_client), Some((NeedsReason::SeveralContacts, 2)));
        for state in [none, two_clients, one_client] {
            assert!(state.contact().is_none());
            let view = state.end_user_view();
            assert!(!view.linked);
            let words = view.explanation.expect("an explanation");
            assert!(words.contains("You can still chat"), "{words}");
            assert!(!words.contains("Client 1"), "no company is named: {words}");
        }
    }

    #[test]
    fn a_technicians_choice_never_goes_stale_and_others_do_after_the_ttl() {
        let ttl = Duration::from_secs(60);
        let by_email = match_by_email(vec![contact(38, 12)], 0, None);
        let queued = match_by_email(Vec::new(), 0, None);
        let chosen = MatchState::Matched(ContactMatch {
            contact: contact(38, 12),
            rule: MatchRule::Technician,
            chosen_by: Some("Tess".to_owned()),
            catch_all: false,
            matched_at: 0,
            checked_at: 0,
        });

        assert!(MatchState::Pending.is_stale(0, ttl));
        assert!(!by_email.is_stale(59_999, ttl));
        assert!(by_email.is_stale(60_000, ttl));
        assert!(queued.is_stale(60_000, ttl));
        assert!(!chosen.is_stale(i64::MAX, ttl));
    }

    #[test]
    fn states_survive_the_store_row() {
        let user = end_user();
        let states = [
            match_by_email(vec![contact(38, 12)], 10, None),
            match_by_email(Vec::new(), 10, None),
            match_by_email(vec![contact(39, 12), contact(45, 14)], 10, None),
            match_by_email(vec![contact(39, 12), contact(40, 12)], 10, None),
            MatchState::Matched(ContactMatch {
                contact: contact(18, 12),
                rule: MatchRule::Technician,
                chosen_by: Some("Tess Tech".to_owned()),
                catch_all: true,
                matched_at: 5,
                checked_at: 5,
            }),
        ];

        for state in states {
            let row = row_from_state(&user, &state).expect("storable");
            assert_eq!(state_from_row(&row).expect("readable"), state);
        }
        assert!(row_from_state(&user, &MatchState::Pending).is_err());
    }

    #[test]
    fn the_end_user_view_names_no_one() {
        let state = match_by_email(vec![contact(39, 12), contact(45, 14)], 1, None);

        let view = serde_json::to_value(state.end_user_view()).expect("serializable");

        assert_eq!(view["linked"], false);
        assert!(!view.to_string().contains("Contact 39"), "{view}");
    }
}
