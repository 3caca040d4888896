//! Stories for `parley connector test` and `parley halo-sim`: the real binary,
//! run as an admin would run it, against a simulator on a free port.

use halo_sim::{App, RunningSim, Seed, SimConfig, Simulator};
use serde_json::Value;
use std::process::{Command, Output};

const SECRET: &str = "s3cret-do-not-print";

async fn simulator(app: &str) -> RunningSim {
    let config = SimConfig {
        seed: Seed::Demo,
        apps: vec![App::parse(app).expect("the test's app spec is valid")],
        ..SimConfig::default()
    };
    Simulator::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

/// Runs `parley connector test` against a private test server (so with
/// `--allow-private`), with the secret in the environment as the README
/// recommends, and returns the process output.
async fn connector_test(site_url: &str, client_id: &str, secret: &str, json: bool) -> Output {
    run_connector_test(site_url, client_id, secret, json, true).await
}

async fn run_connector_test(
    site_url: &str,
    client_id: &str,
    secret: &str,
    json: bool,
    allow_private: bool,
) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
    command
        .args([
            "connector",
            "test",
            "--site-url",
            site_url,
            "--client-id",
            client_id,
        ])
        .args(["--timeout", "5"])
        .env("HALO_CLIENT_SECRET", secret)
        .env_remove("PARLEY_LOG");
    if allow_private {
        command.arg("--allow-private");
    }
    if json {
        command.arg("--json");
    }
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn report(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "stdout is not JSON ({error}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

fn checks_with_status<'a>(report: &'a Value, status: &str) -> Vec<&'a Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == status)
        .collect()
}

fn assert_secret_not_shown(output: &Output) {
    let all = [&output.stdout[..], &output.stderr[..]].concat();
    assert!(
        !String::from_utf8_lossy(&all).contains(SECRET),
        "the secret was printed"
    );
}

#[tokio::test]
async fn passes_with_the_right_credentials() {
    let sim = simulator(&format!(
        "parley:{SECRET}:read:tickets edit:tickets read:customers read:crm"
    ))
    .await;

    let output = connector_test(&format!("{}/api/", sim.url()), "parley", SECRET, true).await;

    let report = report(&output);
    assert_eq!(output.status.code(), Some(0), "{report:#}");
    assert_eq!(report["ok"], true);
    assert!(checks_with_status(&report, "fail").is_empty());
    assert!(checks_with_status(&report, "skip").is_empty(), "{report:#}");
    for check in report["checks"].as_array().unwrap() {
        for key in ["name", "status", "detail", "fix"] {
            assert!(check.get(key).is_some(), "check without `{key}`: {check}");
        }
    }
    assert_secret_not_shown(&output);
    sim.shutdown().await;
}

#[tokio::test]
async fn names_the_client_id_and_secret_when_they_are_wrong() {
    let sim = simulator(&format!(
        "parley:{SECRET}:read:tickets edit:tickets read:customers read:crm"
    ))
    .await;

    let output = connector_test(&sim.url(), "parley", "not-the-secret", true).await;

    let report = report(&output);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(report["ok"], false);
    let failed = checks_with_status(&report, "fail");
    assert_eq!(
        failed.len(),
        1,
        "only the credentials check fails: {report:#}"
    );
    let text = failed[0].to_string();
    assert!(
        text.contains("Client ID") && text.contains("Secret"),
        "{text}"
    );
    assert!(
        !checks_with_status(&report, "skip").is_empty(),
        "later checks are skipped"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn names_the_missing_permission() {
    let sim = simulator(&format!(
        "parley:{SECRET}:read:tickets edit:tickets read:customers"
    ))
    .await;

    let output = connector_test(&sim.url(), "parley", SECRET, true).await;

    let report = report(&output);
    assert_eq!(output.status.code(), Some(1));
    let failed = checks_with_status(&report, "fail");
    assert!(!failed.is_empty(), "{report:#}");
    assert!(
        failed
            .iter()
            .all(|check| check.to_string().contains("read:crm")),
        "every failure is about read:crm: {report:#}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn an_unreachable_site_is_a_failed_check_not_a_hang() {
    // Bind and drop a listener to find a port that nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let output = connector_test(&format!("http://127.0.0.1:{port}"), "parley", SECRET, false).await;

    assert_eq!(output.status.code(), Some(1));
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("FAIL"), "{table}");
    assert!(table.contains("fix:"), "{table}");
}

#[tokio::test]
async fn refuses_a_public_http_url_without_contacting_it() {
    // Without --allow-private, as an admin pointing at a real Halo would run it.
    let output = run_connector_test("http://acme.halopsa.com", "parley", SECRET, true, false).await;

    let report = report(&output);
    assert_eq!(output.status.code(), Some(1));
    let failed = checks_with_status(&report, "fail");
    assert_eq!(failed.len(), 1, "{report:#}");
    assert!(
        failed[0]["detail"].as_str().unwrap().contains("https"),
        "{report:#}"
    );
}

#[tokio::test]
async fn halo_sim_command_serves_a_halo_that_issues_tokens() {
    use std::io::{BufRead, BufReader};

    let mut child = Command::new(env!("CARGO_BIN_EXE_parley"))
        .args(["halo-sim", "--listen", "127.0.0.1:0", "--seed", "demo"])
        .args([
            "--app",
            "parley:secret:read:tickets edit:tickets read:customers read:crm",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader lives until the child is killed: closing the pipe early would
    // make the simulator's later lines fail to print.
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first_line = String::new();
    stdout.read_line(&mut first_line).unwrap();
    let url = first_line.trim().rsplit(' ').next().unwrap().to_owned();

    let token: Value = reqwest::Client::new()
        .post(format!("{url}/auth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "parley"),
            ("client_secret", "secret"),
            ("scope", "read:tickets"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdout);

    assert_eq!(token["token_type"], "Bearer", "{token}");
    assert!(
        token["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
}
