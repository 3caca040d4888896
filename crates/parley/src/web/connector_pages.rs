//! The admin's PSA pages: the Connectors page, the HaloPSA form (which is
//! also the wizard's "Connect your PSA" step), Test Connection, Disconnect and
//! the audit log.
//!
//! Every page works with plain form posts; `connectors.js` adds URL
//! normalisation as the admin types and runs Test and Save through the JSON
//! API without a reload. The Client Secret is never rendered: not the saved
//! one, and not the one just typed, not even after a failed test.

use crate::psa::connector::ConnectorState;
use crate::psa::{ConnectorError, ConnectorForm, ConnectorView, TicketDefaults};
use crate::store::{AuditEntry, Role};
use crate::web::AppState;
use crate::web::auth::SignedInAccount;
use crate::web::connector_api::{Choice, Lists, REPLACE_WARNING, audit_actor, replaces_connector};
use crate::web::error::ApiError;
use crate::web::pages::{Frame, PageError, PageResult, capitalise, render};
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use halo::doctor::{CheckStatus, Report};
use serde::Deserialize;
use serde_json::Value;

/// The PSAs a later release connects to, shown greyed on the Connectors page.
/// Each with the letter of its badge.
const LATER_PSAS: [(&str, &str); 4] = [
    ("ConnectWise PSA", "C"),
    ("Autotask", "A"),
    ("Syncro", "S"),
    ("Kaseya BMS", "K"),
];

/// Where the form is shown: the Connectors page's form or the wizard's step.
/// Both post to the same handlers; only the frame around the form differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Admin,
    Wizard,
}

impl Place {
    fn save_action(self) -> &'static str {
        match self {
            Place::Admin => "/admin/connectors/halopsa",
            Place::Wizard => "/setup/psa",
        }
    }

    fn test_action(self) -> &'static str {
        match self {
            Place::Admin => "/admin/connectors/halopsa/test",
            Place::Wizard => "/setup/psa/test",
        }
    }
}

/// Why a page is not shown: nobody is signed in, or a technician asked.
enum Away {
    SignIn,
    Forbidden,
}

impl IntoResponse for Away {
    fn into_response(self) -> Response {
        match self {
            Away::SignIn => Redirect::to("/login").into_response(),
            Away::Forbidden => PageError(ApiError::Forbidden(
                "only an admin can manage the PSA connector".to_owned(),
            ))
            .into_response(),
        }
    }
}

/// The signed-in admin; otherwise the answer to give instead: the sign-in
/// page for nobody, a 403 page for a technician.
fn admin_only(account: Option<SignedInAccount>) -> Result<SignedInAccount, Away> {
    let Some(account) = account else {
        return Err(Away::SignIn);
    };
    if account.account.role != Role::Admin {
        return Err(Away::Forbidden);
    }
    Ok(account)
}

fn connector_error(error: ConnectorError) -> PageError {
    PageError(ApiError::from(error))
}

/// An RFC 3339 time as an admin reads it.
fn readable(iso: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(iso)
        .map(|at| at.format("%-d %b %Y, %H:%M UTC").to_string())
        .unwrap_or_else(|_| iso.to_owned())
}

fn readable_millis(millis: i64) -> String {
    readable(&crate::chat::view::time(millis))
}

/// "5 minutes" for 300 seconds.
fn window_words(seconds: u64) -> String {
    match seconds {
        60 => "minute".to_owned(),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

// ---------- the Connectors page ----------

struct ActiveConnector {
    site_url: String,
    client_id: String,
    tenant: String,
    /// `connected`, `failing` or `untested`, for the badge's class.
    state_word: &'static str,
    state_label: String,
    last_error: String,
    last_success: String,
    budget_used: u32,
    budget_capacity: u32,
    budget_percent: u32,
    budget_window: String,
    updated_at: String,
}

impl ActiveConnector {
    fn from_view(view: &ConnectorView) -> Self {
        let (state_word, state_label) = match view.state {
            ConnectorState::Connected => ("connected", "Connected".to_owned()),
            ConnectorState::Failing => (
                "failing",
                match &view.failing_since {
                    Some(since) => format!("Failing since {}", readable(since)),
                    None => "Failing".to_owned(),
                },
            ),
            ConnectorState::Untested => ("untested", "Not tested yet".to_owned()),
        };
        let budget = &view.budget;
        Self {
            site_url: view.site_url.clone(),
            client_id: view.client_id.clone(),
            tenant: view.tenant.clone().unwrap_or_default(),
            state_word,
            state_label,
            last_error: view.last_error.clone().unwrap_or_default(),
            last_success: view
                .last_success_at
                .as_deref()
                .map_or_else(|| "Never".to_owned(), readable),
            budget_used: budget.used,
            budget_capacity: budget.capacity,
            budget_percent: (budget.used * 100)
                .checked_div(budget.capacity)
                .unwrap_or(0)
                .min(100),
            budget_window: window_words(budget.window_seconds),
            updated_at: readable(&view.updated_at),
        }
    }
}

#[derive(Template)]
#[template(path = "connectors.html")]
struct ConnectorsPage {
    csrf: String,
    me: i64,
    is_admin: bool,
    last_message_id: i64,
    notice: String,
    error: String,
    connector: Option<ActiveConnector>,
    later: [(&'static str, &'static str); 4],
}

#[derive(Debug, Deserialize)]
pub struct ConnectorsQuery {
    saved: Option<String>,
    removed: Option<String>,
}

pub async fn connectors_page(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
    Query(query): Query<ConnectorsQuery>,
) -> PageResult {
    let account = match admin_only(account) {
        Ok(account) => account,
        Err(away) => return Ok(away.into_response()),
    };
    let connector = state.connectors.show().await.map_err(connector_error)?;

    let notice = if query.saved.is_some() {
        "HaloPSA is connected. New chats become tickets with the defaults you chose."
    } else if query.removed.is_some() {
        "HaloPSA is disconnected. Nothing was deleted in Halo; connect a PSA again to resume ticket sync."
    } else {
        ""
    };
    let frame = Frame::signed_in(&account);
    render(ConnectorsPage {
        csrf: frame.csrf,
        me: frame.me,
        is_admin: frame.is_admin,
        last_message_id: 0,
        notice: notice.to_owned(),
        error: String::new(),
        connector: connector.as_ref().map(ActiveConnector::from_view),
        later: LATER_PSAS,
    })
}

// ---------- the HaloPSA form ----------

/// One line of the Test Connection result.
struct CheckRow {
    name: String,
    /// `pass`, `warn`, `fail` or `skip`.
    status: &'static str,
    label: &'static str,
    detail: String,
    fix: String,
}

fn check_rows(report: &Report) -> Vec<CheckRow> {
    report
        .checks
        .iter()
        .map(|check| {
            let (status, label) = match check.status {
                CheckStatus::Pass => ("pass", "Pass"),
                CheckStatus::Warn => ("warn", "Warn"),
                CheckStatus::Fail => ("fail", "Fail"),
                CheckStatus::Skip => ("skip", "Skip"),
            };
            CheckRow {
                name: check.name.clone(),
                status,
                label,
                detail: check.detail.clone(),
                fix: check.fix.clone().unwrap_or_default(),
            }
        })
        .collect()
}

struct OptionRow {
    value: String,
    label: String,
    selected: bool,
}

/// One of the ticket defaults: a select filled from Halo's lists, or (the
/// team) a text field.
struct DefaultField {
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    /// For the text field: its value. `None` makes it a select.
    text: Option<String>,
    /// The saved value, for `connectors.js` to preselect after its own test.
    saved: String,
    /// How `connectors.js` picks a value when nothing is saved: `first`,
    /// `visible`, `hidden`, `closed` or `none` (Halo's default for the type).
    prefer: &'static str,
    /// Which options to offer: `all` or only `hidden` outcomes.
    only: &'static str,
    /// The label of an empty option, if there is one.
    empty: &'static str,
    options: Vec<OptionRow>,
}

/// Which value a select starts with: the saved one if Halo still has it,
/// otherwise what Halo itself suggests.
fn preselect(choices: &[&Choice], saved: Option<i64>, prefer: &str) -> Option<i64> {
    if let Some(id) = saved
        && choices.iter().any(|c| c.id == id)
    {
        return Some(id);
    }
    let found = match prefer {
        "first" => choices.first(),
        "visible" => choices.iter().find(|c| c.hidden_from_user == Some(false)),
        "hidden" => choices.iter().find(|c| c.hidden_from_user == Some(true)),
        "closed" => choices
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case("closed")),
        _ => None,
    };
    found.map(|c| c.id)
}

fn default_fields(lists: Option<&Lists>, saved: &TicketDefaults) -> Vec<DefaultField> {
    let untested = Lists {
        ticket_types: Vec::new(),
        statuses: Vec::new(),
        priorities: Vec::new(),
        outcomes: Vec::new(),
    };
    let lists = lists.unwrap_or(&untested);
    let select = |name,
                  label,
                  hint,
                  list: &Vec<Choice>,
                  saved_id: Option<i64>,
                  prefer,
                  only,
                  empty: &'static str| {
        let choices: Vec<&Choice> = list
            .iter()
            .filter(|c| only != "hidden" || c.hidden_from_user == Some(true))
            .collect();
        let selected = preselect(&choices, saved_id, prefer);
        DefaultField {
            name,
            label,
            hint,
            text: None,
            saved: saved_id.map(|id| id.to_string()).unwrap_or_default(),
            prefer,
            only,
            empty,
            options: choices
                .iter()
                .map(|c| OptionRow {
                    value: c.id.to_string(),
                    label: c.name.clone(),
                    selected: Some(c.id) == selected,
                })
                .collect(),
        }
    };

    vec![
        select(
            "ticket_type_id",
            "Ticket type",
            "The type of the ticket a chat becomes.",
            &lists.ticket_types,
            saved.ticket_type_id,
            "first",
            "all",
            "",
        ),
        select(
            "initial_status_id",
            "Initial status",
            "The status a new chat ticket starts in.",
            &lists.statuses,
            saved.initial_status_id,
            "none",
            "all",
            "The ticket type's default",
        ),
        select(
            "priority_id",
            "Priority",
            "The priority of a new chat ticket.",
            &lists.priorities,
            saved.priority_id,
            "none",
            "all",
            "The ticket type's default",
        ),
        DefaultField {
            name: "team",
            label: "Team",
            hint: "The Halo team chat tickets go to, by name; empty uses the ticket type's team.",
            text: Some(saved.team.clone().unwrap_or_default()),
            saved: saved.team.clone().unwrap_or_default(),
            prefer: "none",
            only: "all",
            empty: "",
            options: Vec::new(),
        },
        select(
            "visible_outcome_id",
            "Outcome for replies the user sees",
            "Chat replies are added to the ticket as notes with this outcome.",
            &lists.outcomes,
            saved.visible_outcome_id,
            "visible",
            "all",
            "",
        ),
        select(
            "private_outcome_id",
            "Outcome for private notes",
            "Only outcomes that Halo hides from users are offered.",
            &lists.outcomes,
            saved.private_outcome_id,
            "hidden",
            "hidden",
            "",
        ),
        select(
            "closed_status_id",
            "Closed status",
            "The status that means a ticket is closed.",
            &lists.statuses,
            saved.closed_status_id,
            "closed",
            "all",
            "",
        ),
    ]
}

#[derive(Template)]
#[template(path = "connector_form.html")]
struct FormPage {
    csrf: String,
    me: i64,
    is_admin: bool,
    last_message_id: i64,
    notice: String,
    /// The frame's error line stays empty: the form shows its own.
    error: String,
    form_error: String,
    wizard: bool,
    save_action: &'static str,
    test_action: &'static str,
    site_url: String,
    client_id: String,
    tenant: String,
    /// A connector is saved (so this is an edit, and its secret is set).
    editing: bool,
    saved_site_url: String,
    /// Whether the form points at another Halo than the saved one, so the
    /// replacement must be confirmed.
    replacing: bool,
    confirm_replace: bool,
    replace_warning: &'static str,
    /// A secret was typed and tested, but pages never carry it back.
    retype_secret: bool,
    tested: bool,
    test_ok: bool,
    checks: Vec<CheckRow>,
    /// Shown after a passing test.
    show_defaults: bool,
    defaults: Vec<DefaultField>,
    every_chat_becomes_ticket: bool,
}

/// What the form posts. Every field is text, as browsers send it; the
/// numbers are parsed here so that an empty select means "not chosen".
#[derive(Debug, Default, Deserialize)]
pub struct ConnectorPost {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    site_url: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    ticket_type_id: String,
    #[serde(default)]
    initial_status_id: String,
    #[serde(default)]
    priority_id: String,
    #[serde(default)]
    team: String,
    #[serde(default)]
    visible_outcome_id: String,
    #[serde(default)]
    private_outcome_id: String,
    #[serde(default)]
    closed_status_id: String,
    #[serde(default)]
    every_chat_becomes_ticket: String,
    #[serde(default)]
    confirm_replace: String,
}

impl ConnectorPost {
    fn form(&self) -> ConnectorForm {
        ConnectorForm {
            site_url: self.site_url.clone(),
            client_id: self.client_id.clone(),
            client_secret: Some(self.client_secret.clone()),
            tenant: Some(self.tenant.clone()),
        }
    }

    fn secret_typed(&self) -> bool {
        !self.client_secret.trim().is_empty()
    }

    fn confirmed(&self) -> bool {
        !self.confirm_replace.is_empty()
    }

    fn defaults(&self) -> Result<TicketDefaults, String> {
        let id = |text: &str, what: &str| -> Result<Option<i64>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse()
                .map(Some)
                .map_err(|_| format!("Choose the {what} from the list."))
        };
        let team = self.team.trim();
        Ok(TicketDefaults {
            ticket_type_id: id(&self.ticket_type_id, "ticket type")?,
            initial_status_id: id(&self.initial_status_id, "initial status")?,
            priority_id: id(&self.priority_id, "priority")?,
            team: (!team.is_empty()).then(|| team.to_owned()),
            visible_outcome_id: id(&self.visible_outcome_id, "outcome for visible notes")?,
            private_outcome_id: id(&self.private_outcome_id, "outcome for private notes")?,
            closed_status_id: id(&self.closed_status_id, "closed status")?,
            every_chat_becomes_ticket: !self.every_chat_becomes_ticket.is_empty(),
        })
    }
}

/// Everything the form page shows besides the saved connector.
#[derive(Default)]
struct FormState {
    notice: String,
    error: String,
    retype_secret: bool,
    confirm_replace: bool,
    report: Option<Report>,
}

/// Renders the form with the values typed (never the secret), the saved
/// connector's state and, if there was one, the test's result.
async fn form_page(
    state: &AppState,
    account: &SignedInAccount,
    place: Place,
    typed: Option<&ConnectorPost>,
    status: StatusCode,
    shown: FormState,
) -> PageResult {
    let saved = state.connectors.show().await.map_err(connector_error)?;
    let (site_url, client_id, tenant) = match (typed, &saved) {
        (Some(post), _) => (
            post.site_url.clone(),
            post.client_id.clone(),
            post.tenant.clone(),
        ),
        (None, Some(view)) => (
            view.site_url.clone(),
            view.client_id.clone(),
            view.tenant.clone().unwrap_or_default(),
        ),
        (None, None) => Default::default(),
    };
    let replacing = match typed {
        Some(post) => replaces_connector(state, &post.site_url).await?,
        None => false,
    };
    let saved_defaults = saved
        .as_ref()
        .map(|view| view.defaults.clone())
        .unwrap_or_default();

    let lists = shown
        .report
        .as_ref()
        .and_then(|report| report.lists.as_ref())
        .map(Lists::from_setup);
    let test_ok = shown.report.as_ref().is_some_and(|report| report.ok);
    let frame = Frame::signed_in(account);
    let page = FormPage {
        csrf: frame.csrf,
        me: frame.me,
        is_admin: frame.is_admin,
        last_message_id: 0,
        notice: shown.notice,
        error: String::new(),
        form_error: shown.error,
        wizard: place == Place::Wizard,
        save_action: place.save_action(),
        test_action: place.test_action(),
        site_url,
        client_id,
        tenant,
        editing: saved.is_some(),
        saved_site_url: saved
            .as_ref()
            .map(|view| view.site_url.clone())
            .unwrap_or_default(),
        replacing,
        confirm_replace: shown.confirm_replace,
        replace_warning: REPLACE_WARNING,
        retype_secret: shown.retype_secret,
        tested: shown.report.is_some(),
        test_ok,
        checks: shown.report.as_ref().map(check_rows).unwrap_or_default(),
        show_defaults: test_ok && lists.is_some(),
        defaults: default_fields(lists.as_ref(), &saved_defaults),
        every_chat_becomes_ticket: saved_defaults.every_chat_becomes_ticket,
    };
    Ok((status, Html(page.render()?)).into_response())
}

pub async fn halopsa_form(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
) -> PageResult {
    show_form(state, account, Place::Admin).await
}

/// The wizard's step 2, right after the admin account was created.
pub async fn wizard_form(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
) -> PageResult {
    show_form(state, account, Place::Wizard).await
}

async fn show_form(state: AppState, account: Option<SignedInAccount>, place: Place) -> PageResult {
    let account = match admin_only(account) {
        Ok(account) => account,
        Err(away) => return Ok(away.into_response()),
    };
    form_page(
        &state,
        &account,
        place,
        None,
        StatusCode::OK,
        FormState::default(),
    )
    .await
}

pub async fn halopsa_test(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
    Form(post): Form<ConnectorPost>,
) -> PageResult {
    test_connection(state, account, post, Place::Admin).await
}

pub async fn wizard_test(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
    Form(post): Form<ConnectorPost>,
) -> PageResult {
    test_connection(state, account, post, Place::Wizard).await
}

/// Test Connection without a script: runs the doctor on the posted values
/// and shows the form again with each check, never with the secret.
async fn test_connection(
    state: AppState,
    account: Option<SignedInAccount>,
    post: ConnectorPost,
    place: Place,
) -> PageResult {
    let account = match admin_only(account) {
        Ok(account) => account,
        Err(away) => return Ok(away.into_response()),
    };
    account.check_csrf(&post.csrf)?;

    let tested = state
        .connectors
        .test(&post.form(), &audit_actor(&account.account))
        .await;
    let mut shown = FormState {
        retype_secret: post.secret_typed(),
        confirm_replace: post.confirmed(),
        ..FormState::default()
    };
    let status = match tested {
        Ok(report) => {
            shown.report = Some(report);
            StatusCode::OK
        }
        Err(ConnectorError::Invalid(why)) => {
            shown.error = capitalise(&why);
            StatusCode::BAD_REQUEST
        }
        Err(other) => return Err(connector_error(other)),
    };
    form_page(&state, &account, place, Some(&post), status, shown).await
}

pub async fn halopsa_save(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
    Form(post): Form<ConnectorPost>,
) -> PageResult {
    save_connector(state, account, post, Place::Admin).await
}

pub async fn wizard_save(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
    Form(post): Form<ConnectorPost>,
) -> PageResult {
    save_connector(state, account, post, Place::Wizard).await
}

/// Save without a script. A different Halo than the saved one needs the
/// replacement confirmed first; any refusal is shown on the form.
async fn save_connector(
    state: AppState,
    account: Option<SignedInAccount>,
    post: ConnectorPost,
    place: Place,
) -> PageResult {
    let account = match admin_only(account) {
        Ok(account) => account,
        Err(away) => return Ok(away.into_response()),
    };
    account.check_csrf(&post.csrf)?;

    let refuse = |status, error: String| {
        FormState {
            error,
            retype_secret: post.secret_typed(),
            confirm_replace: post.confirmed(),
            ..FormState::default()
        }
        .with_status(status)
    };

    if !post.confirmed() && replaces_connector(&state, &post.site_url).await? {
        let (status, shown) = refuse(
            StatusCode::CONFLICT,
            format!("{REPLACE_WARNING} Tick the box below to confirm, then test and save again."),
        );
        return form_page(&state, &account, place, Some(&post), status, shown).await;
    }
    let defaults = match post.defaults() {
        Ok(defaults) => defaults,
        Err(why) => {
            let (status, shown) = refuse(StatusCode::BAD_REQUEST, why);
            return form_page(&state, &account, place, Some(&post), status, shown).await;
        }
    };

    let saved = state
        .connectors
        .save(&post.form(), defaults, &audit_actor(&account.account))
        .await;
    match saved {
        Ok(_) => Ok(Redirect::to("/admin/connectors?saved=1").into_response()),
        Err(error @ (ConnectorError::Invalid(_) | ConnectorError::TestFailed(_))) => {
            let message = match error {
                ConnectorError::Invalid(why) => {
                    format!("Nothing was saved: {why}. Test the connection again.")
                }
                other => capitalise(&format!("{other}. Fix it and test again.")),
            };
            let (status, shown) = refuse(StatusCode::BAD_REQUEST, message);
            form_page(&state, &account, place, Some(&post), status, shown).await
        }
        Err(other) => Err(connector_error(other)),
    }
}

impl FormState {
    fn with_status(self, status: StatusCode) -> (StatusCode, FormState) {
        (status, self)
    }
}

// ---------- Disconnect ----------

#[derive(Template)]
#[template(path = "connector_disconnect.html")]
struct DisconnectPage {
    csrf: String,
    me: i64,
    is_admin: bool,
    last_message_id: i64,
    notice: String,
    error: String,
    site_url: String,
}

pub async fn disconnect_form(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
) -> PageResult {
    let account = match admin_only(account) {
        Ok(account) => account,
        Err(away) => return Ok(away.into_response()),
    };
    let Some(connector) = state.connectors.show().await.map_err(connector_error)? else {
        return Ok(Redirect::to("/admin/connectors").into_response());
    };
    let frame = Frame::signed_in(&account);
    render(DisconnectPage {
        csrf: frame.csrf,
        me: frame.me,
        is_admin: frame.is_admin,
        last_message_id: 0,
        notice: String::new(),
        error: String::new(),
        site_url: connector.site_url,
    })
}

#[derive(Debug, Deserialize)]
pub struct DisconnectPost {
    #[serde(default)]
    csrf: String,
}

pub async fn disconnect(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
    Form(post): Form<DisconnectPost>,
) -> PageResult {
    let account = match admin_only(account) {
        Ok(account) => account,
        Err(away) => return Ok(away.into_response()),
    };
    account.check_csrf(&post.csrf)?;

    match state
        .connectors
        .remove(&audit_actor(&account.account))
        .await
    {
        // Already gone (a second tab, or the CLI): the outcome is the same.
        Ok(()) | Err(ConnectorError::NotConnected) => {
            Ok(Redirect::to("/admin/connectors?removed=1").into_response())
        }
        Err(other) => Err(connector_error(other)),
    }
}

// ---------- the audit log ----------

struct AuditRow {
    at: String,
    at_iso: String,
    actor: String,
    action: &'static str,
    /// `created`, `changed`, `tested`, `removed` or `other`, for the badge.
    kind: &'static str,
    /// For tests: `pass` or `fail`; empty otherwise.
    result: &'static str,
    details: Vec<String>,
}

fn audit_row(entry: &AuditEntry) -> AuditRow {
    let detail: Value = serde_json::from_str(&entry.detail).unwrap_or(Value::Null);
    let text = |key: &str| detail[key].as_str().unwrap_or_default().to_owned();
    let mut result = "";
    let (action, kind, details) = match entry.action.as_str() {
        "connector.created" => (
            "Connected HaloPSA",
            "created",
            vec![
                format!("Site URL: {}", text("site_url")),
                format!("Client ID: {}", text("client_id")),
            ],
        ),
        "connector.changed" => {
            let changed = detail["changed"].as_array().cloned().unwrap_or_default();
            let mut lines: Vec<String> = changed.iter().map(change_line).collect();
            if lines.is_empty() {
                lines.push("Saved again with no changes".to_owned());
            }
            ("Changed the connector", "changed", lines)
        }
        "connector.tested" => {
            let passed = detail["ok"].as_bool().unwrap_or(false);
            result = if passed { "pass" } else { "fail" };
            let mut lines = vec![format!(
                "{} for {} (Client ID {})",
                if passed {
                    "Every check passed"
                } else {
                    "The test failed"
                },
                text("site_url"),
                text("client_id")
            )];
            lines.extend(
                detail["failed"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned),
            );
            ("Tested the connection", "tested", lines)
        }
        "connector.removed" => (
            "Disconnected HaloPSA",
            "removed",
            vec![format!("Site URL: {}", text("site_url"))],
        ),
        _ => ("Other", "other", vec![entry.action.clone()]),
    };
    AuditRow {
        at: readable_millis(entry.at),
        at_iso: crate::chat::view::time(entry.at),
        actor: entry.actor.clone(),
        action,
        kind,
        result,
        details,
    }
}

/// One changed field, in words. The secret's change says only that it was
/// replaced; the log never holds it.
fn change_line(change: &Value) -> String {
    let shown = |value: &Value| match value {
        Value::String(text) => text.clone(),
        Value::Null => "(none)".to_owned(),
        other => other.to_string(),
    };
    match change["field"].as_str().unwrap_or_default() {
        "client_secret" => "Client Secret replaced".to_owned(),
        "defaults" => "Ticket defaults changed".to_owned(),
        field => {
            let label = match field {
                "site_url" => "Site URL",
                "client_id" => "Client ID",
                "tenant" => "Tenant",
                other => other,
            };
            format!(
                "{label}: {} → {}",
                shown(&change["from"]),
                shown(&change["to"])
            )
        }
    }
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    csrf: String,
    me: i64,
    is_admin: bool,
    last_message_id: i64,
    notice: String,
    error: String,
    entries: Vec<AuditRow>,
}

pub async fn audit_page(
    State(state): State<AppState>,
    account: Option<SignedInAccount>,
) -> PageResult {
    let account = match admin_only(account) {
        Ok(account) => account,
        Err(away) => return Ok(away.into_response()),
    };
    let entries = state
        .connectors
        .audit_log(500)
        .await
        .map_err(connector_error)?;

    let frame = Frame::signed_in(&account);
    render(AuditPage {
        csrf: frame.csrf,
        me: frame.me,
        is_admin: frame.is_admin,
        last_message_id: 0,
        notice: String::new(),
        error: String::new(),
        entries: entries.iter().map(audit_row).collect(),
    })
}
