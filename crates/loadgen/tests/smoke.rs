//! The load generator's smoke runs: small loads against an in-process Parley
//! and, where Node.js and `bench/socketio`'s modules are installed, against the
//! socket.io reference server, checking only correctness (every message
//! reaches every socket that should see it, no errors). Timing is the
//! benchmark's business, never a test's.

use loadgen::{Load, Target};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// 20 sockets: 2 technicians, and 18 end users over 5 conversations (4, 4,
/// 4, 3, 3) of which the first 2 have senders, 25 messages each.
fn small_load() -> Load {
    Load {
        clients: 20,
        technicians: 2,
        conversations: 5,
        senders: 2,
        messages: 50,
        rate: Some(100.0),
        in_flight: 2,
        body_bytes: 100,
        drain: Duration::from_secs(20),
    }
}

const SMALL_LOAD_DELIVERIES: u64 = 2 * 50 + 4 * 25 + 4 * 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_small_load_loses_nothing() {
    let report = loadgen::run(Target::SelfHost, small_load())
        .await
        .expect("the run completes");
    println!("{report}");

    assert_eq!(report.connected, 20, "{report}");
    assert_eq!(report.sent, 50, "{report}");
    assert_eq!(report.accepted, 50, "{report}");
    assert!(report.persists);
    assert_eq!(report.errors, 0, "{report}");
    assert!(report.nothing_lost(), "{report}");
    assert_eq!(
        report.expected_deliveries, SMALL_LOAD_DELIVERIES,
        "{report}"
    );
    assert_eq!(report.deliveries, report.expected_deliveries, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_saturating_load_loses_nothing_either() {
    let load = Load {
        rate: None,
        in_flight: 4,
        messages: 200,
        ..small_load()
    };

    let report = loadgen::run(Target::SelfHost, load)
        .await
        .expect("the run completes");
    println!("{report}");

    assert_eq!(report.accepted, 200, "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert!(report.nothing_lost(), "{report}");
    assert_eq!(report.deliveries, 2 * 200 + 4 * 100 + 4 * 100, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn idle_sockets_are_opened_and_measured() {
    let load = Load {
        messages: 0,
        ..small_load()
    };

    let report = loadgen::run(Target::SelfHost, load)
        .await
        .expect("the run completes");
    println!("{report}");

    assert_eq!(report.connected, 20, "{report}");
    assert_eq!(report.sent, 0, "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert!(report.rss_connected_kib.is_some(), "{report}");
}

/// The socket.io reference server, when `node` and its modules are here.
struct SocketIo {
    child: std::process::Child,
    url: String,
}

impl Drop for SocketIo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn socket_io() -> Option<SocketIo> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/socketio");
    if !dir.join("node_modules/socket.io").is_dir() {
        eprintln!("skipped the socket.io smoke run: run `npm ci` in bench/socketio");
        return None;
    }
    let Ok(mut child) = Command::new("node")
        .arg("server.js")
        .current_dir(&dir)
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .spawn()
    else {
        eprintln!("skipped the socket.io smoke run: no `node` on the PATH");
        return None;
    };

    let stdout = child.stdout.take().expect("stdout was piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the reference server says where it listens");
    let port = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("an unexpected first line: {line:?}"))
        .to_owned();
    Some(SocketIo {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_load_drives_the_socket_io_reference_server() {
    let Some(server) = socket_io() else {
        return;
    };
    let target = Target::SocketIo {
        url: server.url.clone(),
        pid: Some(server.child.id()),
    };

    let report = loadgen::run(target, small_load())
        .await
        .expect("the run completes");
    println!("{report}");

    assert_eq!(report.connected, 20, "{report}");
    assert_eq!(report.accepted, 50, "{report}");
    assert!(!report.persists);
    assert_eq!(report.errors, 0, "{report}");
    assert!(report.nothing_lost(), "{report}");
    assert_eq!(report.deliveries, SMALL_LOAD_DELIVERIES, "{report}");
    assert!(report.rss_kib.is_some(), "{report}");
}
