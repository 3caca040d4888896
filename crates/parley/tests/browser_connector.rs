//! The admin's first run, in real headless Chromium over WebDriver, against
//! the Halo simulator: the wizard creates the admin and lands on "Connect
//! your PSA"; a wrong secret shows the credentials failure and its fix; an
//! application without `read:customers` shows that permission failing; the
//! right values pass every check and save with chosen ticket defaults; the
//! Connectors page shows Connected; after a reload neither the pages nor any
//! API answer holds the secret; the audit page lists what happened.
//!
//! Like `browser.rs` it needs a chromedriver at `CHROMEDRIVER_URL` and
//! otherwise says it skipped and passes. Screenshots go to
//! `target/screenshots/` and, for the README, `docs/screenshots/`.

use anyhow::{Context, bail};
use halo_sim::{App, RunningSim, Seed, SimConfig, Simulator};
use parley::config::Config;
use parley::server::{self, Options, Running};
use parley::testing::TempDir;
use serde_json::Value;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thirtyfour::common::capabilities::chromium::ChromiumLikeCapabilities;
use thirtyfour::common::log::LoggingPrefsLogLevel;
use thirtyfour::error::WebDriverErrorInner;
use thirtyfour::prelude::*;

const DRIVER_URL_VAR: &str = "CHROMEDRIVER_URL";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The doctor may take a few seconds per test; the simulator answers fast.
const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(100);

const ADMIN_NAME: &str = "Morgan Admin";
const ADMIN_EMAIL: &str = "morgan@contoso-it.example";
const ADMIN_PASSWORD: &str = "a long admin password";

const CLIENT_ID: &str = "parley-chat";
const SECRET: &str = "hG7-rT2x-known-secret-Q9vL";
const WRONG_SECRET: &str = "typo-in-the-secret-31";
/// An application whose permissions lack `read:customers`.
const LIMITED_ID: &str = "parley-limited";
const LIMITED_SECRET: &str = "limited-app-secret-55";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_connects_halopsa_in_the_wizard_and_the_secret_never_comes_back() {
    let Ok(driver_url) = std::env::var(DRIVER_URL_VAR) else {
        eprintln!("skipped: set {DRIVER_URL_VAR} to a chromedriver URL to run the browser test");
        return;
    };

    let sim = start_simulator().await;
    let data = TempDir::new("browser-connector");
    let running = start_server(data.path()).await;
    let profile = TempDir::new("chromium-admin");
    let admin = open_browser(&driver_url, profile.path()).await;

    let outcome = story(&running.url(), &sim.url(), &admin).await;
    if let Err(error) = &outcome {
        report_failure(&admin).await;
        eprintln!("the connector browser story failed: {error:#}");
    }
    let _ = admin.quit().await;
    running.shutdown().await.expect("the server stops");
    sim.shutdown().await;
    outcome.expect("the connector browser story passes");
}

async fn start_simulator() -> RunningSim {
    let all: Vec<String> = halo::DEFAULT_SCOPES.split(' ').map(str::to_owned).collect();
    let limited = all
        .iter()
        .filter(|scope| *scope != "read:customers")
        .cloned()
        .collect();
    Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimConfig {
            seed: Seed::Demo,
            apps: vec![
                App {
                    client_id: CLIENT_ID.to_owned(),
                    client_secret: SECRET.to_owned(),
                    scopes: all,
                },
                App {
                    client_id: LIMITED_ID.to_owned(),
                    client_secret: LIMITED_SECRET.to_owned(),
                    scopes: limited,
                },
            ],
            ..SimConfig::default()
        },
    )
    .await
    .expect("the simulator starts")
}

/// Parley with no account at all, so `/` opens the wizard.
async fn start_server(data_dir: &Path) -> Running {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        allow_private_psa: true,
        ..Config::default()
    };
    let options = Options {
        cheap_hashing: true,
        ..Options::default()
    };
    server::start(config, options)
        .await
        .expect("the server starts")
}

async fn story(base: &str, halo: &str, admin: &WebDriver) -> anyhow::Result<()> {
    // The wizard's first step creates the admin and goes on to the PSA step.
    admin.goto(format!("{base}/")).await?;
    wait_displayed(admin, "the wizard's account step", "form[action='/setup']").await?;
    for (field, value) in [
        ("name", ADMIN_NAME),
        ("email", ADMIN_EMAIL),
        ("password", ADMIN_PASSWORD),
    ] {
        type_into(admin, &format!("input[name={field}]"), value).await?;
    }
    admin
        .find(By::Css("form[action='/setup'] button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_displayed(admin, "the PSA step", "body.page--wizard #connector-form").await?;
    if !admin.current_url().await?.path().ends_with("/setup/psa") {
        bail!("the wizard did not go on to /setup/psa");
    }
    wait_displayed(admin, "Skip for now", "a#skip-psa[href='/console']").await?;

    // The URL is normalised as it is typed, and the page says what changed.
    type_into(admin, "#site_url", &format!("{halo}/api/")).await?;
    let status = wait_displayed(admin, "the normalised URL", "#site-url-status").await?;
    let said = wait_for("the normalisation's answer", || async {
        let text = status.text().await?;
        Ok(text.contains("Parley will use").then_some(text))
    })
    .await?;
    if !said.contains(halo) {
        bail!("the normalised URL is not the site root: {said}");
    }

    // A wrong secret: the credentials check fails and says how to fix it.
    type_into(admin, "#client_id", CLIENT_ID).await?;
    type_into(admin, "#client_secret", WRONG_SECRET).await?;
    let failed = run_test(admin, false).await?;
    let credentials = failed
        .iter()
        .find(|check| check.status == "fail")
        .context("a failing check")?;
    if !credentials.name.contains("Client ID and Secret") || credentials.fix.is_empty() {
        bail!("the wrong secret is not named with a fix: {failed:?}");
    }
    if failed.iter().filter(|c| c.status == "fail").count() != 1 {
        bail!("only the credentials should fail: {failed:?}");
    }
    let typed: String = admin
        .execute(
            "return document.getElementById('client_secret').value;",
            Vec::new(),
        )
        .await?
        .convert()?;
    if typed != WRONG_SECRET {
        bail!("the typed secret did not stay in its field");
    }
    if admin.source().await?.contains(WRONG_SECRET) {
        bail!("the page's HTML holds the typed secret");
    }
    tall_shot(admin, "wizard-psa.png").await?;

    // An application without read:customers: that permission fails.
    type_into(admin, "#client_id", LIMITED_ID).await?;
    type_into(admin, "#client_secret", LIMITED_SECRET).await?;
    let limited = run_test(admin, false).await?;
    let failing: Vec<&Check> = limited.iter().filter(|c| c.status == "fail").collect();
    if !failing
        .iter()
        .any(|check| check.name.contains("read:customers") && !check.fix.is_empty())
    {
        bail!("read:customers is not shown failing with a fix: {limited:?}");
    }
    if failing
        .iter()
        .any(|check| check.name.contains("Permission") && !check.name.contains("read:customers"))
    {
        bail!("another permission is blamed: {limited:?}");
    }

    // The right values pass every check; the defaults appear, filled from
    // Halo's lists with Halo's own choices preselected.
    type_into(admin, "#client_id", CLIENT_ID).await?;
    type_into(admin, "#client_secret", SECRET).await?;
    let passed = run_test(admin, true).await?;
    if let Some(bad) = passed.iter().find(|c| c.status != "pass") {
        bail!("not every check passed: {bad:?} in {passed:?}");
    }
    wait_displayed(admin, "the ticket defaults", "#defaults").await?;
    let preselected: Vec<String> = admin
        .execute(
            "return ['private_outcome_id', 'closed_status_id'].map((name) => { \
               const s = document.querySelector('select[name=' + name + ']'); \
               return s.options[s.selectedIndex].text; });",
            Vec::new(),
        )
        .await?
        .convert()?;
    if preselected != ["Private Note", "Closed"] {
        bail!("Halo's own defaults are not preselected: {preselected:?}");
    }
    let private_offers: Vec<String> = admin
        .execute(
            "return [...document.querySelectorAll('select[name=private_outcome_id] option')].map((o) => o.text);",
            Vec::new(),
        )
        .await?
        .convert()?;
    if private_offers.iter().any(|name| name == "Public Note") {
        bail!("a visible outcome is offered for private notes: {private_offers:?}");
    }
    choose(admin, "ticket_type_id", "Service Request").await?;
    choose(admin, "priority_id", "Medium").await?;
    choose(admin, "visible_outcome_id", "Public Note").await?;
    type_into(admin, "#d-team", "Service Desk").await?;
    tall_shot(admin, "connectors.png").await?;

    admin
        .find(By::Css("#save-connector"))
        .await?
        .click()
        .await?;
    let state = wait_displayed(admin, "the saved connector", "#connector-state").await?;
    if state.text().await? != "Connected" {
        bail!("the Connectors page does not say Connected");
    }
    let page = admin.source().await?;
    for expected in [
        "HaloPSA is connected",
        "requests used per 5 minutes",
        "Coming in a later release",
    ] {
        if !page.contains(expected) {
            bail!("the Connectors page lacks {expected:?}");
        }
    }
    shot(admin, "connectors-page.png", true).await?;

    // After a reload: no page and no API answer holds the secret.
    admin.refresh().await?;
    wait_displayed(admin, "the reloaded Connectors page", "#connector-state").await?;
    let mut seen = vec![("/admin/connectors".to_owned(), admin.source().await?)];
    for path in ["/admin/connectors/halopsa", "/admin/audit", "/console"] {
        admin.goto(format!("{base}{path}")).await?;
        wait_displayed(admin, path, "main").await?;
        seen.push((path.to_owned(), admin.source().await?));
    }
    let edit = &seen[1].1;
    if !edit.contains("A secret is set; leave empty to keep it") {
        bail!("the edit form does not say a secret is set");
    }
    for path in ["/api/v1/connector", "/api/v1/audit", "/api/v1/openapi.json"] {
        let answer = admin
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 fetch(arguments[0], {credentials: 'same-origin'}) \
                   .then((r) => r.text().then((t) => done(r.status + ' ' + t))) \
                   .catch((e) => done('failed ' + e));",
                vec![Value::String(path.to_owned())],
            )
            .await?
            .convert::<String>()?;
        if !answer.starts_with("200 ") {
            bail!("{path} answered {answer}");
        }
        seen.push((path.to_owned(), answer));
    }
    for (path, text) in &seen {
        for secret in [SECRET, WRONG_SECRET, LIMITED_SECRET] {
            if text.contains(secret) {
                bail!("{path} holds a client secret");
            }
        }
    }
    let connector: Value = serde_json::from_str(&seen[4].1["200 ".len()..])?;
    if connector["connector"]["client_secret_set"] != Value::Bool(true) {
        bail!("the API does not say a secret is set: {connector}");
    }

    // The audit page lists the tests and the creation, newest first.
    admin.goto(format!("{base}/admin/audit")).await?;
    wait_displayed(admin, "the audit log", "#audit-log").await?;
    let kinds: Vec<(String, String)> = admin
        .execute(
            "return [...document.querySelectorAll('#audit-log tbody tr')] \
               .map((tr) => [tr.dataset.kind, tr.dataset.result || '']);",
            Vec::new(),
        )
        .await?
        .convert()?;
    let expected: Vec<(String, String)> = [
        ("created", ""),
        ("tested", "pass"),
        ("tested", "fail"),
        ("tested", "fail"),
    ]
    .iter()
    .map(|(kind, result)| ((*kind).to_owned(), (*result).to_owned()))
    .collect();
    if kinds != expected {
        bail!("the audit log is not what happened, newest first: {kinds:?}");
    }
    if !admin.source().await?.contains(ADMIN_EMAIL) {
        bail!("the audit log does not say who");
    }
    shot(admin, "audit.png", false).await?;
    Ok(())
}

/// One line of the Test Connection result, as the page shows it.
#[derive(Debug, serde::Deserialize)]
struct Check {
    status: String,
    name: String,
    fix: String,
}

/// Presses Test Connection and waits for the new result.
async fn run_test(admin: &WebDriver, expect_ok: bool) -> anyhow::Result<Vec<Check>> {
    // The old result goes first, so that the new one is told apart.
    admin
        .execute(
            "document.getElementById('check-list').textContent = '';",
            Vec::new(),
        )
        .await?;
    admin
        .find(By::Css("#test-connection"))
        .await?
        .click()
        .await?;
    let checks = wait_js(
        admin,
        "the test's checks",
        "const list = document.getElementById('check-list'); \
         const busy = document.getElementById('connector-form').getAttribute('aria-busy') === 'true'; \
         if (busy || !list || list.closest('[hidden]') || !list.children.length) return null; \
         return [...list.children].map((li) => ({ \
           status: li.dataset.status, \
           name: li.querySelector('.check__name').textContent, \
           fix: (li.querySelector('.check__fix') || {textContent: ''}).textContent }));",
    )
    .await?;
    let checks: Vec<Check> = serde_json::from_value(checks)?;
    let summary = admin.find(By::Css("#checks-summary")).await?.text().await?;
    if expect_ok != (summary == "Every check passed") {
        bail!("the summary says {summary:?}: {checks:?}");
    }
    Ok(checks)
}

/// Replaces an input's text as a person would: clear, then type.
async fn type_into(driver: &WebDriver, css: &str, text: &str) -> anyhow::Result<()> {
    let input = driver.find(By::Css(css)).await?;
    input.clear().await?;
    input.send_keys(text).await?;
    Ok(())
}

/// Picks an option of one of the ticket defaults by its text.
async fn choose(driver: &WebDriver, name: &str, label: &str) -> anyhow::Result<()> {
    let select = driver.find(By::Css(format!("select[name={name}]"))).await?;
    select
        .find(By::XPath(format!("./option[normalize-space(.)='{label}']")))
        .await
        .with_context(|| format!("{name} offers {label}"))?
        .click()
        .await?;
    Ok(())
}

async fn open_browser(driver_url: &str, profile: &Path) -> WebDriver {
    let mut caps = DesiredCapabilities::chrome();
    caps.set_binary(CHROMIUM).unwrap();
    for arg in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--password-store=basic",
        "--window-size=1280,900",
        "--hide-scrollbars",
        "--lang=en-GB",
    ] {
        caps.add_arg(arg).unwrap();
    }
    caps.add_arg(&format!("--user-data-dir={}", profile.display()))
        .unwrap();
    caps.set_logging_prefs("browser", LoggingPrefsLogLevel::All)
        .unwrap();
    let driver = WebDriver::new(driver_url, caps)
        .await
        .expect("chromedriver opens a session");
    set_viewport(&driver, 1280, 900)
        .await
        .expect("the window is resized");
    driver
}

/// Sizes the window so that the page itself is `width` x `height` CSS pixels.
async fn set_viewport(driver: &WebDriver, width: u32, height: u32) -> anyhow::Result<()> {
    driver.set_window_rect(0, 0, width, height).await?;
    let inner = driver
        .execute(
            "return [window.innerWidth, window.innerHeight];",
            Vec::new(),
        )
        .await?
        .convert::<(u32, u32)>()?;
    if inner != (width, height) {
        let outer_width = width + width.saturating_sub(inner.0);
        let outer_height = height + height.saturating_sub(inner.1);
        driver
            .set_window_rect(0, 0, outer_width, outer_height)
            .await?;
    }
    Ok(())
}

async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let started = Instant::now();
    loop {
        let last = match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => String::from("not yet"),
            Err(error) => format!("{error:#}"),
        };
        if started.elapsed() > WAIT {
            bail!("waited {WAIT:?} for {what}: {last}");
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn wait_js(driver: &WebDriver, what: &str, script: &str) -> anyhow::Result<Value> {
    wait_for(what, || async {
        let value = driver.execute(script, Vec::new()).await?.json().clone();
        Ok(match value {
            Value::Null | Value::Bool(false) => None,
            other => Some(other),
        })
    })
    .await
}

async fn wait_displayed(driver: &WebDriver, what: &str, css: &str) -> anyhow::Result<WebElement> {
    wait_for(what, || async {
        match driver.find(By::Css(css)).await {
            Ok(element) if element.is_displayed().await? => Ok(Some(element)),
            Ok(_) => Ok(None),
            Err(error) if matches!(error.as_inner(), WebDriverErrorInner::NoSuchElement(_)) => {
                Ok(None)
            }
            Err(other) => Err(other.into()),
        }
    })
    .await
}

/// Saves a screenshot under `target/screenshots/`, and for the README's
/// pictures also under `docs/screenshots/`.
async fn shot(driver: &WebDriver, name: &str, for_docs: bool) -> anyhow::Result<()> {
    driver
        .execute_async(
            "const done = arguments[arguments.length - 1]; \
             requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
            Vec::new(),
        )
        .await?;
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

/// A screenshot of the whole page (form, checks and defaults), for the
/// README: the window grows to the page's height for it, then shrinks back.
async fn tall_shot(driver: &WebDriver, name: &str) -> anyhow::Result<()> {
    let height: u32 = driver
        .execute(
            "document.activeElement.blur(); window.scrollTo(0, 0); \
             return document.documentElement.scrollHeight;",
            Vec::new(),
        )
        .await?
        .convert()?;
    set_viewport(driver, 1280, height.clamp(900, 2800)).await?;
    let outcome = shot(driver, name, true).await;
    set_viewport(driver, 1280, 900).await?;
    outcome
}

/// Saves what the browser showed, and its console log, for a failed run.
async fn report_failure(driver: &WebDriver) {
    let dir = workspace_root().join("target/screenshots");
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(png) = driver.screenshot_as_png().await {
        let path = dir.join("failure-connector.png");
        let _ = std::fs::write(&path, png);
        eprintln!("the screen at the failure: {}", path.display());
    }
    if let Ok(url) = driver.current_url().await {
        eprintln!("the page: {url}");
    }
    if let Ok(entries) = driver.browser_log().await {
        for entry in entries {
            eprintln!("browser log: {entry:?}");
        }
    }
}
