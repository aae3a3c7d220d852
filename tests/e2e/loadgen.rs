//! The load generator and the ingest benchmark's quick mode: nothing acknowledged is lost.

use std::path::Path;
use std::process::Command;

use lookout::ingest_bench;

use crate::common::start;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_ingest_benchmark_loses_nothing() {
    let binary = Path::new(env!("CARGO_BIN_EXE_lookout"));
    let scenarios = ingest_bench::scenarios(2, true);
    // The decode-only sink answers the same traffic (the bench's yardstick).
    let sink = ingest_bench::run_sink(binary, &scenarios[0]).await.unwrap();
    assert!(sink > 0.0, "the sink acknowledged nothing");
    for scenario in scenarios {
        let report = ingest_bench::run(binary, &scenario)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:#}", scenario.name));
        assert!(report.accepted > 0, "{}: nothing was sent", scenario.name);
        assert_eq!(report.refused, 0, "{}", scenario.name);
        assert_eq!(report.read_back, "ok", "{}", scenario.name);
        if scenario.queriers > 0 {
            assert!(
                report.queries_answered > 0,
                "{}: no query answered",
                scenario.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_command_reports_what_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let endpoint = format!("http://{}", server.otlp_http_addr);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_lookout"))
            .args([
                "loadgen",
                "--protocol",
                "http-json",
                "--gzip",
                "--signals",
                "logs",
            ])
            .args([
                "--items",
                "1000",
                "--batch",
                "250",
                "--json",
                "--endpoint",
                &endpoint,
            ])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let logs = &summary["signals"][0];
    assert_eq!(logs["signal"], "logs");
    assert_eq!(
        (logs["sent"].as_u64(), logs["accepted"].as_u64()),
        (Some(1000), Some(1000))
    );
    assert_eq!(logs["requests"], 4);
    assert_eq!(
        server
            .store()
            .count_records(lookout_storage::Records::Logs)
            .unwrap(),
        1000
    );
    server.shutdown().await.unwrap();
}

#[test]
fn loadgen_exits_non_zero_when_nothing_is_acknowledged() {
    // A port nobody listens on: every request fails to connect.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args([
            "loadgen",
            "--duration",
            "1s",
            "--concurrency",
            "1",
            "--timeout",
            "1s",
        ])
        .args([
            "--protocol",
            "http-protobuf",
            "--endpoint",
            &format!("http://127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("failed requests: connection"), "{stdout}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("were not acknowledged"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_keeps_to_the_target_rate() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let options = lookout::loadgen::Options {
        endpoint: Some(format!("http://{}", server.otlp_grpc_addr)),
        signals: vec![lookout::loadgen::Signal::Logs],
        rate: 1000,
        batch: 100,
        concurrency: 2,
        duration: std::time::Duration::from_secs(2),
        progress: lookout::loadgen::Progress::Never,
        ..Default::default()
    };
    let summary = lookout::loadgen::run(options).await.unwrap();
    let logs = &summary.signals[0];
    // Two workers, each one request at once and then one every 200 ms: at most 2 x 11 requests
    // of 100 records. Unpaced, the debug build takes far more in 2 s.
    assert!(logs.sent <= 2200, "sent {} at 1000/s for 2 s", logs.sent);
    assert!(logs.sent >= 100 && logs.accepted == logs.sent, "{logs:?}");
    server.shutdown().await.unwrap();
}
