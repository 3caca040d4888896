//! Chats become tickets, in real headless Chromium over WebDriver, against
//! the Halo simulator with its demo data: Alice (one contact in Halo) opens
//! the widget, is offered her open ticket, starts a new chat instead, asks
//! for a ticket and sees its number; the technician sees the ticket in the
//! conversation's side panel, replies, and sees the reply synced to Halo; an
//! agent's note added in Halo shows in the widget; Alice opens "My tickets",
//! sees the ticket with its history, and opens the chat that answers it.
//!
//! Like `browser.rs` it needs a chromedriver at `CHROMEDRIVER_URL` and
//! otherwise says it skipped and passes. Screenshots go to
//! `target/screenshots/` and, for the README, `docs/screenshots/`.

mod browser_kit;

use anyhow::{Context, bail};
use browser_kit::*;
use halo_sim::{App, HaloAction, RunningSim, Seed, SimConfig, Simulator};
use parley::config::Config;
use parley::psa::connector::{Actor, ConnectorForm, TicketDefaults};
use parley::server::{self, Options, Running};
use parley::store::Role;
use parley::sync::{InboundConfig, PollPolicy};
use parley::testing::TempDir;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;
use thirtyfour::prelude::*;

const CLIENT_ID: &str = "parley-chat";
const SECRET: &str = "browser-tickets-secret-7Hq";
const PASSWORD: &str = "demo-password";
const TECH_EMAIL: &str = "tess.tech@msp.example";
const TECH_NAME: &str = "Tess Tech";
/// A contact of exactly one client in the demo seed, with an open ticket
/// ("Printer on the 2nd floor keeps jamming").
const END_USER: (&str, &str) = ("Alice Carter", "alice.carter@northwind.example");
const SEEDED_TICKET: &str = "Printer on the 2nd floor keeps jamming";
/// Tess's agent id in the simulator's demo seed.
const HALO_AGENT_TESS: i64 = 4;

const SUBJECT: &str = "VPN drops every few minutes";
const FIRST_MESSAGE: &str = "Hi! Since this morning's update the VPN disconnects every few \
                             minutes, so my Teams calls keep dropping.";
const REPLY: &str = "Thanks Alice. I have pushed a fixed VPN profile to your laptop; please \
                     disconnect, reconnect and tell me if it drops again.";
const AGENT_NOTE: &str = "Update from the network team: the VPN gateway was patched at 14:00, \
                          which fixes the drops for everyone at Northwind.";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_becomes_a_ticket_and_the_user_follows_it_in_my_tickets() {
    let Ok(driver_url) = std::env::var(DRIVER_URL_VAR) else {
        eprintln!("skipped: set {DRIVER_URL_VAR} to a chromedriver URL to run the browser test");
        return;
    };

    let sim = start_simulator().await;
    let data = TempDir::new("browser-tickets");
    let running = start_server(data.path(), &sim).await;

    let user_profile = TempDir::new("chromium-ticket-user");
    let tech_profile = TempDir::new("chromium-ticket-tech");
    let user = open_browser(&driver_url, user_profile.path()).await;
    let tech = open_browser(&driver_url, tech_profile.path()).await;

    let outcome = story(&running.url(), &sim, &user, &tech).await;
    if let Err(error) = &outcome {
        report_failure(&user, "user").await;
        report_failure(&tech, "technician").await;
        eprintln!("the ticket browser story failed: {error:#}");
    }
    let _ = user.quit().await;
    let _ = tech.quit().await;
    running.shutdown().await.expect("the server stops");
    sim.shutdown().await;
    outcome.expect("the ticket browser story passes");
}

async fn start_simulator() -> RunningSim {
    Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimConfig {
            seed: Seed::Demo,
            apps: vec![App {
                client_id: CLIENT_ID.to_owned(),
                client_secret: SECRET.to_owned(),
                scopes: halo::DEFAULT_SCOPES.split(' ').map(str::to_owned).collect(),
            }],
            ..SimConfig::default()
        },
    )
    .await
    .expect("the simulator starts")
}

/// Parley with the demo portal for Alice, seeded technicians and HaloPSA
/// connected to the simulator.
async fn start_server(data_dir: &Path, sim: &RunningSim) -> Running {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        allow_private_psa: true,
        ..Config::default()
    };
    let options = Options {
        demo_end_users: vec![(END_USER.0.to_owned(), END_USER.1.to_owned())],
        cheap_hashing: true,
        // No webhook is set up here: the poller brings Halo's changes, at a
        // pace that suits a test rather than a Halo budget.
        inbound: InboundConfig {
            poll: PollPolicy {
                base: Duration::from_secs(1),
                ..PollPolicy::default()
            },
            ..InboundConfig::default()
        },
        ..Options::default()
    };
    let running = server::start(config, options)
        .await
        .expect("the server starts");
    for (email, name, role) in [
        ("admin@msp.example", "Morgan Admin", Role::Admin),
        (TECH_EMAIL, TECH_NAME, Role::Technician),
    ] {
        running
            .state
            .accounts
            .create(email, name, role, PASSWORD)
            .await
            .expect("a seeded account is created");
    }
    running
        .state
        .connectors
        .save(
            &ConnectorForm {
                site_url: sim.url(),
                client_id: CLIENT_ID.to_owned(),
                client_secret: Some(SECRET.to_owned()),
                tenant: None,
            },
            TicketDefaults::default(),
            &Actor("test".into()),
        )
        .await
        .expect("the connector is saved");
    running
}

async fn story(
    base: &str,
    sim: &RunningSim,
    user: &WebDriver,
    tech: &WebDriver,
) -> anyhow::Result<()> {
    // The technician signs in and watches the waiting inbox.
    tech.goto(format!("{base}/login")).await?;
    type_into(tech, "input[name=email]", TECH_EMAIL).await?;
    type_into(tech, "input[name=password]", PASSWORD).await?;
    tech.find(By::Css("main form button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_displayed(tech, "the waiting inbox", "#inbox[data-view=waiting]").await?;
    wait_displayed(
        tech,
        "the Needs a contact link",
        "nav a[href='/console/contacts']",
    )
    .await?;

    // Alice opens the portal and the widget; her open ticket is offered, so
    // that a follow-up would join it instead of making a duplicate.
    user.goto(format!("{base}/demo/portal?user=0")).await?;
    wait_element(
        user,
        "the widget's launcher in its shadow root",
        "const host = document.getElementById('parley-widget-host'); \
         return host && host.shadowRoot && host.shadowRoot.querySelector('[data-testid=launcher]');",
    )
    .await?
    .click()
    .await?;
    enter_widget(user).await?;
    wait_displayed(user, "the start form", "[data-testid=start-message]").await?;
    wait_js(
        user,
        "the offer of Alice's open ticket",
        &format!(
            "const box = document.querySelector('[data-testid=open-tickets]'); \
             return !!box && !box.hidden && [...box.querySelectorAll('[data-testid=open-ticket-option]')]\
             .some(o => o.textContent.includes({}));",
            js_string(SEEDED_TICKET)
        ),
    )
    .await?;
    let new_issue_chosen = user
        .execute(
            "return document.querySelector('[data-testid=new-issue-option] input').checked;",
            Vec::new(),
        )
        .await?;
    if new_issue_chosen.json() != &json!(true) {
        bail!("\"No, something new\" is not the default choice");
    }

    user.enter_default_frame().await?;
    shot(user, "widget-follow-up.png", false).await?;
    enter_widget(user).await?;

    // A new problem: she starts a chat and asks for a ticket.
    type_into(user, "[data-testid=start-subject]", SUBJECT).await?;
    type_into(user, "[data-testid=start-message]", FIRST_MESSAGE).await?;
    user.find(By::Css("[data-testid=start-button]"))
        .await?
        .click()
        .await?;
    wait_js(
        user,
        "the first message in the widget",
        &format!(
            "return [...document.querySelectorAll('[data-testid=message][data-author-kind=end_user]')]\
             .some(m => m.textContent.includes({}));",
            js_string(FIRST_MESSAGE)
        ),
    )
    .await?;
    let ask = wait_displayed(user, "Ask for a ticket", "[data-testid=ask-ticket]").await?;
    wait_js(
        user,
        "Ask for a ticket enabled once Alice is linked to her contact",
        "const b = document.querySelector('[data-testid=ask-ticket]'); return !!b && !b.disabled;",
    )
    .await?;
    ask.click().await?;
    let number = wait_js(
        user,
        "the ticket number in the chat header",
        "const n = document.querySelector('[data-testid=ticket-badge]:not([hidden]) [data-testid=ticket-number]'); \
         const m = n && n.textContent.match(/#(\\d+)/); return m ? Number(m[1]) : null;",
    )
    .await?;
    let ticket_id = number.as_i64().context("the ticket number")?;
    let ticket = sim
        .ticket(ticket_id)
        .context("the ticket in the simulator")?;
    if !ticket.to_string().contains(SUBJECT) {
        bail!("ticket #{ticket_id} in Halo does not carry the chat's subject: {ticket}");
    }
    wait_js(
        user,
        "the system message announcing the ticket",
        &format!(
            "return [...document.querySelectorAll('[data-testid=message][data-kind=system]')]\
             .some(m => m.textContent.includes('#{ticket_id}'));"
        ),
    )
    .await?;

    // The technician opens the chat: the side panel shows the ticket.
    let row = wait_for("the chat in the technician's inbox", || async {
        for row in tech
            .find_all(By::Css("#inbox li.conversation.conversation--waiting"))
            .await?
        {
            if row.text().await?.contains(SUBJECT) {
                return Ok(Some(row));
            }
        }
        Ok(None)
    })
    .await?;
    row.find(By::Css("a")).await?.click().await?;
    wait_displayed(tech, "the conversation view", "main#conversation").await?;
    let panel_number = wait_displayed(tech, "the ticket panel", "#ticket-panel #ticket-number")
        .await?
        .text()
        .await?;
    if panel_number.trim() != format!("#{ticket_id}") {
        bail!("the side panel shows {panel_number:?}, not ticket #{ticket_id}");
    }
    wait_displayed(tech, "the claim button", "form[action$='/claim'] button")
        .await?
        .click()
        .await?;
    wait_js(
        tech,
        "the claimed chat",
        "return document.getElementById('conversation').dataset.status === 'active' \
         && document.body.dataset.live === 'ready';",
    )
    .await?;

    // The reply goes to the chat and, as a visible note, to the ticket; its
    // badge says so with Halo's note id.
    type_into(tech, "#reply-form textarea", REPLY).await?;
    tech.find(By::Css("#reply-form button[type=submit]"))
        .await?
        .click()
        .await?;
    let note_id = wait_js(
        tech,
        "the reply's synced badge",
        &format!(
            "const li = [...document.querySelectorAll('#messages .message--from-technician')]\
             .find(m => m.textContent.includes({})); \
             const box = li && li.querySelector('.message__sync[data-state=synced]'); \
             const m = box && box.textContent.match(/note (\\d+)/); return m ? Number(m[1]) : null;",
            js_string(REPLY)
        ),
    )
    .await?;
    let in_halo = sim.actions(ticket_id);
    let synced = in_halo
        .iter()
        .find(|action| action["id"] == note_id)
        .with_context(|| format!("Halo note {note_id} on ticket #{ticket_id}: {in_halo:?}"))?;
    if !synced.to_string().contains("fixed VPN profile") {
        bail!("Halo note {note_id} is not the reply: {synced}");
    }
    wait_js(
        user,
        "the reply in the widget",
        &format!(
            "return [...document.querySelectorAll('[data-testid=message][data-author-kind=technician]')]\
             .some(m => m.textContent.includes({}));",
            js_string(REPLY)
        ),
    )
    .await?;

    // An agent answers in Halo itself.
    sim.add_action(
        ticket_id,
        &HaloAction {
            agent_id: Some(HALO_AGENT_TESS),
            note: AGENT_NOTE.to_owned(),
            ..HaloAction::default()
        },
    )
    .map_err(|error| anyhow::anyhow!("adding the agent's note in Halo: {error:?}"))?;
    // The poller brings it into the chat, for Alice and the technician.
    for (driver, who, css) in [
        (user, "widget", "[data-testid=message]"),
        (tech, "console", "#messages .message"),
    ] {
        wait_js(
            driver,
            &format!("the agent's note from Halo in the {who}"),
            &format!(
                "return [...document.querySelectorAll({})].some(m => m.textContent.includes({}));",
                js_string(css),
                js_string(AGENT_NOTE)
            ),
        )
        .await?;
    }

    user.enter_default_frame().await?;
    shot(user, "widget-ticket.png", true).await?;
    scroll_console_to_end(tech).await?;
    shot(tech, "console-ticket.png", true).await?;

    // "My tickets": the new ticket is there, open tickets first.
    enter_widget(user).await?;
    user.find(By::Css("[data-testid=tab-tickets]"))
        .await?
        .click()
        .await?;
    let order = wait_js(
        user,
        "the new ticket in My tickets",
        &format!(
            "const items = [...document.querySelectorAll('[data-testid=ticket-list] [data-testid=ticket-item]')]; \
             return items.some(i => i.dataset.ticketId === '{ticket_id}') \
             ? items.map(i => i.textContent) : null;"
        ),
    )
    .await?;
    let order = order.as_array().context("the list")?;
    if !order
        .iter()
        .any(|text| text.to_string().contains(SEEDED_TICKET))
    {
        bail!("the seeded open ticket is missing from My tickets: {order:?}");
    }
    user.enter_default_frame().await?;
    shot(user, "my-tickets.png", true).await?;

    // Opening it shows its history as Alice may see it: the reply, and the
    // agent's note written in Halo.
    enter_widget(user).await?;
    user.find(By::Css(format!(
        "[data-testid=ticket-item][data-ticket-id='{ticket_id}']"
    )))
    .await?
    .click()
    .await?;
    wait_js(
        user,
        "the ticket's history with the reply and the agent's note",
        &format!(
            "const notes = [...document.querySelectorAll('[data-testid=ticket-detail]:not([hidden]) [data-testid=ticket-note]')]\
             .map(n => n.textContent); \
             return notes.some(t => t.includes({})) && notes.some(t => t.includes({}));",
            js_string("fixed VPN profile"),
            js_string("VPN gateway was patched")
        ),
    )
    .await?;
    user.enter_default_frame().await?;
    shot(user, "my-ticket.png", true).await?;

    // At phone width the widget fills the screen and nothing overflows sideways.
    set_viewport(user, 390, 844).await?;
    let overflow = user
        .execute(
            "const f = document.getElementById('parley-widget-host').shadowRoot.querySelector('iframe'); \
             const d = f.contentDocument.documentElement; return d.scrollWidth > d.clientWidth;",
            Vec::new(),
        )
        .await?;
    if overflow.json() == &json!(true) {
        bail!("the ticket view overflows sideways at phone width");
    }
    shot(user, "my-ticket-phone.png", false).await?;
    set_viewport(user, 1280, 800).await?;

    // "Reply" opens the chat that answers the ticket: the same open chat.
    enter_widget(user).await?;
    user.find(By::Css("[data-testid=ticket-reply]"))
        .await?
        .click()
        .await?;
    wait_js(
        user,
        "the chat about the ticket",
        &format!(
            "const tab = document.querySelector('[data-testid=tab-chat]'); \
             const n = document.querySelector('[data-testid=ticket-number]'); \
             return tab.getAttribute('aria-selected') === 'true' && !!n && n.textContent.includes('#{ticket_id}') \
             && document.activeElement === document.querySelector('[data-testid=message-input]');"
        ),
    )
    .await?;

    // The Needs a contact page opens for technicians (Alice is linked, so
    // nobody waits).
    tech.goto(format!("{base}/console/contacts")).await?;
    wait_displayed(tech, "the Needs a contact page", "main#contact-queue").await?;
    wait_displayed(tech, "the empty queue", "[data-testid=queue-empty]").await?;

    for (driver, who) in [(user, "end user"), (tech, "technician")] {
        let errors: Vec<String> = driver
            .browser_log()
            .await?
            .into_iter()
            .filter(|entry| entry.level == "SEVERE")
            .map(|entry| entry.message)
            .collect();
        if !errors.is_empty() {
            bail!("the {who}'s browser logged errors: {errors:#?}");
        }
    }
    eprintln!(
        "screenshots in {} and {}",
        workspace_root().join("target/screenshots").display(),
        workspace_root().join("docs/screenshots").display()
    );
    Ok(())
}

async fn type_into(driver: &WebDriver, css: &str, text: &str) -> anyhow::Result<()> {
    let field = wait_displayed(driver, css, css).await?;
    field.clear().await?;
    field.send_keys(text).await?;
    Ok(())
}

/// Switches into the widget's iframe, which lives in the loader's shadow root.
async fn enter_widget(user: &WebDriver) -> anyhow::Result<()> {
    user.enter_default_frame().await?;
    let iframe = wait_element(
        user,
        "the widget's open panel and iframe",
        "const host = document.getElementById('parley-widget-host'); \
         const panel = host && host.shadowRoot.querySelector('[data-testid=panel]'); \
         return panel && !panel.hidden ? panel.querySelector('iframe') : null;",
    )
    .await?;
    iframe.enter_frame().await?;
    Ok(())
}

/// Saves a screenshot under `target/screenshots/`, and for the README's
/// pictures also under `docs/screenshots/`.
async fn shot(driver: &WebDriver, name: &str, for_docs: bool) -> anyhow::Result<()> {
    settle(driver).await?;
    let png = driver.screenshot_as_png().await?;
    if png.len() < 1000 || !png.starts_with(b"\x89PNG") {
        bail!("the screenshot {name} is not a PNG");
    }
    let mut dirs = vec![workspace_root().join("target/screenshots")];
    if for_docs {
        dirs.push(workspace_root().join("docs/screenshots"));
    }
    for dir in dirs {
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(name), &png)?;
    }
    Ok(())
}

async fn settle(driver: &WebDriver) -> anyhow::Result<()> {
    driver
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             (document.fonts ? document.fonts.ready : Promise.resolve()).then(() => \
             requestAnimationFrame(() => requestAnimationFrame(() => done(true))));",
            Vec::new(),
        )
        .await?;
    Ok(())
}

async fn scroll_console_to_end(tech: &WebDriver) -> anyhow::Result<()> {
    tech.execute(
        "const m = document.getElementById('messages'); if (m) m.scrollTop = m.scrollHeight;",
        Vec::new(),
    )
    .await?;
    Ok(())
}

/// Saves what each browser showed, and its console log, for a failed run.
async fn report_failure(driver: &WebDriver, who: &str) {
    let dir = workspace_root().join("target/screenshots");
    let _ = std::fs::create_dir_all(&dir);
    let _ = driver.enter_default_frame().await;
    if let Ok(png) = driver.screenshot_as_png().await {
        let path = dir.join(format!("failure-tickets-{who}.png"));
        let _ = std::fs::write(&path, png);
        eprintln!("{who}'s screen at the failure: {}", path.display());
    }
    if let Ok(url) = driver.current_url().await {
        eprintln!("{who}'s page: {url}");
    }
    match driver.browser_log().await {
        Ok(entries) => {
            for entry in entries {
                eprintln!("{who}'s browser log: {entry:?}");
            }
        }
        Err(error) => eprintln!("no browser log for {who}: {error}"),
    }
}

/// A JavaScript string literal for `text`.
fn js_string(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}
