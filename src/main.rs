use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lookout::config::{Config, LogFormat, Overrides};
use lookout::Server;
use tracing_subscriber::EnvFilter;

/// glibc's allocator spent about a tenth of the server's CPU on indexing's and decoding's
/// many small allocations (`benches/RESULTS.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Lookout: a self-hosted observability backend. Send it OpenTelemetry traces, metrics and
/// logs over OTLP; it stores them durably on local disk, in one process.
#[derive(Parser)]
#[command(name = "lookout", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Receive OTLP and serve the HTTP API until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Start a server on a temporary data directory fed with continuous shop traffic
    /// (traces, logs, metrics, business metrics, a service failing in bursts), and print the
    /// address of the UI. The data is deleted when it stops.
    Demo(ServeArgs),
    /// Check a config file: prints every problem with its path, exits 1 if there is any.
    CheckConfig {
        /// The YAML config file.
        file: PathBuf,
    },
    /// Send realistic OTLP traffic to any OTLP endpoint and report what was acknowledged.
    /// Exits 1 when items were rejected or requests failed (unless --allow-loss).
    Loadgen(lookout::loadgen::Options),
    /// A decode-only OTLP/gRPC sink (no storage): the yardstick of `cargo bench --bench ingest`.
    Sink {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:4317")]
        otlp_grpc_addr: std::net::SocketAddr,
    },
    /// Alert rule files in Prometheus's format.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Check rule files: prints every problem as file:line:column, exits 1 if there is any.
    Check {
        /// Rule files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run rule unit tests in promtool's format; prints each failure, exits 1 on any.
    Test {
        /// Test files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Clone, clap::Args)]
struct ServeArgs {
    /// YAML config file (see lookout.example.yaml); flags and LOOKOUT_* variables override it.
    #[arg(long, env = "LOOKOUT_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory [default: ./lookout-data].
    #[arg(long, env = "LOOKOUT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// OTLP/gRPC listen address [default: 127.0.0.1:4317].
    #[arg(long, env = "LOOKOUT_OTLP_GRPC_ADDR")]
    otlp_grpc_addr: Option<SocketAddr>,
    /// OTLP/HTTP listen address [default: 127.0.0.1:4318].
    #[arg(long, env = "LOOKOUT_OTLP_HTTP_ADDR")]
    otlp_http_addr: Option<SocketAddr>,
    /// HTTP API, health and metrics listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "LOOKOUT_HTTP_ADDR")]
    http_addr: Option<SocketAddr>,
    /// Log format [default: text on a terminal, json otherwise].
    #[arg(long, env = "LOOKOUT_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
}

/// Caps glibc's malloc arenas at one per core. By default glibc makes up to eight per core,
/// and under sustained ingest with log indexing the threads of RocksDB, tantivy and tokio
/// fragmented them until the process held twice the memory it used (695 MiB peak vs 390 MiB
/// with the cap, in a 25 s logs run).
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = libc::c_int::try_from(cores.max(2)).unwrap_or(2);
        // SAFETY: mallopt only changes allocator tuning; called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Loadgen(options) => loadgen(options),
        Command::Sink { otlp_grpc_addr } => {
            let served = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .map_err(anyhow::Error::from)
                .and_then(|runtime| runtime.block_on(lookout::sink::serve(otlp_grpc_addr)));
            match served {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("lookout sink: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Rules { command } => match command {
            RulesCommand::Check { files } => rules_check(&files),
            RulesCommand::Test { files } => rules_test(&files),
        },
        Command::Demo(args) => match demo(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lookout demo: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Serve(args) => match serve(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                // Logging may not be set up yet when configuration fails.
                eprintln!("lookout: {e:#}");
                tracing::error!(error = %format!("{e:#}"), "lookout stopped");
                ExitCode::FAILURE
            }
        },
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    let config = match Config::from_file(file) {
        Ok(config) => config,
        Err(e) => {
            println!("{}: {e:#}", file.display());
            return ExitCode::FAILURE;
        }
    };
    let problems = config.validate();
    if problems.is_empty() {
        println!("{}: ok", file.display());
        return ExitCode::SUCCESS;
    }
    let text = std::fs::read_to_string(file).unwrap_or_default();
    for problem in &problems {
        match lookout::config::problem_location(&text, problem) {
            Some((line, column)) => println!("{}:{line}:{column}: {problem}", file.display()),
            None => println!("{}: {problem}", file.display()),
        }
    }
    ExitCode::FAILURE
}

fn rules_check(files: &[PathBuf]) -> ExitCode {
    let problems = lookout::alerts::check(files);
    if problems.is_empty() {
        for f in files {
            println!("{}: ok", f.display());
        }
        return ExitCode::SUCCESS;
    }
    for p in &problems {
        println!("{p}");
    }
    println!("{} problem(s)", problems.len());
    ExitCode::FAILURE
}

fn rules_test(files: &[PathBuf]) -> ExitCode {
    let backend = lookout::alerts::TempStores::new();
    let mut failed = false;
    for file in files {
        match lookout_alerting::unittest::run(file, &backend) {
            Ok(outcome) if outcome.failures.is_empty() => {
                println!("{}: SUCCESS ({} checks)", file.display(), outcome.passed);
            }
            Ok(outcome) => {
                failed = true;
                println!(
                    "{}: FAILED ({} passed, {} failed)",
                    file.display(),
                    outcome.passed,
                    outcome.failures.len()
                );
                for f in &outcome.failures {
                    println!("  {f}");
                }
            }
            Err(e) => {
                failed = true;
                println!("{}: {e}", file.display());
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn loadgen(options: lookout::loadgen::Options) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("lookout loadgen: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (json, allow_loss) = (options.json, options.allow_loss);
    match runtime.block_on(lookout::loadgen::run(options)) {
        Ok(summary) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary).unwrap_or_default()
                );
            } else {
                summary.print_human();
            }
            let lost = summary.lost();
            if lost > 0 && !allow_loss {
                eprintln!("lookout loadgen: {lost} items were not acknowledged");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lookout loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let file = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    let config = file
        .apply_env(std::env::vars())?
        .apply_overrides(&Overrides {
            data_dir: args.data_dir.clone(),
            otlp_grpc_addr: args.otlp_grpc_addr,
            otlp_http_addr: args.otlp_http_addr,
            http_addr: args.http_addr,
            log_format: args.log_format,
        });
    let problems = config.validate();
    if !problems.is_empty() {
        anyhow::bail!("invalid configuration:\n  {}", problems.join("\n  "));
    }
    Ok(config)
}

fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(filter) => EnvFilter::try_new(filter).context("RUST_LOG")?,
        Err(_) => {
            let mut filter = config.log.level.clone();
            // tantivy reports every commit and merge at info: only its warnings, unless the
            // level names it.
            if !filter.contains("tantivy") {
                filter.push_str(",tantivy=warn");
            }
            EnvFilter::try_new(&filter).context("log.level")?
        }
    };
    let json = match config.log.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        builder.init();
    }
    Ok(())
}

/// The runtime of `serve` and `demo`.
fn server_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(64)
        .thread_name("lookout")
        .build()
        .context("starting the async runtime")
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = load_config(&args)?;
    init_logging(&config)?;
    let runtime = server_runtime()?;
    runtime.block_on(async move {
        let signals = Signals::listen()?;
        let server = Server::start(config).await?;
        let reload = tokio::spawn(reload_probes_on_hangup(
            args.clone(),
            Arc::clone(server.prober()),
            signals.hangup,
        ));
        wait_for_stop(signals.stop).await;
        reload.abort();
        server.shutdown().await
    })
}

fn demo(args: ServeArgs) -> anyhow::Result<()> {
    let temp = tempfile::Builder::new()
        .prefix("lookout-demo-")
        .tempdir()
        .context("creating a temporary data directory")?;
    let mut args = args;
    if args.data_dir.is_none() {
        args.data_dir = Some(temp.path().to_path_buf());
    }
    let config = load_config(&args)?;
    init_logging(&config)?;
    let runtime = server_runtime()?;
    runtime.block_on(async move {
        let signals = Signals::listen()?;
        let data_dir = config.data_dir.clone();
        let server = lookout::demo::start(config).await?;
        println!();
        println!("  Lookout demo: open http://{}/ui/", server.http_addr);
        println!(
            "  OTLP: grpc {} · http {} · data in {} (deleted at exit)",
            server.otlp_grpc_addr,
            server.otlp_http_addr,
            data_dir.display()
        );
        println!(
            "  Shop traffic is flowing; `fraud-check` fails for 3 minutes of every 8. Ctrl-C stops."
        );
        println!();
        wait_for_stop(signals.stop).await;
        server.shutdown().await
    })?;
    drop(temp);
    Ok(())
}

/// Re-reads the configuration on SIGHUP and runs its probe list (unchanged probes keep their
/// results); a configuration with problems is refused and the running probes are kept. Rule
/// files reload on the same signal (see `server.rs`).
async fn reload_probes_on_hangup(
    args: ServeArgs,
    prober: Arc<lookout_collector::probes::Prober>,
    mut hangup: tokio::signal::unix::Signal,
) -> anyhow::Result<()> {
    while hangup.recv().await.is_some() {
        match load_config(&args) {
            Ok(config) => {
                let started = prober.reload(&config.probes);
                tracing::info!(probes = config.probes.len(), started, "probes reloaded");
            }
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "configuration not reloaded, probes unchanged")
            }
        }
    }
    Ok(())
}

/// The signals a running server acts on, listened for before it says it is serving: a
/// signal sent right after that line is then never missed (a SIGHUP) nor left to its default
/// action, which for SIGTERM would end the process without a clean shutdown.
struct Signals {
    /// SIGTERM and SIGINT (Ctrl-C).
    stop: [tokio::signal::unix::Signal; 2],
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            stop: [
                signal(SignalKind::terminate()).context("listening for SIGTERM")?,
                signal(SignalKind::interrupt()).context("listening for SIGINT")?,
            ],
            hangup: signal(SignalKind::hangup()).context("listening for SIGHUP")?,
        })
    }
}

async fn wait_for_stop([mut term, mut interrupt]: [tokio::signal::unix::Signal; 2]) {
    tokio::select! {
        _ = term.recv() => {}
        _ = interrupt.recv() => {}
    }
}
