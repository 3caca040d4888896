//! A third-party client's view of the simulator: raw HTTP with reqwest and
//! untyped JSON, nothing from the `halo` client crate.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::net::SocketAddr;

use halo_sim::{App, RunningSim, Seed, SimConfig, Simulator};
use reqwest::{Response, StatusCode};
use serde_json::Value;

/// The application Parley registers, with the scopes it asks for.
pub const PARLEY_APP: &str =
    "parley:parley-secret:read:tickets edit:tickets read:customers read:crm";
/// An application granted everything.
pub const ADMIN_APP: &str = "admin:admin-secret:all";
/// An application that may read tickets and nothing else.
pub const READER_APP: &str = "reader:reader-secret:read:tickets";

/// A loopback address on a free port.
pub fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().expect("a literal socket address")
}

/// The configuration the tests start from.
pub fn config(seed: Seed) -> SimConfig {
    SimConfig {
        seed,
        apps: [PARLEY_APP, ADMIN_APP, READER_APP]
            .into_iter()
            .map(|spec| App::parse(spec).expect("a valid app spec"))
            .collect(),
        ..SimConfig::default()
    }
}

/// A started simulator with a token of the Parley application.
pub struct Halo {
    pub sim: RunningSim,
    pub http: reqwest::Client,
    pub token: String,
}

impl Halo {
    /// Starts a simulator seeded with `seed` and logs in as the Parley application.
    pub async fn start(seed: Seed) -> Halo {
        Halo::start_with(config(seed)).await
    }

    /// Starts a simulator from `config` and logs in as the Parley application.
    pub async fn start_with(config: SimConfig) -> Halo {
        let sim = Simulator::start(any_port(), config)
            .await
            .expect("the simulator starts");
        let http = reqwest::Client::new();
        let token = access_token(&http, &sim.url(), "parley", "parley-secret", None).await;
        Halo { sim, http, token }
    }

    /// `path` under the site root.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.url())
    }

    /// An authenticated GET.
    pub async fn get(&self, path: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("the simulator answers")
    }

    /// An authenticated GET that must answer 200 with JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().await.expect("a JSON body")
    }

    /// An authenticated POST of a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.http
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("the simulator answers")
    }

    /// An authenticated POST that must answer 201 with JSON.
    pub async fn post_created(&self, path: &str, body: &Value) -> Value {
        let response = self.post(path, body).await;
        let status = response.status();
        let text = response.text().await.expect("a body");
        assert_eq!(status, StatusCode::CREATED, "POST {path}: {text}");
        serde_json::from_str(&text).expect("a JSON body")
    }

    /// A ticket created with `fields` (an object), through the API.
    pub async fn create_ticket(&self, fields: Value) -> Value {
        self.post_created("/api/Tickets", &Value::Array(vec![fields]))
            .await
    }
}

/// Runs the client-credentials flow and returns the raw answer.
pub async fn request_token(
    http: &reqwest::Client,
    site: &str,
    client_id: &str,
    secret: &str,
    scope: Option<&str>,
) -> Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", secret),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    http.post(format!("{site}/auth/token"))
        .form(&form)
        .send()
        .await
        .expect("the token endpoint answers")
}

/// An access token, or a failed test.
pub async fn access_token(
    http: &reqwest::Client,
    site: &str,
    client_id: &str,
    secret: &str,
    scope: Option<&str>,
) -> String {
    let response = request_token(http, site, client_id, secret, scope).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("a JSON token answer");
    body["access_token"]
        .as_str()
        .expect("an access_token")
        .to_owned()
}

/// The ids in a list of objects.
pub fn ids(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .expect("an array")
        .iter()
        .map(|item| item["id"].as_i64().expect("an integer id"))
        .collect()
}
