//! The crash loop: a real `lookout serve` under sustained mixed ingest (traces, logs, metrics
//! over OTLP/HTTP) and live queries is killed with SIGKILL at a random moment, restarted on the
//! same data directory, and checked through its HTTP APIs as a user would: every acknowledged
//! span is readable by trace id, every acknowledged log record is found by a Loki query, every
//! acknowledged sample is counted by PromQL, nothing is there twice, and the alerts are in the
//! state (and `activeAt`) they had before. Requests cut by the kill were never acknowledged:
//! they may be stored or not, but never twice.
//!
//! `cargo bench --bench crash_loop` runs it against the release binary (20 kills); the test
//! suite runs a short loop against the debug binary.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde::Serialize;
use serde_json::{json, Value};

use crate::loadgen::Rng;
use crate::process::ServerProcess;

const SPANS_PER_TRACE: usize = 5;
/// Traces acknowledged last before a kill that each check finds by search.
const SEARCHED_TRACES: usize = 50;
const LOGS_PER_REQUEST: usize = 5;
const SAMPLES_PER_REQUEST: u64 = 5;
const RULES: &str = r#"groups:
  - name: crashloop
    interval: 1s
    rules:
      - alert: CrashLoopFiring
        expr: vector(1)
      - alert: CrashLoopPending
        expr: vector(1)
        for: 1h
"#;

/// How hard and how often.
#[derive(Clone, Debug)]
pub struct Options {
    pub kills: usize,
    /// Concurrent writers, each cycling through traces, logs and metrics.
    pub writers: usize,
    /// Concurrent query clients while the server runs.
    pub queriers: usize,
    /// The server runs a random time in this range before it is killed.
    pub min_up: Duration,
    pub max_up: Duration,
    /// Pause of each writer between requests (0: as fast as the server answers).
    pub pause: Duration,
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            kills: 20,
            writers: 4,
            queriers: 2,
            min_up: Duration::from_secs(2),
            max_up: Duration::from_secs(8),
            pause: Duration::from_millis(2),
            seed: 1,
        }
    }
}

/// One kill and the check after the restart.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Round {
    pub up_seconds: f64,
    pub requests_acknowledged: u64,
    /// Requests the kill cut (or the server refused): unacknowledged, so optional.
    pub requests_cut: u64,
    pub queries_answered: u64,
    pub restart_seconds: f64,
    /// Until every acknowledged log record was found by a query after the restart.
    pub logs_searchable_seconds: f64,
    pub check_seconds: f64,
}

/// What the whole loop wrote and found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub kills: usize,
    pub spans_acknowledged: u64,
    pub logs_acknowledged: u64,
    pub samples_acknowledged: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Items of cut requests found stored (allowed: once at most).
    pub cut_items_stored: u64,
    pub alerts_intact: bool,
    pub problems: Vec<String>,
    pub rounds: Vec<Round>,
}

/// An item's state as the client knows it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ack {
    Yes,
    Cut,
}

#[derive(Default)]
struct Ledger {
    /// Trace id → acknowledged or cut.
    traces: Vec<(String, Ack)>,
    /// (round, writer) → log line → acknowledged or cut.
    logs: BTreeMap<(usize, usize), HashMap<String, Ack>>,
    /// (round, writer) → (acknowledged samples, cut samples).
    samples: BTreeMap<(usize, usize), (u64, u64)>,
}

struct Shared {
    ledger: Mutex<Ledger>,
    stop: AtomicBool,
    acknowledged: AtomicU64,
    cut: AtomicU64,
    queries: AtomicU64,
}

fn now_ns() -> u64 {
    lookout_proto::now_unix_nano()
}

fn resource() -> Value {
    json!({"attributes": [{"key": "service.name", "value": {"stringValue": "crashloop"}}]})
}

fn traces_body(round: usize, writer: usize, seq: u64) -> (String, Value) {
    let trace = format!("c0ffee{round:04x}{writer:04x}{seq:018x}");
    let start = now_ns();
    let spans: Vec<Value> = (0..SPANS_PER_TRACE)
        .map(|k| {
            let mut span = json!({
                "traceId": trace,
                "spanId": format!("{writer:04x}{:08x}{k:04x}", seq as u32),
                "name": if k == 0 { "GET /crash" } else { "db" },
                "kind": if k == 0 { 2 } else { 3 },
                "startTimeUnixNano": (start + k as u64 * 1000).to_string(),
                "endTimeUnixNano": (start + 500_000).to_string(),
            });
            if k > 0 {
                span["parentSpanId"] = json!(format!("{writer:04x}{:08x}0000", seq as u32));
            } else {
                // Found by search after the restart (`check`).
                span["attributes"] =
                    json!([{"key": "crashloop.trace", "value": {"stringValue": trace}}]);
            }
            span
        })
        .collect();
    let body =
        json!({"resourceSpans": [{"resource": resource(), "scopeSpans": [{"spans": spans}]}]});
    (trace, body)
}

fn log_line(round: usize, writer: usize, seq: u64, i: usize) -> String {
    format!("crashloop r{round} w{writer} n{seq} i{i} payment accepted")
}

fn logs_body(round: usize, writer: usize, seq: u64) -> (Vec<String>, Value) {
    let t = now_ns();
    let lines: Vec<String> = (0..LOGS_PER_REQUEST)
        .map(|i| log_line(round, writer, seq, i))
        .collect();
    let records: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            json!({"timeUnixNano": (t + i as u64).to_string(), "severityNumber": 9,
                   "body": {"stringValue": line}})
        })
        .collect();
    let body =
        json!({"resourceLogs": [{"resource": resource(), "scopeLogs": [{"logRecords": records}]}]});
    (lines, body)
}

/// Samples of the series (round, writer) at increasing millisecond timestamps from `base_ms`.
fn metrics_body(round: usize, writer: usize, seq: u64, base_ms: u64) -> Value {
    let points: Vec<Value> = (0..SAMPLES_PER_REQUEST)
        .map(|i| {
            let ms = base_ms + seq * SAMPLES_PER_REQUEST + i;
            json!({"timeUnixNano": (ms * 1_000_000).to_string(), "asDouble": (seq + i) as f64,
                   "attributes": [
                       {"key": "round", "value": {"stringValue": round.to_string()}},
                       {"key": "writer", "value": {"stringValue": writer.to_string()}}]})
        })
        .collect();
    json!({"resourceMetrics": [{"resource": resource(), "scopeMetrics": [{"metrics": [
        {"name": "crashloop_sample", "gauge": {"dataPoints": points}}]}]}]})
}

/// POSTs OTLP/JSON; acknowledged only on 200 without a partial rejection.
async fn export(client: &reqwest::Client, host: &str, path: &str, body: &Value) -> bool {
    let Ok(response) = client
        .post(format!("http://{host}{path}"))
        .json(body)
        .send()
        .await
    else {
        return false;
    };
    if response.status() != 200 {
        return false;
    }
    match response.json::<Value>().await {
        // `rejectedSpans` and its kin, as a string (int64 in OTLP/JSON) or a number.
        Ok(answer) => answer
            .get("partialSuccess")
            .and_then(|p| p.as_object())
            .is_none_or(|p| {
                p.iter()
                    .filter(|(k, _)| k.starts_with("rejected"))
                    .all(|(_, v)| v == "0" || v == 0)
            }),
        Err(_) => false,
    }
}

async fn writer(
    shared: Arc<Shared>,
    client: reqwest::Client,
    host: String,
    round: usize,
    id: usize,
    pause: Duration,
    base_ms: u64,
) {
    let mut seq = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        let ack = match seq % 3 {
            0 => {
                let (trace, body) = traces_body(round, id, seq);
                let ok = export(&client, &host, "/v1/traces", &body).await;
                let ack = if ok { Ack::Yes } else { Ack::Cut };
                lock(&shared.ledger).traces.push((trace, ack));
                ack
            }
            1 => {
                let (lines, body) = logs_body(round, id, seq);
                let ok = export(&client, &host, "/v1/logs", &body).await;
                let ack = if ok { Ack::Yes } else { Ack::Cut };
                let mut ledger = lock(&shared.ledger);
                let entry = ledger.logs.entry((round, id)).or_default();
                entry.extend(lines.into_iter().map(|l| (l, ack)));
                ack
            }
            _ => {
                let body = metrics_body(round, id, seq, base_ms);
                let ok = export(&client, &host, "/v1/metrics", &body).await;
                let ack = if ok { Ack::Yes } else { Ack::Cut };
                let mut ledger = lock(&shared.ledger);
                let entry = ledger.samples.entry((round, id)).or_default();
                if ok {
                    entry.0 += SAMPLES_PER_REQUEST;
                } else {
                    entry.1 += SAMPLES_PER_REQUEST;
                }
                ack
            }
        };
        if ack == Ack::Yes {
            shared.acknowledged.fetch_add(1, Ordering::Relaxed);
        } else {
            shared.cut.fetch_add(1, Ordering::Relaxed);
            // A refused or cut request: the server is busy or gone; do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        seq += 1;
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
}

/// Live queries of every kind while the server is up; answers are not checked (the server may
/// be killed under them), only counted.
async fn querier(shared: Arc<Shared>, client: reqwest::Client, host: String) {
    let paths = [
        "/api/v1/query?query=sum%20by%20(writer)%20(count_over_time(crashloop_sample%5B1h%5D))",
        "/api/traces?service=crashloop&limit=20&lookback=1h",
        "/loki/api/v1/query_range?query=%7Bservice_name%3D%22crashloop%22%7D%20%7C%3D%20%22payment%22&limit=100&since=1h",
        "/api/v1/alerts",
        "/loki/api/v1/query_range?query=sum(count_over_time(%7Bservice_name%3D%22crashloop%22%7D%5B1m%5D))&since=10m&step=15",
    ];
    let mut i = 0;
    while !shared.stop.load(Ordering::Relaxed) {
        let url = format!("http://{host}{}", paths[i % paths.len()]);
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() && r.bytes().await.is_ok() {
                shared.queries.fetch_add(1, Ordering::Relaxed);
            }
        }
        i += 1;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn get_json(client: &reqwest::Client, url: String) -> anyhow::Result<Value> {
    let response = client.get(&url).send().await.context("query")?;
    let status = response.status();
    let text = response.text().await?;
    ensure!(status.is_success(), "{url}: {status} {text}");
    Ok(serde_json::from_str(&text)?)
}

/// (alertname → (state, activeAt)) of the alerts of the crash-loop rules.
async fn alerts(
    client: &reqwest::Client,
    http: &str,
) -> anyhow::Result<BTreeMap<String, (String, String)>> {
    let answer = get_json(client, format!("http://{http}/api/v1/alerts")).await?;
    let mut out = BTreeMap::new();
    for alert in answer["data"]["alerts"].as_array().into_iter().flatten() {
        let name = alert["labels"]["alertname"].as_str().unwrap_or_default();
        if name.starts_with("CrashLoop") {
            out.insert(
                name.to_string(),
                (
                    alert["state"].as_str().unwrap_or_default().to_string(),
                    alert["activeAt"].as_str().unwrap_or_default().to_string(),
                ),
            );
        }
    }
    Ok(out)
}

/// Counts of the restarted server against the ledger; adds to `report`.
async fn check(
    client: &reqwest::Client,
    http: &str,
    shared: &Shared,
    since_ns: u64,
    report: &mut Report,
    round: &mut Round,
) -> anyhow::Result<()> {
    let (traces, logs, samples) = {
        let ledger = lock(&shared.ledger);
        (
            ledger.traces.clone(),
            ledger.logs.clone(),
            ledger.samples.clone(),
        )
    };
    let mut lost = 0u64;
    let mut duplicated = 0u64;
    let mut cut_stored = 0u64;
    let mut problems = Vec::new();

    // Spans, by trace id, four at a time.
    let mut fetches = tokio::task::JoinSet::new();
    for chunk in traces.chunks(traces.len().div_ceil(4).max(1)) {
        let (chunk, client, http) = (chunk.to_vec(), client.clone(), http.to_string());
        fetches.spawn(async move {
            let mut out = Vec::new();
            for (trace, ack) in chunk {
                let url = format!("http://{http}/api/traces/{trace}");
                let response = client.get(&url).send().await.with_context(|| url.clone())?;
                let spans: Vec<String> = if response.status() == 404 {
                    Vec::new()
                } else {
                    let v: Value = response.json().await.with_context(|| url.clone())?;
                    v["data"][0]["spans"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|s| s["spanID"].as_str().unwrap_or_default().to_string())
                        .collect()
                };
                out.push((trace, ack, spans));
            }
            anyhow::Ok(out)
        });
    }
    while let Some(chunk) = fetches.join_next().await {
        for (trace, ack, spans) in chunk?? {
            let mut distinct = spans.clone();
            distinct.sort();
            distinct.dedup();
            duplicated += (spans.len() - distinct.len()) as u64;
            if ack == Ack::Yes && distinct.len() < SPANS_PER_TRACE {
                lost += (SPANS_PER_TRACE - distinct.len()) as u64;
                if problems.len() < 20 {
                    problems.push(format!(
                        "trace {trace}: {} of {SPANS_PER_TRACE} spans",
                        distinct.len()
                    ));
                }
            }
            if ack == Ack::Cut {
                cut_stored += distinct.len() as u64;
            }
        }
    }

    // Search: the traces acknowledged last before the kill, whose index entries were the
    // likeliest to be lost with it, are found by their tag.
    let last_acknowledged = traces
        .iter()
        .rev()
        .filter(|(_, ack)| *ack == Ack::Yes)
        .take(SEARCHED_TRACES);
    for (trace, _) in last_acknowledged {
        let tags = format!("{{\"crashloop.trace\":\"{trace}\"}}");
        let answer = get_json(
            client,
            format!(
                "http://{http}/api/traces?service=crashloop&tags={}&lookback=2h&limit=5",
                urlencode(&tags)
            ),
        )
        .await?;
        let found = answer["data"].as_array().map_or(0, Vec::len);
        // Not counted as lost (its spans are checked by id above): a problem of the index.
        if found != 1 {
            problems.push(format!("trace {trace}: found {found} times by search"));
        }
    }

    // Samples: one PromQL query, counted per series.
    let query = "count_over_time(crashloop_sample[2h])";
    let answer = get_json(
        client,
        format!("http://{http}/api/v1/query?query={}", urlencode(query)),
    )
    .await?;
    let mut counted: HashMap<(usize, usize), u64> = HashMap::new();
    for series in answer["data"]["result"].as_array().into_iter().flatten() {
        let label = |k: &str| {
            series["metric"][k]
                .as_str()
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(usize::MAX)
        };
        let n = series["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0) as u64;
        *counted
            .entry((label("round"), label("writer")))
            .or_default() += n;
    }
    for (key, (acked, cut)) in &samples {
        let found = counted.get(key).copied().unwrap_or(0);
        if found < *acked {
            lost += acked - found;
            problems.push(format!(
                "samples {key:?}: {acked} acknowledged, {found} counted"
            ));
        } else if found > acked + cut {
            duplicated += found - acked - cut;
            problems.push(format!(
                "samples {key:?}: {acked}+{cut} sent, {found} counted"
            ));
        } else {
            cut_stored += found - acked;
        }
    }

    // Logs: searchable once the index has caught up after the restart.
    let started = Instant::now();
    loop {
        let mut missing = 0u64;
        let mut twice = 0u64;
        let mut extra = 0u64;
        let mut detail = Vec::new();
        for ((r, w), lines) in &logs {
            let query = format!("{{service_name=\"crashloop\"}} |= \"crashloop r{r} w{w} \"");
            let answer = get_json(
                client,
                format!(
                    "http://{http}/loki/api/v1/query_range?query={}&limit=5000&start={since_ns}&end={}&direction=forward",
                    urlencode(&query),
                    now_ns() + 60_000_000_000
                ),
            )
            .await?;
            let mut found: HashMap<String, u64> = HashMap::new();
            for stream in answer["data"]["result"].as_array().into_iter().flatten() {
                for value in stream["values"].as_array().into_iter().flatten() {
                    *found
                        .entry(value[1].as_str().unwrap_or_default().to_string())
                        .or_default() += 1;
                }
            }
            for (line, ack) in lines {
                match (found.get(line).copied().unwrap_or(0), ack) {
                    (0, Ack::Yes) => {
                        missing += 1;
                        if detail.len() < 5 {
                            detail.push(line.clone());
                        }
                    }
                    (1, Ack::Cut) => extra += 1,
                    (n, _) if n > 1 => twice += n - 1,
                    _ => {}
                }
            }
        }
        if missing == 0 || started.elapsed() > Duration::from_secs(60) {
            round.logs_searchable_seconds = started.elapsed().as_secs_f64();
            lost += missing;
            duplicated += twice;
            cut_stored += extra;
            if missing > 0 {
                problems.push(format!(
                    "{missing} acknowledged log records not found, e.g. {detail:?}"
                ));
            }
            if twice > 0 {
                problems.push(format!("{twice} log records found twice"));
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Each check covers everything written so far, so its counts replace the last ones.
    report.lost = lost;
    report.duplicated = duplicated;
    report.cut_items_stored = cut_stored;
    report.problems.extend(problems);
    Ok(())
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Runs the loop against `binary` on a fresh data directory.
pub async fn run(binary: &Path, options: &Options) -> anyhow::Result<Report> {
    let temp = tempfile::Builder::new()
        .prefix("lookout-crash-")
        .tempdir()?;
    let dir = temp.path().join("data");
    let rules = temp.path().join("rules.yaml");
    std::fs::write(&rules, RULES)?;
    let config = temp.path().join("lookout.yaml");
    std::fs::write(
        &config,
        format!(
            "alerting:\n  default_rules: false\n  rule_files: [{:?}]\nhost_metrics:\n  enabled: false\nhealth:\n  min_free_disk: 1MiB\n",
            rules.display().to_string()
        ),
    )?;
    let config = config.display().to_string();
    let env = [
        ("LOOKOUT_CONFIG", config.as_str()),
        ("LOOKOUT_LOG__LEVEL", "warn,lookout=info"),
    ];
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let shared = Arc::new(Shared {
        ledger: Mutex::new(Ledger::default()),
        stop: AtomicBool::new(false),
        acknowledged: AtomicU64::new(0),
        cut: AtomicU64::new(0),
        queries: AtomicU64::new(0),
    });
    let since_ns = now_ns() - 60_000_000_000;
    let base_ms = now_ns() / 1_000_000 - 30 * 60_000;
    let mut rng = Rng::new(options.seed);
    let mut report = Report {
        kills: options.kills,
        alerts_intact: true,
        ..Report::default()
    };
    let mut server = ServerProcess::spawn(binary, &dir, &env)?;
    // The alerts before the first kill: both active, one firing, one pending for an hour.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut alerts_before = loop {
        let now = alerts(&client, &server.http).await?;
        if now
            .get("CrashLoopFiring")
            .is_some_and(|(s, _)| s == "firing")
            && now
                .get("CrashLoopPending")
                .is_some_and(|(s, _)| s == "pending")
        {
            break now;
        }
        if Instant::now() > deadline {
            bail!("the crash-loop alerts did not become active: {now:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for r in 0..options.kills {
        let mut round = Round::default();
        shared.stop.store(false, Ordering::Relaxed);
        shared.acknowledged.store(0, Ordering::Relaxed);
        shared.cut.store(0, Ordering::Relaxed);
        shared.queries.store(0, Ordering::Relaxed);
        let mut tasks = Vec::new();
        for w in 0..options.writers {
            tasks.push(tokio::spawn(writer(
                shared.clone(),
                client.clone(),
                server.otlp_http.clone(),
                r,
                w,
                options.pause,
                base_ms,
            )));
        }
        for _ in 0..options.queriers {
            tasks.push(tokio::spawn(querier(
                shared.clone(),
                client.clone(),
                server.http.clone(),
            )));
        }
        let span = options.max_up.saturating_sub(options.min_up).as_millis() as u64;
        let up = options.min_up + Duration::from_millis(rng.below(span.max(1)));
        tokio::time::sleep(up).await;
        round.up_seconds = up.as_secs_f64();
        server.kill()?; // SIGKILL, mid-request
        shared.stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await?;
        }
        round.requests_acknowledged = shared.acknowledged.load(Ordering::Relaxed);
        round.requests_cut = shared.cut.load(Ordering::Relaxed);
        round.queries_answered = shared.queries.load(Ordering::Relaxed);

        let started = Instant::now();
        server = ServerProcess::spawn(binary, &dir, &env)?;
        round.restart_seconds = started.elapsed().as_secs_f64();
        let started = Instant::now();
        check(
            &client,
            &server.http,
            &shared,
            since_ns,
            &mut report,
            &mut round,
        )
        .await?;
        // Restored at start; the first evaluation follows within the group's interval.
        let deadline = Instant::now() + Duration::from_secs(10);
        let after = loop {
            let after = alerts(&client, &server.http).await?;
            if after == alerts_before || Instant::now() > deadline {
                break after;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        if after != alerts_before {
            report.alerts_intact = false;
            report.problems.push(format!(
                "round {r}: alerts {alerts_before:?} became {after:?}"
            ));
            alerts_before = after;
        }
        round.check_seconds = started.elapsed().as_secs_f64();
        report.rounds.push(round);
        if report.lost > 0 || report.duplicated > 0 {
            break;
        }
    }
    let ledger = lock(&shared.ledger);
    report.spans_acknowledged = ledger.traces.iter().filter(|(_, a)| *a == Ack::Yes).count() as u64
        * SPANS_PER_TRACE as u64;
    report.logs_acknowledged = ledger
        .logs
        .values()
        .flat_map(|l| l.values())
        .filter(|a| **a == Ack::Yes)
        .count() as u64;
    report.samples_acknowledged = ledger.samples.values().map(|(a, _)| a).sum();
    drop(ledger);
    server.terminate()?;
    Ok(report)
}

impl Report {
    /// The Markdown table for benches/RESULTS.md and the verdict line.
    pub fn print(&self) {
        println!("| kill | up s | requests acknowledged | requests cut | queries answered | restart s | logs searchable after s | check s |");
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (i, r) in self.rounds.iter().enumerate() {
            println!(
                "| {} | {:.1} | {} | {} | {} | {:.2} | {:.2} | {:.1} |",
                i + 1,
                r.up_seconds,
                r.requests_acknowledged,
                r.requests_cut,
                r.queries_answered,
                r.restart_seconds,
                r.logs_searchable_seconds,
                r.check_seconds
            );
        }
        println!(
            "\n{} kills; acknowledged: {} spans, {} log records, {} samples; lost {}, duplicated {}; items of cut requests stored (once): {}; alerts intact: {}",
            self.rounds.len(),
            self.spans_acknowledged,
            self.logs_acknowledged,
            self.samples_acknowledged,
            self.lost,
            self.duplicated,
            self.cut_items_stored,
            self.alerts_intact
        );
        for p in &self.problems {
            println!("problem: {p}");
        }
    }

    pub fn passed(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.alerts_intact && self.problems.is_empty()
    }
}
