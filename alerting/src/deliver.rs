//! One delivery task per receiver (a webhook or an Alertmanager): the dispatcher hands each
//! notification to its receiver's bounded queue and goes on, so a dead receiver, with its
//! timeouts and retries, delays only its own notifications.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::notify::Stats;

/// Notifications waiting for one receiver; more are refused and tried again when due.
pub(crate) const RECEIVER_QUEUE: usize = 16;

/// One POST to make.
pub(crate) struct Delivery {
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub timeout: Duration,
    pub body: serde_json::Value,
    pub attempts: u32,
    /// For a webhook group: what to remember once delivered.
    pub group: Option<GroupSent>,
}

/// A webhook group's notification, reported back to the dispatcher after its delivery.
#[derive(Clone, Debug)]
pub(crate) struct GroupSent {
    pub receiver: String,
    pub key: String,
    pub at: i64,
    /// fingerprint → "firing" of the alerts it told.
    pub notified: BTreeMap<String, String>,
    pub delivered: bool,
}

/// Starts a receiver's delivery task; outcomes of group notifications go to `done`.
pub(crate) fn start(
    client: reqwest::Client,
    stats: Arc<Stats>,
    stopping: Arc<AtomicBool>,
    done: mpsc::UnboundedSender<GroupSent>,
) -> (mpsc::Sender<Delivery>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Delivery>(RECEIVER_QUEUE);
    let handle = tokio::spawn(async move {
        while let Some(d) = rx.recv().await {
            let delivered = post_with_retry(&client, &stats, &stopping, &d).await;
            if let Some(mut group) = d.group {
                group.delivered = delivered;
                let _ = done.send(group);
            }
        }
    });
    (tx, handle)
}

/// POSTs JSON; retries with exponential backoff (0.5 s doubling), one attempt when stopping;
/// counts the outcome.
async fn post_with_retry(
    client: &reqwest::Client,
    stats: &Stats,
    stopping: &AtomicBool,
    d: &Delivery,
) -> bool {
    let mut delay = Duration::from_millis(500);
    let url = d.url.as_str();
    for attempt in 1..=d.attempts {
        let mut request = client.post(url).timeout(d.timeout).json(&d.body);
        for (k, v) in &d.headers {
            request = request.header(k, v);
        }
        match request.send().await {
            Ok(r) if r.status().is_success() => {
                stats.sent.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Ok(r) => tracing::warn!(url, status = %r.status(), attempt, "notification refused"),
            Err(e) => {
                tracing::warn!(url, error = %error_chain(&e), attempt, "notification failed")
            }
        }
        stats.failed.fetch_add(1, Ordering::Relaxed);
        if attempt < d.attempts && !stopping.load(Ordering::Relaxed) {
            tokio::time::sleep(delay).await;
            delay *= 2;
        } else {
            break;
        }
    }
    false
}

/// An error with its causes: a TLS failure is named by its source ("invalid peer
/// certificate: UnknownIssuer"), not only by reqwest's "error sending request".
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The notifier's HTTP client: the system's roots plus the certificates of `ca_file`.
pub fn client(ca_file: Option<&std::path::Path>) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder();
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no PEM certificate found", path.display()));
        }
        builder = builder.tls_certs_merge(certs);
    }
    builder.build().map_err(|e| error_chain(&e))
}
