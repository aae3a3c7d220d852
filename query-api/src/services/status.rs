//! The status rules: from what is known of a service to its status and the reasons for it.
//! Pure functions, so every rule is tested without storage.

use std::time::Duration;

use serde::Serialize;

use super::config::Thresholds;

/// A service's status. Ordered from best to worst, `unknown` between healthy and degraded:
/// the status is the worst of its reasons' statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Healthy,
    Unknown,
    Degraded,
    Unhealthy,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Healthy,
        Status::Degraded,
        Status::Unhealthy,
        Status::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Healthy => "healthy",
            Status::Unknown => "unknown",
            Status::Degraded => "degraded",
            Status::Unhealthy => "unhealthy",
        }
    }
}

/// Why a service has its status.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reason {
    /// `error_rate`, `latency`, `alert`, `probe`, `silence` or `no_data`.
    pub kind: &'static str,
    pub status: Status,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

/// The requests of a service in the judged window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Requests {
    pub count: f64,
    pub errors: f64,
    pub p99_seconds: Option<f64>,
}

/// A firing alert that names the service.
#[derive(Clone, Debug, PartialEq)]
pub struct FiringAlert {
    pub name: String,
    pub severity: String,
}

/// A probe's latest result.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeState {
    pub probe: String,
    pub success: bool,
    /// `healthy`, `degraded` or `unhealthy`.
    pub status: String,
    pub error: Option<String>,
    /// The names of the health document's checks that are not healthy.
    pub failing_checks: Vec<String>,
}

/// Everything the status of one service is decided from.
#[derive(Clone, Debug, Default)]
pub struct Evidence {
    /// Requests in the judged window (`None`: the service had no spans there).
    pub requests: Option<Requests>,
    /// The judged window, for the messages.
    pub window: Duration,
    /// When the service last sent anything, in ms (`None`: not in the last hour).
    pub last_seen_ms: Option<i64>,
    pub now_ms: i64,
    pub alerts: Vec<FiringAlert>,
    pub probes: Vec<ProbeState>,
}

/// How an alert's `severity` label weighs: `None` for informational alerts.
pub fn alert_status(severity: &str) -> Option<Status> {
    match severity.to_ascii_lowercase().as_str() {
        "critical" | "error" | "page" | "high" | "fatal" | "emergency" => Some(Status::Unhealthy),
        "info" | "informational" | "none" | "low" | "debug" => None,
        _ => Some(Status::Degraded),
    }
}

fn human(d: Duration) -> String {
    let secs = d.as_secs();
    let rounded = if secs >= 3600 {
        Duration::from_secs(secs / 60 * 60)
    } else if secs >= 60 {
        Duration::from_secs(secs)
    } else {
        Duration::from_millis(d.as_millis() as u64)
    };
    humantime::format_duration(rounded).to_string()
}

/// The status of a service and every reason that set it (worst first).
pub fn decide(evidence: &Evidence, t: &Thresholds) -> (Status, Vec<Reason>) {
    let mut reasons = Vec::new();
    let reason = |kind, status, message: String| Reason {
        kind,
        status,
        message,
        value: None,
        threshold: None,
    };
    for p in &evidence.probes {
        if !p.success {
            let error = p.error.as_deref().unwrap_or("failed");
            reasons.push(reason(
                "probe",
                Status::Unhealthy,
                format!("probe {} failed: {error}", p.probe),
            ));
            continue;
        }
        let status = match p.status.as_str() {
            "degraded" => Status::Degraded,
            "unhealthy" => Status::Unhealthy,
            _ => continue,
        };
        let mut message = format!("probe {} reports {}", p.probe, p.status);
        if !p.failing_checks.is_empty() {
            message.push_str(&format!(" (failing: {})", p.failing_checks.join(", ")));
        }
        reasons.push(reason("probe", status, message));
    }
    for a in &evidence.alerts {
        let Some(status) = alert_status(&a.severity) else {
            continue;
        };
        let severity = if a.severity.is_empty() {
            String::new()
        } else {
            format!(" ({})", a.severity)
        };
        reasons.push(reason(
            "alert",
            status,
            format!("alert {} is firing{severity}", a.name),
        ));
    }
    let silent_for = evidence
        .last_seen_ms
        .map(|seen| Duration::from_millis(evidence.now_ms.saturating_sub(seen).max(0) as u64));
    if let Some(silent) = silent_for {
        if !t.silence_after.is_zero() && silent >= t.silence_after {
            reasons.push(Reason {
                value: Some(silent.as_secs_f64()),
                threshold: Some(t.silence_after.as_secs_f64()),
                ..reason(
                    "silence",
                    Status::Unhealthy,
                    format!(
                        "no telemetry for {} (silent after {})",
                        human(silent),
                        human(t.silence_after)
                    ),
                )
            });
        }
    }
    let window = human(evidence.window);
    if let Some(r) = evidence
        .requests
        .as_ref()
        .filter(|r| r.count >= t.min_requests as f64)
    {
        let percent = 100.0 * r.errors / r.count;
        let status = if percent >= t.error_percent_unhealthy {
            Some((Status::Unhealthy, t.error_percent_unhealthy))
        } else if percent >= t.error_percent_degraded {
            Some((Status::Degraded, t.error_percent_degraded))
        } else {
            None
        };
        if let Some((status, threshold)) = status {
            reasons.push(Reason {
                value: Some(percent),
                threshold: Some(threshold),
                ..reason(
                    "error_rate",
                    status,
                    format!("error rate {percent:.1}% over the last {window} (≥ {threshold}%)"),
                )
            });
        }
        if let Some(p99) = r.p99_seconds.filter(|p| p.is_finite()) {
            let status = if p99 >= t.p99_unhealthy.as_secs_f64() {
                Some((Status::Unhealthy, t.p99_unhealthy))
            } else if p99 >= t.p99_degraded.as_secs_f64() {
                Some((Status::Degraded, t.p99_degraded))
            } else {
                None
            };
            if let Some((status, threshold)) = status {
                reasons.push(Reason {
                    value: Some(p99 * 1000.0),
                    threshold: Some(threshold.as_secs_f64() * 1000.0),
                    ..reason(
                        "latency",
                        status,
                        format!(
                            "latency p99 {} over the last {window} (≥ {})",
                            human(Duration::from_secs_f64(p99)),
                            human(threshold)
                        ),
                    )
                });
            }
        }
    }
    if reasons.is_empty() && evidence.last_seen_ms.is_none() && evidence.probes.is_empty() {
        reasons.push(reason(
            "no_data",
            Status::Unknown,
            "no telemetry in the last hour and no probes".into(),
        ));
    }
    reasons.sort_by_key(|r| std::cmp::Reverse(r.status));
    let status = reasons.first().map_or(Status::Healthy, |r| r.status);
    (status, reasons)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn live() -> Evidence {
        Evidence {
            window: Duration::from_secs(300),
            last_seen_ms: Some(NOW - 10_000),
            now_ms: NOW,
            ..Default::default()
        }
    }

    fn requests(count: f64, errors: f64, p99: f64) -> Option<Requests> {
        Some(Requests {
            count,
            errors,
            p99_seconds: Some(p99),
        })
    }

    fn kinds(reasons: &[Reason]) -> Vec<(&str, Status)> {
        reasons.iter().map(|r| (r.kind, r.status)).collect()
    }

    #[test]
    fn traffic_within_thresholds_is_healthy() {
        let e = Evidence {
            requests: requests(1000.0, 10.0, 0.2),
            ..live()
        };
        assert_eq!(
            decide(&e, &Thresholds::default()),
            (Status::Healthy, vec![])
        );
    }

    #[test]
    fn error_rate_and_latency_set_degraded_and_unhealthy() {
        let t = Thresholds::default();
        let (status, reasons) = decide(
            &Evidence {
                requests: requests(100.0, 8.0, 0.1),
                ..live()
            },
            &t,
        );
        assert_eq!(status, Status::Degraded);
        assert_eq!(
            reasons[0].message,
            "error rate 8.0% over the last 5m (≥ 5%)"
        );
        assert_eq!(
            (reasons[0].value, reasons[0].threshold),
            (Some(8.0), Some(5.0))
        );
        let (status, reasons) = decide(
            &Evidence {
                requests: requests(100.0, 30.0, 1.5),
                ..live()
            },
            &t,
        );
        assert_eq!(status, Status::Unhealthy);
        assert_eq!(
            kinds(&reasons),
            [
                ("error_rate", Status::Unhealthy),
                ("latency", Status::Degraded)
            ]
        );
        assert_eq!(
            reasons[1].message,
            "latency p99 1s 500ms over the last 5m (≥ 1s)"
        );
        let (status, _) = decide(
            &Evidence {
                requests: requests(100.0, 0.0, 6.0),
                ..live()
            },
            &t,
        );
        assert_eq!(status, Status::Unhealthy);
    }

    #[test]
    fn too_few_requests_are_not_judged() {
        let e = Evidence {
            requests: requests(3.0, 3.0, 9.0),
            ..live()
        };
        assert_eq!(decide(&e, &Thresholds::default()).0, Status::Healthy);
    }

    #[test]
    fn the_highest_alert_severity_wins() {
        let alert = |name: &str, severity: &str| FiringAlert {
            name: name.into(),
            severity: severity.into(),
        };
        let e = Evidence {
            alerts: vec![alert("Slow", "warning"), alert("Info", "info")],
            ..live()
        };
        let (status, reasons) = decide(&e, &Thresholds::default());
        assert_eq!(status, Status::Degraded);
        assert_eq!(reasons.len(), 1);
        assert_eq!(reasons[0].message, "alert Slow is firing (warning)");
        let e = Evidence {
            alerts: vec![alert("Slow", "warning"), alert("Down", "critical")],
            ..live()
        };
        let (status, reasons) = decide(&e, &Thresholds::default());
        assert_eq!(status, Status::Unhealthy);
        assert_eq!(reasons[0].message, "alert Down is firing (critical)");
    }

    #[test]
    fn probes_set_the_status_of_their_service() {
        let probe = |success, status: &str, error: Option<&str>, failing: &[&str]| ProbeState {
            probe: "web".into(),
            success,
            status: status.into(),
            error: error.map(str::to_string),
            failing_checks: failing.iter().map(|s| s.to_string()).collect(),
        };
        let t = Thresholds::default();
        let e = |p| Evidence {
            probes: vec![p],
            ..live()
        };
        assert_eq!(
            decide(&e(probe(true, "healthy", None, &[])), &t).0,
            Status::Healthy
        );
        let (status, reasons) = decide(&e(probe(true, "degraded", None, &["db"])), &t);
        assert_eq!(status, Status::Degraded);
        assert_eq!(
            reasons[0].message,
            "probe web reports degraded (failing: db)"
        );
        let (status, reasons) = decide(&e(probe(false, "unhealthy", Some("timeout"), &[])), &t);
        assert_eq!(status, Status::Unhealthy);
        assert_eq!(reasons[0].message, "probe web failed: timeout");
        // A service known only by its probe is judged by it, not unknown.
        let only = Evidence {
            last_seen_ms: None,
            ..e(probe(true, "healthy", None, &[]))
        };
        assert_eq!(decide(&only, &t).0, Status::Healthy);
    }

    #[test]
    fn silence_is_unhealthy_and_a_long_gone_service_unknown() {
        let mut t = Thresholds::default();
        let e = Evidence {
            last_seen_ms: Some(NOW - 7 * 60_000),
            ..live()
        };
        let (status, reasons) = decide(&e, &t);
        assert_eq!(status, Status::Unhealthy);
        assert_eq!(reasons[0].message, "no telemetry for 7m (silent after 5m)");
        t.silence_after = Duration::ZERO;
        assert_eq!(decide(&e, &t).0, Status::Healthy);
        let gone = Evidence {
            last_seen_ms: None,
            ..live()
        };
        let (status, reasons) = decide(&gone, &t);
        assert_eq!(status, Status::Unknown);
        assert_eq!(reasons[0].kind, "no_data");
    }
}
