use std::collections::BTreeMap;
use std::time::Duration;

/// How a service's status is decided (README "Service health" documents the defaults).
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceHealthConfig {
    /// Error rate and latency are judged over this last stretch of time.
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How often the statuses are written as `lookout_service_status` series.
    #[serde(with = "humantime_serde")]
    pub evaluation_interval: Duration,
    /// The thresholds of every service without its own.
    pub thresholds: Thresholds,
    /// Per service (by `service.name`): thresholds that replace the global ones.
    pub services: BTreeMap<String, ThresholdOverrides>,
}

impl Default for ServiceHealthConfig {
    fn default() -> Self {
        ServiceHealthConfig {
            window: Duration::from_secs(5 * 60),
            evaluation_interval: Duration::from_secs(30),
            thresholds: Thresholds::default(),
            services: BTreeMap::new(),
        }
    }
}

/// When a service stops being healthy.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Error percentage of the service's requests (server and consumer spans, else all its
    /// spans) at or above which it is degraded.
    pub error_percent_degraded: f64,
    /// ... and unhealthy.
    pub error_percent_unhealthy: f64,
    /// Latency p99 at or above which it is degraded.
    #[serde(with = "humantime_serde")]
    pub p99_degraded: Duration,
    /// ... and unhealthy.
    #[serde(with = "humantime_serde")]
    pub p99_unhealthy: Duration,
    /// Fewer requests than this in `window`: error rate and latency are not judged.
    pub min_requests: u64,
    /// A service that sent telemetry in the last hour and nothing for this long is unhealthy
    /// (`0s`: never, for batch jobs).
    #[serde(with = "humantime_serde")]
    pub silence_after: Duration,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            error_percent_degraded: 5.0,
            error_percent_unhealthy: 20.0,
            p99_degraded: Duration::from_secs(1),
            p99_unhealthy: Duration::from_secs(5),
            min_requests: 10,
            silence_after: Duration::from_secs(5 * 60),
        }
    }
}

/// A service's own thresholds: each one set replaces the global one.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThresholdOverrides {
    pub error_percent_degraded: Option<f64>,
    pub error_percent_unhealthy: Option<f64>,
    #[serde(with = "humantime_serde")]
    pub p99_degraded: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub p99_unhealthy: Option<Duration>,
    pub min_requests: Option<u64>,
    #[serde(with = "humantime_serde")]
    pub silence_after: Option<Duration>,
}

impl ServiceHealthConfig {
    /// The thresholds of `service`.
    pub fn thresholds(&self, service: &str) -> Thresholds {
        let g = &self.thresholds;
        let Some(o) = self.services.get(service) else {
            return g.clone();
        };
        Thresholds {
            error_percent_degraded: o.error_percent_degraded.unwrap_or(g.error_percent_degraded),
            error_percent_unhealthy: o
                .error_percent_unhealthy
                .unwrap_or(g.error_percent_unhealthy),
            p99_degraded: o.p99_degraded.unwrap_or(g.p99_degraded),
            p99_unhealthy: o.p99_unhealthy.unwrap_or(g.p99_unhealthy),
            min_requests: o.min_requests.unwrap_or(g.min_requests),
            silence_after: o.silence_after.unwrap_or(g.silence_after),
        }
    }

    /// Every problem, each with its path below `prefix`.
    pub fn validate(&self, prefix: &str, problems: &mut Vec<String>) {
        if self.window < Duration::from_secs(1) {
            problems.push(format!("{prefix}.window: must be at least 1s"));
        }
        if self.evaluation_interval < Duration::from_secs(1) {
            problems.push(format!("{prefix}.evaluation_interval: must be at least 1s"));
        }
        let mut check = |path: String, t: &Thresholds| {
            for (name, value) in [
                ("error_percent_degraded", t.error_percent_degraded),
                ("error_percent_unhealthy", t.error_percent_unhealthy),
            ] {
                if !(value > 0.0 && value <= 100.0) {
                    problems.push(format!("{path}.{name}: must be in (0, 100]"));
                }
            }
            if t.error_percent_unhealthy < t.error_percent_degraded {
                problems.push(format!(
                    "{path}.error_percent_unhealthy: must not be below error_percent_degraded"
                ));
            }
            if t.p99_degraded.is_zero() {
                problems.push(format!("{path}.p99_degraded: must be greater than 0"));
            }
            if t.p99_unhealthy < t.p99_degraded {
                problems.push(format!(
                    "{path}.p99_unhealthy: must not be below p99_degraded"
                ));
            }
        };
        check(format!("{prefix}.thresholds"), &self.thresholds);
        for name in self.services.keys() {
            check(format!("{prefix}.services.{name}"), &self.thresholds(name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_overrides_only_what_it_sets() {
        let config: ServiceHealthConfig = serde_json::from_str(
            r#"{"thresholds": {"p99_degraded": "2s"},
                "services": {"batch": {"silence_after": "0s", "error_percent_degraded": 50}}}"#,
        )
        .unwrap();
        let batch = config.thresholds("batch");
        assert_eq!(batch.silence_after, Duration::ZERO);
        assert_eq!(batch.error_percent_degraded, 50.0);
        assert_eq!(batch.p99_degraded, Duration::from_secs(2));
        assert_eq!(config.thresholds("web").error_percent_degraded, 5.0);
        let mut problems = Vec::new();
        config.validate("service_health", &mut problems);
        assert_eq!(
            problems,
            ["service_health.services.batch.error_percent_unhealthy: must not be below error_percent_degraded"]
        );
    }
}
