//! Notifications, off the evaluation path: evaluation hands alerts to [`Notifier::send`] (a
//! channel), a task delivers them.
//!
//! - Alertmanager: `POST /api/v2/alerts` with Prometheus's cadence: an alert is sent when it
//!   starts firing, when it resolves, and again every `resend_delay`; `endsAt` is
//!   `now + 4 × max(group interval, resend_delay)` while active and the resolve time after.
//! - Webhooks: Alertmanager's own dispatch, so receivers get what they would get from it:
//!   alerts grouped by `group_by` labels, the first notification of a group after
//!   `group_wait`, changes at most every `group_interval`, unchanged firing groups again every
//!   `repeat_interval`; the body is Alertmanager's version-4 webhook JSON. What a group last
//!   notified is stored, so a restart neither repeats "firing" nor invents "resolved".
//!   Failed deliveries are retried with backoff and counted.
//!
//! Bounded: the queue from evaluation holds [`QUEUE_BATCHES`] batches (more are dropped and
//! counted, as Prometheus's notification queue); each receiver has its own delivery task and
//! queue (`deliver`), and evidence lookups stop after [`EVIDENCE_TIMEOUT`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::deliver::{Delivery, GroupSent};
use crate::manager::{rfc3339, Alert, AlertState};
use crate::{fingerprint, EvidenceSource, Labels, StateStore};

/// A webhook receiver.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// The receiver's name (`receiver` in the body).
    pub name: String,
    pub url: String,
    /// Extra request headers, such as `Authorization`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Labels that group alerts into one notification (`["..."]` groups by all labels).
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    #[serde(default = "default_group_wait", with = "humantime_serde")]
    pub group_wait: Duration,
    #[serde(default = "default_group_interval", with = "humantime_serde")]
    pub group_interval: Duration,
    #[serde(default = "default_repeat_interval", with = "humantime_serde")]
    pub repeat_interval: Duration,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_group_by() -> Vec<String> {
    vec!["alertname".into()]
}
fn default_group_wait() -> Duration {
    Duration::from_secs(30)
}
fn default_group_interval() -> Duration {
    Duration::from_secs(300)
}
fn default_repeat_interval() -> Duration {
    Duration::from_secs(4 * 3600)
}
fn default_true() -> bool {
    true
}

impl WebhookConfig {
    pub fn validate(&self, prefix: &str, problems: &mut Vec<String>) {
        if self.name.is_empty() {
            problems.push(format!("{prefix}.name: must not be empty"));
        }
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            problems.push(format!("{prefix}.url: must be an http:// or https:// URL"));
        }
        if self.timeout.is_zero() {
            problems.push(format!("{prefix}.timeout: must be greater than 0"));
        }
        if self.group_interval.is_zero() {
            problems.push(format!("{prefix}.group_interval: must be greater than 0"));
        }
        if self.repeat_interval.is_zero() {
            problems.push(format!("{prefix}.repeat_interval: must be greater than 0"));
        }
    }
}

/// An alert handed to the notifier by one evaluation.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub alert: Alert,
    /// The rule's expression (Alertmanager's `generatorURL`).
    pub expr: String,
    pub group_interval: Duration,
}

/// What one webhook group last notified (stored).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
struct GroupMemory {
    /// fingerprint → "firing" / "resolved".
    notified: BTreeMap<String, String>,
    last_notified_at: i64,
}

#[derive(Clone, Debug)]
struct GroupState {
    labels: Labels,
    created_at: i64,
    alerts: BTreeMap<String, (Alert, String)>,
    memory: GroupMemory,
    /// A notification of this group is queued or being delivered.
    in_flight: bool,
}

/// Delivery counters.
#[derive(Debug, Default)]
pub struct Stats {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    /// Alerts dropped because the notifier's queue was full.
    pub dropped: AtomicU64,
}

/// Evaluation batches waiting for the dispatcher.
pub const QUEUE_BATCHES: usize = 1024;
/// The longest an evidence lookup (traces and logs of the alert's service) may take.
pub const EVIDENCE_TIMEOUT: Duration = Duration::from_secs(5);

/// Delivers notifications; see the module documentation.
pub struct Notifier {
    tx: tokio::sync::mpsc::Sender<Vec<Outgoing>>,
    pub stats: Arc<Stats>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").finish()
    }
}

struct Dispatcher {
    webhooks: Vec<crate::notify::WebhookConfig>,
    alertmanagers: Vec<String>,
    external_url: String,
    external_labels: Labels,
    resend_delay: Duration,
    store: Arc<dyn StateStore>,
    evidence: Option<Arc<dyn EvidenceSource>>,
    /// Receiver (webhook name or Alertmanager URL) → its delivery queue.
    receivers: BTreeMap<String, tokio::sync::mpsc::Sender<Delivery>>,
    /// receiver → group key → state
    groups: BTreeMap<String, BTreeMap<String, GroupState>>,
    /// Alertmanager: fingerprint → (last sent, resolved sent)
    am_sent: BTreeMap<String, (i64, bool)>,
    /// Shutting down: one attempt per delivery (shared with the delivery tasks).
    stopping: Arc<AtomicBool>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn memory_key(receiver: &str, group: &str) -> String {
    format!("notify\u{0}{receiver}\u{0}{group}")
}

/// Alertmanager's group key: `{}:{alertname="X"}`.
fn group_key(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{}}:{{{}}}", inner.join(", "))
}

impl Notifier {
    /// Starts the delivery task. `store` keeps webhook group memory; `evidence` (optional)
    /// adds traces and logs of the alert's service.
    pub fn start(
        config: &crate::AlertingConfig,
        store: Arc<dyn StateStore>,
        evidence: Option<Arc<dyn EvidenceSource>>,
        stats: Arc<Stats>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> (Arc<Notifier>, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Outgoing>>(QUEUE_BATCHES);
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<GroupSent>();
        // Validation has read the CA file; should it have changed since, go on with the
        // system's roots rather than deliver nothing.
        let client = crate::deliver::client(config.tls_ca_file.as_deref()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "alerting.tls_ca_file: using the system's roots only");
            reqwest::Client::new()
        });
        let stopping = Arc::new(AtomicBool::new(false));
        let mut receivers = BTreeMap::new();
        let mut tasks = Vec::new();
        let names = config
            .webhooks
            .iter()
            .map(|w| w.name.clone())
            .chain(config.alertmanagers.iter().cloned());
        for name in names {
            let (sender, task) = crate::deliver::start(
                client.clone(),
                Arc::clone(&stats),
                Arc::clone(&stopping),
                done_tx.clone(),
            );
            receivers.insert(name, sender);
            tasks.push(task);
        }
        drop(done_tx);
        let mut d = Dispatcher {
            webhooks: config.webhooks.clone(),
            alertmanagers: config.alertmanagers.clone(),
            external_url: config.external_url.trim_end_matches('/').to_owned(),
            external_labels: config.external_labels.clone(),
            resend_delay: config.resend_delay,
            store,
            evidence: if config.evidence { evidence } else { None },
            receivers,
            groups: BTreeMap::new(),
            am_sent: BTreeMap::new(),
            stopping,
        };
        d.restore();
        let handle = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tokio::select! {
                    batch = rx.recv() => match batch {
                        Some(batch) => d.take(batch).await,
                        None => break,
                    },
                    Some(sent) = done_rx.recv() => d.delivered(sent),
                    _ = tick.tick() => d.flush_due().await,
                    _ = async { stop.wait_for(|s| *s).await.is_ok() } => break,
                }
            }
            // Deliver what is due, one attempt each, then stop (what is not delivered is
            // still due after a restart: group memory is stored).
            d.stopping.store(true, Ordering::Relaxed);
            while let Ok(batch) = rx.try_recv() {
                d.take(batch).await;
            }
            d.flush_due().await;
            d.receivers.clear();
            let finish = async {
                while let Some(sent) = done_rx.recv().await {
                    d.delivered(sent);
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(10), finish).await;
            for task in tasks {
                task.abort();
            }
        });
        (Arc::new(Notifier { tx, stats }), handle)
    }

    /// Hands alerts over; never blocks. When the queue is full they are dropped and counted
    /// (the next evaluation hands the alerts that are still active over again).
    pub fn send(&self, alerts: Vec<Outgoing>) {
        match self.tx.try_send(alerts) {
            Ok(()) => {}
            Err(tokio::sync::mpsc::error::TrySendError::Full(alerts)) => {
                self.stats
                    .dropped
                    .fetch_add(alerts.len() as u64, Ordering::Relaxed);
                tracing::warn!(
                    alerts = alerts.len(),
                    "the notification queue is full: alerts dropped"
                );
            }
            Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => {
                tracing::warn!("the notifier has stopped: alerts not delivered");
            }
        }
    }
}

impl Dispatcher {
    fn restore(&mut self) {
        let Ok(entries) = self.store.load() else {
            return;
        };
        for (key, value) in entries {
            let mut parts = key.split('\u{0}');
            if parts.next() != Some("notify") {
                continue;
            }
            let (Some(receiver), Some(group)) = (parts.next(), parts.next()) else {
                continue;
            };
            if let Ok(memory) = serde_json::from_slice::<GroupMemory>(&value) {
                self.groups.entry(receiver.to_owned()).or_default().insert(
                    group.to_owned(),
                    GroupState {
                        labels: Labels::new(),
                        created_at: memory.last_notified_at,
                        alerts: BTreeMap::new(),
                        memory,
                        in_flight: false,
                    },
                );
            }
        }
    }

    async fn take(&mut self, batch: Vec<Outgoing>) {
        let now = now_ms();
        if !self.alertmanagers.is_empty() {
            self.send_to_alertmanagers(&batch, now).await;
        }
        for w in self.webhooks.clone() {
            let groups = self.groups.entry(w.name.clone()).or_default();
            for o in &batch {
                let mut labels = o.alert.labels.clone();
                labels.extend(self.external_labels.clone());
                let group_labels: Labels = if w.group_by.iter().any(|g| g == "...") {
                    labels.clone()
                } else {
                    labels
                        .iter()
                        .filter(|(k, _)| w.group_by.contains(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                };
                let key = group_key(&group_labels);
                let g = groups.entry(key).or_insert_with(|| GroupState {
                    labels: group_labels.clone(),
                    created_at: now,
                    alerts: BTreeMap::new(),
                    memory: GroupMemory::default(),
                    in_flight: false,
                });
                if g.labels.is_empty() {
                    g.labels = group_labels;
                }
                let status = if o.alert.state == AlertState::Firing {
                    "firing"
                } else {
                    "resolved"
                };
                let mut alert = o.alert.clone();
                alert.labels = labels;
                let fp = fingerprint(&alert.labels);
                if status == "resolved" && !g.memory.notified.contains_key(&fp) {
                    // Resolved before it was ever notified: nothing to say.
                    g.alerts.remove(&fp);
                    continue;
                }
                g.alerts.insert(fp, (alert, status.to_owned()));
            }
        }
        self.flush_due().await;
    }

    async fn send_to_alertmanagers(&mut self, batch: &[Outgoing], now: i64) {
        let mut body = Vec::new();
        for o in batch {
            let a = &o.alert;
            let mut labels = a.labels.clone();
            labels.extend(self.external_labels.clone());
            let fp = fingerprint(&labels);
            let (last, resolved_sent) = self.am_sent.get(&fp).copied().unwrap_or((0, false));
            let resolved = a.state == AlertState::Inactive;
            // Prometheus's needsSending: a new resolution at once, otherwise every resend
            // delay (resolved alerts too, while they are kept).
            let due = (resolved && !resolved_sent)
                || last == 0
                || now - last >= self.resend_delay.as_millis() as i64;
            if !due {
                continue;
            }
            self.am_sent.insert(fp, (now, resolved));
            let ends = match a.resolved_at {
                Some(r) if resolved => r,
                _ => now + 4 * (o.group_interval.max(self.resend_delay).as_millis() as i64),
            };
            let annotations = self
                .with_evidence(&labels, &a.annotations, a.active_at, now)
                .await;
            body.push(serde_json::json!({
                "labels": labels,
                "annotations": annotations,
                "startsAt": rfc3339(a.fired_at.unwrap_or(a.active_at)),
                "endsAt": rfc3339(ends),
                "generatorURL": self.generator_url(&o.expr),
            }));
        }
        self.am_sent.retain(|_, (t, _)| now - *t < 30 * 60_000);
        if body.is_empty() {
            return;
        }
        let body = serde_json::Value::Array(body);
        for am in &self.alertmanagers {
            let delivery = Delivery {
                url: format!("{}/api/v2/alerts", am.trim_end_matches('/')),
                headers: BTreeMap::new(),
                timeout: Duration::from_secs(10),
                body: body.clone(),
                attempts: 3,
                group: None,
            };
            self.hand_over(am, delivery);
        }
    }

    /// Queues a delivery for its receiver; false when its queue is full (it is due again).
    fn hand_over(&self, receiver: &str, delivery: Delivery) -> bool {
        let Some(queue) = self.receivers.get(receiver) else {
            return false;
        };
        match queue.try_send(delivery) {
            Ok(()) => true,
            Err(_) => {
                tracing::debug!(
                    receiver,
                    "the receiver's delivery queue is full: the notification waits"
                );
                false
            }
        }
    }

    fn generator_url(&self, expr: &str) -> String {
        let q: String = form_urlencoded::byte_serialize(expr.as_bytes()).collect();
        format!("{}/graph?g0.expr={q}&g0.tab=1", self.external_url)
    }

    /// Annotations plus `lookout_evidence` (trace ids, log lines, a link) for service alerts.
    async fn with_evidence(
        &self,
        labels: &Labels,
        annotations: &Labels,
        from: i64,
        now: i64,
    ) -> Labels {
        let mut out = annotations.clone();
        if let Some(e) = self.evidence_for(labels, from, now).await {
            if !e.trace_ids.is_empty() {
                out.insert("lookout_error_trace_ids".into(), e.trace_ids.join(","));
            }
            if !e.log_lines.is_empty() {
                out.insert("lookout_error_logs".into(), e.log_lines.join("\n"));
            }
            if let Some(link) = e.links.first() {
                out.insert("lookout_evidence_url".into(), link.clone());
            }
        }
        out
    }

    /// Evidence reads the trace and log indexes: on a blocking thread, not the executor.
    async fn evidence_for(&self, labels: &Labels, from: i64, now: i64) -> Option<crate::Evidence> {
        let source = Arc::clone(self.evidence.as_ref()?);
        let service = labels
            .get("service_name")
            .or_else(|| labels.get("service"))
            .or_else(|| labels.get("job"))?
            .clone();
        let lookup =
            tokio::task::spawn_blocking(move || source.evidence(&service, from - 5 * 60_000, now));
        let e = tokio::time::timeout(EVIDENCE_TIMEOUT, lookup)
            .await
            .ok()?
            .ok()?;
        (!e.trace_ids.is_empty() || !e.log_lines.is_empty()).then_some(e)
    }

    async fn flush_due(&mut self) {
        let now = now_ms();
        for w in self.webhooks.clone() {
            let Some(groups) = self.groups.get(&w.name) else {
                continue;
            };
            let due: Vec<String> = groups
                .iter()
                .filter(|(_, g)| !g.alerts.is_empty() && !g.in_flight)
                .filter(|(_, g)| {
                    let current: BTreeMap<String, String> = g
                        .alerts
                        .iter()
                        .filter(|(_, (_, s))| s == "firing" || w.send_resolved)
                        .map(|(fp, (_, s))| (fp.clone(), s.clone()))
                        .collect();
                    let firing = current.values().any(|s| s == "firing");
                    if g.memory.last_notified_at == 0 {
                        // First notification of the group, after group_wait.
                        return firing && now - g.created_at >= w.group_wait.as_millis() as i64;
                    }
                    let since = now - g.memory.last_notified_at;
                    let changed = current
                        .iter()
                        .any(|(fp, s)| g.memory.notified.get(fp) != Some(s));
                    (changed && since >= w.group_interval.as_millis() as i64)
                        || (firing && since >= w.repeat_interval.as_millis() as i64)
                })
                .map(|(k, _)| k.clone())
                .collect();
            for key in due {
                self.notify_group(&w, &key, now).await;
            }
        }
    }

    async fn notify_group(&mut self, w: &WebhookConfig, key: &str, now: i64) {
        // A receiver whose queue is full (it is down, or slow) gets nothing new until it has
        // room: the group stays due, and no evidence is looked up for nothing.
        if self
            .receivers
            .get(&w.name)
            .is_none_or(|queue| queue.capacity() == 0)
        {
            return;
        }
        let Some(g) = self.groups.get(&w.name).and_then(|gs| gs.get(key)).cloned() else {
            return;
        };
        let alerts: Vec<&(Alert, String)> = g
            .alerts
            .values()
            .filter(|(_, s)| s == "firing" || w.send_resolved)
            .collect();
        if alerts.is_empty() {
            return;
        }
        let status = if alerts.iter().any(|(_, s)| s == "firing") {
            "firing"
        } else {
            "resolved"
        };
        let common = |pick: &dyn Fn(&Alert) -> &Labels| -> Labels {
            let mut common = pick(&alerts[0].0).clone();
            for (a, _) in &alerts[1..] {
                let other = pick(a);
                common.retain(|k, v| other.get(k) == Some(v));
            }
            common
        };
        let common_labels = common(&|a| &a.labels);
        let common_annotations = common(&|a| &a.annotations);
        let mut body_alerts: Vec<serde_json::Value> = Vec::with_capacity(alerts.len());
        for (a, s) in &alerts {
            let mut v = serde_json::json!({
                "status": s,
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": rfc3339(a.fired_at.unwrap_or(a.active_at)),
                "endsAt": if s == "resolved" { rfc3339(a.resolved_at.unwrap_or(now)) } else { rfc3339(0) },
                "generatorURL": self.generator_url_for(a),
                "fingerprint": fingerprint(&a.labels),
            });
            if let Some(e) = self.evidence_for(&a.labels, a.active_at, now).await {
                v["evidence"] = serde_json::to_value(e).unwrap_or_default();
            }
            body_alerts.push(v);
        }
        let body = serde_json::json!({
            "version": "4",
            "groupKey": key,
            "truncatedAlerts": 0,
            "status": status,
            "receiver": w.name,
            "groupLabels": g.labels,
            "commonLabels": common_labels,
            "commonAnnotations": common_annotations,
            "externalURL": self.external_url,
            "alerts": body_alerts,
        });
        let notified = alerts
            .iter()
            .filter(|(_, s)| s == "firing")
            .map(|(a, s)| (fingerprint(&a.labels), s.clone()))
            .collect();
        let attempts = if self.stopping.load(Ordering::Relaxed) {
            1
        } else {
            5
        };
        let delivery = Delivery {
            url: w.url.clone(),
            headers: w.headers.clone(),
            timeout: w.timeout,
            body,
            attempts,
            group: Some(GroupSent {
                receiver: w.name.clone(),
                key: key.to_owned(),
                at: now,
                notified,
                delivered: false,
            }),
        };
        if self.hand_over(&w.name, delivery) {
            if let Some(g) = self.groups.get_mut(&w.name).and_then(|gs| gs.get_mut(key)) {
                g.in_flight = true;
            }
        }
    }

    /// A webhook group's notification was delivered (or given up: it is due again).
    fn delivered(&mut self, sent: GroupSent) {
        let Some(g) = self
            .groups
            .get_mut(&sent.receiver)
            .and_then(|gs| gs.get_mut(&sent.key))
        else {
            return;
        };
        g.in_flight = false;
        if !sent.delivered {
            return;
        }
        g.memory.last_notified_at = sent.at;
        g.memory.notified = sent.notified;
        // Resolved alerts were told: forget them.
        g.alerts.retain(|_, (_, s)| s == "firing");
        let memory_key = memory_key(&sent.receiver, &sent.key);
        if g.memory.notified.is_empty() && g.alerts.is_empty() {
            if let Some(gs) = self.groups.get_mut(&sent.receiver) {
                gs.remove(&sent.key);
            }
            if let Err(e) = self.store.remove(&memory_key) {
                tracing::warn!(error = %e, "forgetting a notified group failed");
            }
        } else if let Ok(bytes) = serde_json::to_vec(&g.memory) {
            if let Err(e) = self.store.save(&memory_key, &bytes) {
                tracing::warn!(error = %e, "saving what a group was told failed");
            }
        }
    }

    fn generator_url_for(&self, a: &Alert) -> String {
        let name = a.labels.get("alertname").cloned().unwrap_or_default();
        let q: String =
            form_urlencoded::byte_serialize(format!("ALERTS{{alertname=\"{name}\"}}").as_bytes())
                .collect();
        format!("{}/graph?g0.expr={q}&g0.tab=1", self.external_url)
    }
}
