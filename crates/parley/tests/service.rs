//! Service stories: the probes an orchestrator calls, the Prometheus text an
//! operator scrapes, and the OpenAPI document, which must list every route
//! the API router has.

mod common;

use common::{TestServer, WAIT};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::time::{Instant, sleep};

#[tokio::test]
async fn health_and_readiness_answer_while_the_database_is_reachable() {
    let server = TestServer::start().await;

    let health = server.get("/healthz").await;
    let ready = server.get("/readyz").await;

    assert_eq!(health.status, 200);
    assert_eq!(health.text(), "ok");
    assert_eq!(ready.status, 200);
    assert_eq!(ready.text(), "ready");
}

/// The value of an unlabelled series in Prometheus text.
fn series(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics(server: &TestServer) -> String {
    let answer = server.get("/metrics").await;
    assert_eq!(answer.status, 200);
    assert!(
        answer
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        answer.header("content-type")
    );
    answer.text()
}

#[tokio::test]
async fn metrics_count_sockets_messages_and_request_latency_by_route() {
    let server = TestServer::start().await;
    let alice = server.end_user("alice@northwind.example", "Alice").await;
    let tech = server.technician("tess@msp.example", "Tess Tech").await;

    let before = metrics(&server).await;
    assert_eq!(series(&before, "parley_websockets_open"), Some(0.0));
    assert_eq!(series(&before, "parley_messages_total"), Some(0.0));
    for kind in ["gauge", "counter", "histogram"] {
        assert!(before.contains(&format!(" {kind}\n")), "{before}");
    }

    let (chat, _) = alice.start_conversation("hello").await;
    tech.say(chat, "hi").await;
    tech.history(chat).await;
    let (socket, _) = tech.socket(0).await;

    let during = metrics(&server).await;
    assert_eq!(series(&during, "parley_websockets_open"), Some(1.0));
    assert_eq!(series(&during, "parley_messages_total"), Some(2.0));
    assert!(
        during.contains(
            r#"parley_http_request_seconds_bucket{route="/api/v1/conversations/{id}/messages",le="+Inf"} 2"#
        ),
        "{during}"
    );
    assert!(during.contains(r#"parley_http_request_seconds_count{route="/api/v1/conversations"}"#));
    assert!(during.contains(r#"parley_http_request_seconds_sum{route="/api/v1/conversations"}"#));
    // Routes, never raw paths with ids in them.
    assert!(
        !during.contains(&format!("/conversations/{chat}")),
        "{during}"
    );

    // The gauge falls when the socket goes; the server notices in its own time.
    drop(socket);
    let deadline = Instant::now() + WAIT;
    loop {
        let after = metrics(&server).await;
        if series(&after, "parley_websockets_open") == Some(0.0) {
            assert_eq!(series(&after, "parley_websockets_total"), Some(1.0));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the socket is still counted: {after}"
        );
        sleep(Duration::from_millis(20)).await;
    }
}

/// The API's routes and methods, read from the router's source so that a
/// route added there and not documented fails this story.
fn routes_in_router() -> BTreeSet<(String, String)> {
    let source = include_str!("../src/web/mod.rs");
    let start = source
        .find("let api = Router::new()")
        .expect("the API router");
    let end = start + source[start..].find(".fallback(").expect("its fallback");

    let mut routes = BTreeSet::new();
    for route in source[start..end].split(".route(").skip(1) {
        let path = route.split('"').nth(1).expect("a quoted path").to_owned();
        for method in ["get", "post", "put", "patch", "delete"] {
            let called = route.match_indices(&format!("{method}(")).any(|(at, _)| {
                at == 0
                    || !route.as_bytes()[at - 1].is_ascii_alphanumeric()
                        && route.as_bytes()[at - 1] != b'_'
            });
            if called {
                routes.insert((path.clone(), method.to_owned()));
            }
        }
    }
    routes
}

#[tokio::test]
async fn the_openapi_document_lists_every_api_route() {
    let server = TestServer::start().await;

    let answer = server.get("/api/v1/openapi.json").await;

    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let document: Value = answer.json();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(document["servers"][0]["url"], "/api/v1");
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, operations)| {
            operations
                .as_object()
                .unwrap()
                .keys()
                .filter(|key| ["get", "post", "put", "patch", "delete"].contains(&key.as_str()))
                .map(move |method| (path.clone(), method.clone()))
        })
        .collect();

    let in_router = routes_in_router();
    assert!(
        in_router.len() >= 12,
        "the router parse found {in_router:?}"
    );
    assert_eq!(
        documented, in_router,
        "the OpenAPI document and the router disagree"
    );

    // Every documented operation says what it answers.
    for (path, method) in &documented {
        let operation = &document["paths"][path][method];
        assert!(operation["summary"].is_string(), "{method} {path}");
        assert!(operation["responses"].is_object(), "{method} {path}");
    }
}

#[tokio::test]
async fn an_unknown_api_path_is_a_json_404() {
    let server = TestServer::start().await;

    let answer = server.get("/api/v1/no-such-thing").await;

    assert_eq!(answer.status, 404);
    assert_eq!(answer.error_code(), "not_found");
}
