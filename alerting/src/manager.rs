//! Rule evaluation with Prometheus's alert state machine (`rules/alerting.go`): each result
//! element of an alerting rule is an alert identified by its labels; new → `pending`; pending
//! for `for` → `firing`; gone → a pending alert is dropped, a firing one held for
//! `keep_firing_for` and then `inactive` (resolved), kept and re-sent for 15 minutes. State is
//! saved through [`StateStore`] after every evaluation that changed it and restored at start,
//! so a restart keeps the `for` clock and does not repeat or resolve notifications.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::notify::{Notifier, Outgoing};
use crate::rules::{Group, Rule, RuleKind};
use crate::template::Data;
use crate::{fingerprint, Labels, QueryEngine, QueryResult, SampleAppender, StateStore};

const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// The `alerting:` section of the configuration.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    pub enabled: bool,
    /// Rule files (glob patterns) in Prometheus's format.
    pub rule_files: Vec<String>,
    /// Load the shipped default rules (error rate, latency, traffic, host, Lookout itself).
    pub default_rules: bool,
    /// Interval of groups that do not set one.
    #[serde(with = "humantime_serde")]
    pub evaluation_interval: Duration,
    /// Labels added to every alert (and `$externalLabels` in templates).
    pub external_labels: BTreeMap<String, String>,
    /// Lookout's address as users reach it, for links in notifications.
    pub external_url: String,
    /// How often active alerts are re-sent to Alertmanager.
    #[serde(with = "humantime_serde")]
    pub resend_delay: Duration,
    /// Webhook receivers.
    pub webhooks: Vec<crate::notify::WebhookConfig>,
    /// Alertmanager base URLs (`http://host:9093`).
    pub alertmanagers: Vec<String>,
    /// Attach recent error traces and log lines of the alert's service to notifications.
    pub evidence: bool,
    /// PEM certificates trusted, besides the system's roots, by HTTPS webhooks and
    /// Alertmanagers (a private CA).
    pub tls_ca_file: Option<std::path::PathBuf>,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            enabled: true,
            rule_files: Vec::new(),
            default_rules: true,
            evaluation_interval: Duration::from_secs(60),
            external_labels: BTreeMap::new(),
            external_url: "http://localhost:8080".into(),
            resend_delay: Duration::from_secs(60),
            webhooks: Vec::new(),
            alertmanagers: Vec::new(),
            evidence: true,
            tls_ca_file: None,
        }
    }
}

impl AlertingConfig {
    pub fn validate(&self, prefix: &str, problems: &mut Vec<String>) {
        if self.evaluation_interval.is_zero() {
            problems.push(format!(
                "{prefix}.evaluation_interval: must be greater than 0"
            ));
        }
        if self.resend_delay.is_zero() {
            problems.push(format!("{prefix}.resend_delay: must be greater than 0"));
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            w.validate(&format!("{prefix}.webhooks[{i}]"), problems);
        }
        if let Some(path) = &self.tls_ca_file {
            if let Err(e) = crate::deliver::client(Some(path)) {
                problems.push(format!("{prefix}.tls_ca_file: {e}"));
            }
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, w) in self.webhooks.iter().enumerate() {
            if !names.insert(&w.name) {
                problems.push(format!(
                    "{prefix}.webhooks[{i}].name: {:?} is used by another webhook",
                    w.name
                ));
            }
        }
        for (i, url) in self.alertmanagers.iter().enumerate() {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                problems.push(format!(
                    "{prefix}.alertmanagers[{i}]: must be an http:// or https:// URL"
                ));
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    Pending,
    Firing,
    Inactive,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Inactive => "inactive",
        }
    }
}

/// One alert of a rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    pub state: AlertState,
    pub value: f64,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    pub keep_firing_since: Option<i64>,
}

/// The state of one rule.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RuleState {
    pub health: String,
    pub last_error: String,
    pub last_evaluation: i64,
    pub evaluation_seconds: f64,
    /// Alerts by fingerprint.
    pub alerts: BTreeMap<String, Alert>,
    /// `ALERTS` series written at the last evaluation (for stale markers).
    #[serde(default)]
    pub written: Vec<Labels>,
}

/// A state change, kept in the alert history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub at: i64,
    pub rule: String,
    pub group: String,
    pub labels: Labels,
    pub from: String,
    pub to: String,
    pub value: f64,
}

struct Loaded {
    groups: Vec<Group>,
}

/// Evaluates rule groups and keeps their state.
pub struct Manager {
    config: AlertingConfig,
    engine: Arc<dyn QueryEngine>,
    appender: Arc<dyn SampleAppender>,
    store: Arc<dyn StateStore>,
    notifier: Option<Arc<Notifier>>,
    loaded: Mutex<Loaded>,
    states: Mutex<BTreeMap<String, RuleState>>,
    group_evaluations: Mutex<BTreeMap<String, (i64, f64)>>,
}

fn group_key(g: &Group) -> String {
    format!("{}\u{0}{}", g.file.display(), g.name)
}

/// Rule groups evaluated at once (Prometheus's `rules.max-concurrent-evals` default).
pub const MAX_CONCURRENT_GROUPS: usize = 4;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Manager {
    /// A manager for `groups`; stored state is restored.
    pub fn new(
        config: AlertingConfig,
        groups: Vec<Group>,
        engine: Arc<dyn QueryEngine>,
        appender: Arc<dyn SampleAppender>,
        store: Arc<dyn StateStore>,
        notifier: Option<Arc<Notifier>>,
    ) -> Manager {
        let mut states = BTreeMap::new();
        match store.load() {
            Ok(entries) => {
                for (key, value) in entries {
                    match serde_json::from_slice::<RuleState>(&value) {
                        Ok(state) => {
                            states.insert(key, state);
                        }
                        Err(e) => {
                            tracing::warn!(rule = %key, error = %e, "stored alert state is unreadable, starting it afresh")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "loading alert state failed, starting afresh"),
        }
        Manager {
            config,
            engine,
            appender,
            store,
            notifier,
            loaded: Mutex::new(Loaded { groups }),
            states: Mutex::new(states),
            group_evaluations: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn config(&self) -> &AlertingConfig {
        &self.config
    }

    pub fn groups(&self) -> Vec<Group> {
        self.loaded
            .lock()
            .map(|l| l.groups.clone())
            .unwrap_or_default()
    }

    /// Replaces the rules (a reload); state of rules that remain is kept.
    pub fn replace(&self, groups: Vec<Group>) {
        if let Ok(mut l) = self.loaded.lock() {
            l.groups = groups;
        }
    }

    /// Evaluates every rule of `group` at `now` (ms) and hands alerts to the notifier.
    pub fn evaluate(&self, group: &Group, now: i64) {
        let started = Instant::now();
        let mut outgoing = Vec::new();
        for rule in &group.rules {
            let key = rule.key(group);
            let rule_started = Instant::now();
            let mut state = self
                .states
                .lock()
                .ok()
                .and_then(|s| s.get(&key).cloned())
                .unwrap_or_default();
            let before = state.alerts.clone();
            let changes = match rule.kind {
                RuleKind::Recording => {
                    self.record(rule, group, now, &mut state);
                    Vec::new()
                }
                RuleKind::Alerting => self.alert(rule, group, now, &mut state, &mut outgoing),
            };
            state.last_evaluation = now;
            state.evaluation_seconds = rule_started.elapsed().as_secs_f64();
            for change in &changes {
                if let Ok(bytes) = serde_json::to_vec(change) {
                    if let Err(e) = self.store.record(change.at, &bytes) {
                        tracing::warn!(error = %e, "recording alert history failed");
                    }
                }
            }
            if rule.kind == RuleKind::Alerting && (state.alerts != before || !changes.is_empty()) {
                match serde_json::to_vec(&state) {
                    Ok(bytes) => {
                        if let Err(e) = self.store.save(&key, &bytes) {
                            tracing::warn!(rule = %rule.name, error = %e, "saving alert state failed");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "encoding alert state failed"),
                }
            }
            if let Ok(mut states) = self.states.lock() {
                states.insert(key, state);
            }
        }
        if let Ok(mut g) = self.group_evaluations.lock() {
            g.insert(group_key(group), (now, started.elapsed().as_secs_f64()));
        }
        if let (Some(notifier), false) = (&self.notifier, outgoing.is_empty()) {
            notifier.send(outgoing);
        }
    }

    fn record(&self, rule: &Rule, group: &Group, now: i64, state: &mut RuleState) {
        // Prometheus writes a recording rule's samples at the time it queried.
        let now = now - group.query_offset.as_millis() as i64;
        match self.engine.instant(&rule.expr, now) {
            Ok(result) => {
                let elements = match result {
                    QueryResult::Vector(v) => v,
                    QueryResult::Scalar(v) => vec![(Labels::new(), v)],
                };
                if group.limit > 0 && elements.len() > group.limit {
                    state.health = "err".into();
                    state.last_error = format!(
                        "exceeded limit {} with {} series",
                        group.limit,
                        elements.len()
                    );
                    return;
                }
                let mut samples = Vec::with_capacity(elements.len());
                for (mut labels, value) in elements {
                    labels.insert("__name__".into(), rule.name.clone());
                    for (k, t) in &rule.labels {
                        let data = Data {
                            labels: labels.clone(),
                            external_labels: self.config.external_labels.clone(),
                            value,
                        };
                        let v = t.expand(&data).unwrap_or_else(|e| e);
                        if v.is_empty() {
                            labels.remove(k);
                        } else {
                            labels.insert(k.clone(), v);
                        }
                    }
                    samples.push((labels, now, value));
                }
                let written: Vec<Labels> = samples.iter().map(|s| s.0.clone()).collect();
                for gone in state.written.iter().filter(|l| !written.contains(l)) {
                    samples.push((gone.clone(), now, f64::from_bits(STALE_NAN_BITS)));
                }
                state.written = written;
                match self.appender.append(&samples) {
                    Ok(()) => {
                        state.health = "ok".into();
                        state.last_error.clear();
                    }
                    Err(e) => {
                        state.health = "err".into();
                        state.last_error = format!("writing the recorded series failed: {e}");
                    }
                }
            }
            Err(e) => {
                tracing::debug!(rule = %rule.name, group = %group.name, error = %e, "recording rule failed");
                state.health = "err".into();
                state.last_error = e;
            }
        }
    }

    fn alert(
        &self,
        rule: &Rule,
        group: &Group,
        now: i64,
        state: &mut RuleState,
        outgoing: &mut Vec<Outgoing>,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        let query_at = now - group.query_offset.as_millis() as i64;
        let result = match self.engine.instant(&rule.expr, query_at) {
            Ok(QueryResult::Vector(v)) => v,
            Ok(QueryResult::Scalar(_)) => {
                state.health = "err".into();
                state.last_error =
                    "alerting rule expression must return an instant vector, got a scalar".into();
                return changes;
            }
            Err(e) => {
                // A failing query leaves the alerts as they are: no data is not "resolved".
                state.health = "err".into();
                state.last_error = e;
                return changes;
            }
        };
        state.health = "ok".into();
        state.last_error.clear();
        let mut change = |alert: &Alert, from: &str, to: &str, at: i64| {
            changes.push(Change {
                at,
                rule: rule.name.clone(),
                group: group.name.clone(),
                labels: alert.labels.clone(),
                from: from.into(),
                to: to.into(),
                value: alert.value,
            });
        };
        let mut seen: Vec<String> = Vec::new();
        for (series, value) in result {
            let mut labels: Labels = series
                .into_iter()
                .filter(|(k, _)| k != "__name__")
                .collect();
            let data = Data {
                labels: labels.clone(),
                external_labels: self.config.external_labels.clone(),
                value,
            };
            for (k, t) in &rule.labels {
                let v = t
                    .expand(&data)
                    .unwrap_or_else(|e| format!("<error expanding template: {e}>"));
                if v.is_empty() {
                    labels.remove(k);
                } else {
                    labels.insert(k.clone(), v);
                }
            }
            labels.insert("alertname".into(), rule.name.clone());
            let data = Data {
                labels: labels.clone(),
                external_labels: self.config.external_labels.clone(),
                value,
            };
            let annotations: Labels = rule
                .annotations
                .iter()
                .map(|(k, t)| {
                    (
                        k.clone(),
                        t.expand(&data)
                            .unwrap_or_else(|e| format!("<error expanding template: {e}>")),
                    )
                })
                .collect();
            let fp = fingerprint(&labels);
            if seen.contains(&fp) {
                state.health = "err".into();
                state.last_error =
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into();
                return changes;
            }
            seen.push(fp.clone());
            match state.alerts.get_mut(&fp) {
                Some(a) if a.state != AlertState::Inactive => {
                    a.value = value;
                    a.annotations = annotations;
                    a.keep_firing_since = None;
                }
                _ => {
                    let a = Alert {
                        labels,
                        annotations,
                        state: AlertState::Pending,
                        value,
                        active_at: now,
                        fired_at: None,
                        resolved_at: None,
                        last_sent_at: None,
                        keep_firing_since: None,
                    };
                    change(&a, "inactive", "pending", now);
                    state.alerts.insert(fp, a);
                }
            }
        }
        let keep_for = rule.keep_firing_for.as_millis() as i64;
        let for_ms = rule.for_.as_millis() as i64;
        let mut remove = Vec::new();
        for (fp, a) in state.alerts.iter_mut() {
            let present = seen.contains(fp);
            if !present {
                match a.state {
                    AlertState::Pending => {
                        change(a, "pending", "inactive", now);
                        remove.push(fp.clone());
                        continue;
                    }
                    AlertState::Firing => {
                        let since = *a.keep_firing_since.get_or_insert(now);
                        if keep_for > 0 && now - since < keep_for {
                            continue;
                        }
                        a.state = AlertState::Inactive;
                        a.resolved_at = Some(now);
                        change(a, "firing", "inactive", now);
                    }
                    AlertState::Inactive => {
                        if a.resolved_at.is_some_and(|r| now - r > 15 * 60_000) {
                            remove.push(fp.clone());
                            continue;
                        }
                    }
                }
            } else if a.state == AlertState::Pending && now - a.active_at >= for_ms {
                a.state = AlertState::Firing;
                a.fired_at = Some(now);
                change(a, "pending", "firing", now);
            }
        }
        for fp in remove {
            state.alerts.remove(&fp);
        }
        let active = state
            .alerts
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .count();
        if group.limit > 0 && active > group.limit {
            // As Prometheus: the rule fails and forgets its alerts rather than send a flood.
            state.alerts.clear();
            state.health = "err".into();
            state.last_error = format!("exceeded limit of {} with {active} alerts", group.limit);
        }
        // ALERTS and ALERTS_FOR_STATE, with stale markers for series that ended.
        let mut samples = Vec::new();
        let mut written = Vec::new();
        for a in state.alerts.values() {
            if a.state == AlertState::Inactive {
                continue;
            }
            let mut l = a.labels.clone();
            l.insert("__name__".into(), "ALERTS".into());
            l.insert("alertstate".into(), a.state.as_str().into());
            samples.push((l.clone(), now, 1.0));
            written.push(l);
            let mut f = a.labels.clone();
            f.insert("__name__".into(), "ALERTS_FOR_STATE".into());
            samples.push((f.clone(), now, a.active_at as f64 / 1000.0));
            written.push(f);
        }
        for gone in state.written.iter().filter(|l| !written.contains(l)) {
            samples.push((gone.clone(), now, f64::from_bits(STALE_NAN_BITS)));
        }
        state.written = written;
        if let Err(e) = self.appender.append(&samples) {
            tracing::warn!(rule = %rule.name, error = %e, "writing ALERTS series failed");
        }
        // What goes to the notifier: firing alerts, and resolved ones (for 15 minutes).
        for a in state.alerts.values() {
            if a.state != AlertState::Pending {
                outgoing.push(Outgoing {
                    alert: a.clone(),
                    expr: rule.expr.clone(),
                    group_interval: group.interval,
                });
            }
        }
        changes
    }

    /// Runs every group on its interval until `stop` turns true. Each group's first
    /// evaluation is aligned to its interval, as Prometheus spreads groups. Groups are
    /// evaluated concurrently, at most [`MAX_CONCURRENT_GROUPS`] at once: a slow group delays
    /// no other, and its own next evaluation is skipped (not queued) while it still runs.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut next: BTreeMap<String, i64> = BTreeMap::new();
        let running: Arc<Mutex<std::collections::BTreeSet<String>>> = Arc::default();
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_GROUPS));
        loop {
            let groups = self.groups();
            let now = now_ms();
            let mut sleep_ms = 1000i64;
            for g in groups {
                let key = group_key(&g);
                let interval = g.interval.as_millis().max(1) as i64;
                let due = *next.entry(key.clone()).or_insert(now);
                if now >= due {
                    next.insert(key.clone(), due + interval * (((now - due) / interval) + 1));
                    let started = running
                        .lock()
                        .map(|mut r| r.insert(key.clone()))
                        .unwrap_or(false);
                    if started {
                        let manager = Arc::clone(&self);
                        let running = Arc::clone(&running);
                        let permits = Arc::clone(&permits);
                        tokio::spawn(async move {
                            let Ok(_permit) = permits.acquire_owned().await else {
                                return;
                            };
                            let name = g.name.clone();
                            if let Err(e) =
                                tokio::task::spawn_blocking(move || manager.evaluate(&g, now)).await
                            {
                                tracing::warn!(group = %name, error = %e, "rule evaluation task failed");
                            }
                            if let Ok(mut r) = running.lock() {
                                r.remove(&key);
                            }
                        });
                    } else {
                        tracing::warn!(group = %g.name, "rule group evaluation still running: this evaluation is skipped");
                    }
                }
            }
            for n in next.values() {
                sleep_ms = sleep_ms.min((n - now_ms()).max(10));
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(sleep_ms as u64)) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// `/api/v1/rules` data, filtered by type (`alert`/`record`), rule and group names, files.
    pub fn rules_json(
        &self,
        kind: Option<&str>,
        rule_names: &[String],
        group_names: &[String],
        files: &[String],
    ) -> serde_json::Value {
        let states = self.states.lock().map(|s| s.clone()).unwrap_or_default();
        let evaluations = self
            .group_evaluations
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default();
        let mut groups_out = Vec::new();
        for g in self.groups() {
            if !group_names.is_empty() && !group_names.contains(&g.name) {
                continue;
            }
            if !files.is_empty() && !files.contains(&g.file.display().to_string()) {
                continue;
            }
            let mut rules_out = Vec::new();
            for r in &g.rules {
                if !rule_names.is_empty() && !rule_names.contains(&r.name) {
                    continue;
                }
                let s = states.get(&r.key(&g)).cloned().unwrap_or_default();
                let health = if s.health.is_empty() {
                    "unknown".to_owned()
                } else {
                    s.health.clone()
                };
                let labels: Labels = r
                    .labels
                    .iter()
                    .map(|(k, t)| (k.clone(), t.source().to_owned()))
                    .collect();
                let common = |mut v: serde_json::Value| {
                    v["name"] = r.name.clone().into();
                    v["query"] = r.expr.clone().into();
                    v["labels"] = serde_json::to_value(&labels).unwrap_or_default();
                    v["health"] = health.clone().into();
                    v["lastError"] = s.last_error.clone().into();
                    v["evaluationTime"] = s.evaluation_seconds.into();
                    v["lastEvaluation"] = rfc3339(s.last_evaluation).into();
                    v
                };
                match r.kind {
                    RuleKind::Alerting if kind != Some("record") => {
                        let alerts: Vec<serde_json::Value> = s
                            .alerts
                            .values()
                            .filter(|a| a.state != AlertState::Inactive)
                            .map(alert_json)
                            .collect();
                        let rule_state = if s.alerts.values().any(|a| a.state == AlertState::Firing)
                        {
                            "firing"
                        } else if s.alerts.values().any(|a| a.state == AlertState::Pending) {
                            "pending"
                        } else {
                            "inactive"
                        };
                        let annotations: Labels = r
                            .annotations
                            .iter()
                            .map(|(k, t)| (k.clone(), t.source().to_owned()))
                            .collect();
                        rules_out.push(common(serde_json::json!({
                            "state": rule_state,
                            "duration": r.for_.as_secs_f64(),
                            "keepFiringFor": r.keep_firing_for.as_secs_f64(),
                            "annotations": annotations,
                            "alerts": alerts,
                            "type": "alerting",
                        })));
                    }
                    RuleKind::Recording if kind != Some("alert") => {
                        rules_out.push(common(serde_json::json!({"type": "recording"})));
                    }
                    _ => {}
                }
            }
            if rules_out.is_empty() && (kind.is_some() || !rule_names.is_empty()) {
                continue;
            }
            let (last, seconds) = evaluations.get(&group_key(&g)).copied().unwrap_or((0, 0.0));
            groups_out.push(serde_json::json!({
                "name": g.name,
                "file": g.file.display().to_string(),
                "interval": g.interval.as_secs_f64(),
                "limit": g.limit,
                "rules": rules_out,
                "evaluationTime": seconds,
                "lastEvaluation": rfc3339(last),
            }));
        }
        serde_json::json!({ "groups": groups_out })
    }

    /// `/api/v1/alerts` data: every pending and firing alert.
    pub fn alerts_json(&self) -> serde_json::Value {
        let states = self.states.lock().map(|s| s.clone()).unwrap_or_default();
        let alerts: Vec<serde_json::Value> = states
            .values()
            .flat_map(|s| s.alerts.values())
            .filter(|a| a.state != AlertState::Inactive)
            .map(alert_json)
            .collect();
        serde_json::json!({ "alerts": alerts })
    }

    /// State changes in `[from, to]` (ms), newest first.
    pub fn history(&self, from: i64, to: i64, limit: usize) -> Result<Vec<Change>, String> {
        Ok(self
            .store
            .history(from, to, limit)?
            .into_iter()
            .filter_map(|(_, bytes)| serde_json::from_slice(&bytes).ok())
            .collect())
    }

    /// Every alert of every rule (tests and rule unit tests).
    pub fn alerts(&self) -> Vec<Alert> {
        let states = self.states.lock().map(|s| s.clone()).unwrap_or_default();
        states
            .values()
            .flat_map(|s| s.alerts.values().cloned())
            .collect()
    }
}

fn alert_json(a: &Alert) -> serde_json::Value {
    serde_json::json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state.as_str(),
        "activeAt": rfc3339(a.active_at),
        "value": format_value(a.value),
    })
}

/// Prometheus's `%e`-style value in `/api/v1/alerts` (`1e+00`).
fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let s = format!("{v:e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, d) = e.strip_prefix('-').map_or(('+', e), |d| ('-', d));
            format!("{m}e{sign}{d:0>2}")
        }
        None => s,
    }
}

/// RFC 3339 with the precision Prometheus prints (`0001-01-01T00:00:00Z` for unset).
pub fn rfc3339(ms: i64) -> String {
    if ms <= 0 {
        return "0001-01-01T00:00:00Z".into();
    }
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| "0001-01-01T00:00:00Z".into())
}
