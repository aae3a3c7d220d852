//! The crash loop against the release binary: sustained mixed ingest and live queries, killed
//! with SIGKILL 20 times at random moments; after each restart everything acknowledged is read
//! back through the APIs, once, and the alerts keep their state.
//!
//!   cargo bench --bench crash_loop
//!   LOOKOUT_CRASH_KILLS=5 LOOKOUT_CRASH_SEED=7 cargo bench --bench crash_loop
//!
//! Prints a Markdown table for benches/RESULTS.md; exits non-zero if anything was lost.

use std::path::Path;

use lookout::crash_loop::{run, Options};

fn main() -> anyhow::Result<()> {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let defaults = Options::default();
    let options = Options {
        kills: env("LOOKOUT_CRASH_KILLS").map_or(defaults.kills, |k| k as usize),
        seed: env("LOOKOUT_CRASH_SEED").unwrap_or(defaults.seed),
        ..defaults
    };
    let binary = Path::new(env!("CARGO_BIN_EXE_lookout"));
    println!("crash loop: {options:?}; server {}", binary.display());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(run(binary, &options))?;
    report.print();
    anyhow::ensure!(report.passed(), "the crash loop lost or doubled data");
    Ok(())
}
