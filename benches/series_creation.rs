//! Series creation benchmark: one append that creates N new series (labels shaped like span
//! metrics' histogram buckets: name, job, instance, span name, kind, status, le), into a real
//! store in a temporary directory, while a second thread keeps appending one sample of a known
//! series and records how long each of those appends waited. Printed per N: seconds, new
//! series/s, the other writer's worst wait, and peak RSS.
//!
//!   cargo bench --bench series_creation                    # 100 000 and 1 000 000
//!   LOOKOUT_BENCH_SERIES=20000 cargo bench --bench series_creation

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_storage::series::{Labels, NewSample};
use lookout_storage::{SeriesConfig, StorageConfig, Store};

fn labels(i: usize) -> Labels {
    let le = [
        "2", "4", "6", "8", "10", "50", "100", "200", "400", "800", "+Inf",
    ];
    Labels::new(vec![
        (
            "__name__".into(),
            "traces_span_metrics_duration_milliseconds_bucket".into(),
        ),
        ("job".into(), format!("svc-{}", i % 8)),
        ("instance".into(), format!("pod-{}", i % 97)),
        ("span_name".into(), format!("GET /api/v1/route/{}", i / 11)),
        ("span_kind".into(), "SPAN_KIND_SERVER".into()),
        ("status_code".into(), "STATUS_CODE_UNSET".into()),
        ("le".into(), le[i % le.len()].into()),
    ])
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn run(n: usize) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config = StorageConfig {
        series: SeriesConfig {
            max_series: n + 10,
            max_series_per_metric: n + 10,
            ..Default::default()
        },
        ..Default::default()
    };
    let store = Arc::new(Store::open(dir.path(), &config).expect("store"));
    let t = 1_700_000_000_000i64;
    let known = Labels::new(vec![("__name__".into(), "up".into())]);
    let sample = |labels: Labels, t: i64| NewSample {
        labels,
        t,
        v: 1.0,
        ..Default::default()
    };
    store
        .append_samples(&[sample(known.clone(), t)])
        .expect("append");
    let samples: Vec<NewSample> = (0..n).map(|i| sample(labels(i), t)).collect();

    // Another writer of the same store: how long does one small append wait meanwhile?
    let done = Arc::new(AtomicBool::new(false));
    let other = {
        let (store, done, known) = (Arc::clone(&store), Arc::clone(&done), known.clone());
        std::thread::spawn(move || {
            let (mut worst, mut n, mut t) = (Duration::ZERO, 0u64, t);
            while !done.load(Ordering::Relaxed) {
                t += 1000;
                let started = Instant::now();
                store
                    .append_samples(&[sample(known.clone(), t)])
                    .expect("append");
                worst = worst.max(started.elapsed());
                n += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (worst, n)
        })
    };
    let started = Instant::now();
    let report = store.append_samples(&samples).expect("append");
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let (worst, appends) = other.join().expect("other writer");
    assert_eq!(report.appended as usize, n, "every sample appended");
    assert!(report.rejected_points.is_empty());
    println!(
        "series_creation n={n}: {:.2} s, {:.0} new series/s; a concurrent one-sample append waited at most {:.1} ms ({appends} appends); peak RSS {:.0} MiB",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        worst.as_secs_f64() * 1000.0,
        peak_rss_mib(),
    );
}

fn main() {
    let counts: Vec<usize> = match std::env::var("LOOKOUT_BENCH_SERIES") {
        Ok(v) => v.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => vec![100_000, 1_000_000],
    };
    for n in counts {
        run(n);
    }
}
