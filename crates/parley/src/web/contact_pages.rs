//! The technicians' "Needs a contact" page: end users whose email did not
//! match exactly one PSA contact, each with the contacts the lookup found, a
//! search of the PSA's contacts, and the two choices a technician makes:
//! "Use this contact" or "Use the client's General User".
//!
//! It is plain HTML forms (a search is a GET, a choice a POST with the CSRF
//! token), so it works without JavaScript; the choice is remembered for the
//! end user, who then sees their tickets in the widget.

use crate::chat::view::time;
use crate::psa::Contact;
use crate::psa::contacts::{NeedsReason, QueueEntry};
use crate::web::AppState;
use crate::web::auth::SignedInAccount;
use crate::web::error::ApiError;
use crate::web::pages::{Frame, PageResult, capitalise, render};
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use serde::Deserialize;

/// How many waiting end users the page lists.
const QUEUE_LIMIT: i64 = 200;

/// A contact as a row with its "Use this contact" button.
struct ContactRow {
    id: i64,
    name: String,
    email: String,
    client_id: i64,
    client_name: String,
    site_name: String,
}

impl From<&Contact> for ContactRow {
    fn from(contact: &Contact) -> Self {
        Self {
            id: contact.id,
            name: contact.name.clone(),
            email: contact.email.clone(),
            client_id: contact.client_id,
            client_name: contact.client_name.clone(),
            site_name: contact.site_name.clone().unwrap_or_default(),
        }
    }
}

/// One end user waiting for a technician's choice.
struct EntryRow {
    end_user_id: i64,
    name: String,
    email: String,
    reason: &'static str,
    checked_at: String,
    candidates: Vec<ContactRow>,
    /// The clients among the candidates and search results, for "Use the
    /// client's General User" (id, name).
    clients: Vec<(i64, String)>,
    /// The search typed for this end user, its results, or why it failed.
    searched: String,
    results: Vec<ContactRow>,
    search_error: String,
}

#[derive(Template)]
#[template(path = "contacts.html")]
struct ContactsPage {
    csrf: String,
    me: i64,
    is_admin: bool,
    last_message_id: i64,
    notice: String,
    error: String,
    entries: Vec<EntryRow>,
}

fn reason_text(reason: NeedsReason) -> &'static str {
    match reason {
        NeedsReason::NoContact => "No active contact in HaloPSA has this email.",
        NeedsReason::SeveralClients => {
            "Contacts of more than one client have this email: pick the right one."
        }
        NeedsReason::SeveralContacts => {
            "Several contacts of one client have this email: pick the right one."
        }
    }
}

/// The distinct clients of some contacts, in the order they first appear.
fn clients_of<'a>(contacts: impl Iterator<Item = &'a ContactRow>) -> Vec<(i64, String)> {
    let mut clients: Vec<(i64, String)> = Vec::new();
    for contact in contacts {
        if !clients.iter().any(|(id, _)| *id == contact.client_id) {
            clients.push((contact.client_id, contact.client_name.clone()));
        }
    }
    clients
}

#[derive(Debug, Deserialize)]
pub struct QueueQuery {
    /// The end user a search is for.
    #[serde(rename = "for")]
    for_end_user: Option<i64>,
    q: Option<String>,
    /// The end user whose contact was just chosen.
    saved: Option<i64>,
}

/// `GET /console/contacts`: the queue, with one end user's search results.
pub async fn queue_page(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
    Query(query): Query<QueueQuery>,
) -> PageResult {
    let Some(account) = account else {
        return Ok(Redirect::to("/login").into_response());
    };
    let contacts = state.tickets.contacts();
    let queue: Vec<QueueEntry> = contacts
        .queue(account.account.workspace_id, QUEUE_LIMIT)
        .await
        .map_err(ApiError::from)?;

    // The search runs only for the end user it was typed for.
    let searched = query.q.as_deref().map(str::trim).unwrap_or_default();
    let mut results = Vec::new();
    let mut search_error = String::new();
    if query.for_end_user.is_some() && !searched.is_empty() {
        if searched.chars().count() < 2 {
            search_error = "Type at least two characters to search.".to_owned();
        } else {
            match contacts.search(searched).await {
                Ok(found) => results = found.iter().map(ContactRow::from).collect(),
                Err(error) => {
                    search_error = capitalise(&ApiError::from(error).public_message());
                }
            }
        }
    }

    let mut entries = Vec::with_capacity(queue.len());
    for entry in &queue {
        let candidates: Vec<ContactRow> = entry
            .needs
            .candidates
            .iter()
            .map(ContactRow::from)
            .collect();
        let mine = query.for_end_user == Some(entry.end_user_id);
        let (results, search_error, searched) = if mine {
            (
                std::mem::take(&mut results),
                std::mem::take(&mut search_error),
                searched.to_owned(),
            )
        } else {
            (Vec::new(), String::new(), String::new())
        };
        entries.push(EntryRow {
            end_user_id: entry.end_user_id,
            name: entry.name.clone(),
            email: entry.email.clone(),
            reason: reason_text(entry.needs.reason),
            checked_at: time(entry.needs.checked_at),
            clients: clients_of(candidates.iter().chain(results.iter())),
            candidates,
            searched,
            results,
            search_error,
        });
    }

    let notice = match query.saved {
        Some(id) => match state
            .chat
            .store()
            .end_user(account.account.workspace_id, id)
            .await
        {
            Ok(user) => format!(
                "{}'s contact is saved; they see their tickets in the chat now.",
                user.name
            ),
            Err(_) => "The contact is saved.".to_owned(),
        },
        None => String::new(),
    };
    let frame = Frame::signed_in(&account);
    render(ContactsPage {
        csrf: frame.csrf,
        me: frame.me,
        is_admin: frame.is_admin,
        last_message_id: 0,
        notice,
        error: String::new(),
        entries,
    })
}

#[derive(Debug, Deserialize)]
pub struct ChooseForm {
    #[serde(default)]
    csrf: String,
    contact_id: Option<i64>,
    general_user_of_client: Option<i64>,
}

/// `POST /console/contacts/{end_user}`: the technician's choice, remembered
/// for the end user.
pub async fn choose(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
    Path(end_user): Path<i64>,
    Form(form): Form<ChooseForm>,
) -> PageResult {
    let Some(account) = account else {
        return Ok(Redirect::to("/login").into_response());
    };
    account.check_csrf(&form.csrf)?;
    let user = state
        .chat
        .store()
        .end_user(account.account.workspace_id, end_user)
        .await
        .map_err(ApiError::from)?;
    let by = format!("{} <{}>", account.account.name, account.account.email);

    let contacts = state.tickets.contacts();
    match (form.contact_id, form.general_user_of_client) {
        (Some(contact), None) => contacts.choose_contact(&user, contact, &by).await,
        (None, Some(client)) => contacts.choose_catch_all(&user, client, &by).await,
        _ => {
            return Err(ApiError::Invalid(
                "choose a contact or a client's General User".to_owned(),
            )
            .into());
        }
    }
    .map_err(ApiError::from)?;
    tracing::info!(
        end_user.id = end_user,
        account.id = account.account.id,
        "contact chosen on the Needs a contact page"
    );
    Ok(Redirect::to(&format!("/console/contacts?saved={end_user}")).into_response())
}
