//! Request counters and the request log, for tests and benchmarks that check
//! how many calls a client makes. Only Halo requests are recorded, never the
//! `/_sim` control API, and the log never holds a body, a header or a secret.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;

/// How many log entries are kept; older ones are dropped first.
const LOG_CAPACITY: usize = 10_000;

/// Query parameter names whose values the log hides.
const SECRET_PARAMS: [&str; 5] = ["secret", "token", "password", "code", "key"];

/// One request as the log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoggedRequest {
    /// HTTP method.
    pub method: String,
    /// Path as the client sent it (not case-folded).
    pub path: String,
    /// Query string, with values of secret-looking parameters replaced by `***`.
    pub query: Option<String>,
    /// Counter key: `"GET tickets"`, `"POST auth/token"`.
    pub endpoint: String,
    /// Status answered; `None` when the connection was dropped.
    pub status: Option<u16>,
    /// When the request arrived (RFC 3339, UTC).
    pub at: String,
    /// How long answering took, in milliseconds.
    pub duration_ms: u64,
}

/// Counters per endpoint and the bounded request log.
#[derive(Debug, Clone, Default)]
pub struct Traffic {
    counters: BTreeMap<String, u64>,
    total: u64,
    log: VecDeque<LoggedRequest>,
}

impl Traffic {
    /// Counts a request to `endpoint` (`"GET tickets"`).
    pub fn count(&mut self, endpoint: &str) {
        *self.counters.entry(endpoint.to_owned()).or_default() += 1;
        self.total += 1;
    }

    /// Requests counted under `method` and `resource`, case-insensitively.
    pub fn requests_to(&self, method: &str, resource: &str) -> u64 {
        self.counters
            .get(&endpoint_key(method, resource))
            .copied()
            .unwrap_or(0)
    }

    /// Requests counted in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Every counter.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        self.counters.clone()
    }

    /// Appends a finished request to the log.
    pub fn log(&mut self, entry: LoggedRequest) {
        if self.log.len() == LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(entry);
    }

    /// The log, oldest first.
    pub fn entries(&self) -> Vec<LoggedRequest> {
        self.log.iter().cloned().collect()
    }
}

/// The counter key of a request: upper-case method, lower-case resource.
pub fn endpoint_key(method: &str, resource: &str) -> String {
    format!(
        "{} {}",
        method.to_ascii_uppercase(),
        resource.trim_matches('/').to_ascii_lowercase()
    )
}

/// `query` with the values of secret-looking parameters hidden.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _))
                if SECRET_PARAMS
                    .iter()
                    .any(|secret| name.to_ascii_lowercase().contains(secret)) =>
            {
                format!("{name}=***")
            }
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_case_insensitive() {
        let mut traffic = Traffic::default();
        traffic.count(&endpoint_key("get", "Tickets"));
        traffic.count(&endpoint_key("GET", "tickets"));

        assert_eq!(traffic.requests_to("Get", "TICKETS"), 2);
        assert_eq!(traffic.requests_to("POST", "tickets"), 0);
        assert_eq!(traffic.total(), 2);
    }

    #[test]
    fn secrets_never_reach_the_log() {
        assert_eq!(
            redact_query("tenant=acme&client_secret=hunter2&access_token=abc"),
            "tenant=acme&client_secret=***&access_token=***"
        );
    }

    #[test]
    fn the_log_is_bounded() {
        let mut traffic = Traffic::default();
        for n in 0..LOG_CAPACITY + 5 {
            traffic.log(LoggedRequest {
                method: "GET".into(),
                path: format!("/api/tickets/{n}"),
                query: None,
                endpoint: "GET tickets".into(),
                status: Some(200),
                at: String::new(),
                duration_ms: 0,
            });
        }

        let entries = traffic.entries();
        assert_eq!(entries.len(), LOG_CAPACITY);
        assert_eq!(entries[0].path, "/api/tickets/5");
    }
}
