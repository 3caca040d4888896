//! The load generator's smoke run: a small load against an in-process Parley,
//! checking only correctness (every message reaches every socket that should
//! see it, no errors). Timing is the benchmark's business, never a test's.

use loadgen::{Load, Target};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_small_load_loses_nothing() {
    let load = Load {
        clients: 20,
        technicians: 2,
        conversations: 5,
        senders: 2,
        messages: 50,
        rate: 100.0,
        body_bytes: 100,
        drain: Duration::from_secs(20),
    };

    let report = loadgen::run(Target::SelfHost, load)
        .await
        .expect("the run completes");
    println!("{report}");

    assert_eq!(report.connected, 20, "{report}");
    assert_eq!(report.sent, 50, "{report}");
    assert_eq!(report.persisted, 50, "{report}");
    assert_eq!(report.errors, 0, "{report}");
    assert!(report.nothing_lost(), "{report}");
    // 2 technicians see all 50; the 18 end users' sockets are spread over 5
    // conversations (4, 4, 4, 3, 3), and only the first 2 have senders, 25 each.
    assert_eq!(
        report.expected_deliveries,
        2 * 50 + 4 * 25 + 4 * 25,
        "{report}"
    );
    assert_eq!(report.deliveries, report.expected_deliveries, "{report}");
}
