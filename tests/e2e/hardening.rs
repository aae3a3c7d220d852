//! A careless or hostile client: items dated years ahead or before retention, and the
//! queries of death, each answered cleanly while ingestion goes on.

use std::path::Path;
use std::time::{Duration, Instant};

use lookout::process::ServerProcess;
use serde_json::{json, Value};

use crate::binary::{http_exchange, http_request};
use crate::common::{get_json, post, start};

const DAY_NS: u64 = 86_400_000_000_000;

fn threads(pid: u32) -> usize {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn log_records(times: &[u64]) -> Value {
    let records: Vec<Value> = times
        .iter()
        .enumerate()
        .map(|(i, t)| json!({"timeUnixNano": t.to_string(), "body": {"stringValue": format!("record {i}")}}))
        .collect();
    json!({"resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "careless"}}]},
        "scopeLogs": [{"logRecords": records}]
    }]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_dated_far_ahead_or_before_retention_are_rejected_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| {
        c.host_metrics.enabled = false;
        c.retention.logs = Duration::from_secs(7 * 86_400);
        c.retention.metrics = Duration::from_secs(7 * 86_400);
    })
    .await;
    let now = lookout_proto::now_unix_nano();
    // 100 records on 100 future days (a client sending the wrong unit lands years ahead or in
    // 1970), one in milliseconds, one correct.
    let mut times: Vec<u64> = (2..102).map(|d| now + d * DAY_NS).collect();
    times.push(now / 1_000_000);
    times.push(now);
    let response = post(
        &server,
        "/v1/logs",
        "application/json",
        log_records(&times).to_string(),
        &[],
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["partialSuccess"]["rejectedLogRecords"], "101",
        "{body}"
    );
    let message = body["partialSuccess"]["errorMessage"].as_str().unwrap();
    assert!(message.contains("too far in the future (100)"), "{message}");
    assert!(message.contains("older than retention (1)"), "{message}");
    // No index day opened for them (threads: see the test against the real binary below).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let today = (now / DAY_NS) as u32;
    let days: Vec<u32> = std::fs::read_dir(dir.path().join("log-index"))
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.parse().ok())
        .collect();
    assert!(days.iter().all(|d| *d <= today + 1), "{days:?}");

    // A sample ten years ahead is refused; later, correct samples are stored and queried.
    let gauge = |t: u64, v: f64| {
        json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{
            "name": "room_temperature",
            "gauge": {"dataPoints": [{"timeUnixNano": t.to_string(), "asDouble": v}]}
        }]}]}]})
        .to_string()
    };
    let ahead = post(
        &server,
        "/v1/metrics",
        "application/json",
        gauge(now + 3650 * DAY_NS, 99.0),
        &[],
    )
    .await;
    let ahead: Value = ahead.json().await.unwrap();
    assert_eq!(
        ahead["partialSuccess"]["rejectedDataPoints"], "1",
        "{ahead}"
    );
    let ok = post(
        &server,
        "/v1/metrics",
        "application/json",
        gauge(now, 21.5),
        &[],
    )
    .await;
    let ok: Value = ok.json().await.unwrap();
    assert!(ok.get("partialSuccess").is_none(), "{ok}");
    let (_, answer) = get_json(
        &server,
        &format!(
            "/api/v1/query?query=room_temperature&time={}",
            now / 1_000_000_000 + 1
        ),
    )
    .await;
    assert_eq!(answer["data"]["result"][0]["value"][1], "21.5", "{answer}");
    let metrics = reqwest::get(format!("http://{}/metrics", server.http_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("reason=\"too_far_in_future\""),
        "rejections are counted by reason"
    );
    server.shutdown().await.unwrap();
}

/// Sends a trace export with one span now and returns the status.
fn acknowledged(running: &ServerProcess, i: u64) -> bool {
    let now = lookout_proto::now_unix_nano();
    let body = json!({"resourceSpans": [{"scopeSpans": [{"spans": [{
        "traceId": format!("{:032x}", 0xdead_0000_u64 + i),
        "spanId": format!("{:016x}", 0xbeef_0000_u64 + i),
        "name": "meanwhile",
        "startTimeUnixNano": now.to_string(),
        "endTimeUnixNano": (now + 1000).to_string(),
    }]}]}]});
    http_request(&running.otlp_http, "POST", "/v1/traces", &body.to_string()).0 == 200
}

/// POSTs a form body (http_request sends JSON).
fn form_post(host: &str, path: &str, body: &str) -> (u16, String) {
    http_exchange(
        host,
        "POST",
        path,
        "application/x-www-form-urlencoded",
        body,
    )
}

/// The real binary with 10 s query timeouts (and `extra` settings).
fn serve(dir: &Path, extra: &[(&str, &str)]) -> ServerProcess {
    let mut env = vec![
        ("LOOKOUT_HEALTH__MIN_FREE_DISK", "1MiB"),
        ("LOOKOUT_HOST_METRICS__ENABLED", "false"),
        ("LOOKOUT_QUERY__TIMEOUT", "10s"),
        ("LOOKOUT_PROMQL__TIMEOUT", "10s"),
    ];
    env.extend_from_slice(extra);
    ServerProcess::spawn(Path::new(env!("CARGO_BIN_EXE_lookout")), dir, &env)
        .expect("lookout serves")
}

fn encode(q: &str) -> String {
    form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

/// The queries of death against the real binary: each is answered with a clean 4xx or 503
/// (or a bounded 200) within its timeout, the server's peak RSS stays below a bound, and
/// ingestion is acknowledged meanwhile. The table (times, statuses, peak RSS) is printed.
#[test]
fn queries_of_death_are_refused_cleanly_while_ingest_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let running = serve(dir.path(), &[]);
    for i in 0..20 {
        assert!(acknowledged(&running, i));
    }
    // One export of 100 log records on 100 future days opens no index day and no thread.
    std::thread::sleep(Duration::from_secs(2));
    let before = threads(running.pid());
    let now = lookout_proto::now_unix_nano();
    let future: Vec<u64> = (2..102).map(|d| now + d * DAY_NS).collect();
    let (status, _) = http_request(
        &running.otlp_http,
        "POST",
        "/v1/logs",
        &log_records(&future).to_string(),
    );
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_secs(2));
    let after = threads(running.pid());
    assert!(after <= before + 4, "threads went from {before} to {after}");
    let now_s = lookout_proto::now_unix_nano() / 1_000_000_000;
    let month_ago = now_s - 30 * 86_400;
    let big_regex = format!("a{}", "(b|c)".repeat(200_000));
    let many_ors = (0..10_000)
        .map(|i| format!("term{i}"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let nested = (0..50).fold("up".to_string(), |q, _| {
        format!("max_over_time(({q})[1d:1s])")
    });
    let cases: Vec<(&str, String, &[u16])> = vec![
        (
            "30-day range over everything",
            format!(
                "/api/v1/query_range?query={}&start={month_ago}&end={now_s}&step=300",
                encode("{__name__=~\".+\"}")
            ),
            &[200, 422],
        ),
        (
            "1 MB regex in the URL",
            format!(
                "/api/v1/query?query={}",
                encode(&format!("{{__name__=~\"{big_regex}\"}}"))
            ),
            &[400, 422, 431],
        ),
        (
            "LogQL [30d] range at a 1 ms step",
            format!(
                "/loki/api/v1/query_range?query={}&start={}&end={}&step=0.001",
                encode("sum(count_over_time({service_name=\"x\"}[30d]))"),
                now_s - 3 * 3600,
                now_s
            ),
            &[400],
        ),
        (
            "LogQL [3650d] at a 1 s step over 3 h",
            format!(
                "/loki/api/v1/query_range?query={}&start={}&end={}&step=1",
                encode("sum(count_over_time({service_name=\"x\"}[3650d]))"),
                now_s - 3 * 3600,
                now_s
            ),
            &[400],
        ),
        (
            "Jaeger search with limit 10^9",
            "/api/traces?service=x&limit=1000000000".to_string(),
            &[400],
        ),
        (
            "PromQL range of 10^6 steps",
            format!(
                "/api/v1/query_range?query=up&start={}&end={now_s}&step=1",
                now_s - 1_000_000
            ),
            &[400],
        ),
        (
            "deeply nested subqueries",
            format!("/api/v1/query?query={}", encode(&nested)),
            &[200, 400, 422, 503],
        ),
        (
            "log query of 10^4 OR terms",
            format!("/lookout/v1/logs?query={}&since=1h", encode(&many_ors)),
            &[200, 400, 414, 503],
        ),
    ];
    let mut table = String::from("| query | status | seconds |\n|---|---:|---:|\n");
    for (i, (name, path, allowed)) in cases.iter().enumerate() {
        let started = Instant::now();
        let (status, body) = http_request(&running.http, "GET", path, "");
        let took = started.elapsed();
        table.push_str(&format!(
            "| {name} | {status} | {:.2} |\n",
            took.as_secs_f64()
        ));
        assert!(
            allowed.contains(&status),
            "{name}: {status} {}",
            &body[..body.len().min(300)]
        );
        assert!(took < Duration::from_secs(15), "{name} took {took:?}");
        assert!(
            acknowledged(&running, 100 + i as u64),
            "ingest after {name}"
        );
    }
    // A 1 MB regex in a POST body, as Grafana sends long queries (of characters that need
    // no escaping, so the body stays under the 2 MB body limit).
    let dots = "a.".repeat(500_000);
    let started = Instant::now();
    let (status, body) = form_post(
        &running.http,
        "/api/v1/query",
        &format!("query={}", encode(&format!("{{__name__=~\"{dots}\"}}"))),
    );
    let took = started.elapsed();
    table.push_str(&format!(
        "| 1 MB regex in a POST body | {status} | {:.2} |\n",
        took.as_secs_f64()
    ));
    assert_eq!(status, 400, "{}", &body[..body.len().min(300)]);
    assert!(acknowledged(&running, 99));
    // 10^4 alternatives in a LogQL line filter, in a POST body.
    let alternatives = (0..10_000)
        .map(|i| format!("t{i}"))
        .collect::<Vec<_>>()
        .join("|");
    let started = Instant::now();
    let (status, body) = form_post(
        &running.http,
        "/loki/api/v1/query_range",
        &format!(
            "query={}&since=1h&limit=10",
            encode(&format!("{{service_name=\"x\"}} |~ \"{alternatives}\""))
        ),
    );
    let took = started.elapsed();
    table.push_str(&format!(
        "| LogQL filter of 10^4 alternatives (POST) | {status} | {:.2} |\n",
        took.as_secs_f64()
    ));
    assert!(
        [200, 400].contains(&status),
        "{status} {}",
        &body[..body.len().min(300)]
    );
    assert!(acknowledged(&running, 98));
    let peak = running.peak_rss_bytes().unwrap();
    println!("{table}peak RSS: {} MiB", peak >> 20);
    assert!(peak < 1 << 30, "peak RSS {} MiB", peak >> 20);
    running.terminate().unwrap();
}

/// A trace of one million spans, fetched by id: the answer is cut at `query.max_trace_spans`
/// with a warning, within the query timeout, in bounded memory, while ingestion goes on.
#[test]
fn a_trace_of_a_million_spans_is_cut_not_loaded_whole() {
    use lookout_proto::otlp::trace::v1::Span;
    use prost::Message;

    let dir = tempfile::tempdir().unwrap();
    let running = serve(dir.path(), &[("LOOKOUT_SPAN_METRICS__ENABLED", "false")]);
    let client = reqwest::blocking::Client::new();
    let trace_id = [0x7e_u8; 16];
    let now = lookout_proto::now_unix_nano();
    let started = Instant::now();
    for batch in 0..100u64 {
        let spans: Vec<Span> = (0..10_000u64)
            .map(|i| Span {
                trace_id: trace_id.to_vec(),
                span_id: (batch * 10_000 + i + 1).to_be_bytes().to_vec(),
                parent_span_id: if batch + i == 0 {
                    vec![]
                } else {
                    1u64.to_be_bytes().to_vec()
                },
                name: "step".into(),
                start_time_unix_nano: now + i,
                end_time_unix_nano: now + i + 1000,
                ..Default::default()
            })
            .collect();
        let body = lookout_proto::requests::traces(None, spans).encode_to_vec();
        loop {
            let response = client
                .post(format!("http://{}/v1/traces", running.otlp_http))
                .header("content-type", "application/x-protobuf")
                .body(body.clone())
                .send()
                .unwrap();
            match response.status().as_u16() {
                200 => break,
                429 | 503 => std::thread::sleep(Duration::from_millis(200)),
                other => panic!("batch {batch}: {other}"),
            }
        }
    }
    let ingest = started.elapsed();
    let started = Instant::now();
    let response = client
        .get(format!(
            "http://{}/api/traces/{}",
            running.http,
            "7e".repeat(16)
        ))
        .send()
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().unwrap();
    let took = started.elapsed();
    assert_eq!(status, 200);
    let spans = body["data"][0]["spans"].as_array().unwrap().len();
    assert_eq!(spans, 100_000, "cut at query.max_trace_spans");
    let warning = body["data"][0]["warnings"].to_string();
    assert!(warning.contains("query.max_trace_spans"), "{warning}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert!(acknowledged(&running, 500), "ingest after the big trace");
    let peak = running.peak_rss_bytes().unwrap();
    println!(
        "| trace of 10^6 spans by id | {status} ({spans} spans, cut) | {:.2} |\npeak RSS: {} MiB (ingest of the million spans: {:.1} s)",
        took.as_secs_f64(),
        peak >> 20,
        ingest.as_secs_f64()
    );
    assert!(peak < 1 << 30, "peak RSS {} MiB", peak >> 20);
    running.terminate().unwrap();
}
