//! A probe's outcome, the latest outcome of every probe (shared with the API), and the series
//! an outcome is stored as (blackbox exporter's names).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use lookout_storage::series::NewSample;
use lookout_storage::Labels;
use serde::{Deserialize, Serialize};

use super::config::{ProbeConfig, ProbeKind};
use super::health::{Check, HealthStatus};

/// What one run of a probe found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub probe: String,
    pub service_name: String,
    pub kind: ProbeKind,
    /// The target: URL or address.
    pub instance: String,
    pub success: bool,
    /// From the health document when the target sent one; else `healthy` on success and
    /// `unhealthy` on failure.
    pub status: HealthStatus,
    pub duration_seconds: f64,
    /// The HTTP status of the answer (`http` probes that got one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status_code: Option<u16>,
    /// Why the probe failed (`timeout`, a connection error, an unexpected status...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The health document's per-dependency checks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// When the probe started, in milliseconds since the Unix epoch.
    pub time_unix_ms: i64,
    /// When the earliest certificate of a TLS target's chain expires, in seconds since the
    /// Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_expiry_unix_seconds: Option<i64>,
}

/// What a probe kind reports before the common fields are added.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// `None` on success.
    pub error: Option<String>,
    /// The health document's status, when there was one.
    pub health: Option<HealthStatus>,
    pub checks: Vec<Check>,
    pub http_status_code: Option<u16>,
    pub cert_expiry_unix_seconds: Option<i64>,
}

impl Outcome {
    pub fn failed(error: impl Into<String>) -> Outcome {
        Outcome {
            error: Some(error.into()),
            ..Default::default()
        }
    }

    /// The result of `probe` started at `time_unix_ms`, having taken `duration_seconds`.
    pub fn into_result(
        self,
        probe: &ProbeConfig,
        time_unix_ms: i64,
        duration_seconds: f64,
    ) -> ProbeResult {
        let success = self.error.is_none();
        let status = match (success, self.health) {
            (true, Some(status)) => status,
            (true, None) => HealthStatus::Healthy,
            (false, _) => HealthStatus::Unhealthy,
        };
        ProbeResult {
            probe: probe.name.clone(),
            service_name: probe.service_name.clone(),
            kind: probe.kind,
            instance: probe.instance(),
            success,
            status,
            duration_seconds,
            http_status_code: self.http_status_code,
            error: self.error,
            checks: self.checks,
            time_unix_ms,
            cert_expiry_unix_seconds: self.cert_expiry_unix_seconds,
        }
    }
}

impl ProbeResult {
    /// The samples this result is stored as: `probe_success`, `probe_duration_seconds`,
    /// `probe_health_status{status}` (1 for the status, 0 for the others),
    /// `probe_http_status_code` (http probes; 0 without an answer) and
    /// `probe_ssl_earliest_cert_expiry` (TLS targets whose certificate was seen), each with
    /// the labels `probe`, `service_name` and `instance`.
    pub fn samples(&self) -> Vec<NewSample> {
        let sample = |name: &str, extra: Option<(&str, &str)>, v: f64| {
            let mut pairs = vec![
                ("__name__".to_string(), name.to_string()),
                ("instance".to_string(), self.instance.clone()),
                ("probe".to_string(), self.probe.clone()),
                ("service_name".to_string(), self.service_name.clone()),
            ];
            if let Some((k, value)) = extra {
                pairs.push((k.to_string(), value.to_string()));
            }
            NewSample {
                labels: Labels::new(pairs),
                series: None,
                key: 0,
                t: self.time_unix_ms,
                v,
                delta_start: None,
                point: u32::MAX,
            }
        };
        let flag = |b: bool| if b { 1.0 } else { 0.0 };
        let mut out = vec![
            sample("probe_success", None, flag(self.success)),
            sample("probe_duration_seconds", None, self.duration_seconds),
        ];
        for status in HealthStatus::ALL {
            out.push(sample(
                "probe_health_status",
                Some(("status", status.as_str())),
                flag(status == self.status),
            ));
        }
        if self.kind == ProbeKind::Http {
            out.push(sample(
                "probe_http_status_code",
                None,
                f64::from(self.http_status_code.unwrap_or(0)),
            ));
        }
        if let Some(expiry) = self.cert_expiry_unix_seconds {
            out.push(sample(
                "probe_ssl_earliest_cert_expiry",
                None,
                expiry as f64,
            ));
        }
        out
    }
}

/// The latest result of every probe, by probe name: written by the probe tasks, read by the
/// API (and by whatever turns probe results into a service's status). Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct ProbeResults(Arc<RwLock<BTreeMap<String, ProbeResult>>>);

impl ProbeResults {
    /// Every probe's latest result, by probe name.
    pub fn latest(&self) -> Vec<ProbeResult> {
        match self.0.read() {
            Ok(map) => map.values().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().values().cloned().collect(),
        }
    }

    /// The latest result of the probe named `name`.
    pub fn get(&self, name: &str) -> Option<ProbeResult> {
        self.latest().into_iter().find(|r| r.probe == name)
    }

    /// The latest results of the probes of one service.
    pub fn for_service(&self, service_name: &str) -> Vec<ProbeResult> {
        self.latest()
            .into_iter()
            .filter(|r| r.service_name == service_name)
            .collect()
    }

    /// Keeps `result` as its probe's latest, unless the probe was retired (by a reload) in
    /// the meantime: checked under the lock [`ProbeResults::retain`] takes, so a retired probe's
    /// last run cannot bring its result back.
    pub(crate) fn record(&self, result: ProbeResult, active: &AtomicBool) {
        let mut map = match self.0.write() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        if active.load(Ordering::SeqCst) {
            map.insert(result.probe.clone(), result);
        }
    }

    /// Drops the results of probes `keep` refuses.
    pub(crate) fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut map = match self.0.write() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.retain(|name, _| keep(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(kind: ProbeKind) -> ProbeConfig {
        serde_json::from_value(serde_json::json!({
            "name": "api", "service_name": "shop", "kind": kind,
            "url": "https://shop/health",
        }))
        .unwrap()
    }

    fn values(result: &ProbeResult) -> Vec<(String, f64)> {
        result
            .samples()
            .iter()
            .map(|s| {
                let labels: Vec<String> =
                    s.labels.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
                (labels.join(","), s.v)
            })
            .collect()
    }

    #[test]
    fn a_degraded_answer_is_a_success_with_its_status() {
        let outcome = Outcome {
            health: Some(HealthStatus::Degraded),
            http_status_code: Some(200),
            cert_expiry_unix_seconds: Some(1_900_000_000),
            ..Default::default()
        };
        let result = outcome.into_result(&probe(ProbeKind::Http), 1_000, 0.25);
        assert!(result.success);
        assert_eq!(result.status, HealthStatus::Degraded);
        let common = "instance=https://shop/health,probe=api,service_name=shop";
        assert_eq!(
            values(&result),
            vec![
                (format!("__name__=probe_success,{common}"), 1.0),
                (format!("__name__=probe_duration_seconds,{common}"), 0.25),
                (
                    format!("__name__=probe_health_status,{common},status=healthy"),
                    0.0
                ),
                (
                    format!("__name__=probe_health_status,{common},status=degraded"),
                    1.0
                ),
                (
                    format!("__name__=probe_health_status,{common},status=unhealthy"),
                    0.0
                ),
                (format!("__name__=probe_http_status_code,{common}"), 200.0),
                (
                    format!("__name__=probe_ssl_earliest_cert_expiry,{common}"),
                    1.9e9
                ),
            ]
        );
        assert!(result.samples().iter().all(|s| s.t == 1_000));
    }

    #[test]
    fn a_failure_is_unhealthy_and_tcp_has_no_http_code() {
        let result = Outcome::failed("timeout").into_result(&probe(ProbeKind::Tcp), 5, 1.0);
        assert!(!result.success);
        assert_eq!(result.status, HealthStatus::Unhealthy);
        assert_eq!(result.error.as_deref(), Some("timeout"));
        let names: Vec<String> = values(&result).into_iter().map(|(l, _)| l).collect();
        assert!(!names.iter().any(|n| n.contains("probe_http_status_code")));
        let shared = ProbeResults::default();
        shared.record(result.clone(), &AtomicBool::new(true));
        shared.record(
            Outcome::default().into_result(&probe(ProbeKind::Http), 6, 1.0),
            &AtomicBool::new(false),
        );
        assert_eq!(shared.get("api"), Some(result.clone()));
        assert_eq!(shared.for_service("shop"), vec![result]);
        shared.retain(|name| name != "api");
        assert!(shared.latest().is_empty());
    }
}
