//! How the load generator talks to Parley over HTTP: an in-process server for
//! `--self-host`, a technician's sign-in, and end users who open conversations
//! with signed widget tokens, the way the widget does.

use anyhow::{Context, bail};
use parley::identity::{WidgetClaims, WidgetSecret, sign_widget_token};
use serde_json::{Value, json};

/// The password of the technician a self-hosted run seeds.
pub(crate) const SELF_HOST_PASSWORD: &str = "loadgen password 1234";

/// The email of the technician a self-hosted run seeds.
pub(crate) const SELF_HOST_EMAIL: &str = "loadgen-tech@loadgen.example";

/// A conversation the run opened, and the end user who owns it.
#[derive(Debug, Clone)]
pub(crate) struct Conversation {
    pub id: i64,
    /// The end user's access token; `None` on a server without sign-in.
    pub access_token: Option<String>,
}

/// Starts Parley in this process with cheap hashing and one technician.
pub(crate) async fn self_host()
-> anyhow::Result<(parley::server::Running, parley::testing::TempDir)> {
    let dir = parley::testing::TempDir::new("loadgen");
    let config = parley::config::Config {
        listen: "127.0.0.1:0".parse().context("a valid address")?,
        data_dir: dir.path().to_owned(),
        ..parley::config::Config::default()
    };
    let options = parley::server::Options {
        cheap_hashing: true,
        ..parley::server::Options::default()
    };
    let running = parley::server::start(config, options)
        .await
        .context("the in-process Parley did not start")?;
    running
        .state
        .accounts
        .create(
            SELF_HOST_EMAIL,
            "Load Technician",
            parley::store::Role::Technician,
            SELF_HOST_PASSWORD,
        )
        .await
        .context("could not seed the technician")?;
    Ok((running, dir))
}

/// Signs a technician in on `/login` and gives the session cookie.
pub(crate) async fn sign_in(
    http: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base}/login"))
        .form(&[("email", email), ("password", password)])
        .send()
        .await
        .context("POST /login failed")?;
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with("parley_session=") && pair.len() > "parley_session=".len())
        .map(str::to_owned);
    match cookie {
        Some(cookie) => Ok(cookie),
        None => bail!(
            "signing in as {email} gave no session cookie (status {})",
            response.status()
        ),
    }
}

/// Signs a widget token for end user `index`, exchanges it for an access
/// token and opens that user's conversation; gives it and its first message id.
pub(crate) async fn open_conversation(
    http: &reqwest::Client,
    base: &str,
    secret: &WidgetSecret,
    run_id: i64,
    index: usize,
) -> anyhow::Result<(Conversation, i64)> {
    let now = chrono::Utc::now();
    let claims = WidgetClaims::new(
        format!("user{index}.run{run_id}@loadgen.example"),
        format!("Load User {index}"),
        now,
        now + chrono::Duration::hours(2),
    );
    let token = sign_widget_token(&claims, secret.as_bytes());
    let session = post_json(
        http,
        &format!("{base}/api/v1/widget/session"),
        None,
        &json!({ "token": token }),
    )
    .await
    .context("POST /api/v1/widget/session failed")?;
    let access_token = session["access_token"]
        .as_str()
        .context("the widget session has no access token")?
        .to_owned();

    let opened = post_json(
        http,
        &format!("{base}/api/v1/conversations"),
        Some(&access_token),
        &json!({ "subject": "Load test", "body": "Opening the load test" }),
    )
    .await
    .context("POST /api/v1/conversations failed")?;
    let id = opened["conversation"]["id"]
        .as_i64()
        .context("the new conversation has no id")?;
    let first = opened["message"]["id"].as_i64().unwrap_or(0);
    Ok((
        Conversation {
            id,
            access_token: Some(access_token),
        },
        first,
    ))
}

/// POSTs JSON (with a bearer token, if given) and gives the JSON answer, or
/// an error naming the status.
pub(crate) async fn post_json(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    body: &Value,
) -> anyhow::Result<Value> {
    let mut request = http.post(url).json(body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        bail!("status {status}: {text}");
    }
    Ok(serde_json::from_str(&text)?)
}
