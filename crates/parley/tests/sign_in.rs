//! Sign-in stories: technicians' sessions (cookie, CSRF, rate limit, logout),
//! the first-run setup wizard, and end users' widget tokens, which are
//! refused with 401 and a message that says what the portal must fix.

mod common;

use chrono::Duration as ChronoDuration;
use common::{PASSWORD, TestServer, csrf_from_page, http, session_cookie, sign_with};
use parley::identity::WidgetSecret;
use parley::store::Role;
use serde_json::json;

async fn server_with_technician() -> TestServer {
    let server = TestServer::start().await;
    server
        .running
        .state
        .accounts
        .create("tess@msp.example", "Tess Tech", Role::Technician, PASSWORD)
        .await
        .unwrap();
    server
}

#[tokio::test]
async fn signing_in_sets_an_http_only_same_site_session_cookie() {
    let server = server_with_technician().await;

    let signed_in = server.sign_in("tess@msp.example", PASSWORD).await;

    assert_eq!(signed_in.status, 303);
    assert_eq!(signed_in.header("location"), Some("/console"));
    let cookie = signed_in.header("set-cookie").unwrap();
    assert!(cookie.starts_with("parley_session="), "{cookie}");
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    assert!(cookie.contains("; SameSite=Lax"), "{cookie}");
    assert!(cookie.contains("; Path=/"), "{cookie}");
    // Served over plain http here, so not Secure.
    assert!(!cookie.contains("Secure"), "{cookie}");

    // The cookie opens the console, with the CSRF token in its head.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    let client = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    jar.add_cookie_str(cookie, &server.base.parse().unwrap());
    let console = client.get(server.url("/console")).send().await.unwrap();
    assert_eq!(console.status(), 200);
    assert!(csrf_from_page(&console.text().await.unwrap()).is_some());
}

#[tokio::test]
async fn a_change_with_the_cookie_but_without_the_csrf_header_is_refused() {
    let server = TestServer::start().await;
    let tech = server.technician("tess@msp.example", "Tess Tech").await;
    let alice = server.end_user("alice@northwind.example", "Alice").await;
    let (chat, _) = alice.start_conversation("Help").await;
    let claim = server.url(&format!("/api/v1/conversations/{chat}/claim"));
    let cookie = tech.cookie().unwrap();

    let without = http()
        .post(&claim)
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let wrong = http()
        .post(&claim)
        .header("cookie", cookie)
        .header("x-csrf-token", "not-the-token")
        .send()
        .await
        .unwrap();

    assert_eq!(without.status(), 403);
    assert_eq!(wrong.status(), 403);
    let body: serde_json::Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    let unchanged = tech
        .get(&format!("/api/v1/conversations/{chat}"))
        .await
        .expect(200);
    assert_eq!(unchanged["status"], "waiting");

    // Reading needs no token; changing with the right one works.
    let with = http()
        .post(&claim)
        .header("cookie", cookie)
        .header("x-csrf-token", tech.csrf().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 200);
    let claimed: serde_json::Value = with.json().await.unwrap();
    assert_eq!(claimed["status"], "active");
    assert_eq!(claimed["technician"]["id"], tech.id);
}

#[tokio::test]
async fn a_console_form_without_the_csrf_field_is_refused() {
    let server = TestServer::start().await;
    let tech = server.technician("tess@msp.example", "Tess Tech").await;
    let alice = server.end_user("alice@northwind.example", "Alice").await;
    let (chat, _) = alice.start_conversation("Help").await;
    let reply = server.url(&format!("/console/conversations/{chat}/reply"));

    let refused = http()
        .post(&reply)
        .header("cookie", tech.cookie().unwrap())
        .form(&[("body", "hello")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(tech.history(chat).await.len(), 1);

    let accepted = http()
        .post(&reply)
        .header("cookie", tech.cookie().unwrap())
        .form(&[("body", "hello"), ("csrf", tech.csrf().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 303);
    assert_eq!(tech.history(chat).await.len(), 2);
}

#[tokio::test]
async fn a_wrong_password_is_refused_without_saying_which_part_was_wrong() {
    let server = server_with_technician().await;

    let wrong_password = server.sign_in("tess@msp.example", "not my password").await;
    let no_such_account = server.sign_in("nobody@msp.example", PASSWORD).await;

    for refused in [&wrong_password, &no_such_account] {
        assert_eq!(refused.status, 401);
        assert!(session_cookie(refused).is_none());
        assert!(
            refused
                .text()
                .contains("The email or password is not right"),
            "{}",
            refused.text()
        );
    }
}

#[tokio::test]
async fn after_five_failures_the_account_is_rate_limited_even_with_the_right_password() {
    let server = server_with_technician().await;

    for attempt in 1..=5 {
        let refused = server.sign_in("tess@msp.example", "guess").await;
        assert_eq!(refused.status, 401, "attempt {attempt}");
    }
    let limited = server.sign_in("tess@msp.example", PASSWORD).await;

    assert_eq!(limited.status, 429, "{}", limited.text());
    assert!(session_cookie(&limited).is_none());

    // Another account from the same address is not locked by it.
    server
        .running
        .state
        .accounts
        .create("marco@msp.example", "Marco", Role::Technician, PASSWORD)
        .await
        .unwrap();
    assert_eq!(
        server.sign_in("marco@msp.example", PASSWORD).await.status,
        303
    );
}

#[tokio::test]
async fn logging_out_ends_the_session_on_the_server() {
    let server = TestServer::start().await;
    let tech = server.technician("tess@msp.example", "Tess Tech").await;
    let cookie = tech.cookie().unwrap().to_owned();
    tech.get("/api/v1/conversations").await.expect(200);

    // Without the CSRF field a page on another site cannot sign her out.
    let forged = http()
        .post(server.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    tech.get("/api/v1/conversations").await.expect(200);

    let logged_out = http()
        .post(server.url("/logout"))
        .header("cookie", &cookie)
        .form(&[("csrf", tech.csrf().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(logged_out.status(), 303);
    assert_eq!(logged_out.headers()["location"], "/login");
    let cleared = logged_out.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("parley_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    // The old cookie, kept by someone who copied it, no longer works.
    let after = tech.get("/api/v1/conversations").await;
    assert_eq!(after.status, 401);
    assert_eq!(after.error_code(), "unauthorized");
    let console = server_get_with_cookie(&server, "/console", &cookie).await;
    assert_eq!(console.status(), 303);
    assert_eq!(console.headers()["location"], "/login");
}

async fn server_get_with_cookie(
    server: &TestServer,
    path: &str,
    cookie: &str,
) -> reqwest::Response {
    http()
        .get(server.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn with_no_admin_every_page_leads_to_the_setup_wizard_which_creates_one() {
    let server = TestServer::start().await;

    let home = server.get("/").await;
    assert_eq!(home.status, 303);
    assert_eq!(home.header("location"), Some("/setup"));
    let login = server.get("/login").await;
    assert_eq!(login.header("location"), Some("/setup"));
    let wizard = server.get("/setup").await;
    assert_eq!(wizard.status, 200);
    assert!(wizard.text().contains("<form"), "{}", wizard.text());

    let created = http()
        .post(server.url("/setup"))
        .form(&[
            ("name", "Morgan Admin"),
            ("email", "morgan@msp.example"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    // The account step leads on to the wizard's next step, connecting the PSA.
    assert_eq!(created.status(), 303);
    assert_eq!(created.headers()["location"], "/setup/psa");
    let cookie = created.headers()["set-cookie"].to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let console = server_get_with_cookie(&server, "/console", &cookie).await;
    assert_eq!(console.status(), 200);

    // The wizard's account step is gone for good.
    let home = server.get("/").await;
    assert_eq!(home.header("location"), Some("/console"));
    let wizard = server.get("/setup").await;
    assert_eq!(wizard.status, 303);
    assert_eq!(wizard.header("location"), Some("/login"));
    assert_eq!(server.get("/login").await.status, 200);
}

#[tokio::test]
async fn a_second_setup_cannot_create_another_admin() {
    let server = TestServer::start().await;
    server.admin("morgan@msp.example", "Morgan Admin").await;

    let second = http()
        .post(server.url("/setup"))
        .form(&[
            ("name", "Mallory"),
            ("email", "mallory@evil.example"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();

    assert_eq!(second.status(), 303);
    assert_eq!(second.headers()["location"], "/login");
    assert!(second.headers().get("set-cookie").is_none());
    assert_eq!(
        server
            .sign_in("mallory@evil.example", PASSWORD)
            .await
            .status,
        401
    );
    let accounts = server
        .running
        .state
        .chat
        .store()
        .accounts(server.running.state.accounts.workspace_id())
        .await
        .unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].email, "morgan@msp.example");
}

// Widget tokens.

/// Asserts a refused widget token: 401, code `unauthorized`, and a message
/// containing `says`.
async fn refused(server: &TestServer, body: serde_json::Value, says: &str) {
    let answer = server.widget_session(&body).await;
    assert_eq!(answer.status, 401, "{body}: {}", answer.text());
    assert_eq!(answer.error_code(), "unauthorized");
    let message = answer.error_message();
    assert!(message.contains(says), "{message:?} should say {says:?}");
    assert!(answer.json().get("access_token").is_none());
}

#[tokio::test]
async fn a_valid_widget_token_opens_a_chat_session() {
    let server = TestServer::start().await;
    let token = server.widget_token("Alice@Northwind.example", "Alice Carter");

    let session = server
        .widget_session(&json!({ "token": token }))
        .await
        .expect(200);

    assert_eq!(session["end_user"]["email"], "alice@northwind.example");
    assert_eq!(session["end_user"]["name"], "Alice Carter");
    assert!(session["access_token"].as_str().unwrap().len() > 20);
    assert_eq!(session["help_desk"]["online"], false);
}

#[tokio::test]
async fn a_missing_widget_token_is_refused() {
    let server = TestServer::start().await;

    refused(&server, json!({ "token": "" }), "no widget token").await;
    refused(&server, json!({}), "no widget token").await;
}

#[tokio::test]
async fn an_expired_widget_token_is_refused() {
    let server = TestServer::start().await;
    let secret = server.running.state.accounts.workspace().widget_secret;
    let token = sign_with(
        &secret,
        "alice@northwind.example",
        "Alice",
        ChronoDuration::minutes(-10),
    );

    refused(&server, json!({ "token": token }), "expired").await;
}

#[tokio::test]
async fn a_wrongly_signed_widget_token_is_refused() {
    let server = TestServer::start().await;
    let other = WidgetSecret::generate().to_text();
    let token = sign_with(
        &other,
        "alice@northwind.example",
        "Alice",
        ChronoDuration::minutes(5),
    );

    refused(
        &server,
        json!({ "token": token }),
        "signature does not match",
    )
    .await;

    // Nor may a valid token be edited after signing.
    let good = server.widget_token("alice@northwind.example", "Alice");
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[1] = b64(&format!(
        r#"{{"email":"bob@contoso.example","name":"Bob","exp":{}}}"#,
        chrono::Utc::now().timestamp() + 300
    ));
    refused(
        &server,
        json!({ "token": parts.join(".") }),
        "signature does not match",
    )
    .await;
}

/// A token signed by hand, for payloads `sign_widget_token` would never make.
fn hand_signed(header: &str, payload: &str, secret: &str) -> String {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let secret = WidgetSecret::parse(secret).unwrap();
    let input = format!("{}.{}", b64(header), b64(payload));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let signature =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{input}.{signature}")
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn an_unsigned_alg_none_widget_token_is_refused() {
    let server = TestServer::start().await;
    let payload = format!(
        r#"{{"email":"alice@northwind.example","name":"Alice","exp":{}}}"#,
        chrono::Utc::now().timestamp() + 300
    );

    let header = b64(r#"{"alg":"none","typ":"JWT"}"#);

    let unsigned = format!("{header}.{}.", b64(&payload));
    refused(
        &server,
        json!({ "token": unsigned }),
        "unsigned token is never accepted",
    )
    .await;
    let with_a_signature = format!("{header}.{}.AAAA", b64(&payload));
    refused(
        &server,
        json!({ "token": with_a_signature }),
        "only \"HS256\"",
    )
    .await;
}

#[tokio::test]
async fn a_malformed_widget_token_is_refused() {
    let server = TestServer::start().await;

    let secret = server.running.state.accounts.workspace().widget_secret;

    refused(
        &server,
        json!({ "token": "not-a-jwt" }),
        "structure is malformed",
    )
    .await;
    refused(&server, json!({ "token": "a.b" }), "structure is malformed").await;
    refused(
        &server,
        json!({ "token": "!!!.b.c" }),
        "header is malformed",
    )
    .await;
    refused(
        &server,
        json!({ "token": format!("{}.{}.sig", b64("not json"), b64("{}")) }),
        "header is malformed",
    )
    .await;
    // Even correctly signed, a payload that is not JSON claims is refused.
    let garbage = hand_signed(r#"{"alg":"HS256"}"#, "not json", &secret);
    refused(&server, json!({ "token": garbage }), "payload is malformed").await;
}

#[tokio::test]
async fn rotating_the_widget_secret_invalidates_tokens_signed_with_the_old_one() {
    let server = TestServer::start().await;
    let old_secret = server.running.state.accounts.workspace().widget_secret;
    let old_token = sign_with(
        &old_secret,
        "alice@northwind.example",
        "Alice",
        ChronoDuration::minutes(5),
    );
    server
        .widget_session(&json!({ "token": old_token }))
        .await
        .expect(200);

    let new_secret = server
        .running
        .state
        .accounts
        .rotate_widget_secret()
        .await
        .unwrap();

    assert_ne!(new_secret, old_secret);
    refused(
        &server,
        json!({ "token": old_token }),
        "signature does not match",
    )
    .await;
    let new_token = sign_with(
        &new_secret,
        "alice@northwind.example",
        "Alice",
        ChronoDuration::minutes(5),
    );
    server
        .widget_session(&json!({ "token": new_token }))
        .await
        .expect(200);
}

#[tokio::test]
async fn an_api_call_with_a_bad_access_token_is_refused() {
    let server = TestServer::start().await;
    let widget_token = server.widget_token("alice@northwind.example", "Alice");

    for bearer in ["made-up", widget_token.as_str()] {
        let answer = http()
            .get(server.url("/api/v1/conversations"))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 401);
        let body: serde_json::Value = answer.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
}

#[tokio::test]
async fn racing_setup_requests_create_only_one_admin() {
    let server = TestServer::start().await;

    let attempts = (0..8).map(|n| {
        let url = server.url("/setup");
        async move {
            http()
                .post(url)
                .form(&[
                    ("name", format!("Admin {n}")),
                    ("email", format!("admin{n}@msp.example")),
                    ("password", PASSWORD.to_owned()),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    });
    let answers = futures_util::future::join_all(attempts).await;

    assert!(answers.iter().all(|status| *status == 303), "{answers:?}");
    let accounts = server
        .running
        .state
        .chat
        .store()
        .accounts(server.running.state.accounts.workspace_id())
        .await
        .unwrap();
    assert_eq!(accounts.len(), 1, "{accounts:#?}");
}

#[tokio::test]
async fn a_technicians_socket_opened_from_another_site_is_not_signed_in() {
    let server = TestServer::start().await;
    let tech = server.technician("tess@msp.example", "Tess Tech").await;
    let alice = server.end_user("alice@northwind.example", "Alice").await;
    alice.start_conversation("private matter").await;

    // A page on another site opens the socket; the browser sends the cookie.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            server.ws_url(),
        )
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", tech.cookie().unwrap().parse().unwrap());
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let mut socket = common::Socket::from_request(request).await;
    socket.send(json!({ "type": "resume", "after": 0 })).await;

    let (code, before) = socket.closed(common::WAIT).await;
    assert_eq!(code, Some(1008));
    assert!(before.iter().all(|e| e["type"] == "error"), "{before:#?}");

    // From Parley's own pages the same cookie works.
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
            server.ws_url(),
        )
        .unwrap();
    request
        .headers_mut()
        .insert("cookie", tech.cookie().unwrap().parse().unwrap());
    request
        .headers_mut()
        .insert("origin", server.base.parse().unwrap());
    let mut socket = common::Socket::from_request(request).await;
    socket.send(json!({ "type": "resume", "after": 0 })).await;
    assert_eq!(socket.replay_until_ready().await.len(), 1);
}
