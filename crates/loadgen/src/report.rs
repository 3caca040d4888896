//! What a run measured, and the table printed from it.

use hdrhistogram::Histogram;
use std::fmt;

/// The figures of one run.
#[derive(Debug, Clone)]
pub struct Report {
    pub clients: u64,
    pub connected: u64,
    pub connect_seconds: f64,
    pub sent: u64,
    pub persisted: u64,
    pub send_seconds: f64,
    pub expected_deliveries: u64,
    pub deliveries: u64,
    pub deliver_seconds: f64,
    /// Deliveries a connected socket should have had and did not.
    pub lost: u64,
    /// Clients that never connected (already counted in `errors`).
    pub missing_sockets: u64,
    pub duplicates: u64,
    pub errors: u64,
    pub first_errors: Vec<String>,
    /// Publish-to-deliver latency in microseconds.
    pub latency: Histogram<u64>,
    /// Resident memory at the end (self-host: server and load generator together).
    pub rss_kib: Option<u64>,
    pub self_hosted: bool,
}

impl Report {
    /// Whether every sent message reached every socket that should see it.
    pub fn nothing_lost(&self) -> bool {
        self.lost == 0 && self.missing_sockets == 0 && self.duplicates == 0
    }

    fn per_second(count: u64, seconds: f64) -> f64 {
        if seconds > 0.0 {
            count as f64 / seconds
        } else {
            0.0
        }
    }

    fn millis(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }
}

impl fmt::Display for Report {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows = [
            (
                "clients connected",
                format!("{} of {}", self.connected, self.clients),
            ),
            (
                "connection set-up",
                format!(
                    "{:.0}/s ({:.2} s)",
                    Self::per_second(self.connected, self.connect_seconds),
                    self.connect_seconds
                ),
            ),
            ("messages sent", self.sent.to_string()),
            (
                "messages persisted",
                format!(
                    "{} ({:.0}/s)",
                    self.persisted,
                    Self::per_second(self.persisted, self.send_seconds)
                ),
            ),
            (
                "deliveries",
                format!(
                    "{} of {} ({:.0}/s)",
                    self.deliveries,
                    self.expected_deliveries,
                    Self::per_second(self.deliveries, self.deliver_seconds)
                ),
            ),
            ("latency p50", format!("{:.2} ms", self.millis(0.5))),
            ("latency p99", format!("{:.2} ms", self.millis(0.99))),
            ("latency p99.9", format!("{:.2} ms", self.millis(0.999))),
            (
                "latency max",
                format!("{:.2} ms", self.latency.max() as f64 / 1000.0),
            ),
            ("lost deliveries", self.lost.to_string()),
            ("duplicate deliveries", self.duplicates.to_string()),
            ("errors", self.errors.to_string()),
            (
                if self.self_hosted {
                    "RSS (server + loadgen)"
                } else {
                    "RSS"
                },
                self.rss_kib.map_or_else(
                    || "n/a".to_owned(),
                    |kib| format!("{:.1} MiB", kib as f64 / 1024.0),
                ),
            ),
        ];
        writeln!(out, "| measure | value |")?;
        writeln!(out, "| --- | --- |")?;
        for (name, value) in rows {
            writeln!(out, "| {name} | {value} |")?;
        }
        for error in &self.first_errors {
            writeln!(out, "error: {error}")?;
        }
        Ok(())
    }
}
