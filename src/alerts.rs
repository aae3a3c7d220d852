//! Wires the alerting crate to the rest of Lookout: its query trait to the PromQL engine, its
//! sample appender and state store to the RocksDB store, its evidence source to the trace and
//! log indexes; rule loading (the shipped default rules and `alerting.rule_files`), reloads,
//! and the `lookout rules check|test` commands.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use lookout_alerting::unittest::TestBackend;
use lookout_alerting::{
    AlertingConfig, Evidence, EvidenceSource, Group, Labels, Manager, Problem, QueryEngine,
    QueryResult, SampleAppender, StateStore,
};
use lookout_query_api::promql::{Engine, PromqlConfig, Value};
use lookout_storage::series::NewSample;
use lookout_storage::{LogQuery, LogSearch, Store, TimeRange, TraceSearch};

/// The shipped default rules (`alerting/rules/default.yaml`).
pub const DEFAULT_RULES: &str = include_str!("../alerting/rules/default.yaml");
const DEFAULT_RULES_NAME: &str = "<default rules>";

pub struct EngineQueries(pub Engine);

impl QueryEngine for EngineQueries {
    fn instant(&self, expr: &str, at_ms: i64) -> Result<QueryResult, String> {
        match self.0.instant(expr, at_ms).map_err(|e| e.to_string())? {
            Value::Vector(v) => Ok(QueryResult::Vector(
                v.into_iter()
                    .map(|s| (s.labels.0.into_iter().collect::<Labels>(), s.v))
                    .collect(),
            )),
            Value::Scalar(_, v) => Ok(QueryResult::Scalar(v)),
            Value::Matrix(_) => {
                Err("expression returns a range vector, not an instant vector".into())
            }
            Value::String(..) => Err("expression returns a string, not an instant vector".into()),
        }
    }
}

pub struct StoreSamples(pub Arc<Store>);

impl SampleAppender for StoreSamples {
    fn append(&self, samples: &[(Labels, i64, f64)]) -> Result<(), String> {
        let samples: Vec<NewSample> = samples
            .iter()
            .map(|(labels, t, v)| NewSample {
                labels: lookout_storage::Labels::new(labels.clone().into_iter().collect()),
                t: *t,
                v: *v,
                delta_start: None,
                point: 0,
                series: None,
                key: 0,
            })
            .collect();
        let report = self.0.append_samples(&samples).map_err(|e| e.to_string())?;
        if let Some((_, _, message)) = report.rejected_points.first() {
            return Err(message.clone());
        }
        Ok(())
    }
}

pub struct StoreState(pub Arc<Store>);

impl StateStore for StoreState {
    fn load(&self) -> Result<Vec<(String, Vec<u8>)>, String> {
        self.0.alert_states().map_err(|e| e.to_string())
    }
    fn save(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.0
            .put_alert_state(key, value)
            .map_err(|e| e.to_string())
    }
    fn remove(&self, key: &str) -> Result<(), String> {
        self.0.delete_alert_state(key).map_err(|e| e.to_string())
    }
    fn record(&self, at_ms: i64, entry: &[u8]) -> Result<(), String> {
        self.0
            .record_alert_change(at_ms, entry)
            .map_err(|e| e.to_string())
    }
    fn history(
        &self,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<u8>)>, String> {
        self.0
            .alert_history(from_ms, to_ms, limit)
            .map_err(|e| e.to_string())
    }
}

/// The newest error traces and error log lines of a service.
pub struct StoreEvidence {
    pub search: Arc<dyn TraceSearch>,
    pub logs: Arc<dyn LogSearch>,
    pub external_url: String,
}

impl EvidenceSource for StoreEvidence {
    fn evidence(&self, service: &str, from_ms: i64, to_ms: i64) -> Evidence {
        let range = TimeRange {
            start_unix_nano: (from_ms.max(0) as u64) * 1_000_000,
            end_unix_nano: (to_ms.max(0) as u64 + 1) * 1_000_000,
        };
        let deadline = Some(std::time::Instant::now() + std::time::Duration::from_secs(2));
        let mut trace_ids: Vec<String> = Vec::new();
        if let Ok(spans) = self.search.error_spans(Some(service), range, 20, deadline) {
            for s in spans {
                let id = s.trace_id.to_hex();
                if !trace_ids.contains(&id) && trace_ids.len() < 5 {
                    trace_ids.push(id);
                }
            }
        }
        let query = LogQuery {
            query: String::new(),
            start_unix_nano: range.start_unix_nano,
            end_unix_nano: range.end_unix_nano,
            min_severity_number: Some(17),
            service: Some(service.to_owned()),
            trace_id: None,
            level: None,
            limit: 3,
            oldest_first: false,
            after: None,
            deadline,
        };
        let log_lines = match self.logs.search_logs(&query) {
            Ok(Ok((found, _))) => found
                .into_iter()
                .filter_map(|f| {
                    let body = f.log.record.body.as_ref()?.value.as_ref()?;
                    Some(match body {
                        lookout_proto::otlp::common::v1::any_value::Value::StringValue(s) => {
                            s.clone()
                        }
                        other => format!("{other:?}"),
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        let base = self.external_url.trim_end_matches('/');
        let service_q: String = form_urlencoded::byte_serialize(service.as_bytes()).collect();
        Evidence {
            links: vec![format!(
                "{base}/lookout/v1/errors?service={service_q}&start={:.3}&end={:.3}",
                from_ms as f64 / 1000.0,
                to_ms as f64 / 1000.0
            )],
            trace_ids,
            log_lines,
        }
    }
}

/// Loads the default rules (unless disabled) and the configured rule files.
pub fn load_rules(config: &AlertingConfig) -> Result<Vec<Group>, Vec<Problem>> {
    let mut groups = Vec::new();
    let mut problems = Vec::new();
    if config.default_rules {
        match lookout_alerting::rules::parse(
            Path::new(DEFAULT_RULES_NAME),
            DEFAULT_RULES,
            config.evaluation_interval,
        ) {
            Ok(g) => groups.extend(g),
            Err(p) => problems.extend(p),
        }
    }
    match lookout_alerting::rules::load(&config.rule_files, config.evaluation_interval) {
        Ok(g) => groups.extend(g),
        Err(p) => problems.extend(p),
    }
    if problems.is_empty() {
        Ok(groups)
    } else {
        Err(problems)
    }
}

/// What the HTTP API asks about rules and alerts.
pub struct AlertsApi {
    pub manager: Arc<Manager>,
    pub config: AlertingConfig,
    /// Serialises reloads.
    pub reloading: Mutex<()>,
    /// What notifications about a service carry, for the API.
    pub evidence: Arc<dyn EvidenceSource>,
}

impl AlertsApi {
    /// Re-reads the rule files; on any problem the running rules stay and the problems are
    /// returned.
    pub fn reload(&self) -> Result<usize, Vec<String>> {
        let _guard = self.reloading.lock();
        match load_rules(&self.config) {
            Ok(groups) => {
                let n = groups.iter().map(|g| g.rules.len()).sum();
                self.manager.replace(groups);
                tracing::info!(rules = n, "alert rules reloaded");
                Ok(n)
            }
            Err(problems) => {
                let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
                for p in &problems {
                    tracing::warn!(problem = %p, "rule reload refused, the old rules keep running");
                }
                Err(problems)
            }
        }
    }
}

impl lookout_query_api::RulesApi for AlertsApi {
    fn rules(
        &self,
        kind: Option<&str>,
        rules: &[String],
        groups: &[String],
        files: &[String],
    ) -> serde_json::Value {
        self.manager.rules_json(kind, rules, groups, files)
    }
    fn alerts(&self) -> serde_json::Value {
        self.manager.alerts_json()
    }
    fn history(&self, from_ms: i64, to_ms: i64, limit: usize) -> Result<serde_json::Value, String> {
        let changes = self.manager.history(from_ms, to_ms, limit)?;
        serde_json::to_value(changes).map_err(|e| e.to_string())
    }
    fn reload(&self) -> Result<usize, Vec<String>> {
        AlertsApi::reload(self)
    }
    fn evidence(&self, service: &str, from_ms: i64, to_ms: i64) -> serde_json::Value {
        serde_json::to_value(self.evidence.evidence(service, from_ms, to_ms))
            .unwrap_or(serde_json::Value::Null)
    }
}

/// `lookout rules check FILE...`: every problem, `file:line:column: message`.
pub fn check(files: &[PathBuf]) -> Vec<String> {
    let patterns: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    match lookout_alerting::rules::load(&patterns, std::time::Duration::from_secs(60)) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.iter().map(ToString::to_string).collect(),
    }
}

/// A fresh temporary store per rule test group.
pub struct TempStores {
    dirs: Mutex<Vec<tempfile::TempDir>>,
}

impl TempStores {
    pub fn new() -> Self {
        TempStores {
            dirs: Mutex::new(Vec::new()),
        }
    }
}

impl Default for TempStores {
    fn default() -> Self {
        Self::new()
    }
}

impl TestBackend for TempStores {
    fn fresh(&self) -> Result<lookout_alerting::unittest::Backend, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let config = lookout_storage::StorageConfig {
            write_buffer_size: bytesize::ByteSize::mib(4),
            block_cache_size: bytesize::ByteSize::mib(4),
            ..Default::default()
        };
        let store = Arc::new(Store::open(dir.path(), &config).map_err(|e| e.to_string())?);
        if let Ok(mut dirs) = self.dirs.lock() {
            dirs.push(dir);
        }
        let engine = Engine::new(store.clone(), PromqlConfig::default());
        Ok((
            Arc::new(EngineQueries(engine)),
            Arc::new(StoreSamples(store)),
        ))
    }
}
