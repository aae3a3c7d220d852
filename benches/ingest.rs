//! End-to-end ingest benchmark: a real release `lookout serve` driven by `lookout loadgen` on
//! the same machine, one fresh server per scenario (traces, logs, metrics, a mix, overload).
//!
//!   cargo bench --bench ingest                      # 60 s per scenario
//!   LOOKOUT_BENCH_SECONDS=20 cargo bench --bench ingest
//!   cargo bench --bench ingest -- --quick           # a few seconds each
//!   LOOKOUT_BENCH_ONLY=traces,overload cargo bench --bench ingest
//!
//! Prints one line per scenario and a Markdown table for benches/RESULTS.md.

use std::path::Path;

use lookout::ingest_bench::{run, run_sink, scenarios, Report};
use lookout::loadgen::Transport;

fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let seconds = std::env::var("LOOKOUT_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 3 } else { 60 });
    let binary = Path::new(env!("CARGO_BIN_EXE_lookout"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let memory = sysinfo::System::new_all().map_or(0, |s| s.total_memory());
    println!(
        "machine: {} cores, {:.1} GiB memory; {seconds} s per scenario; server {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory as f64 / (1u64 << 30) as f64,
        binary.display()
    );
    let mut reports: Vec<Report> = Vec::new();
    let only: Option<Vec<String>> = std::env::var("LOOKOUT_BENCH_ONLY")
        .ok()
        .map(|list| list.split(',').map(str::to_string).collect());
    let selected = scenarios(seconds, quick)
        .into_iter()
        .filter(|s| only.as_ref().is_none_or(|names| names.contains(&s.name)));
    for scenario in selected {
        // The decode-only sink first, with the same traffic (overload and paced runs are not
        // compared).
        let sink =
            if scenario.overload || scenario.rate > 0 || scenario.transport != Transport::Grpc {
                0.0
            } else {
                runtime.block_on(run_sink(binary, &scenario))?
            };
        let mut report = runtime.block_on(run(binary, &scenario))?;
        report.sink_items_per_second = sink;
        report.print();
        reports.push(report);
    }
    println!();
    println!("| scenario | sink items/s | items/s | ratio | metric samples/s | logs searchable/s (index catch-up s) | MB/s | server CPU s per M items | peak RSS MiB | p50 ms | p99 ms | disk B/item | refused | queries answered / refused, p99 ms | read back |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in &reports {
        println!(
            "| {} | {:.0} | {:.0} | {:.3} | {:.0} | {:.0} ({:.1}) | {:.1} | {:.2} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {} / {}, {:.0} | {} |",
            r.scenario,
            r.sink_items_per_second,
            r.items_per_second,
            if r.sink_items_per_second > 0.0 {
                r.items_per_second / r.sink_items_per_second
            } else {
                0.0
            },
            r.samples_per_second,
            r.logs_searchable_per_second,
            r.index_catch_up_seconds,
            r.megabytes_per_second,
            r.server_cpu_seconds_per_million,
            r.server_peak_rss_mib,
            r.latency_p50_ms,
            r.latency_p99_ms,
            r.disk_bytes_per_item,
            r.refused,
            r.queries_answered,
            r.queries_refused,
            r.query_p99_ms,
            r.read_back
        );
    }
    if let Ok(path) = std::env::var("LOOKOUT_BENCH_JSON") {
        std::fs::write(&path, serde_json::to_vec_pretty(&reports)?)?;
    }
    Ok(())
}
