//! Alerting: Prometheus-format rule files ([`rules`]), their evaluation with Prometheus's alert
//! state machine ([`manager`]), durable alert state, and notifications to webhooks and
//! Alertmanager ([`notify`]); rule unit tests in promtool's format ([`unittest`]).
//!
//! The crate asks its questions through traits it owns and never reaches into storage:
//! [`QueryEngine`] answers PromQL at an instant, [`SampleAppender`] stores the series that
//! recording rules and `ALERTS`/`ALERTS_FOR_STATE` produce, [`StateStore`] keeps alert state
//! and history across restarts. The binary adapts Lookout's PromQL engine and RocksDB store to
//! them.

mod deliver;
pub mod manager;
pub mod notify;
pub mod rules;
pub mod template;
pub mod unittest;

use std::collections::BTreeMap;

pub use manager::{AlertingConfig, Manager};
pub use rules::{Group, Problem, Rule, RuleKind};

/// A label set.
pub type Labels = BTreeMap<String, String>;

/// An instant query's answer.
#[derive(Clone, Debug, PartialEq)]
pub enum QueryResult {
    Vector(Vec<(Labels, f64)>),
    Scalar(f64),
}

/// Answers PromQL. Contract: `instant` evaluates `expr` at `at_ms` (Unix milliseconds) with
/// Prometheus's semantics; an error is a message for the rule's `lastError`.
pub trait QueryEngine: Send + Sync {
    fn instant(&self, expr: &str, at_ms: i64) -> Result<QueryResult, String>;
}

/// Stores samples (recording rules, `ALERTS`, `ALERTS_FOR_STATE`). Contract: samples of one
/// call are written together; `f64::from_bits(0x7ff0000000000002)` is a stale marker.
pub trait SampleAppender: Send + Sync {
    fn append(&self, samples: &[(Labels, i64, f64)]) -> Result<(), String>;
}

/// Keeps alert state across restarts. Contract: `save` replaces the state stored under `key`
/// durably before returning; `load` returns every stored key and value; `record` appends an
/// entry to the alert history, which `history` returns newest first.
pub trait StateStore: Send + Sync {
    fn load(&self) -> Result<Vec<(String, Vec<u8>)>, String>;
    fn save(&self, key: &str, value: &[u8]) -> Result<(), String>;
    fn remove(&self, key: &str) -> Result<(), String>;
    fn record(&self, at_ms: i64, entry: &[u8]) -> Result<(), String>;
    fn history(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>, String>;
}

/// Evidence for a notification about a service: recent error traces and log lines.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Evidence {
    #[serde(rename = "traceIds")]
    pub trace_ids: Vec<String>,
    #[serde(rename = "logLines")]
    pub log_lines: Vec<String>,
    /// Where to look in Lookout's API.
    pub links: Vec<String>,
}

/// Finds evidence for an alert about `service` in `[from_ms, to_ms]`.
pub trait EvidenceSource: Send + Sync {
    fn evidence(&self, service: &str, from_ms: i64, to_ms: i64) -> Evidence;
}

/// Prometheus's label-set fingerprint as hex (FNV-1a 64 of names and values, 0xff-separated).
pub fn fingerprint(labels: &Labels) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}
