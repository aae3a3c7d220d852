//! The PromQL engine: expressions parsed by `promql-parser`, evaluated over
//! [`SeriesReader`] with Prometheus's semantics (lookback delta and staleness, extrapolated
//! rates, vector matching, aggregations). Results equal Prometheus's for the same data: the
//! test suite runs Prometheus's own engine tests (`testscript`).
//!
//! Evaluation is columnar: every node is evaluated once for all steps of a query, so a range
//! query reads each series once and an instant query is a range query of one step.

mod eval;
pub(crate) mod functions;
pub mod testscript;

use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_storage::{Labels, SampleBudget, SeriesReader};

pub use eval::{Sample, Series, Value};

/// Limits of one query, each checked inside the evaluation loops.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromqlConfig {
    /// How far back an instant selector looks for a sample.
    #[serde(with = "humantime_serde")]
    pub lookback_delta: Duration,
    /// Longest evaluation; a query past it fails with `timeout` (503).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Samples one query may load from storage.
    pub max_samples: usize,
    /// Samples all running queries (the API's and the alerting rules') may hold in memory at
    /// once, 16 bytes each: however many queries run together, their loaded samples stay
    /// under it. A query that would pass it fails with `unavailable` (503), retryable.
    pub max_samples_in_memory: usize,
    /// Series one selector may select.
    pub max_series: usize,
    /// Steps of a range query (`(end - start) / step`).
    pub max_points: usize,
}

impl Default for PromqlConfig {
    fn default() -> Self {
        PromqlConfig {
            lookback_delta: Duration::from_secs(300),
            timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            max_samples_in_memory: 25_000_000,
            max_series: 500_000,
            max_points: 11_000,
        }
    }
}

impl PromqlConfig {
    pub fn validate(&self, prefix: &str, problems: &mut Vec<String>) {
        for (name, zero) in [
            ("lookback_delta", self.lookback_delta.is_zero()),
            ("timeout", self.timeout.is_zero()),
            ("max_samples", self.max_samples == 0),
            ("max_samples_in_memory", self.max_samples_in_memory == 0),
            ("max_series", self.max_series == 0),
            ("max_points", self.max_points == 0),
        ] {
            if zero {
                problems.push(format!("{prefix}.{name}: must be greater than 0"));
            }
        }
    }
}

/// Why a query failed, in Prometheus's error types.
#[derive(Debug, thiserror::Error)]
pub enum PromqlError {
    /// The query does not parse, or a parameter is wrong (`bad_data`, 400).
    #[error("{0}")]
    BadData(String),
    /// The query is valid but cannot be evaluated (`execution`, 422).
    #[error("{0}")]
    Execution(String),
    /// A limit was passed (`execution`, 422).
    #[error("{0}")]
    Limit(String),
    /// The query uses a feature this engine does not implement (native histograms,
    /// experimental functions) (`bad_data`, 400).
    #[error("{0}")]
    Unsupported(String),
    /// The server is busy: running queries hold the most samples allowed at once
    /// (`unavailable`, 503, retryable).
    #[error("{0}")]
    Unavailable(String),
    /// The query ran past its timeout (`timeout`, 503).
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// Storage failed (`internal`, 500).
    #[error("storage: {0}")]
    Storage(lookout_storage::StorageError),
}

impl From<lookout_storage::StorageError> for PromqlError {
    fn from(e: lookout_storage::StorageError) -> Self {
        match e {
            lookout_storage::StorageError::Timeout => PromqlError::Timeout("query execution"),
            lookout_storage::StorageError::Limit(m) => PromqlError::Limit(m),
            lookout_storage::StorageError::Busy(m) => PromqlError::Unavailable(m),
            other => PromqlError::Storage(other),
        }
    }
}

impl PromqlError {
    /// Prometheus's `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            PromqlError::BadData(_) | PromqlError::Unsupported(_) => "bad_data",
            PromqlError::Execution(_) | PromqlError::Limit(_) => "execution",
            PromqlError::Timeout(_) => "timeout",
            PromqlError::Unavailable(_) => "unavailable",
            PromqlError::Storage(_) => "internal",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            PromqlError::BadData(_) | PromqlError::Unsupported(_) => 400,
            PromqlError::Execution(_) | PromqlError::Limit(_) => 422,
            PromqlError::Timeout(_) | PromqlError::Unavailable(_) => 503,
            PromqlError::Storage(_) => 500,
        }
    }
}

/// A parsed query.
pub fn parse(query: &str) -> Result<promql_parser::parser::Expr, PromqlError> {
    promql_parser::parser::parse(query)
        .map_err(|e| PromqlError::BadData(format!("invalid parameter \"query\": {e}")))
}

/// Evaluates PromQL over a series reader.
#[derive(Clone)]
pub struct Engine {
    reader: Arc<dyn SeriesReader>,
    config: PromqlConfig,
    /// Shared by every clone of this engine: clone one engine for every querier of a server.
    budget: Arc<SampleBudget>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish()
    }
}

/// A range query's times, Unix milliseconds, start and end inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Engine {
    pub fn new(reader: Arc<dyn SeriesReader>, config: PromqlConfig) -> Engine {
        let budget = SampleBudget::new(config.max_samples_in_memory);
        Engine {
            reader,
            config,
            budget,
        }
    }

    /// Samples the running queries of this engine and its clones hold now.
    pub fn samples_in_memory(&self) -> usize {
        self.budget.used()
    }

    pub fn config(&self) -> &PromqlConfig {
        &self.config
    }

    /// This engine with a shorter timeout (a query's `timeout` parameter); the configured
    /// timeout stays the upper bound.
    pub fn with_timeout(&self, timeout: Duration) -> Engine {
        let mut engine = self.clone();
        engine.config.timeout = engine.config.timeout.min(timeout);
        engine
    }

    /// Evaluates at one instant: a vector, scalar, string or (for a range selector) matrix.
    pub fn instant(&self, query: &str, time: i64) -> Result<Value, PromqlError> {
        let expr = parse(query)?;
        self.eval_expr(
            &expr,
            Range {
                start: time,
                end: time,
                step: 1,
            },
            true,
        )
    }

    /// Evaluates every `step` from `start` to `end`: a matrix (scalars become one series).
    pub fn range(&self, query: &str, range: Range) -> Result<Value, PromqlError> {
        let expr = parse(query)?;
        self.eval_expr(&expr, range, false)
    }

    pub fn eval_expr(
        &self,
        expr: &promql_parser::parser::Expr,
        range: Range,
        instant: bool,
    ) -> Result<Value, PromqlError> {
        if range.step <= 0 {
            return Err(PromqlError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if range.end < range.start {
            return Err(PromqlError::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        let points = (range.end - range.start) / range.step + 1;
        if points as usize > self.config.max_points {
            return Err(PromqlError::BadData(format!(
                "exceeded maximum resolution of {} points per timeseries. Try decreasing the query resolution (?step=XX)",
                self.config.max_points
            )));
        }
        let deadline = Instant::now() + self.config.timeout;
        let mut ev = eval::Evaluator::new(
            self.reader.as_ref(),
            &self.config,
            &self.budget,
            range,
            deadline,
        );
        let value = ev.eval(expr)?;
        ev.finish(value, instant)
    }
}

/// Whether `name` is a valid label name.
pub fn is_label_name(name: &str) -> bool {
    eval::is_valid_label_name(name)
}

/// Labels without `__name__`.
pub(crate) fn drop_name(labels: &Labels) -> Labels {
    Labels(
        labels
            .0
            .iter()
            .filter(|(n, _)| n != "__name__")
            .cloned()
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_storage::series::NewSample;

    #[test]
    fn running_queries_together_hold_at_most_the_samples_in_memory_budget() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::store(dir.path());
        // Two series of 100 samples, one a second.
        let samples: Vec<NewSample> = ["a", "b"]
            .iter()
            .flat_map(|job| {
                let labels = Labels::new(vec![
                    ("__name__".to_string(), "up".to_string()),
                    ("job".to_string(), job.to_string()),
                ]);
                (0..100).map(move |i| NewSample {
                    labels: labels.clone(),
                    t: i * 1000,
                    v: 1.0,
                    delta_start: None,
                    point: 0,
                    series: None,
                    key: 0,
                })
            })
            .collect();
        store.append_samples(&samples).unwrap();
        let config = PromqlConfig {
            max_samples_in_memory: 150,
            ..PromqlConfig::default()
        };
        let engine = Engine::new(store, config);
        let range = |query: &str| {
            engine.range(
                query,
                Range {
                    start: 0,
                    end: 99_000,
                    step: 1000,
                },
            )
        };
        // One series fits; both (200 samples) do not: a retryable 503, not a 422.
        assert!(range(r#"up{job="a"}"#).is_ok());
        let error = range("up").unwrap_err();
        assert_eq!((error.status(), error.error_type()), (503, "unavailable"));
        assert!(
            error.to_string().contains("max_samples_in_memory"),
            "{error}"
        );
        // Whatever a query took, finished or failed, is given back.
        assert_eq!(engine.samples_in_memory(), 0);
        assert!(range(r#"up{job="b"}"#).is_ok());
        // A clone (the rules' engine) shares the budget: what one holds, the other cannot.
        let rules = engine.clone();
        assert!(rules.budget.take(100));
        assert_eq!(
            range(r#"up{job="a"}"#).unwrap_err().error_type(),
            "unavailable"
        );
        rules.budget.give_back(100);
        assert!(range(r#"up{job="a"}"#).is_ok());
    }
}
