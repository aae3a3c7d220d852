//! A `lookout serve` child process on ephemeral ports: for the end-to-end tests and the ingest
//! benchmark, which need the real binary rather than an in-process server.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A running `lookout serve`. Dropping it kills the process.
pub struct ServerProcess {
    child: Child,
    pub otlp_grpc: String,
    pub otlp_http: String,
    pub http: String,
}

impl ServerProcess {
    /// Starts `binary serve` with its data in `data_dir` and the given extra environment, and
    /// waits until it logs the addresses it serves on.
    pub fn spawn(binary: &Path, data_dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        command
            .args([
                "serve",
                "--otlp-grpc-addr",
                "127.0.0.1:0",
                "--otlp-http-addr",
                "127.0.0.1:0",
            ])
            .args([
                "--http-addr",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--data-dir",
            ])
            .arg(data_dir)
            // The "lookout is serving" line is logged at info; `env` may narrow other targets.
            .env_remove("RUST_LOG")
            .env("LOOKOUT_LOG__LEVEL", "info");
        for (name, value) in env {
            command.env(name, value);
        }
        Self::start(binary, command)
    }

    /// Starts `binary sink`, the decode-only OTLP/gRPC sink, on an ephemeral port.
    pub fn spawn_sink(binary: &Path) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        command.args(["sink", "--otlp-grpc-addr", "127.0.0.1:0"]);
        Self::start(binary, command)
    }

    fn start(binary: &Path, mut command: Command) -> anyhow::Result<Self> {
        command.stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stderr = child.stderr.take().context("no stderr pipe")?;
        let mut lines = BufReader::new(stderr).lines();
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = Vec::new();
        loop {
            let line = match lines.next() {
                Some(Ok(line)) if Instant::now() < deadline => line,
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!(
                        "lookout did not report serving; its log:\n{}",
                        seen.join("\n")
                    );
                }
            };
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                seen.push(line);
                continue;
            };
            if event["message"] == "lookout is serving" {
                // Keep draining the log so the child never blocks on a full pipe; kept in
                // the file `LOOKOUT_BENCH_SERVER_LOG` names, if any, to see what went wrong.
                let mut keep = std::env::var_os("LOOKOUT_BENCH_SERVER_LOG")
                    .and_then(|path| std::fs::File::create(path).ok())
                    .map(std::io::BufWriter::new);
                std::thread::spawn(move || {
                    for line in lines.map_while(Result::ok) {
                        if let Some(file) = keep.as_mut() {
                            let _ = writeln!(file, "{line}");
                        }
                    }
                    if let Some(file) = keep.as_mut() {
                        let _ = file.flush();
                    }
                });
                let addr = |key: &str| event[key].as_str().unwrap_or_default().to_string();
                return Ok(ServerProcess {
                    otlp_grpc: addr("otlp_grpc"),
                    otlp_http: addr("otlp_http"),
                    http: addr("http"),
                    child,
                });
            }
            seen.push(line);
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU seconds the process has used so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid()))?;
        // Fields after the command name (which may contain spaces) start at field 3.
        let rest = stat
            .rsplit_once(')')
            .map(|(_, r)| r)
            .context("bad /proc stat")?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        Ok(ticks / per_second.max(1.0))
    }

    /// Peak resident memory of the process so far, in bytes.
    pub fn peak_rss_bytes(&self) -> anyhow::Result<u64> {
        status_bytes(self.pid(), "VmHWM:")
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(mut self) -> anyhow::Result<ExitStatus> {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        if unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) } != 0 {
            bail!("sending SIGTERM: {}", std::io::Error::last_os_error());
        }
        self.wait(Duration::from_secs(120))
    }

    /// Kills the process with SIGKILL and waits for it.
    pub fn kill(mut self) -> anyhow::Result<ExitStatus> {
        self.child.kill()?;
        self.wait(Duration::from_secs(60))
    }

    fn wait(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!("lookout did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    /// A failed test or benchmark must not leave a server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kB` field of `/proc/<pid>/status`, in bytes.
pub fn status_bytes(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .with_context(|| format!("no {field} in /proc status"))?;
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .with_context(|| format!("bad {field} line"))?
        .parse()?;
    Ok(kib * 1024)
}
