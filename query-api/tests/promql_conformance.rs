//! Prometheus's own PromQL engine tests (`../shared/conformance/promql/*.test`, or the folder in
//! `LOOKOUT_PROMQL_CONFORMANCE`) and Lookout's own cases in the same format
//! (`query-api/tests/promql/*.test`), run against Lookout's engine over a real store.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lookout_query_api::promql::testscript;
use lookout_storage::{StorageConfig, Store};

/// Cases that test behind-a-flag semantics Prometheus's server does not have by default.
const DELAYED: &str = "needs delayed __name__ removal (a Prometheus feature flag, off by default)";
const KNOWN_SKIPS: &[(&str, usize, &str)] = &[
    ("name_label_dropping.test", 59, DELAYED),
    ("name_label_dropping.test", 64, DELAYED),
    ("name_label_dropping.test", 69, DELAYED),
    ("name_label_dropping.test", 74, DELAYED),
    ("name_label_dropping.test", 89, DELAYED),
    ("name_label_dropping.test", 115, DELAYED),
    ("name_label_dropping.test", 119, DELAYED),
    ("name_label_dropping.test", 123, DELAYED),
];

fn run_dir(dir: &Path) -> (usize, Vec<String>, Vec<String>) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let tmp = tempfile::tempdir().unwrap();
    let mut n = 0;
    let mut new_store = || -> Result<Arc<Store>, String> {
        n += 1;
        let config = StorageConfig {
            write_buffer_size: bytesize::ByteSize::mib(4),
            block_cache_size: bytesize::ByteSize::mib(4),
            ..Default::default()
        };
        Store::open(&tmp.path().join(n.to_string()), &config)
            .map(Arc::new)
            .map_err(|e| e.to_string())
    };
    let (mut passed, mut failed, mut skipped) = (0, Vec::new(), Vec::new());
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let report = testscript::run(&name, &text, KNOWN_SKIPS, &mut new_store).unwrap();
        passed += report.passed;
        failed.extend(report.failed);
        skipped.extend(
            report
                .skipped
                .into_iter()
                .map(|(line, why)| format!("{name}:{line}: {why}")),
        );
    }
    (passed, failed, skipped)
}

fn summarize(label: &str, passed: usize, failed: &[String], skipped: &[String]) {
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    for s in skipped {
        // "file:line: reason (details)": group by the reason.
        let why = s.split_once(": ").map_or("", |(_, why)| why);
        let why = why.split([':', '(']).next().unwrap_or("").trim().to_owned();
        *reasons.entry(why).or_default() += 1;
    }
    println!(
        "{label}: {passed} passed, {} failed, {} skipped",
        failed.len(),
        skipped.len()
    );
    for (why, n) in &reasons {
        println!("  skipped {n}: {why}");
    }
    if std::env::var_os("PROMQL_SHOW_SKIPPED").is_some() {
        for s in skipped {
            println!("  skip {s}");
        }
    }
    for f in failed {
        println!("  FAIL {f}");
    }
}

#[test]
fn prometheus_engine_tests_pass() {
    let dir = std::env::var_os("LOOKOUT_PROMQL_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance/promql")
        });
    if !dir.is_dir() {
        println!(
            "skipped: Prometheus's PromQL test corpus is not at {} (set LOOKOUT_PROMQL_CONFORMANCE)",
            dir.display()
        );
        return;
    }
    let (passed, failed, skipped) = run_dir(&dir);
    summarize("prometheus corpus", passed, &failed, &skipped);
    assert!(passed > 800, "only {passed} cases passed");
    assert!(failed.is_empty(), "{} cases failed", failed.len());
}

#[test]
fn lookout_promql_cases_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/promql");
    let (passed, failed, skipped) = run_dir(&dir);
    summarize("lookout cases", passed, &failed, &skipped);
    assert!(passed > 0);
    assert!(failed.is_empty(), "{} cases failed", failed.len());
    assert!(skipped.is_empty());
}
