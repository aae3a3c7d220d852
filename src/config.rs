//! Lookout's configuration: defaults, then the YAML file, then `LOOKOUT_*` environment
//! variables, then command-line flags, each overriding the one before.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use bytesize::ByteSize;
use lookout_collector::probes::ProbeConfig;
use lookout_collector::{ActivityConfig, HostMetricsConfig, OtlpConfig, SpanMetricsConfig};
use lookout_proto::Limits;
use lookout_query_api::dashboards::DashboardsConfig;
use lookout_query_api::promql::PromqlConfig;
use lookout_query_api::{QueryConfig, ServiceHealthConfig};
use lookout_storage::{LogIndexConfig, Retention, StorageConfig};
use serde::{Deserialize, Serialize};

/// The whole configuration (`lookout.example.yaml` documents every key).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where RocksDB keeps everything.
    pub data_dir: PathBuf,
    pub log: LogConfig,
    pub otlp: OtlpConfig,
    pub http: HttpConfig,
    pub limits: Limits,
    pub storage: StorageConfig,
    pub retention: Retention,
    pub health: HealthConfig,
    pub query: QueryConfig,
    /// Metrics of the host and of Lookout itself, stored as series.
    pub host_metrics: HostMetricsConfig,
    /// Alert rules and notifications.
    pub alerting: lookout_alerting::AlertingConfig,
    /// PromQL limits (`/api/v1/query`, `/api/v1/query_range`, alert rules).
    pub promql: PromqlConfig,
    pub span_metrics: SpanMetricsConfig,
    pub log_index: LogIndexConfig,
    /// Synthetic probes of services' health endpoints and ports.
    pub probes: Vec<ProbeConfig>,
    /// How each service's status is decided (`/lookout/v1/services`, `lookout_service_status`).
    pub service_health: ServiceHealthConfig,
    /// What each service sent, per instance (the `lookout_service_*` series).
    pub service_activity: ActivityConfig,
    /// Provisioned dashboards (read-only in the UI).
    pub dashboards: DashboardsConfig,
    /// Bearer tokens and their scopes; none turns authentication off.
    pub auth: crate::auth::AuthConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./lookout-data"),
            log: LogConfig::default(),
            otlp: OtlpConfig::default(),
            http: HttpConfig::default(),
            limits: Limits::default(),
            storage: StorageConfig::default(),
            retention: Retention::default(),
            health: HealthConfig::default(),
            query: QueryConfig::default(),
            promql: PromqlConfig::default(),
            host_metrics: HostMetricsConfig::default(),
            alerting: lookout_alerting::AlertingConfig::default(),
            span_metrics: SpanMetricsConfig::default(),
            log_index: LogIndexConfig::default(),
            probes: Vec::new(),
            service_health: ServiceHealthConfig::default(),
            service_activity: ActivityConfig::default(),
            dashboards: DashboardsConfig::default(),
            auth: crate::auth::AuthConfig::default(),
        }
    }
}

/// Log output.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,lookout_collector=debug`; `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Auto,
            level: "info".into(),
        }
    }
}

/// `auto` is text on a terminal and JSON otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Auto,
    Text,
    Json,
}

/// The HTTP API, health and self-metrics port.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub addr: SocketAddr,
    /// Allow `POST /-/reload` without authentication (Prometheus's `--web.enable-lifecycle`);
    /// with auth tokens configured, an `admin` token is needed instead.
    pub enable_lifecycle: bool,
    /// TLS of the HTTP API and UI (off when unset).
    pub tls: Option<lookout_collector::tls::TlsConfig>,
    /// Connections open at once (Prometheus's `--web.max-connections`); more wait.
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            enable_lifecycle: false,
            tls: None,
            max_connections: 512,
        }
    }
}

/// Readiness thresholds.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    /// `/ready` is unhealthy when the data directory's file system has less free space than
    /// this, and degraded below twice this.
    pub min_free_disk: ByteSize,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            min_free_disk: ByteSize::gib(1),
        }
    }
}

/// Values given as flags (or their `LOOKOUT_*` environment variables, which clap reads).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub otlp_grpc_addr: Option<SocketAddr>,
    pub otlp_http_addr: Option<SocketAddr>,
    pub http_addr: Option<SocketAddr>,
    pub log_format: Option<LogFormat>,
}

impl Config {
    /// Parses a YAML file; errors name the line and column.
    pub fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Self::from_yaml(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn from_yaml(text: &str) -> anyhow::Result<Config> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_saphyr::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Applies `LOOKOUT_<SECTION>__<KEY>...` variables from `vars` (values parsed as YAML
    /// scalars); an unknown key is an error naming the variable. Variables without `__` are not
    /// configuration (the flags' own variables, such as `LOOKOUT_DATA_DIR`, are read by clap).
    pub fn apply_env(
        self,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Config> {
        let overrides: Vec<(String, String)> = vars
            .into_iter()
            // Only LOOKOUT_<SECTION>__<KEY> variables address keys: others (LOOKOUT_BENCH_*,
            // say) belong to someone else.
            .filter(|(k, _)| k.starts_with("LOOKOUT_") && k.contains("__"))
            .collect();
        if overrides.is_empty() {
            return Ok(self);
        }
        let mut tree = serde_json::to_value(&self).context("serializing config")?;
        for (name, value) in &overrides {
            let path: Vec<String> = name["LOOKOUT_".len()..]
                .split("__")
                .map(str::to_ascii_lowercase)
                .collect();
            let mut node = &mut tree;
            for (i, key) in path.iter().enumerate() {
                let Some(object) = node.as_object_mut() else {
                    bail!("{name}: {} is not a section", path[..i].join("."));
                };
                let Some(child) = object.get_mut(key) else {
                    bail!("{name}: unknown key {}", path[..=i].join("."));
                };
                node = child;
            }
            *node = serde_saphyr::from_str::<serde_json::Value>(value)
                .unwrap_or_else(|_| serde_json::Value::String(value.clone()));
        }
        serde_path_to_error::deserialize(tree).map_err(|e| {
            let var = format!(
                "LOOKOUT_{}",
                e.path().to_string().replace('.', "__").to_ascii_uppercase()
            );
            anyhow::anyhow!("{var}: {}", e.inner())
        })
    }

    pub fn apply_overrides(mut self, o: &Overrides) -> Config {
        if let Some(v) = &o.data_dir {
            self.data_dir = v.clone();
        }
        if let Some(v) = o.otlp_grpc_addr {
            self.otlp.grpc_addr = v;
        }
        if let Some(v) = o.otlp_http_addr {
            self.otlp.http_addr = v;
        }
        if let Some(v) = o.http_addr {
            self.http.addr = v;
        }
        if let Some(v) = o.log_format {
            self.log.format = v;
        }
        self
    }

    /// Every problem in the configuration, each with its key path.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.data_dir.as_os_str().is_empty() {
            problems.push("data_dir: must not be empty".to_string());
        }
        self.otlp.validate("otlp", &mut problems);
        self.limits.validate("limits", &mut problems);
        self.retention.validate("retention", &mut problems);
        self.auth.validate("auth", &mut problems);
        if let Some(tls) = &self.http.tls {
            tls.validate("http.tls", &mut problems);
        }
        if self.http.max_connections == 0 {
            problems.push("http.max_connections: must be greater than 0".into());
        }
        self.query.validate("query", &mut problems);
        self.promql.validate("promql", &mut problems);
        self.host_metrics.validate("host_metrics", &mut problems);
        self.alerting.validate("alerting", &mut problems);
        self.span_metrics.validate("span_metrics", &mut problems);
        self.log_index.validate("log_index", &mut problems);
        lookout_collector::probes::validate_probes(&self.probes, "probes", &mut problems);
        self.service_health
            .validate("service_health", &mut problems);
        self.service_activity
            .validate("service_activity", &mut problems);
        self.dashboards.validate("dashboards", &mut problems);
        if self.storage.trace_index.max_attributes_per_span == 0 {
            problems.push(
                "storage.trace_index.max_attributes_per_span: must be greater than 0".to_string(),
            );
        }
        let addrs = [
            ("otlp.grpc_addr", self.otlp.grpc_addr),
            ("otlp.http_addr", self.otlp.http_addr),
        ];
        for (name, addr) in addrs {
            if addr == self.http.addr && addr.port() != 0 {
                problems.push(format!("http.addr: must differ from {name} ({addr})"));
            }
        }
        self.storage
            .series
            .validate("storage.series", &mut problems);
        if self.storage.block_cache_size.as_u64() == 0 {
            problems.push("storage.block_cache_size: must be greater than 0".to_string());
        }
        if self.storage.write_buffer_size.as_u64() < (1 << 20) {
            problems.push("storage.write_buffer_size: must be at least 1MiB".to_string());
        }
        problems
    }
}

/// Where in the YAML `text` the key a [`Config::validate`] problem names is, as
/// `(line, column)` (1-based), for the problems of list entries (`probes[2].url: ...`) that
/// serde's errors cannot place.
pub fn problem_location(text: &str, problem: &str) -> Option<(u64, u64)> {
    #[derive(Deserialize)]
    struct Lists {
        #[serde(default)]
        probes:
            Vec<std::collections::BTreeMap<String, serde_saphyr::Spanned<serde::de::IgnoredAny>>>,
    }
    let rest = problem.strip_prefix("probes[")?;
    let (index, rest) = rest.split_once(']')?;
    let index: usize = index.parse().ok()?;
    let key = rest
        .strip_prefix('.')
        .and_then(|r| r.split([':', '.']).next())
        .unwrap_or("");
    let lists: Lists = serde_saphyr::from_str(text).ok()?;
    let entry = lists.probes.get(index)?;
    let spanned = entry.get(key).or_else(|| {
        entry
            .values()
            .min_by_key(|v| (v.referenced.line(), v.referenced.column()))
    })?;
    Some((spanned.referenced.line(), spanned.referenced.column()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn shipped_example_config_loads_and_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("lookout.example.yaml");
        let config = Config::from_file(&path).unwrap();
        assert_eq!(config.validate(), Vec::<String>::new());
        // The example spells out the defaults, so it must equal them.
        assert_eq!(config, Config::default());
    }

    #[test]
    fn unknown_keys_are_reported_with_their_place() {
        let err = Config::from_yaml("otlp:\n  grpc_adr: 127.0.0.1:1\n").unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("grpc_adr"), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn validate_reports_every_problem_with_its_path() {
        let mut config = Config::from_yaml(
            "retention:\n  traces: 0s\nlimits:\n  max_attributes_per_item: 0\nhttp:\n  addr: 127.0.0.1:4317\n",
        )
        .unwrap();
        config.otlp.max_inflight_bytes = ByteSize::kib(1);
        let problems = config.validate();
        for expected in [
            "retention.traces",
            "limits.max_attributes_per_item",
            "http.addr",
            "otlp.max_inflight_bytes",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(expected)),
                "{expected} in {problems:?}"
            );
        }
    }

    #[test]
    fn precedence_is_flag_then_env_then_file() {
        let file = Config::from_yaml(
            "data_dir: /from-file\nretention:\n  logs: 2d\nstorage:\n  sync: false\n",
        )
        .unwrap();
        let env = vec![
            ("LOOKOUT_RETENTION__LOGS".to_string(), "3d".to_string()),
            ("LOOKOUT_STORAGE__SYNC".to_string(), "true".to_string()),
            (
                "LOOKOUT_DATA_DIR".to_string(),
                "/ignored-here-clap-reads-it".to_string(),
            ),
            ("OTHER".to_string(), "x".to_string()),
            (
                "LOOKOUT_BENCH_SECONDS".to_string(),
                "not config".to_string(),
            ),
        ];
        let config = file.apply_env(env).unwrap().apply_overrides(&Overrides {
            http_addr: Some("127.0.0.1:9999".parse().unwrap()),
            ..Default::default()
        });
        assert_eq!(config.data_dir, PathBuf::from("/from-file"));
        assert_eq!(config.retention.logs, Duration::from_secs(3 * 86400));
        assert!(config.storage.sync);
        assert_eq!(config.http.addr.port(), 9999);
        assert_eq!(config.retention.traces, Retention::default().traces);
    }

    #[test]
    fn bad_environment_variables_are_named() {
        let err = Config::default()
            .apply_env(vec![("LOOKOUT_RETENTION__TRACE".into(), "1d".into())])
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("LOOKOUT_RETENTION__TRACE: unknown key retention.trace"),
            "{err}"
        );
        let err = Config::default()
            .apply_env(vec![("LOOKOUT_STORAGE__SYNC".into(), "maybe".into())])
            .unwrap_err();
        assert!(
            err.to_string().starts_with("LOOKOUT_STORAGE__SYNC:"),
            "{err}"
        );
    }

    #[test]
    fn probe_problems_are_placed_in_the_file() {
        let text = "http:\n  addr: 127.0.0.1:8080\nprobes:\n  - name: web\n    service_name: shop\n    kind: http\n    url: ftp://x/\n  - name: db\n    service_name: shop\n    kind: tcp\n    address: db:5432\n    interval: 1s\n    timeout: 5s\n";
        let config = Config::from_yaml(text).unwrap();
        let problems = config.validate();
        let url = problems
            .iter()
            .find(|p| p.starts_with("probes[0].url: scheme must be http or https"))
            .unwrap_or_else(|| panic!("{problems:?}"));
        assert_eq!(problem_location(text, url), Some((7, 10)));
        let interval = problems
            .iter()
            .find(|p| p.starts_with("probes[1].interval: must not be shorter than timeout (5s)"))
            .unwrap_or_else(|| panic!("{problems:?}"));
        assert_eq!(problem_location(text, interval), Some((12, 15)));
        assert_eq!(problem_location(text, "retention.traces: x"), None);

        let err =
            Config::from_yaml("probes:\n  - name: web\n    service_name: shop\n    kind: icmp\n")
                .unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains("icmp"), "{message}");
        assert!(message.contains("line 4"), "{message}");
    }
}
