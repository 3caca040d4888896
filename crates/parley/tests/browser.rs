//! The browser story, in real headless Chromium over WebDriver: an end user
//! opens the demo portal, starts a chat in the widget and sends a file; a
//! technician signed in on the console sees it arrive live, opens it, claims
//! it and replies; the end user sees the reply live.
//!
//! It needs a running chromedriver whose URL is in `CHROMEDRIVER_URL`
//! (`.ci/browser-setup.sh` starts one); without it the test says it skipped
//! and passes. Screenshots go to `target/screenshots/` and, as the README's
//! pictures, to `docs/screenshots/`.

mod browser_kit;

use anyhow::{Context, bail};
use browser_kit::*;
use parley::config::Config;
use parley::server::{self, Options, Running};
use parley::store::Role;
use parley::testing::TempDir;
use serde_json::json;
use std::path::{Path, PathBuf};
use thirtyfour::prelude::*;

const PASSWORD: &str = "demo-password";
const TECH_EMAIL: &str = "tess.tech@msp.example";
const TECH_NAME: &str = "Tess Tech";
const END_USER: (&str, &str) = ("Alice Carter", "alice.carter@northwind.example");

const SUBJECT: &str = "Outlook keeps asking for my password";
const FIRST_MESSAGE: &str =
    "Hi! Since this morning Outlook asks for my password every few minutes. Screenshot attached.";
const FILE_NAME: &str = "outlook-prompt.png";
const REPLY: &str = "Thanks Alice, I can see your mailbox. I have reset the stuck sign-in token; \
                     please close Outlook and open it again.";

/// The workspace's root, from this crate's manifest directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_user_and_technician_chat_in_real_browsers() {
    let Ok(driver_url) = std::env::var(DRIVER_URL_VAR) else {
        eprintln!("skipped: set {DRIVER_URL_VAR} to a chromedriver URL to run the browser test");
        return;
    };

    let data = TempDir::new("browser");
    let running = start_server(data.path()).await;
    let base = running.url();

    let user_profile = TempDir::new("chromium-user");
    let tech_profile = TempDir::new("chromium-tech");
    let user = open_browser(&driver_url, user_profile.path()).await;
    let tech = open_browser(&driver_url, tech_profile.path()).await;

    let outcome = story(&base, &user, &tech, data.path()).await;
    if let Err(error) = &outcome {
        report_failure(&user, "user").await;
        report_failure(&tech, "technician").await;
        eprintln!("the browser story failed: {error:#}");
    }
    let _ = user.quit().await;
    let _ = tech.quit().await;
    running.shutdown().await.expect("the server stops");
    outcome.expect("the browser story passes");
}

async fn start_server(data_dir: &Path) -> Running {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    let options = Options {
        demo_end_users: vec![(END_USER.0.to_owned(), END_USER.1.to_owned())],
        cheap_hashing: true,
        ..Options::default()
    };
    let running = server::start(config, options)
        .await
        .expect("the server starts");
    for (email, name, role) in [
        ("admin@msp.example", "Morgan Admin", Role::Admin),
        (TECH_EMAIL, TECH_NAME, Role::Technician),
        ("marco.rossi@msp.example", "Marco Rossi", Role::Technician),
    ] {
        running
            .state
            .accounts
            .create(email, name, role, PASSWORD)
            .await
            .expect("a seeded account is created");
    }
    running
}

async fn story(
    base: &str,
    user: &WebDriver,
    tech: &WebDriver,
    data_dir: &Path,
) -> anyhow::Result<()> {
    // The technician signs in first and watches the waiting inbox.
    tech.goto(format!("{base}/login")).await?;
    shot(tech, "login.png", false).await?;
    tech.find(By::Css("input[name=email]"))
        .await?
        .send_keys(TECH_EMAIL)
        .await?;
    tech.find(By::Css("input[name=password]"))
        .await?
        .send_keys(PASSWORD)
        .await?;
    tech.find(By::Css("main form button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_displayed(tech, "the waiting inbox", "#inbox[data-view=waiting]").await?;
    wait_js(
        tech,
        "the console's live connection",
        "return document.body.dataset.live === 'ready'",
    )
    .await?;
    // Marks this page: if the inbox reloaded, the mark would be gone.
    tech.execute("window.parleyNoReload = 'inbox';", Vec::new())
        .await?;

    // The end user opens the portal and the widget.
    user.goto(format!("{base}/demo/portal?user=0")).await?;
    let launcher = wait_element(
        user,
        "the widget's launcher in its shadow root",
        "const host = document.getElementById('parley-widget-host'); \
         return host && host.shadowRoot && host.shadowRoot.querySelector('[data-testid=launcher]');",
    )
    .await?;
    launcher.click().await?;
    enter_widget(user).await?;

    // Starts a chat.
    let body = wait_displayed(user, "the start form", "[data-testid=start-message]").await?;
    user.enter_default_frame().await?;
    shot(user, "widget-start.png", false).await?;
    enter_widget(user).await?;
    user.find(By::Css("[data-testid=start-subject]"))
        .await?
        .send_keys(SUBJECT)
        .await?;
    body.send_keys(FIRST_MESSAGE).await?;
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

    // The technician's inbox shows it without a reload.
    let row = wait_for("the new chat in the technician's waiting inbox", || async {
        let rows = tech
            .find_all(By::Css("#inbox li.conversation.conversation--waiting"))
            .await?;
        for row in rows {
            if row.text().await?.contains(END_USER.0) {
                return Ok(Some(row));
            }
        }
        Ok(None)
    })
    .await?;
    let row_text = row.text().await?;
    if !row_text.contains(SUBJECT) {
        bail!("the inbox row does not show the subject: {row_text:?}");
    }
    let mark = tech
        .execute("return window.parleyNoReload || null;", Vec::new())
        .await?;
    if mark.json() != &json!("inbox") {
        bail!("the inbox reloaded instead of updating live");
    }

    // The end user sends a file.
    let png = data_dir.join(FILE_NAME);
    std::fs::write(&png, screenshot_like_png()).context("writing the test PNG")?;
    user.find(By::Css("[data-testid=file-input]"))
        .await?
        .send_keys(png.display().to_string())
        .await?;
    wait_js(
        user,
        "the attachment's thumbnail in the widget",
        &format!(
            "const a = [...document.querySelectorAll('[data-testid=attachment]')]\
             .find(n => n.textContent.includes({})); \
             const img = a && a.querySelector('img'); \
             return !!img && img.complete && img.naturalWidth > 0;",
            js_string(FILE_NAME)
        ),
    )
    .await?;

    // The technician opens the chat and sees both messages.
    row.find(By::Css("a")).await?.click().await?;
    wait_displayed(tech, "the conversation view", "main#conversation").await?;
    wait_js(
        tech,
        "the first message in the console",
        &format!(
            "return [...document.querySelectorAll('#messages .message--from-end_user')]\
             .some(m => m.textContent.includes({}));",
            js_string(FIRST_MESSAGE)
        ),
    )
    .await?;
    wait_js(
        tech,
        "the attachment in the console",
        &format!(
            "const a = [...document.querySelectorAll('#messages a.message__attachment')]\
             .find(n => n.textContent.includes({})); return a ? a.href : null;",
            js_string(FILE_NAME)
        ),
    )
    .await?;
    // The technician can download it with the session cookie.
    let download = tech
        .execute_async(
            &format!(
                "const done = arguments[arguments.length - 1]; \
                 const a = [...document.querySelectorAll('#messages a.message__attachment')]\
                 .find(n => n.textContent.includes({})); \
                 fetch(a.href, {{credentials: 'same-origin'}}).then(r => r.arrayBuffer()\
                 .then(b => done({{status: r.status, type: r.headers.get('Content-Type'), size: b.byteLength}})))\
                 .catch(e => done({{error: String(e)}}));",
                js_string(FILE_NAME)
            ),
            Vec::new(),
        )
        .await?
        .json()
        .clone();
    let expected_size = screenshot_like_png().len();
    if download["status"] != json!(200) || download["size"] != json!(expected_size) {
        bail!("the technician's download of the attachment failed: {download}");
    }

    // Claims it.
    wait_displayed(tech, "the claim button", "form[action$='/claim'] button")
        .await?
        .click()
        .await?;
    wait_js(
        tech,
        "the claimed status",
        &format!(
            "const s = document.getElementById('status'); \
             return !!s && s.textContent.includes('Active') && s.textContent.includes({}) \
             && document.getElementById('conversation').dataset.status === 'active';",
            js_string(TECH_NAME)
        ),
    )
    .await?;
    wait_js(
        tech,
        "the console's live connection after claiming",
        "return document.body.dataset.live === 'ready'",
    )
    .await?;
    tech.execute("window.parleyNoReload = 'conversation';", Vec::new())
        .await?;

    // The widget shows who has the chat.
    wait_js(
        user,
        "the widget showing the technician",
        &format!(
            "const s = document.querySelector('[data-testid=conversation-status]'); \
             return !!s && s.textContent.includes({});",
            js_string(TECH_NAME)
        ),
    )
    .await?;

    // Replies.
    let reply_box = wait_displayed(tech, "the reply box", "#reply-form textarea").await?;
    reply_box.send_keys(REPLY).await?;
    // While the technician types, the end user sees it.
    wait_js(
        user,
        "the typing indicator in the widget",
        &format!(
            "const t = document.querySelector('[data-testid=typing]'); \
             return !!t && t.textContent.includes({});",
            js_string(&format!("{TECH_NAME} is typing"))
        ),
    )
    .await?;
    tech.find(By::Css("#reply-form button[type=submit]"))
        .await?
        .click()
        .await?;
    wait_js(
        tech,
        "the reply in the console",
        &format!(
            "return [...document.querySelectorAll('#messages .message--from-technician')]\
             .some(m => m.textContent.includes({}));",
            js_string(REPLY)
        ),
    )
    .await?;
    let mark = tech
        .execute("return window.parleyNoReload || null;", Vec::new())
        .await?;
    if mark.json() != &json!("conversation") {
        bail!("sending the reply reloaded the page instead of posting it in place");
    }

    // The end user sees the reply live.
    wait_js(
        user,
        "the reply in the widget",
        &format!(
            "return [...document.querySelectorAll('[data-testid=message][data-author-kind=technician]')]\
             .some(m => m.textContent.includes({}) && m.textContent.includes({}));",
            js_string(REPLY),
            js_string(TECH_NAME)
        ),
    )
    .await?;

    // The technician's read receipt reaches the end user.
    wait_js(
        user,
        "\"Seen\" under the end user's last message",
        "return !!document.querySelector('[data-testid=seen]');",
    )
    .await?;

    save_screenshots(user, tech).await?;

    // No page threw or logged an error on the way.
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
    Ok(())
}

/// The origin of the page a browser shows.
async fn base_of(driver: &WebDriver) -> anyhow::Result<String> {
    Ok(driver.current_url().await?.origin().ascii_serialization())
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

async fn save_screenshots(user: &WebDriver, tech: &WebDriver) -> anyhow::Result<()> {
    for driver in [user, tech] {
        driver.enter_default_frame().await?;
    }
    shot(user, "widget.png", true).await?;
    scroll_console_to_end(tech).await?;
    shot(tech, "console-conversation.png", true).await?;

    // A phone-width end user: the widget fills the screen.
    set_viewport(user, 390, 844).await?;
    wait_js(
        user,
        "the phone-width layout",
        "return window.innerWidth <= 480 && (() => { \
           const host = document.getElementById('parley-widget-host'); \
           const panel = host.shadowRoot.querySelector('[data-testid=panel]'); \
           const r = panel.getBoundingClientRect(); \
           return r.width === window.innerWidth && r.left === 0; })();",
    )
    .await?;
    let overflow = user
        .execute(
            "const f = document.getElementById('parley-widget-host').shadowRoot.querySelector('iframe'); \
             const d = f.contentDocument.documentElement; return d.scrollWidth > d.clientWidth;",
            Vec::new(),
        )
        .await?;
    if overflow.json() == &json!(true) {
        bail!("the widget overflows sideways at phone width");
    }
    shot(user, "widget-phone.png", true).await?;

    // The technician's waiting inbox as a second console picture: the chat is
    // claimed now, so the "all open chats" view shows it.
    tech.goto(format!("{}/console?view=all", base_of(tech).await?))
        .await?;
    wait_displayed(
        tech,
        "the inbox of all open chats",
        "#inbox li.conversation",
    )
    .await?;
    shot(tech, "console-inbox.png", true).await?;

    // The console at phone width, for a look (not for the README).
    let conversation_url = format!("{}/console/conversations/1", base_of(tech).await?);
    set_viewport(tech, 390, 844).await?;
    shot(tech, "console-inbox-phone.png", false).await?;
    tech.goto(conversation_url).await?;
    wait_displayed(tech, "the conversation view", "main#conversation").await?;
    shot(tech, "console-conversation-phone.png", false).await?;
    eprintln!(
        "screenshots in {} and {}",
        workspace_root().join("target/screenshots").display(),
        workspace_root().join("docs/screenshots").display()
    );
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
        let path = dir.join(format!("failure-{who}.png"));
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

/// A small real PNG, written without an image library: a 240x150 picture
/// of a sign-in prompt (title bar, a field, a button), as IHDR, IDAT of
/// stored deflate blocks, IEND.
fn screenshot_like_png() -> Vec<u8> {
    const W: u32 = 240;
    const H: u32 = 150;
    let inside = |x: u32, y: u32, (x0, y0, x1, y1): (u32, u32, u32, u32)| {
        (x0..x1).contains(&x) && (y0..y1).contains(&y)
    };
    let mut raw = Vec::new();
    for y in 0..H {
        raw.push(0); // filter: none
        for x in 0..W {
            let rgb: [u8; 3] = if y < 26 {
                [29, 78, 216] // title bar
            } else if inside(x, y, (24, 60, 216, 88)) {
                if inside(x, y, (25, 61, 215, 87)) {
                    [255, 255, 255] // the password field
                } else {
                    [156, 163, 175]
                }
            } else if inside(x, y, (136, 104, 216, 130)) {
                [29, 78, 216] // the button
            } else if inside(x, y, (24, 40, 150, 48)) {
                [75, 85, 99] // a line of text
            } else {
                [243, 244, 246]
            };
            raw.extend_from_slice(&rgb);
        }
    }
    // zlib: header, stored blocks of at most 65535 bytes, Adler-32.
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = u16::try_from(block.len()).expect("a stored block is at most 65535 bytes");
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for byte in &raw {
        a = (a + u32::from(*byte)) % 65521;
        b = (b + a) % 65521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());

    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&W.to_be_bytes());
    ihdr.extend_from_slice(&H.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [
        (*b"IHDR", ihdr.as_slice()),
        (*b"IDAT", zlib.as_slice()),
        (*b"IEND", &[][..]),
    ] {
        png.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        png.extend_from_slice(&chunk);
        png.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    png
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn the_test_png_is_well_formed() {
    let png = screenshot_like_png();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    // The IHDR chunk's CRC over "IHDR" and its data.
    assert_eq!(&png[12..16], b"IHDR");
    let crc = u32::from_be_bytes(png[29..33].try_into().unwrap());
    assert_eq!(crc, crc32(&png[12..29]));
    assert!(png.ends_with(&[0xae, 0x42, 0x60, 0x82]));
}
