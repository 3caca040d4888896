//! The Client Secret is write-only: written through the API, it is never in
//! an API answer, a page, the database file, the data directory or a log line.

use halo_sim::{App, Seed, SimConfig, Simulator};
use parley::config::Config;
use parley::identity::csrf_token_for;
use parley::server::{self, Options};
use parley::store::Role;
use parley::testing::TempDir;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

const SECRET: &str = "Zq8-known-client-secret-4711";
const ADMIN_PASSWORD: &str = "admin password 123";

/// Every log line of this test binary, at every level.
#[derive(Clone, Default)]
struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> CapturedLogs {
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    logs
}

/// Every file under `dir`, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push((path.display().to_string(), std::fs::read(&path).unwrap()));
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn the_client_secret_is_nowhere_but_sealed() {
    let logs = capture_logs();
    let sim = Simulator::start(
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
    .unwrap();

    let data = TempDir::new("secret");
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.path().to_owned(),
        allow_private_psa: true,
        ..Config::default()
    };
    let options = Options {
        cheap_hashing: true,
        ..Options::default()
    };
    let running = server::start(config, options).await.unwrap();
    running
        .state
        .accounts
        .create(
            "admin@msp.example",
            "Morgan Admin",
            Role::Admin,
            ADMIN_PASSWORD,
        )
        .await
        .unwrap();

    // The admin signs in and saves the connector through the API.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .post(format!("{}/login", running.url()))
        .form(&[("email", "admin@msp.example"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = csrf_token_for(cookie.trim_start_matches("parley_session="));
    let call = |method: reqwest::Method, path: &str| {
        http.request(method, format!("{}/api/v1{path}", running.url()))
            .header("cookie", &cookie)
            .header("x-csrf-token", &csrf)
    };

    let mut answers = Vec::new();
    let form = json!({"site_url": sim.url(), "client_id": "parley", "client_secret": SECRET});
    let tested = call(reqwest::Method::POST, "/connector/test")
        .json(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(tested.status(), 200);
    let tested: Value = tested.json().await.unwrap();
    assert_eq!(tested["ok"], true, "{tested:#}");
    answers.push(tested.to_string());

    let saved = call(reqwest::Method::PUT, "/connector")
        .json(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    let saved: Value = saved.json().await.unwrap();
    assert_eq!(saved["connector"]["client_secret_set"], true);
    answers.push(saved.to_string());

    // An edit that leaves the secret empty keeps the stored one: its test
    // still passes.
    let keep = json!({"site_url": sim.url(), "client_id": "parley", "client_secret": ""});
    let kept: Value = call(reqwest::Method::PUT, "/connector")
        .json(&keep)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(kept["connector"]["client_secret_set"], true, "{kept:#}");
    answers.push(kept.to_string());

    for path in ["/connector", "/audit"] {
        let answer = call(reqwest::Method::GET, path).send().await.unwrap();
        assert_eq!(answer.status(), 200, "{path}");
        answers.push(answer.text().await.unwrap());
    }
    for page in ["/console", "/account"] {
        let answer = http
            .get(format!("{}{page}", running.url()))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        answers.push(answer.text().await.unwrap());
    }
    let audit = &answers[answers.len() - 3];
    assert!(
        audit.contains("connector.created") && audit.contains("connector.changed"),
        "{audit}"
    );

    running.shutdown().await.unwrap();
    sim.shutdown().await;

    for answer in &answers {
        assert!(
            !answer.contains(SECRET),
            "an answer shows the secret: {answer}"
        );
    }
    for (path, bytes) in files(data.path()) {
        assert!(
            !contains(&bytes, SECRET),
            "{path} holds the secret in the clear"
        );
    }
    let logged = logs.0.lock().unwrap().clone();
    assert!(!logged.is_empty(), "the logs were captured");
    assert!(!contains(&logged, SECRET), "a log line holds the secret");
}
