//! `/metrics` in Prometheus' text format: sockets, messages and request
//! latencies, counted in-process with atomics (no registry crate needed for
//! this handful of series).

use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Debug, Default)]
pub struct Metrics {
    sockets_open: AtomicU64,
    sockets_total: AtomicU64,
    requests: Mutex<Vec<RouteLatency>>,
}

#[derive(Debug)]
struct RouteLatency {
    route: String,
    buckets: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

impl Metrics {
    pub fn socket_opened(&self) {
        self.sockets_open.fetch_add(1, Ordering::Relaxed);
        self.sockets_total.fetch_add(1, Ordering::Relaxed);
    }

    pub fn socket_closed(&self) {
        self.sockets_open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Records one request's latency under its matched route (never the raw
    /// path, which would carry ids and grow without bound).
    pub fn request(&self, route: &str, took: Duration) {
        let seconds = took.as_secs_f64();
        let mut routes = self
            .requests
            .lock()
            .expect("the metrics lock is never poisoned");
        let index = match routes.iter().position(|r| r.route == route) {
            Some(index) => index,
            None => {
                routes.push(RouteLatency {
                    route: route.to_owned(),
                    buckets: [0; BUCKETS.len()],
                    count: 0,
                    sum_seconds: 0.0,
                });
                routes.len() - 1
            }
        };
        let entry = &mut routes[index];
        for (bucket, bound) in entry.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        entry.count += 1;
        entry.sum_seconds += seconds;
    }

    /// The text exposition, with the hub's count of messages published.
    pub fn render(&self, messages_published: u64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP parley_websockets_open WebSocket connections open now."
        );
        let _ = writeln!(out, "# TYPE parley_websockets_open gauge");
        let _ = writeln!(
            out,
            "parley_websockets_open {}",
            self.sockets_open.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP parley_websockets_total WebSocket connections accepted."
        );
        let _ = writeln!(out, "# TYPE parley_websockets_total counter");
        let _ = writeln!(
            out,
            "parley_websockets_total {}",
            self.sockets_total.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP parley_messages_total Messages stored and published by this instance."
        );
        let _ = writeln!(out, "# TYPE parley_messages_total counter");
        let _ = writeln!(out, "parley_messages_total {messages_published}");

        let _ = writeln!(
            out,
            "# HELP parley_http_request_seconds HTTP request latency by route."
        );
        let _ = writeln!(out, "# TYPE parley_http_request_seconds histogram");
        let routes = self
            .requests
            .lock()
            .expect("the metrics lock is never poisoned");
        for entry in routes.iter() {
            let route = entry.route.replace('"', "");
            for (count, bound) in entry.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "parley_http_request_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "parley_http_request_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                entry.count
            );
            let _ = writeln!(
                out,
                "parley_http_request_seconds_sum{{route=\"{route}\"}} {}",
                entry.sum_seconds
            );
            let _ = writeln!(
                out,
                "parley_http_request_seconds_count{{route=\"{route}\"}} {}",
                entry.count
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_into_cumulative_buckets() {
        let metrics = Metrics::default();
        metrics.request("/api/v1/conversations", Duration::from_millis(3));
        metrics.request("/api/v1/conversations", Duration::from_millis(30));

        let text = metrics.render(7);
        assert!(
            text.contains("route=\"/api/v1/conversations\",le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("route=\"/api/v1/conversations\",le=\"0.05\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("parley_http_request_seconds_count{route=\"/api/v1/conversations\"} 2")
        );
        assert!(text.contains("parley_messages_total 7"));
    }
}
