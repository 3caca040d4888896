//! `parley connector set / show / remove`, `parley keys rotate` and `parley admin
//! widget-secret`, run as an MSP would script them, against a simulator on a free port.

use halo_sim::{App, RunningSim, Seed, SimConfig, Simulator};
use parley::identity::MasterKey;
use parley::testing::TempDir;
use serde_json::Value;
use std::process::{Command, Output};

const SECRET: &str = "cli-secret-9f2d";

async fn simulator() -> RunningSim {
    let config = SimConfig {
        seed: Seed::Demo,
        apps: vec![App {
            client_id: "parley".to_owned(),
            client_secret: SECRET.to_owned(),
            scopes: halo::DEFAULT_SCOPES.split(' ').map(str::to_owned).collect(),
        }],
        ..SimConfig::default()
    };
    Simulator::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap()
}

/// Runs `parley ARGS --data-dir DIR` with the given Client Secret (if any) in
/// the environment.
async fn parley(data: &TempDir, args: &[&str], secret: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
    command
        .args(args)
        .arg("--data-dir")
        .arg(data.path())
        .env_remove("PARLEY_MASTER_KEY")
        .env_remove("HALO_CLIENT_SECRET");
    if let Some(secret) = secret {
        command.env("HALO_CLIENT_SECRET", secret);
    }
    tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn set_show_rotate_and_remove_from_a_shell() {
    let sim = simulator().await;
    let data = TempDir::new("cli");
    let site = sim.url();
    let set = [
        "connector",
        "set",
        "--site-url",
        &site,
        "--client-id",
        "parley",
        "--allow-private",
    ];

    let wrong = parley(&data, &set, Some("not-the-secret")).await;
    assert_eq!(wrong.status.code(), Some(1), "{}", text(&wrong));
    assert!(
        text(&wrong).contains("Client ID or Secret"),
        "{}",
        text(&wrong)
    );

    let saved = parley(&data, &set, Some(SECRET)).await;
    assert!(saved.status.success(), "{}", text(&saved));
    assert!(text(&saved).contains("Saved"), "{}", text(&saved));

    let shown = parley(&data, &["connector", "show", "--json"], None).await;
    let view: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(view["client_secret_set"], true);
    assert_eq!(view["site_url"], site);
    assert!(!text(&shown).contains(SECRET));

    // Rotation re-seals under a new key; the kept secret still opens, which
    // a passing `set` without a secret proves.
    let key_file = data.path().join("master.key");
    let before = std::fs::read_to_string(&key_file).unwrap();
    let rotated = parley(&data, &["keys", "rotate"], None).await;
    assert!(rotated.status.success(), "{}", text(&rotated));
    assert_ne!(std::fs::read_to_string(&key_file).unwrap(), before);
    let kept = parley(&data, &set, None).await;
    assert!(kept.status.success(), "{}", text(&kept));

    let removed = parley(&data, &["connector", "remove"], None).await;
    assert!(removed.status.success(), "{}", text(&removed));
    let none = parley(&data, &["connector", "show"], None).await;
    assert!(
        text(&none).contains("No PSA is connected"),
        "{}",
        text(&none)
    );

    sim.shutdown().await;
}

#[tokio::test]
async fn a_key_that_cannot_open_the_secrets_is_named() {
    let data = TempDir::new("cli");
    let first = parley(&data, &["connector", "show"], None).await;
    assert!(first.status.success(), "{}", text(&first));

    let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
    command
        .args(["connector", "show", "--data-dir"])
        .arg(data.path())
        .env("PARLEY_MASTER_KEY", MasterKey::generate().to_text());
    let output = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();

    assert_eq!(output.status.code(), Some(1));
    let said = text(&output);
    assert!(said.contains("PARLEY_MASTER_KEY"), "{said}");
    assert!(said.contains("another master key"), "{said}");
    assert!(!said.contains("panicked"), "{said}");
}

#[tokio::test]
async fn the_widget_secret_is_printed_for_a_portal_set_up_script() {
    let data = TempDir::new("cli-widget");

    let first = parley(&data, &["admin", "widget-secret"], None).await;
    assert!(first.status.success(), "{}", text(&first));
    let secret = String::from_utf8_lossy(&first.stdout).trim().to_owned();
    assert!(
        parley::identity::WidgetSecret::parse(&secret).is_ok(),
        "not a widget secret: {secret:?}"
    );

    // The same workspace answers the same secret until an admin rotates it.
    let again = parley(&data, &["admin", "widget-secret"], None).await;
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), secret);
}
