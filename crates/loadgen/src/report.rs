//! What a run measured, and the tables printed from it.

use hdrhistogram::Histogram;
use std::fmt;

/// The figures of one run.
#[derive(Debug, Clone)]
pub struct Report {
    pub clients: u64,
    pub connected: u64,
    pub connect_seconds: f64,
    pub sent: u64,
    /// Messages the server answered 201 for.
    pub accepted: u64,
    /// Whether a 201 means the message is stored (Parley) or only relayed
    /// (the socket.io reference server).
    pub persists: bool,
    /// Send-to-answer time of the accepted messages, in microseconds: for
    /// Parley, how long a message takes to be durable.
    pub acknowledged: Histogram<u64>,
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
    /// The server's resident memory before the sockets opened, once they
    /// were all open and idle, and at the end.
    pub rss_before_kib: Option<u64>,
    pub rss_connected_kib: Option<u64>,
    pub rss_kib: Option<u64>,
    /// Whether the server ran in this process (so its memory includes ours).
    pub self_hosted: bool,
}

impl Report {
    /// Whether every sent message reached every socket that should see it.
    pub fn nothing_lost(&self) -> bool {
        self.lost == 0 && self.missing_sockets == 0 && self.duplicates == 0
    }

    pub fn accepted_per_second(&self) -> f64 {
        per_second(self.accepted, self.send_seconds)
    }

    pub fn delivered_per_second(&self) -> f64 {
        per_second(self.deliveries, self.deliver_seconds)
    }

    pub fn connections_per_second(&self) -> f64 {
        per_second(self.connected, self.connect_seconds)
    }

    /// A latency quantile in milliseconds.
    pub fn millis(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// A send-to-answer quantile in milliseconds.
    pub fn acknowledged_millis(&self, quantile: f64) -> f64 {
        self.acknowledged.value_at_quantile(quantile) as f64 / 1000.0
    }

    /// What each open, idle socket added to the server's memory.
    pub fn kib_per_connection(&self) -> Option<f64> {
        let (before, after) = (self.rss_before_kib?, self.rss_connected_kib?);
        (self.connected > 0).then(|| after.saturating_sub(before) as f64 / self.connected as f64)
    }
}

fn per_second(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(
        || "n/a".to_owned(),
        |kib| format!("{:.1} MiB", kib as f64 / 1024.0),
    )
}

impl fmt::Display for Report {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stored = if self.persists {
            "messages persisted"
        } else {
            "messages accepted (not stored)"
        };
        let memory = if self.self_hosted {
            "RSS (server + loadgen)"
        } else {
            "server RSS"
        };
        let rows = [
            (
                "clients connected",
                format!("{} of {}", self.connected, self.clients),
            ),
            (
                "connection set-up",
                format!(
                    "{:.0}/s ({:.2} s)",
                    self.connections_per_second(),
                    self.connect_seconds
                ),
            ),
            ("messages sent", self.sent.to_string()),
            (
                stored,
                format!("{} ({:.0}/s)", self.accepted, self.accepted_per_second()),
            ),
            (
                "deliveries",
                format!(
                    "{} of {} ({:.0}/s)",
                    self.deliveries,
                    self.expected_deliveries,
                    self.delivered_per_second()
                ),
            ),
            (
                "send to answer p50 / p99",
                format!(
                    "{:.2} / {:.2} ms",
                    self.acknowledged_millis(0.5),
                    self.acknowledged_millis(0.99)
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
            (memory, mib(self.rss_kib)),
            (
                "memory per open socket",
                self.kib_per_connection()
                    .map_or_else(|| "n/a".to_owned(), |kib| format!("{kib:.1} KiB")),
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

/// One step of a step run: a row of its table.
#[derive(Debug, Clone)]
pub struct StepRow {
    pub clients: u64,
    pub connected: u64,
    pub delivered_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub lost: u64,
    pub errors: u64,
}

impl From<&Report> for StepRow {
    fn from(report: &Report) -> Self {
        Self {
            clients: report.clients,
            connected: report.connected,
            delivered_per_second: report.delivered_per_second(),
            p50_ms: report.millis(0.5),
            p99_ms: report.millis(0.99),
            p999_ms: report.millis(0.999),
            lost: report.lost,
            errors: report.errors,
        }
    }
}

impl StepRow {
    /// The table of a step run, one row per step.
    pub fn table(rows: &[StepRow]) -> String {
        let mut table = String::from(
            "| clients | connected | deliveries/s | p50 | p99 | p99.9 | lost | errors |\n\
             | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        );
        for row in rows {
            table.push_str(&format!(
                "| {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {} | {} |\n",
                row.clients,
                row.connected,
                row.delivered_per_second,
                row.p50_ms,
                row.p99_ms,
                row.p999_ms,
                row.lost,
                row.errors
            ));
        }
        table
    }
}
