//! The admin's PSA pages without a browser: who may see them, Test
//! Connection and Save as plain form posts (as without JavaScript), the
//! confirmation that replacing the connected Halo needs (in the pages and in
//! the API), Disconnect and the audit page.

mod common;

use common::{Answer, TestServer, http};
use halo_sim::{App, RunningSim, Seed, SimConfig, Simulator};
use serde_json::json;

const SECRET: &str = "pages-known-secret-9931";

async fn simulator() -> RunningSim {
    Simulator::start(
        "127.0.0.1:0".parse().unwrap(),
        SimConfig {
            seed: Seed::Demo,
            apps: vec![App {
                client_id: "parley".to_owned(),
                client_secret: SECRET.to_owned(),
                scopes: halo::DEFAULT_SCOPES.split(' ').map(str::to_owned).collect(),
            }],
            ..SimConfig::default()
        },
    )
    .await
    .unwrap()
}

async fn server() -> TestServer {
    TestServer::start_with(|config| config.allow_private_psa = true).await
}

/// A page fetched with a session cookie, or without one.
async fn page(server: &TestServer, cookie: Option<&str>, path: &str) -> Answer {
    let mut request = http().get(server.url(path));
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    answer(request).await
}

/// A plain form post, as a browser without JavaScript sends it.
async fn post_form(
    server: &TestServer,
    cookie: &str,
    csrf: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> Answer {
    let mut fields = fields.to_vec();
    fields.push(("csrf", csrf));
    answer(
        http()
            .post(server.url(path))
            .header("cookie", cookie)
            .form(&fields),
    )
    .await
}

/// The HTML of one select of the ticket defaults.
fn select_html<'a>(page: &'a str, name: &str) -> &'a str {
    let start = page
        .find(&format!(r#"name="{name}""#))
        .unwrap_or_else(|| panic!("no select {name}"));
    let end = start + page[start..].find("</select>").expect("the select ends");
    &page[start..end]
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the server answers");
    Answer {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("a body").to_vec(),
    }
}

#[tokio::test]
async fn only_admins_see_the_connector_pages() {
    let server = server().await;
    let tech = server.technician("tess@msp.example", "Tess Tech").await;
    let admin = server.admin("morgan@msp.example", "Morgan Admin").await;
    let paths = [
        "/admin/connectors",
        "/admin/connectors/halopsa",
        "/admin/connectors/halopsa/disconnect",
        "/admin/audit",
        "/setup/psa",
    ];

    for path in paths {
        let anonymous = page(&server, None, path).await;
        assert_eq!(anonymous.status, 303, "{path}");
        assert_eq!(anonymous.header("location"), Some("/login"), "{path}");

        let refused = page(&server, tech.cookie(), path).await;
        assert_eq!(refused.status, 403, "{path}: {}", refused.text());
        assert!(refused.text().contains("only an admin"), "{path}");
    }
    let tested = post_form(
        &server,
        tech.cookie().unwrap(),
        tech.csrf().unwrap(),
        "/admin/connectors/halopsa/test",
        &[("site_url", "http://127.0.0.1:1"), ("client_id", "x")],
    )
    .await;
    assert_eq!(tested.status, 403);

    // Only an admin's nav links to the Connectors and the audit page.
    let tech_console = page(&server, tech.cookie(), "/console").await.text();
    assert!(!tech_console.contains("/admin/connectors"));
    let admin_console = page(&server, admin.cookie(), "/console").await.text();
    assert!(admin_console.contains(r#"href="/admin/connectors""#));
    assert!(admin_console.contains(r#"href="/admin/audit""#));

    let connectors = page(&server, admin.cookie(), "/admin/connectors").await;
    assert_eq!(connectors.status, 200);
    let text = connectors.text();
    assert!(text.contains("No PSA is connected"), "{text}");
    for later in ["ConnectWise PSA", "Autotask", "Syncro", "Kaseya BMS"] {
        assert!(text.contains(later), "{later} is listed");
    }
    assert!(text.contains("Coming in a later release"));
}

#[tokio::test]
async fn the_form_tests_and_saves_without_javascript_and_never_shows_the_secret() {
    let sim = simulator().await;
    let server = server().await;
    let admin = server.admin("morgan@msp.example", "Morgan Admin").await;
    let (cookie, csrf) = (admin.cookie().unwrap(), admin.csrf().unwrap());
    let site = sim.url();

    // A wrong secret: the credentials check fails with its fix; the page
    // does not echo what was typed.
    let wrong = post_form(
        &server,
        cookie,
        csrf,
        "/admin/connectors/halopsa/test",
        &[
            ("site_url", &site),
            ("client_id", "parley"),
            ("client_secret", "wrong-secret-typed-7"),
        ],
    )
    .await;
    assert_eq!(wrong.status, 200);
    let text = wrong.text();
    assert!(text.contains(r#"class="check check--fail""#), "{text}");
    assert!(text.contains("Fix:"), "{text}");
    assert!(!text.contains("wrong-secret-typed-7"));
    assert!(
        text.contains(r#"id="defaults" class="defaults" hidden"#),
        "no defaults after a failing test"
    );

    // The right values pass, and the defaults come from Halo's lists with
    // Halo's own choices preselected.
    let fields = [
        ("site_url", site.as_str()),
        ("client_id", "parley"),
        ("client_secret", SECRET),
    ];
    let passed = post_form(
        &server,
        cookie,
        csrf,
        "/admin/connectors/halopsa/test",
        &fields,
    )
    .await;
    let text = passed.text();
    assert_eq!(passed.status, 200, "{text}");
    assert!(text.contains("Every check passed"), "{text}");
    assert!(!text.contains("check--fail"), "{text}");
    assert!(!text.contains(SECRET), "the test page shows the secret");
    assert!(text.contains(r#"<option value="2" selected>Private Note</option>"#));
    let private = select_html(&text, "private_outcome_id");
    assert!(private.contains("Private Note"), "{private}");
    assert!(
        !private.contains("Public Note"),
        "only outcomes hidden from users are offered for private notes: {private}"
    );
    assert!(select_html(&text, "closed_status_id").contains(r#"value="9" selected>Closed<"#));
    assert!(text.contains("enter it again before you save"));

    let saved = post_form(
        &server,
        cookie,
        csrf,
        "/admin/connectors/halopsa",
        &[
            ("site_url", site.as_str()),
            ("client_id", "parley"),
            ("client_secret", SECRET),
            ("ticket_type_id", "4"),
            ("initial_status_id", ""),
            ("priority_id", "3"),
            ("team", "Service Desk"),
            ("visible_outcome_id", "3"),
            ("private_outcome_id", "2"),
            ("closed_status_id", "9"),
        ],
    )
    .await;
    assert_eq!(saved.status, 303, "{}", saved.text());
    assert_eq!(saved.header("location"), Some("/admin/connectors?saved=1"));

    let connectors = page(&server, Some(cookie), "/admin/connectors?saved=1")
        .await
        .text();
    assert!(connectors.contains(">Connected</span>"), "{connectors}");
    // What to set in Halo for its webhook is one click away.
    assert!(
        connectors.contains("href=\"/admin/connectors/webhook\""),
        "{connectors}"
    );
    assert!(connectors.contains("HaloPSA is connected"));
    assert!(
        connectors.contains("requests used per 5 minutes"),
        "{connectors}"
    );
    let edit = page(&server, Some(cookie), "/admin/connectors/halopsa")
        .await
        .text();
    assert!(edit.contains("A secret is set; leave empty to keep it"));
    for html in [&connectors, &edit] {
        assert!(!html.contains(SECRET), "a page shows the secret");
    }

    // An invalid default is refused plainly, and nothing changes.
    let refused = post_form(
        &server,
        cookie,
        csrf,
        "/admin/connectors/halopsa",
        &[
            ("site_url", site.as_str()),
            ("client_id", "parley"),
            ("private_outcome_id", "3"),
        ],
    )
    .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused
            .text()
            .contains("must be one that Halo hides from users"),
        "{}",
        refused.text()
    );

    // Disconnect says what happens, then removes the connector.
    let confirm = page(
        &server,
        Some(cookie),
        "/admin/connectors/halopsa/disconnect",
    )
    .await
    .text();
    assert!(confirm.contains("Nothing is deleted in Halo"));
    assert!(confirm.contains("Ticket sync stops"));
    let removed = post_form(
        &server,
        cookie,
        csrf,
        "/admin/connectors/halopsa/disconnect",
        &[],
    )
    .await;
    assert_eq!(
        removed.header("location"),
        Some("/admin/connectors?removed=1")
    );
    let after = page(&server, Some(cookie), "/admin/connectors?removed=1")
        .await
        .text();
    assert!(after.contains("No PSA is connected"));

    // The audit page lists every step, newest first, without the secret.
    let audit = page(&server, Some(cookie), "/admin/audit").await.text();
    let order: Vec<usize> = [
        "Disconnected HaloPSA",
        "Connected HaloPSA",
        "Tested the connection",
    ]
    .iter()
    .map(|what| {
        audit
            .find(what)
            .unwrap_or_else(|| panic!("{what}: {audit}"))
    })
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "newest first");
    assert!(audit.contains("morgan@msp.example"), "{audit}");
    assert!(audit.contains(r#"data-result="fail""#));
    assert!(audit.contains(r#"data-result="pass""#));
    assert!(!audit.contains(SECRET));
    sim.shutdown().await;
}

#[tokio::test]
async fn replacing_the_connected_halo_must_be_confirmed() {
    let first = simulator().await;
    let second = simulator().await;
    let server = server().await;
    let admin = server.admin("morgan@msp.example", "Morgan Admin").await;
    let (cookie, csrf) = (admin.cookie().unwrap(), admin.csrf().unwrap());
    let put = |body: serde_json::Value| {
        answer(
            http()
                .put(server.url("/api/v1/connector"))
                .header("cookie", cookie)
                .header("x-csrf-token", csrf)
                .json(&body),
        )
    };

    let form =
        |site: &str| json!({"site_url": site, "client_id": "parley", "client_secret": SECRET});
    put(form(&first.url())).await.expect(200);

    // The same Halo again needs no confirmation.
    put(form(&first.url())).await.expect(200);

    // Another Halo: 409 with what happens to linked tickets.
    let refused = put(form(&second.url())).await;
    assert_eq!(refused.status, 409, "{}", refused.text());
    assert_eq!(refused.error_code(), "conflict");
    let message = refused.error_message();
    assert!(message.contains("stay in the old Halo"), "{message}");
    assert!(message.contains("keep their ticket numbers"), "{message}");
    let shown = admin.get("/api/v1/connector").await.expect(200);
    let first_site = first.url();
    assert_eq!(
        shown["connector"]["site_url"]
            .as_str()
            .map(|s| s.trim_end_matches('/')),
        Some(first_site.trim_end_matches('/'))
    );

    // The page refuses the same way, and shows the checkbox that confirms.
    let page_refused = post_form(
        &server,
        cookie,
        csrf,
        "/admin/connectors/halopsa",
        &[
            ("site_url", &second.url()),
            ("client_id", "parley"),
            ("client_secret", SECRET),
        ],
    )
    .await;
    assert_eq!(page_refused.status, 409);
    let text = page_refused.text();
    assert!(text.contains("stay in the old Halo"), "{text}");
    assert!(
        text.contains(r#"<div id="replace" class="replace">"#),
        "{text}"
    );
    assert!(!text.contains(SECRET));

    // Confirmed, it is replaced.
    let mut confirmed = form(&second.url());
    confirmed["confirm_replace"] = json!(true);
    let replaced = put(confirmed).await.expect(200);
    let second_site = second.url();
    assert_eq!(
        replaced["connector"]["site_url"]
            .as_str()
            .map(|s| s.trim_end_matches('/')),
        Some(second_site.trim_end_matches('/'))
    );
    first.shutdown().await;
    second.shutdown().await;
}
