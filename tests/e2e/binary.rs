//! The real `lookout` binary: its command line, SIGTERM shutdown, and durability across kill -9.

use std::path::Path;
use std::process::Command;

use lookout::process::ServerProcess;
use lookout_storage::{StorageConfig, Store};

use crate::restart::{expected, stored, LOGS, METRICS, TRACES};

fn lookout() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
}

/// `lookout serve` on ephemeral ports, keeping everything (the test data is from 2023).
fn serve(data_dir: &Path) -> ServerProcess {
    ServerProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_lookout")),
        data_dir,
        &[
            ("LOOKOUT_RETENTION__TRACES", "36500d"),
            ("LOOKOUT_RETENTION__LOGS", "36500d"),
            ("LOOKOUT_RETENTION__METRICS", "36500d"),
            ("LOOKOUT_HEALTH__MIN_FREE_DISK", "1MiB"),
            // The test compares stored metric points with those sent, one for one.
            ("LOOKOUT_SPAN_METRICS__ENABLED", "false"),
            ("LOOKOUT_HOST_METRICS__ENABLED", "false"),
            ("LOOKOUT_STORAGE__SERIES__KEEP_OTLP_POINTS", "true"),
        ],
    )
    .expect("lookout serves")
}

fn send_all(running: &ServerProcess) {
    for (path, body) in [
        ("/v1/traces", TRACES),
        ("/v1/logs", LOGS),
        ("/v1/metrics", METRICS),
    ] {
        let (status, _) = http_request(&running.otlp_http, "POST", path, body);
        assert_eq!(status, 200, "{path}");
    }
}

/// A minimal HTTP/1.1 exchange over a std TcpStream: this test runs no async runtime.
pub(crate) fn http_request(host: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    http_exchange(host, method, path, "application/json", body)
}

/// [`http_request`] with a body of another content type.
pub(crate) fn http_exchange(
    host: &str,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, &StorageConfig::default()).unwrap()
}

#[test]
fn sigterm_shuts_down_cleanly_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let running = serve(dir.path());
    send_all(&running);
    let (status, body) = http_request(&running.http, "GET", "/ready", "");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""status":"healthy""#), "{body}");
    let status = running.terminate().unwrap();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(stored(&open(dir.path())), expected());
}

#[test]
fn kill_9_loses_nothing_that_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let running = serve(dir.path());
    send_all(&running);
    running.kill().unwrap(); // SIGKILL
    assert_eq!(stored(&open(dir.path())), expected());
}

/// A short crash loop against the debug binary (the bench runs 20 kills against the release
/// one): mixed ingest and live queries, SIGKILL, restart, everything acknowledged read back
/// once through the APIs, the alerts in the state they had.
#[test]
fn crash_loop_loses_and_doubles_nothing() {
    let options = lookout::crash_loop::Options {
        kills: 3,
        writers: 3,
        queriers: 1,
        min_up: std::time::Duration::from_millis(1500),
        max_up: std::time::Duration::from_secs(3),
        ..Default::default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime
        .block_on(lookout::crash_loop::run(
            Path::new(env!("CARGO_BIN_EXE_lookout")),
            &options,
        ))
        .unwrap();
    report.print();
    assert!(report.passed(), "{:?}", report.problems);
    assert_eq!(report.rounds.len(), 3);
    assert!(
        report.spans_acknowledged > 0
            && report.logs_acknowledged > 0
            && report.samples_acknowledged > 0
    );
}

#[test]
fn version_and_help_describe_the_commands() {
    let out = lookout().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("lookout {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = lookout().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        help.contains("serve") && help.contains("check-config"),
        "{help}"
    );
    let out = lookout().args(["serve", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--config",
        "--data-dir",
        "--otlp-grpc-addr",
        "--otlp-http-addr",
        "--http-addr",
        "LOOKOUT_DATA_DIR",
    ] {
        assert!(help.contains(flag), "{flag} in {help}");
    }
}

#[test]
fn check_config_accepts_the_example_and_lists_every_problem() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lookout.example.yaml");
    let out = lookout()
        .arg("check-config")
        .arg(&example)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "retention:\n  logs: 0s\notlp:\n  max_message_size: 0B\n",
    )
    .unwrap();
    let out = lookout().arg("check-config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("retention.logs: must be greater than 0"),
        "{text}"
    );
    assert!(
        text.contains("otlp.max_message_size: must be greater than 0"),
        "{text}"
    );

    std::fs::write(&bad, "otlp:\n  grpc_address: 1\n").unwrap();
    let out = lookout().arg("check-config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("grpc_address") && text.contains("line 2"),
        "{text}"
    );

    // Probes: problems serde cannot see are placed by file, line and column too.
    std::fs::write(
        &bad,
        "probes:\n  - name: web\n    service_name: shop\n    kind: http\n    url: 'http//nope'\n    interval: 1s\n    timeout: 3s\n",
    )
    .unwrap();
    let out = lookout().arg("check-config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let file = bad.display();
    assert!(
        text.contains(&format!("{file}:5:10: probes[0].url: not a valid URL")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{file}:6:15: probes[0].interval: must not be shorter than timeout (3s)"
        )),
        "{text}"
    );
    std::fs::write(
        &bad,
        "probes:\n  - name: web\n    service_name: shop\n    kind: ping\n",
    )
    .unwrap();
    let out = lookout().arg("check-config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("ping") && text.contains("line 4"), "{text}");
}

#[test]
fn serve_refuses_an_invalid_configuration_and_names_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = lookout()
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .env("LOOKOUT_RETENTION__TRACES", "0s")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(
        text.contains("retention.traces: must be greater than 0"),
        "{text}"
    );
}

/// The probe names in `/lookout/v1/probes`.
fn probe_names(running: &ServerProcess) -> Vec<String> {
    let (status, body) = http_request(&running.http, "GET", "/lookout/v1/probes", "");
    assert_eq!(status, 200, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    body["probes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["probe"].as_str().unwrap().to_string())
        .collect()
}

fn wait_for_probes(running: &ServerProcess, want: &[&str]) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let names = probe_names(running);
        if names == want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "probes {names:?}, expected {want:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn sighup_reloads_the_probe_list_and_the_rules_and_keeps_unchanged_results() {
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = target.local_addr().unwrap();
    let probe = |name: &str, timeout: &str| {
        format!(
            "  - name: {name}\n    service_name: shop\n    kind: tcp\n    address: {address}\n    interval: 1s\n    timeout: {timeout}\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("lookout.yaml");
    let rules = dir.path().join("rules.yaml");
    let rule = |name: &str| format!("  - alert: {name}\n    expr: vector(1)\n");
    std::fs::write(
        &rules,
        format!("groups:\n- name: g\n  rules:\n{}", rule("A")),
    )
    .unwrap();
    // Rule files are named by the configuration's alerting section, read again on SIGHUP too.
    let alerting = format!(
        "alerting:\n  default_rules: false\n  rule_files: [{:?}]\n",
        rules.to_str().unwrap()
    );
    std::fs::write(&config, format!("{alerting}probes:\n{}", probe("a", "1s"))).unwrap();
    let data = dir.path().join("data");
    let config_path = config.to_str().unwrap().to_string();
    let running = ServerProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_lookout")),
        &data,
        &[
            ("LOOKOUT_CONFIG", config_path.as_str()),
            ("LOOKOUT_HEALTH__MIN_FREE_DISK", "1MiB"),
        ],
    )
    .expect("lookout serves");
    let hangup = |running: &ServerProcess| {
        let pid = libc::pid_t::try_from(running.pid()).unwrap();
        // SAFETY: sends a signal to the child this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    };
    wait_for_probes(&running, &["a"]);

    std::fs::write(
        &config,
        format!(
            "{alerting}probes:\n{}{}",
            probe("a", "1s"),
            probe("b", "1s")
        ),
    )
    .unwrap();
    std::fs::write(
        &rules,
        format!("groups:\n- name: g\n  rules:\n{}{}", rule("A"), rule("B")),
    )
    .unwrap();
    hangup(&running);
    wait_for_probes(&running, &["a", "b"]);
    let (_, body) = http_request(&running.http, "GET", "/api/v1/rules", "");
    assert!(
        body.contains(r#""name":"B""#),
        "the rule file is read again: {body}"
    );

    // A configuration with a problem is refused: the probes keep running.
    std::fs::write(&config, format!("{alerting}probes:\n{}", probe("c", "5s"))).unwrap();
    hangup(&running);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(probe_names(&running), ["a", "b"]);

    std::fs::write(&config, format!("{alerting}probes:\n{}", probe("b", "1s"))).unwrap();
    hangup(&running);
    wait_for_probes(&running, &["b"]);
    let status = running.terminate().unwrap();
    assert!(status.success(), "exit status {status:?}");
}
