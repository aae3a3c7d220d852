//! The generated data set: targets, series and scrapes with jitter, gaps, restarts and late
//! starts; its OpenMetrics text for promtool and its OTLP export requests for Lookout.

use super::*;

/// xorshift64*: small, fast and deterministic; the workspace has no `rand`.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// Uniform in `lo..=hi`.
    pub(super) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    pub(super) fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
}

/// A stateless hash of two numbers (which points go out of order).
pub(super) fn mix(a: u64, b: u64) -> u64 {
    let mut r = Rng::new(a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.rotate_left(29) ^ SEED);
    r.next();
    r.next()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Gauge,
    Counter,
    Histogram,
}

#[derive(Clone, Copy)]
pub(super) enum AttrValue {
    Str(&'static str),
    Int(i64),
}

/// An OTLP attribute and the label Lookout makes of it.
#[derive(Clone, Copy)]
pub(super) struct Attr {
    pub(super) key: &'static str,
    pub(super) label: &'static str,
    pub(super) value: AttrValue,
}

impl Attr {
    pub(super) fn text(&self) -> String {
        match self.value {
            AttrValue::Str(s) => s.to_owned(),
            AttrValue::Int(i) => i.to_string(),
        }
    }
}

pub(super) fn s(key: &'static str, label: &'static str, value: &'static str) -> Attr {
    Attr {
        key,
        label,
        value: AttrValue::Str(value),
    }
}

/// An OTLP metric and the Prometheus metric family Lookout makes of it.
pub(super) struct Family {
    pub(super) name: &'static str,
    pub(super) unit: &'static str,
    pub(super) kind: Kind,
    /// Integer data points (`as_int`) rather than doubles.
    pub(super) int: bool,
    /// The Prometheus name (for the histogram, without `_bucket`/`_sum`/`_count`).
    pub(super) prom: &'static str,
    pub(super) attrs: Vec<Vec<Attr>>,
}

pub(super) fn families() -> Vec<Family> {
    let mut requests = Vec::new();
    for route in ["/", "/cart", "/checkout", "/search"] {
        for code in [200, 500] {
            requests.push(vec![
                s("http.route", "http_route", route),
                Attr {
                    key: "http.response.status_code",
                    label: "http_response_status_code",
                    value: AttrValue::Int(code),
                },
            ]);
        }
    }
    vec![
        Family {
            name: "http.server.requests",
            unit: "{request}",
            kind: Kind::Counter,
            int: true,
            prom: REQUESTS,
            attrs: requests,
        },
        Family {
            name: "app.cpu.time",
            unit: "s",
            kind: Kind::Counter,
            int: false,
            prom: CPU,
            attrs: ["user", "system"]
                .map(|m| vec![s("cpu.mode", "cpu_mode", m)])
                .to_vec(),
        },
        Family {
            name: "queue.length",
            unit: "{item}",
            kind: Kind::Gauge,
            int: true,
            prom: QUEUE,
            attrs: ["orders", "emails", "payments"]
                .map(|q| vec![s("queue", "queue", q)])
                .to_vec(),
        },
        Family {
            name: "app.memory.usage",
            unit: "By",
            kind: Kind::Gauge,
            int: true,
            prom: MEMORY,
            attrs: ["heap", "stack"]
                .map(|m| vec![s("memory.type", "memory_type", m)])
                .to_vec(),
        },
        Family {
            name: "room.temperature",
            unit: "Cel",
            kind: Kind::Gauge,
            int: false,
            prom: TEMPERATURE,
            attrs: vec![vec![]],
        },
        Family {
            name: "cache.hit",
            unit: "1",
            kind: Kind::Gauge,
            int: false,
            prom: HIT_RATIO,
            attrs: vec![vec![]],
        },
        Family {
            name: "http.server.request.duration",
            unit: "s",
            kind: Kind::Histogram,
            int: false,
            prom: DURATION,
            attrs: ["/", "/checkout"]
                .map(|r| vec![s("http.route", "http_route", r)])
                .to_vec(),
        },
    ]
}

/// A scraped process: an OTLP resource, a `job`/`instance` pair in Prometheus.
pub(super) struct Target {
    pub(super) job: &'static str,
    pub(super) instance: &'static str,
    pub(super) host: &'static str,
    /// Where in the 15 s interval its scrapes fall (ms).
    pub(super) phase: i64,
    /// When it runs.
    pub(super) from: i64,
    pub(super) until: i64,
    /// No scrapes in these (from, to) ms.
    pub(super) outages: Vec<(i64, i64)>,
    /// Process restarts: counters start again from zero.
    pub(super) restarts: Vec<i64>,
}

/// One OTLP point stream: a target's metric with one attribute set.
pub(super) struct Stream {
    pub(super) target: usize,
    pub(super) family: usize,
    pub(super) attrs: usize,
    pub(super) from: i64,
    pub(super) until: i64,
    pub(super) pause: Option<(i64, i64)>,
    /// How busy it is (increments per scrape, or the random walk's stride).
    pub(super) pace: i64,
    pub(super) value: f64,
    /// A counter not yet scraped since it started or restarted: still zero.
    pub(super) fresh: bool,
    /// Samples since the counter (re)started.
    pub(super) age: u32,
    /// Histogram observations per bucket (not cumulative), sum and count.
    pub(super) buckets: [u64; 11],
    pub(super) sum: f64,
    pub(super) count: u64,
}

#[derive(Clone)]
pub(super) enum PointValue {
    Number(f64),
    Histogram {
        buckets: [u64; 11],
        sum: f64,
        count: u64,
    },
}

#[derive(Clone)]
pub(super) struct Point {
    pub(super) stream: usize,
    /// Unix ms.
    pub(super) t: i64,
    /// The process start (the OTLP start time of cumulative points).
    pub(super) start: i64,
    pub(super) value: PointValue,
}

/// Prometheus series (`name{labels}` as OpenMetrics writes it) and their samples, by family.
pub(super) type AllSeries = BTreeMap<&'static str, BTreeMap<String, Vec<(i64, f64)>>>;

/// A Prometheus sample: metric name, labels without `__name__`, value.
pub(super) type PromSample = (String, Vec<(String, String)>, f64);

pub(super) struct Dataset {
    pub(super) families: Vec<Family>,
    pub(super) targets: Vec<Target>,
    pub(super) streams: Vec<Stream>,
    /// Every scraped point, in time order.
    pub(super) points: Vec<Point>,
}

/// Whether Go's `int64(ParseFloat("<s>.<ms>") * 1000)` (how `promtool`'s OpenMetrics parser
/// reads timestamps) gives back `t`.
pub(super) fn go_reads_back(t: i64) -> bool {
    let seconds: f64 = format!("{}.{:03}", t / 1000, t % 1000).parse().unwrap();
    (seconds * 1000.0) as i64 == t
}

pub(super) fn generate() -> Dataset {
    let mut rng = Rng::new(SEED);
    let families = families();
    let end = T0 + HOURS * 60 * MINUTE;
    let mut target = |job, instance, host, from: i64, until: i64| Target {
        job,
        instance,
        host,
        phase: rng.range(0, SCRAPE_MS - 1),
        from,
        until,
        outages: Vec::new(),
        restarts: Vec::new(),
    };
    let mut targets = vec![
        target("shop", "i-0", "node-a", T0, end),
        target("shop", "i-1", "node-b", T0, end),
        // Scaled down at 2h20m.
        target("shop", "i-2", "node-c", T0, T0 + 140 * MINUTE),
        target("cart", "c-0", "node-a", T0, end),
        // Deployed at 40m.
        target("cart", "c-1", "node-b", T0 + 40 * MINUTE + 4_321, end),
    ];
    // Restarts (with a few scrapes lost around them) and outages shorter and longer than the
    // lookback delta.
    targets[1].restarts.push(T0 + 65 * MINUTE + 7_777);
    targets[3].restarts.push(T0 + 130 * MINUTE + 1_234);
    targets[1]
        .outages
        .push((T0 + 100 * MINUTE, T0 + 107 * MINUTE + 500));
    targets[3]
        .outages
        .push((T0 + 40 * MINUTE + 900, T0 + 43 * MINUTE));
    for t in &mut targets {
        let restarts = t.restarts.clone();
        t.outages
            .extend(restarts.iter().map(|r| (r - 5_000, r + 20_000)));
    }

    let mut streams = Vec::new();
    for (ti, target) in targets.iter().enumerate() {
        for (fi, family) in families.iter().enumerate() {
            for (ai, attrs) in family.attrs.iter().enumerate() {
                let mut from = target.from;
                let mut until = target.until;
                if rng.percent(12) {
                    from = from.max(T0 + rng.range(5 * MINUTE, 100 * MINUTE));
                }
                if rng.percent(12) {
                    until = until.min(T0 + rng.range(80 * MINUTE, 175 * MINUTE));
                }
                let pause = rng.percent(10).then(|| {
                    let at = T0 + rng.range(10 * MINUTE, 170 * MINUTE);
                    (at, at + rng.range(2 * MINUTE, 12 * MINUTE))
                });
                let errors = attrs.iter().any(|a| matches!(a.value, AttrValue::Int(500)));
                let (pace, value) = match family.prom {
                    REQUESTS if errors => (rng.range(0, 3), 0.0),
                    REQUESTS => (rng.range(5, 80), 0.0),
                    CPU => (rng.range(16, 256), 0.0),
                    DURATION => (rng.range(1, 3), 0.0),
                    QUEUE => (rng.range(1, 6), rng.range(0, 200) as f64),
                    MEMORY => (
                        rng.range(100, 2000),
                        rng.range(50_000, 100_000) as f64 * 4096.0,
                    ),
                    TEMPERATURE => (4, rng.range(160, 240) as f64 / 8.0),
                    _ => (256, 0.5), // HIT_RATIO
                };
                streams.push(Stream {
                    target: ti,
                    family: fi,
                    attrs: ai,
                    from,
                    until,
                    pause,
                    pace,
                    value,
                    fresh: true,
                    age: 0,
                    buckets: [0; 11],
                    sum: 0.0,
                    count: 0,
                });
            }
        }
    }

    let mut points = Vec::new();
    let mut last_scrape = vec![T0 - SCRAPE_MS; targets.len()];
    let mut started: Vec<i64> = targets.iter().map(|t| t.from - 3_600_000).collect();
    let scrapes = HOURS * 3_600_000 / SCRAPE_MS;
    for k in 0..=scrapes {
        for (ti, target) in targets.iter().enumerate() {
            let mut t = T0 + target.phase + k * SCRAPE_MS + rng.range(-JITTER_MS, JITTER_MS);
            while t % 1000 == 0 || !go_reads_back(t) {
                t += 1;
            }
            if let Some(&r) = target
                .restarts
                .iter()
                .find(|&&r| last_scrape[ti] < r && r <= t)
            {
                started[ti] = r;
                for st in streams.iter_mut().filter(|st| st.target == ti) {
                    if families[st.family].kind != Kind::Gauge {
                        st.value = 0.0;
                        st.buckets = [0; 11];
                        st.sum = 0.0;
                        st.count = 0;
                        st.fresh = true;
                        st.age = 0;
                    }
                }
            }
            last_scrape[ti] = t;
            // Every stream moves on, scraped or not; counters stay at zero until their first
            // scrape (initialized to zero, as client libraries are told to).
            for st in streams
                .iter_mut()
                .filter(|st| st.target == ti && st.from <= t && !st.fresh)
            {
                advance(st, families[st.family].prom, &mut rng);
            }
            let counter = |st: &Stream| families[st.family].kind != Kind::Gauge;
            let alive = |st: &Stream| st.from <= t && t < st.until;
            let young = streams
                .iter()
                .any(|st| st.target == ti && counter(st) && alive(st) && st.age < YOUNG_SAMPLES);
            let missed = rng.percent(2) && !young;
            if t < target.from
                || t >= target.until
                || missed
                || target.outages.iter().any(|&(a, b)| a < t && t < b)
            {
                continue;
            }
            for (si, st) in streams.iter_mut().enumerate() {
                let paused = st.pause.is_some_and(|(a, b)| {
                    a < t && t < b && (!counter(st) || st.age >= YOUNG_SAMPLES)
                });
                if st.target != ti || !alive(st) || paused {
                    continue;
                }
                let value = match families[st.family].kind {
                    Kind::Histogram => PointValue::Histogram {
                        buckets: st.buckets,
                        sum: st.sum,
                        count: st.count,
                    },
                    _ => PointValue::Number(st.value),
                };
                points.push(Point {
                    stream: si,
                    t,
                    start: started[ti],
                    value,
                });
                st.fresh = false;
                st.age = st.age.saturating_add(1);
            }
        }
    }
    Dataset {
        families,
        targets,
        streams,
        points,
    }
}

/// Histogram observations per scrape interval and bucket, times the stream's pace.
pub(super) const BUCKET_WEIGHTS: [u64; 11] = [1, 1, 2, 3, 4, 4, 3, 2, 1, 1, 1];

/// One scrape interval of a stream's life. Values stay dyadic rationals of small magnitude, so
/// that sums of them are exact whatever the order (see the module's comment). Counters grow by
/// at least half their pace each interval (see [`extrapolation_ambiguity`]).
pub(super) fn advance(st: &mut Stream, prom: &str, rng: &mut Rng) {
    let pace = st.pace;
    let increment = |rng: &mut Rng| rng.range((pace + 1) / 2, pace) as f64;
    match prom {
        REQUESTS => st.value += increment(rng),
        CPU => st.value += increment(rng) / 64.0,
        QUEUE => st.value = (st.value + rng.range(-pace, pace) as f64).clamp(0.0, 500.0),
        MEMORY => {
            st.value = (st.value + rng.range(-pace, pace) as f64 * 4096.0)
                .clamp(100_000_000.0, 900_000_000.0)
        }
        TEMPERATURE => {
            st.value = (st.value + rng.range(-pace, pace) as f64 / 8.0).clamp(10.0, 35.0)
        }
        HIT_RATIO => st.value = rng.range(0, pace) as f64 / 256.0,
        _ => {
            // Observations spread over every bucket, each value a multiple of 1/1024 s inside
            // its bucket (the last one: up to 8 s).
            for (bucket, weight) in BUCKET_WEIGHTS.iter().enumerate() {
                let base = weight * pace as u64;
                let lower = if bucket == 0 { 0.0 } else { BOUNDS[bucket - 1] };
                let upper = BOUNDS.get(bucket).copied().unwrap_or(8.0);
                let (lo, hi) = ((lower * 1024.0) as i64 + 1, (upper * 1024.0) as i64);
                for _ in 0..rng.range(base as i64, 2 * base as i64) {
                    st.buckets[bucket] += 1;
                    st.sum += rng.range(lo, hi) as f64 / 1024.0;
                    st.count += 1;
                }
            }
        }
    }
}

/// Prometheus 2.42 and 3.x extrapolate `rate` and `increase` differently in one case
/// (prometheus/prometheus#13725, "Fix limiting of extrapolation to negative values", merged in
/// March 2024): when a window's first sample is more than 1.1 average intervals after the window's
/// start, 3.x extrapolates half an interval or to the counter's zero point, whichever is
/// nearer; 2.42 extrapolates to the zero point only when it is less than 1.1 intervals before
/// the first sample, and half an interval otherwise. The two differ when the zero point lies
/// between half an interval and 1.1 intervals before the first sample, i.e. when a counter that
/// starts a window after a gap is small compared to its increase per interval.
///
/// The data avoids that case by construction (counters start at zero, grow by at least half
/// their pace each interval, miss no scrape while young, jitter keeps intervals within 10% of
/// each other), and this checks it: for every pair of samples (i, j) that can be a window's
/// first and last sample in a window of up to `longest` ms, whether the window can start far
/// enough before sample i and the zero point falls in between. Returns the first such pair.
pub(super) fn extrapolation_ambiguity(samples: &[(i64, f64)], longest: i64) -> Option<String> {
    for i in 0..samples.len() {
        let (ti, vi) = samples[i];
        let before = if i == 0 {
            i64::MAX
        } else {
            ti - samples[i - 1].0
        };
        let mut resets = 0.0;
        let mut prev = vi;
        for (j, &(tj, vj)) in samples.iter().enumerate().skip(i + 1) {
            if tj - ti >= longest {
                break;
            }
            if vj < prev {
                resets += prev;
            }
            prev = vj;
            let result = vj - vi + resets;
            let sampled = (tj - ti) as f64 / 1000.0;
            let average = sampled / (j - i) as f64;
            let threshold = average * 1.1;
            let to_start = before.min(longest - (tj - ti)) as f64 / 1000.0;
            if result <= 0.0 || vi < 0.0 || to_start < threshold * (1.0 - 1e-9) {
                continue;
            }
            let to_zero = sampled * (vi / result);
            if to_zero > average / 2.0 * (1.0 - 1e-9) && to_zero < threshold * (1.0 + 1e-9) {
                return Some(format!(
                    "samples {i} ({vi} @ {ti}) to {j} ({vj} @ {tj}): zero point {to_zero:.3} s before, average interval {average:.3} s"
                ));
            }
        }
    }
    None
}

/// The points a subquery `[range:step]` of a plain selector makes of `samples`: the newest
/// sample within the lookback delta at every multiple of `step`.
pub(super) fn subquery_points(samples: &[(i64, f64)], step: i64) -> Vec<(i64, f64)> {
    const LOOKBACK: i64 = 5 * MINUTE;
    let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut g = (first.0 / step + 1) * step;
    while g < last.0 + LOOKBACK {
        let i = samples.partition_point(|(t, _)| *t <= g);
        if let Some(&(t, v)) = samples.get(i.wrapping_sub(1)) {
            if t > g - LOOKBACK {
                out.push((g, v));
            }
        }
        g += step;
    }
    out
}

impl Dataset {
    /// The Prometheus samples of a point: (metric name, labels without `__name__`, value).
    pub(super) fn samples(&self, p: &Point) -> Vec<PromSample> {
        let st = &self.streams[p.stream];
        let family = &self.families[st.family];
        let target = &self.targets[st.target];
        let mut labels: Vec<(String, String)> = family.attrs[st.attrs]
            .iter()
            .map(|a| (a.label.to_owned(), a.text()))
            .collect();
        labels.push(("job".into(), target.job.into()));
        labels.push(("instance".into(), target.instance.into()));
        labels.sort();
        match &p.value {
            PointValue::Number(v) => vec![(family.prom.to_owned(), labels, *v)],
            PointValue::Histogram {
                buckets,
                sum,
                count,
            } => {
                let mut out = Vec::new();
                let mut cumulative = 0;
                for (le, n) in LE.iter().zip(buckets) {
                    cumulative += n;
                    let mut l = labels.clone();
                    l.push(("le".into(), (*le).into()));
                    l.sort();
                    out.push((format!("{}_bucket", family.prom), l, cumulative as f64));
                }
                out.push((format!("{}_sum", family.prom), labels.clone(), *sum));
                out.push((format!("{}_count", family.prom), labels, *count as f64));
                out
            }
        }
    }

    /// Every Prometheus series (`name{labels}` as OpenMetrics writes it) with its samples in
    /// time order, by metric family.
    pub(super) fn series(&self) -> AllSeries {
        let mut by_family = AllSeries::new();
        for p in &self.points {
            let family = self.families[self.streams[p.stream].family].prom;
            for (name, labels, v) in self.samples(p) {
                let pairs: Vec<String> =
                    labels.iter().map(|(n, v)| format!("{n}=\"{v}\"")).collect();
                by_family
                    .entry(family)
                    .or_default()
                    .entry(format!("{name}{{{}}}", pairs.join(",")))
                    .or_default()
                    .push((p.t, v));
            }
        }
        by_family
    }

    /// The OpenMetrics text `promtool` reads: `# TYPE` of each family, then each series'
    /// samples in time order, timestamps in seconds with 3 decimals.
    pub(super) fn openmetrics(&self, all: &AllSeries) -> String {
        let mut out = String::new();
        for family in &self.families {
            let Some(series) = all.get(family.prom) else {
                continue;
            };
            let (name, kind) = match family.kind {
                Kind::Gauge => (family.prom, "gauge"),
                Kind::Counter => (family.prom.strip_suffix("_total").unwrap(), "counter"),
                Kind::Histogram => (family.prom, "histogram"),
            };
            writeln!(out, "# TYPE {name} {kind}").unwrap();
            for (labels, points) in series {
                for (t, v) in points {
                    writeln!(out, "{labels} {v} {}.{:03}", t / 1000, t % 1000).unwrap();
                }
            }
        }
        out.push_str("# EOF\n");
        out
    }

    /// The export requests Lookout gets, in order: one per `BATCH_MS` of scrapes, all targets
    /// together; with `OUT_OF_ORDER`, some points come a few batches late.
    /// Also returns how many points come late.
    pub(super) fn batches(&self) -> (Vec<ExportMetricsServiceRequest>, usize) {
        let mut batches: Vec<Vec<&Point>> = Vec::new();
        let mut late: Vec<Vec<&Point>> = Vec::new();
        for (i, p) in self.points.iter().enumerate() {
            let b = ((p.t - T0) / BATCH_MS) as usize;
            let delayed =
                OUT_OF_ORDER && mix(p.stream as u64, i as u64) % 100 < OUT_OF_ORDER_PERCENT;
            let (list, b) = if delayed {
                (&mut late, b + OUT_OF_ORDER_DELAY)
            } else {
                (&mut batches, b)
            };
            if list.len() <= b {
                list.resize_with(b + 1, Vec::new);
            }
            list[b].push(p);
        }
        if late.len() > batches.len() {
            batches.resize_with(late.len(), Vec::new);
        }
        let late_points = late.iter().map(Vec::len).sum();
        for (b, points) in late.into_iter().enumerate() {
            // After the batch's own points: older than what their series already has.
            batches[b].extend(points);
        }
        (
            batches.iter().map(|points| self.request(points)).collect(),
            late_points,
        )
    }

    pub(super) fn request(&self, points: &[&Point]) -> ExportMetricsServiceRequest {
        // target → family → points, each in the order given.
        let mut grouped: BTreeMap<usize, BTreeMap<usize, Vec<&Point>>> = BTreeMap::new();
        for p in points {
            let st = &self.streams[p.stream];
            grouped
                .entry(st.target)
                .or_default()
                .entry(st.family)
                .or_default()
                .push(p);
        }
        let resource_metrics = grouped
            .into_iter()
            .map(|(ti, by_family)| {
                let target = &self.targets[ti];
                let metrics = by_family
                    .into_iter()
                    .map(|(fi, points)| self.metric(&self.families[fi], &points))
                    .collect();
                ResourceMetrics {
                    resource: Some(Resource {
                        // `job` and `instance`; `host.name` goes on Lookout's `target_info`
                        // series, which no query selects (they all name their metrics).
                        attributes: vec![
                            string_kv("service.name", target.job),
                            string_kv("service.instance.id", target.instance),
                            string_kv("host.name", target.host),
                        ],
                        ..Default::default()
                    }),
                    scope_metrics: vec![ScopeMetrics {
                        metrics,
                        ..Default::default()
                    }],
                    ..Default::default()
                }
            })
            .collect();
        ExportMetricsServiceRequest { resource_metrics }
    }

    pub(super) fn metric(&self, family: &Family, points: &[&Point]) -> Metric {
        let attributes = |p: &Point| -> Vec<KeyValue> {
            family.attrs[self.streams[p.stream].attrs]
                .iter()
                .map(|a| KeyValue {
                    key: a.key.into(),
                    value: Some(AnyValue {
                        value: Some(match a.value {
                            AttrValue::Str(s) => any_value::Value::StringValue(s.into()),
                            AttrValue::Int(i) => any_value::Value::IntValue(i),
                        }),
                    }),
                    ..Default::default()
                })
                .collect()
        };
        let ns = |ms: i64| ms as u64 * 1_000_000;
        let numbers = || -> Vec<NumberDataPoint> {
            points
                .iter()
                .map(|p| {
                    let PointValue::Number(v) = p.value else {
                        unreachable!("a number")
                    };
                    NumberDataPoint {
                        attributes: attributes(p),
                        start_time_unix_nano: if family.kind == Kind::Counter {
                            ns(p.start)
                        } else {
                            0
                        },
                        time_unix_nano: ns(p.t),
                        value: Some(if family.int {
                            number_data_point::Value::AsInt(v as i64)
                        } else {
                            number_data_point::Value::AsDouble(v)
                        }),
                        ..Default::default()
                    }
                })
                .collect()
        };
        let data = match family.kind {
            Kind::Gauge => Data::Gauge(Gauge {
                data_points: numbers(),
            }),
            Kind::Counter => Data::Sum(Sum {
                data_points: numbers(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
            Kind::Histogram => Data::Histogram(Histogram {
                data_points: points
                    .iter()
                    .map(|p| {
                        let PointValue::Histogram {
                            buckets,
                            sum,
                            count,
                        } = &p.value
                        else {
                            unreachable!("a histogram")
                        };
                        HistogramDataPoint {
                            attributes: attributes(p),
                            start_time_unix_nano: ns(p.start),
                            time_unix_nano: ns(p.t),
                            count: *count,
                            sum: Some(*sum),
                            bucket_counts: buckets.to_vec(),
                            explicit_bounds: BOUNDS.to_vec(),
                            ..Default::default()
                        }
                    })
                    .collect(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
            }),
        };
        Metric {
            name: family.name.into(),
            unit: family.unit.into(),
            data: Some(data),
            ..Default::default()
        }
    }
}
