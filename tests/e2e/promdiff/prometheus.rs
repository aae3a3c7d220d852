//! A real Prometheus on loopback over a TSDB made by promtool from the data set.

use super::*;

/// Prometheus, killed and reaped when dropped.
pub(super) struct PrometheusProcess {
    pub(super) child: Child,
    pub(super) url: String,
    pub(super) log: PathBuf,
}

impl Drop for PrometheusProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl PrometheusProcess {
    pub(super) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// Writes `openmetrics` to a file, turns it into TSDB blocks with promtool and starts
/// Prometheus on them; returns once it is ready.
pub(super) async fn start_prometheus(dir: &Path, openmetrics: String) -> PrometheusProcess {
    let input = dir.join("data.om");
    let blocks = dir.join("tsdb");
    std::fs::File::create(&input)
        .and_then(|mut f| f.write_all(openmetrics.as_bytes()))
        .expect("OpenMetrics file written");
    drop(openmetrics);
    let (input2, blocks2) = (input.clone(), blocks.clone());
    let output = tokio::task::spawn_blocking(move || {
        Command::new(PROMTOOL)
            .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
            .arg(&input2)
            .arg(&blocks2)
            .output()
    })
    .await
    .unwrap()
    .expect("promtool runs");
    assert!(
        output.status.success(),
        "promtool tsdb create-blocks-from openmetrics failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let _ = std::fs::remove_file(&input);
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global: {}\n").unwrap();
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let log = dir.join("prometheus.log");
    let log_file = std::fs::File::create(&log).unwrap();
    let child = Command::new(PROMETHEUS)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", blocks.display()))
        .arg("--storage.tsdb.retention.time=100y")
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("prometheus starts");
    let mut prometheus = PrometheusProcess {
        child,
        url: format!("http://127.0.0.1:{port}"),
        log,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client()
            .get(format!("{}/-/ready", prometheus.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return prometheus;
        }
        if let Ok(Some(status)) = prometheus.child.try_wait() {
            panic!("prometheus exited: {status}\n{}", prometheus.log_tail());
        }
        assert!(
            Instant::now() < deadline,
            "prometheus is not ready after 60 s\n{}",
            prometheus.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
