//! Service health: `GET /lookout/v1/services` and `GET /lookout/v1/services/{name}`, a status
//! (`healthy`, `degraded`, `unhealthy`, `unknown`) with its reasons for every service seen,
//! from its traffic (span RED series), its firing alerts, its probes and its silence; and
//! [`statuses`], which the binary writes as `lookout_service_status` series.

mod config;
mod gather;
mod status;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use serde_json::json;

pub use config::{ServiceHealthConfig, ThresholdOverrides, Thresholds};
pub use status::{Reason, Status};

use crate::promql::Engine;
use crate::traces::params::{self, format_rfc3339};
use crate::traces::{blocking, TraceApi};
use crate::{probes::Probes, rules::Rules, ApiError};
use gather::{Activity, Red};
use status::{Evidence, FiringAlert, ProbeState, Requests};

/// The status series the binary writes.
pub const STATUS_METRIC: &str = "lookout_service_status";

const HOUR_MS: i64 = 3_600_000;

/// What the service endpoints need.
#[derive(Clone)]
pub struct ServicesApi {
    pub engine: Engine,
    pub traces: TraceApi,
    pub rules: Rules,
    pub probes: Probes,
    pub config: ServiceHealthConfig,
}

/// One service as evaluated.
#[derive(Clone, Debug)]
pub struct ServiceView {
    pub name: String,
    pub status: Status,
    pub reasons: Vec<Reason>,
    /// Over the asked window.
    pub red: Red,
    pub activity: Activity,
    pub alerts: Vec<serde_json::Value>,
    pub probes: Vec<serde_json::Value>,
}

fn alert_names(labels: &serde_json::Value, service: &str) -> bool {
    ["service_name", "service", "job"].iter().any(|k| {
        labels[k].as_str().is_some_and(|v| {
            v == service || (*k == "job" && v.rsplit_once('/').is_some_and(|(_, n)| n == service))
        })
    })
}

fn probe_state(p: &serde_json::Value) -> ProbeState {
    ProbeState {
        probe: p["probe"].as_str().unwrap_or("").to_string(),
        success: p["success"].as_bool().unwrap_or(false),
        status: p["status"].as_str().unwrap_or("").to_string(),
        error: p["error"].as_str().map(str::to_string),
        failing_checks: p["checks"]
            .as_array()
            .map(|checks| {
                checks
                    .iter()
                    .filter(|c| c["status"].as_str() != Some("healthy"))
                    .filter_map(|c| c["name"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Evaluates every service (or only `only`) over `[start_ms, end_ms]`: the services that sent
/// telemetry in the window, those silent for less than an hour, and those with probes.
pub fn evaluate(
    api: &ServicesApi,
    only: Option<&str>,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<ServiceView>, ApiError> {
    let window_ms = (end_ms - start_ms).max(1);
    let lookback_ms = window_ms.max(HOUR_MS);
    let judged_ms = i64::try_from(api.config.window.as_millis()).unwrap_or(i64::MAX);
    let mut activity = gather::activity(&api.engine, only, end_ms, window_ms, lookback_ms)?;
    let red = gather::red(&api.engine, only, &[], end_ms, window_ms)?;
    let judged = gather::red(&api.engine, only, &[], end_ms, judged_ms)?;
    let alerts: Vec<serde_json::Value> = match &api.rules {
        Some(rules) => rules.alerts()["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["state"] == "firing")
            .collect(),
        None => Vec::new(),
    };
    let probes: Vec<serde_json::Value> = api
        .probes
        .as_ref()
        .map(|p| p.latest())
        .unwrap_or_default()
        .into_iter()
        .filter(|p| only.is_none_or(|s| p["service_name"] == s))
        .collect();

    let mut names: BTreeSet<String> = BTreeSet::new();
    names.extend(red.keys().map(|k| k[0].clone()));
    names.extend(
        probes
            .iter()
            .filter_map(|p| p["service_name"].as_str().map(str::to_string)),
    );
    names.extend(activity.keys().cloned());
    let mut out = Vec::new();
    for name in names {
        if only.is_some_and(|s| s != name) {
            continue;
        }
        let act = activity.remove(&name).unwrap_or_default();
        let last_ms = act.last_ms();
        let service_alerts: Vec<serde_json::Value> = alerts
            .iter()
            .filter(|a| alert_names(&a["labels"], &name))
            .cloned()
            .collect();
        let service_probes: Vec<serde_json::Value> = probes
            .iter()
            .filter(|p| p["service_name"] == name.as_str())
            .cloned()
            .collect();
        let key = vec![name.clone()];
        let evidence = Evidence {
            requests: judged.get(&key).map(|r| Requests {
                count: r.calls,
                errors: r.errors,
                p99_seconds: r.p99_ms.map(|ms| ms / 1000.0),
            }),
            window: api.config.window,
            last_seen_ms: last_ms.filter(|t| *t >= end_ms - HOUR_MS),
            now_ms: end_ms,
            alerts: service_alerts
                .iter()
                .map(|a| FiringAlert {
                    name: a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                    severity: a["labels"]["severity"].as_str().unwrap_or("").to_string(),
                })
                .collect(),
            probes: service_probes.iter().map(probe_state).collect(),
        };
        let (status, reasons) = status::decide(&evidence, &api.config.thresholds(&name));
        let in_window = last_ms.is_some_and(|t| t >= start_ms) || red.contains_key(&key);
        let silent = reasons.iter().any(|r| r.kind == "silence");
        if !(in_window || silent || !service_probes.is_empty() || only.is_some()) {
            continue;
        }
        out.push(ServiceView {
            red: red.get(&key).cloned().unwrap_or(Red {
                window_ms,
                ..Default::default()
            }),
            name,
            status,
            reasons,
            activity: act,
            alerts: service_alerts,
            probes: service_probes,
        });
    }
    Ok(out)
}

/// The status of every service seen in the last hour before `end_ms` (for the
/// `lookout_service_status` series).
pub fn statuses(api: &ServicesApi, end_ms: i64) -> Result<Vec<(String, Status)>, ApiError> {
    Ok(evaluate(api, None, end_ms - HOUR_MS, end_ms)?
        .into_iter()
        .map(|s| (s.name, s.status))
        .collect())
}

/// `lookout_service_status{service_name, status}` samples at `t_ms`: 1 for each service's
/// status, 0 for the other three.
pub fn status_samples(
    statuses: &[(String, Status)],
    t_ms: i64,
) -> Vec<lookout_storage::series::NewSample> {
    let mut out = Vec::with_capacity(statuses.len() * Status::ALL.len());
    for (service, status) in statuses {
        for s in Status::ALL {
            out.push(lookout_storage::series::NewSample {
                labels: lookout_storage::Labels::new(vec![
                    ("__name__".into(), STATUS_METRIC.into()),
                    ("service_name".into(), service.clone()),
                    ("status".into(), s.as_str().into()),
                ]),
                series: None,
                key: 0,
                t: t_ms,
                v: if s == *status { 1.0 } else { 0.0 },
                delta_start: None,
                point: u32::MAX,
            });
        }
    }
    out
}

fn rfc3339_ms(ms: i64) -> serde_json::Value {
    json!(format_rfc3339(u64::try_from(ms).unwrap_or(0) * 1_000_000))
}

fn summary_json(s: &ServiceView) -> serde_json::Value {
    let seconds = s.red.window_ms as f64 / 1000.0;
    let per_second = |signal: &str| s.activity.items.get(signal).copied().unwrap_or(0.0) / seconds;
    let mut v = s.red.json();
    v["name"] = json!(s.name);
    v["status"] = json!(s.status);
    v["reasons"] = json!(s.reasons);
    v["activity"] = json!({
        "spans_per_second": per_second("spans"),
        "logs_per_second": per_second("logs"),
        "metric_points_per_second": per_second("metric_points"),
    });
    v["last_seen"] = s
        .activity
        .last_ms()
        .map_or(serde_json::Value::Null, rfc3339_ms);
    v["instances"] = json!(s.activity.instances.len());
    v["alerts"] = json!(s.alerts);
    v["probes"] = json!(s.probes);
    v
}

/// The window of a request, in ms: `since` (default 1h) or `start`/`end`.
fn window_ms(api: &ServicesApi, raw: Option<&str>) -> Result<(i64, i64), ApiError> {
    let pairs = params::pairs(raw);
    for (k, _) in &pairs {
        if !matches!(k.as_str(), "since" | "start" | "end") {
            return Err(ApiError::bad(format!(
                "unknown parameter {k}: the parameters are since, start and end"
            )));
        }
    }
    let (start, end) = crate::traces::lookout::window(&api.traces, &pairs)?;
    Ok(((start / 1_000_000) as i64, (end / 1_000_000) as i64))
}

/// `GET /lookout/v1/services`.
pub async fn list(
    State(api): State<ServicesApi>,
    RawQuery(raw): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (start, end) = window_ms(&api, raw.as_deref())?;
    let window = api.config.window;
    let services = blocking(move || evaluate(&api, None, start, end)).await?;
    let services: Vec<_> = services.iter().map(summary_json).collect();
    Ok(Json(json!({
        "start": rfc3339_ms(start),
        "end": rfc3339_ms(end),
        "status_window": humantime::format_duration(window).to_string(),
        "services": services,
    })))
}

/// `GET /lookout/v1/services/{name}`.
pub async fn detail(
    State(api): State<ServicesApi>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (start, end) = window_ms(&api, raw.as_deref())?;
    let window = api.config.window;
    let body = blocking(move || {
        let views = evaluate(&api, Some(&name), start, end)?;
        let Some(view) = views.into_iter().next().filter(|v| {
            v.activity.last_ms().is_some() || v.red.calls > 0.0 || !v.probes.is_empty()
        }) else {
            return Err(ApiError::NotFound(format!(
                "service {name:?} sent no telemetry between {} and {} and has no probes",
                format_rfc3339(start as u64 * 1_000_000),
                format_rfc3339(end as u64 * 1_000_000)
            )));
        };
        let mut body = summary_json(&view);
        let window_ms = end - start;
        let operations = gather::red(&api.engine, Some(&name), &["span_name", "span_kind"], end, window_ms)?;
        body["operations"] = json!(operations
            .iter()
            .map(|(k, red)| {
                let mut o = red.json();
                o["name"] = json!(k[1]);
                o["span_kind"] = json!(k[2]);
                o
            })
            .collect::<Vec<_>>());
        let range = lookout_storage::TimeRange {
            start_unix_nano: start as u64 * 1_000_000,
            end_unix_nano: end as u64 * 1_000_000,
        };
        let graph = api.traces.search.service_graph(range, Some(api.traces.deadline()))?;
        let seconds = window_ms as f64 / 1000.0;
        let edge = |other: &str, e: &lookout_storage::service_graph::Edge| {
            json!({
                "service": other,
                "calls": e.calls,
                "calls_per_second": e.calls as f64 / seconds,
                "error_percent": if e.calls == 0 { None } else { Some(100.0 * e.errors as f64 / e.calls as f64) },
            })
        };
        body["callers"] = json!(graph
            .edges
            .iter()
            .filter(|((_, to), _)| *to == name)
            .map(|((from, _), e)| edge(from, e))
            .collect::<Vec<_>>());
        body["callees"] = json!(graph
            .edges
            .iter()
            .filter(|((from, _), _)| *from == name)
            .map(|((_, to), e)| edge(to, e))
            .collect::<Vec<_>>());
        let lookback = window_ms.max(HOUR_MS);
        let info = gather::instance_info(&api.engine, &name, end, lookback)?;
        let usage = gather::process_usage(&api.engine, &name, end, window_ms)?;
        let mut instances: BTreeMap<&str, serde_json::Value> = BTreeMap::new();
        for (instance, seen) in &view.activity.instances {
            let signals: BTreeMap<&str, serde_json::Value> = seen
                .by_signal
                .iter()
                .map(|(signal, ms)| (*signal, rfc3339_ms(*ms)))
                .collect();
            instances.insert(
                instance,
                json!({
                    "instance": instance,
                    "last_seen": seen.last_ms().map_or(serde_json::Value::Null, rfc3339_ms),
                    "signals": signals,
                    "attributes": info.get(instance).cloned().unwrap_or_default(),
                    "process": usage.get(instance).cloned().unwrap_or_default(),
                }),
            );
        }
        for (instance, u) in &usage {
            instances.entry(instance).or_insert_with(|| {
                json!({"instance": instance, "last_seen": null, "signals": {}, "attributes": {}, "process": u})
            });
        }
        body["instance_details"] = json!(instances.into_values().collect::<Vec<_>>());
        Ok(body)
    })
    .await?;
    let mut body = body;
    body["start"] = rfc3339_ms(start);
    body["end"] = rfc3339_ms(end);
    body["status_window"] = json!(humantime::format_duration(window).to_string());
    Ok(Json(body))
}
