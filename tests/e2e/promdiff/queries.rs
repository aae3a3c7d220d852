//! The PromQL queries asked of both: templates over the metrics, at instants and over ranges.

use super::*;

/// When a query is evaluated, in Unix seconds.
#[derive(Clone, Copy, Debug)]
pub(super) enum When {
    Instant(i64),
    Range { start: i64, end: i64, step: i64 },
}

impl std::fmt::Display for When {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rel = |t: i64| {
            let d = t - T0 / 1000;
            format!(
                "{t} (T0{}{}m{}s)",
                if d < 0 { "-" } else { "+" },
                d.abs() / 60,
                d.abs() % 60
            )
        };
        match self {
            When::Instant(t) => write!(f, "instant at {}", rel(*t)),
            When::Range { start, end, step } => {
                write!(f, "range {} to {} step {step}s", rel(*start), rel(*end))
            }
        }
    }
}

pub(super) struct Case {
    pub(super) query: String,
    pub(super) when: When,
    /// Values must be equal, not only close (raw values, timestamps, counts, exact sums).
    pub(super) exact: bool,
    /// The order of the result is defined (`sort`, `sort_desc`).
    pub(super) ordered: bool,
    /// `topk`/`bottomk`: which of several series with equal values is picked is not defined,
    /// so values are compared per timestamp as multisets, not by series.
    pub(super) ties: bool,
}

/// A query time `minutes` after T0, 17 s into the minute: ≡ 2 s (mod 15 s), which keeps
/// subquery points off window edges (see the module's comment).
pub(super) fn at(minutes: i64) -> i64 {
    T0 / 1000 + minutes * 60 + 17
}

/// Query templates: `{}` is replaced by each of `metrics`. `exact` as in [`Case`].
pub(super) struct Template {
    pub(super) query: &'static str,
    pub(super) metrics: &'static [&'static str],
    pub(super) exact: bool,
    /// Instant queries only (range selectors, ordered results).
    pub(super) instant_only: bool,
}

pub(super) const COUNTERS: &[&str] =
    &[REQUESTS, CPU, DURATION_BUCKET, DURATION_SUM, DURATION_COUNT];
pub(super) const GAUGES: &[&str] = &[QUEUE, MEMORY, TEMPERATURE, HIT_RATIO];
pub(super) const ALL: &[&str] = &[
    REQUESTS,
    CPU,
    QUEUE,
    MEMORY,
    TEMPERATURE,
    HIT_RATIO,
    DURATION_BUCKET,
    DURATION_SUM,
    DURATION_COUNT,
];
pub(super) const NONE: &[&str] = &[""];

pub(super) const fn t(
    query: &'static str,
    metrics: &'static [&'static str],
    exact: bool,
) -> Template {
    Template {
        query,
        metrics,
        exact,
        instant_only: false,
    }
}

pub(super) const fn instant(
    query: &'static str,
    metrics: &'static [&'static str],
    exact: bool,
) -> Template {
    Template {
        query,
        metrics,
        exact,
        instant_only: true,
    }
}

pub(super) const EXACT: bool = true;
pub(super) const CLOSE: bool = false;

/// The templates. Names in them are written out where a query uses more than one metric.
pub(super) const TEMPLATES: &[Template] = &[
    // Selectors: raw values and sample times (a timestamp decoding bug shows here first).
    t("{}", ALL, EXACT),
    instant("{}[5m]", ALL, EXACT),
    instant("{}[1m] offset 30m", &[REQUESTS, TEMPERATURE], EXACT),
    t("timestamp({})", ALL, EXACT),
    t(r#"{}{job="shop"}"#, &[REQUESTS, QUEUE], EXACT),
    t(r#"{}{instance=~"i-[01]|c-1", job!="none"}"#, &[QUEUE, DURATION_COUNT], EXACT),
    t(
        r#"http_server_requests_total{http_route!~"/c.*", http_response_status_code="200"}"#,
        NONE,
        EXACT,
    ),
    t("{} offset 20m", &[QUEUE, CPU, DURATION_BUCKET], EXACT),
    t("{} offset -5m", &[TEMPERATURE], EXACT),
    t("queue_length @ 1748740997", NONE, EXACT),
    t("last_over_time({}[2m])", &[MEMORY, REQUESTS], EXACT),
    // Counters.
    t("rate({}[1m])", COUNTERS, CLOSE),
    t("rate({}[5m])", COUNTERS, CLOSE),
    t("irate({}[5m])", COUNTERS, CLOSE),
    t("increase({}[10m])", COUNTERS, CLOSE),
    t("resets({}[30m])", COUNTERS, EXACT),
    t("rate({}[5m] offset 30m)", &[REQUESTS, DURATION_COUNT], CLOSE),
    t("rate(http_server_requests_total[5m] @ end())", NONE, CLOSE),
    t("rate({}[30s])", &[CPU], CLOSE),
    // Gauges.
    t("delta({}[5m])", GAUGES, CLOSE),
    t("idelta({}[2m])", GAUGES, EXACT),
    t("deriv({}[10m])", GAUGES, CLOSE),
    t("changes({}[10m])", GAUGES, EXACT),
    t("predict_linear({}[15m], 600)", &[MEMORY, QUEUE], CLOSE),
    t("avg_over_time({}[10m])", GAUGES, CLOSE),
    t("min_over_time({}[10m])", GAUGES, EXACT),
    t("max_over_time({}[10m])", GAUGES, EXACT),
    t("sum_over_time({}[10m])", GAUGES, EXACT),
    t("count_over_time({}[10m])", ALL, EXACT),
    t("stddev_over_time({}[10m])", GAUGES, CLOSE),
    t("stdvar_over_time({}[10m])", GAUGES, CLOSE),
    t("quantile_over_time(0.9, {}[10m])", GAUGES, CLOSE),
    t("present_over_time({}[1m])", &[TEMPERATURE], EXACT),
    t(r#"absent_over_time(room_temperature_celsius{instance="i-2"}[5m])"#, NONE, EXACT),
    t(r#"absent(queue_length{job="none", queue="x"})"#, NONE, EXACT),
    // Aggregations of raw values (exact sums: dyadic values).
    t("sum by (job) ({})", GAUGES, EXACT),
    t("sum({})", &[REQUESTS, DURATION_SUM], EXACT),
    t("avg by (instance) ({})", GAUGES, CLOSE),
    t("min without (instance) ({})", GAUGES, EXACT),
    t("max({})", GAUGES, EXACT),
    t("count by (job) ({})", ALL, EXACT),
    t("stddev by (job) ({})", GAUGES, CLOSE),
    t("stdvar({})", GAUGES, CLOSE),
    t("quantile by (job) (0.75, {})", GAUGES, CLOSE),
    t("topk(3, {})", &[QUEUE, MEMORY], EXACT),
    t("bottomk by (job) (2, {})", &[QUEUE], EXACT),
    t("group by (job, instance) ({})", &[TEMPERATURE], EXACT),
    t(r#"count_values("value", {})"#, &[QUEUE], EXACT),
    t("count by (http_route) (http_server_requests_total)", NONE, EXACT),
    // Aggregations of rates.
    t("sum by (job, http_route) (rate(http_server_requests_total[5m]))", NONE, CLOSE),
    t("sum without (instance) (rate({}[5m]))", COUNTERS, CLOSE),
    t("avg by (job) (rate(app_cpu_time_seconds_total[5m]))", NONE, CLOSE),
    t("max by (job) (irate(http_server_requests_total[1m]))", NONE, CLOSE),
    t("topk(5, rate(http_server_requests_total[5m]))", NONE, CLOSE),
    t("quantile(0.5, rate(http_server_requests_total[5m]))", NONE, CLOSE),
    t("stddev(rate(app_cpu_time_seconds_total[5m]))", NONE, CLOSE),
    instant("sort_desc(sum by (http_route) (rate(http_server_requests_total[5m])))", NONE, CLOSE),
    instant("sort(room_temperature_celsius)", NONE, EXACT),
    // Binary operators.
    t(
        r#"sum by (job, instance) (rate(http_server_requests_total{http_response_status_code="500"}[5m])) / sum by (job, instance) (rate(http_server_requests_total[5m]))"#,
        NONE,
        CLOSE,
    ),
    t(
        "rate(http_server_requests_total[5m]) / on (job, instance) group_left sum by (job, instance) (rate(http_server_requests_total[5m]))",
        NONE,
        CLOSE,
    ),
    t(
        r#"app_memory_usage_bytes{memory_type="heap"} / ignoring (memory_type) app_memory_usage_bytes{memory_type="stack"}"#,
        NONE,
        CLOSE,
    ),
    t("queue_length > 100", NONE, EXACT),
    t("queue_length > bool 100", NONE, EXACT),
    t("room_temperature_celsius - 20", NONE, EXACT),
    t("2 * queue_length + 1", NONE, EXACT),
    t("-room_temperature_celsius", NONE, EXACT),
    t("queue_length and on (job, instance) room_temperature_celsius > 22", NONE, EXACT),
    t(r#"queue_length{queue="orders"} or queue_length{queue="emails"}"#, NONE, EXACT),
    t("queue_length unless on (job, instance) room_temperature_celsius > 22", NONE, EXACT),
    // Against `max - 1`, not `avg`: a value equal to its job's average would compare either way
    // with averages a last bit apart (see the module's comment on summation order).
    t(
        "room_temperature_celsius > on (job) group_left max by (job) (room_temperature_celsius) - 1",
        NONE,
        EXACT,
    ),
    t("queue_length - on (job, instance, queue) queue_length offset 1m", NONE, EXACT),
    t("time() - timestamp(room_temperature_celsius)", NONE, CLOSE),
    t("sum(queue_length) / scalar(count(queue_length))", NONE, CLOSE),
    t("scalar(sum(room_temperature_celsius))", NONE, EXACT),
    t("vector(1) + on () group_left sum(cache_hit_ratio)", NONE, EXACT),
    t("cache_hit_ratio * on (job, instance) group_right room_temperature_celsius", NONE, EXACT),
    // The histogram.
    t(
        "histogram_quantile(0.9, sum by (le) (rate(http_server_request_duration_seconds_bucket[5m])))",
        NONE,
        CLOSE,
    ),
    t(
        "histogram_quantile(0.5, sum by (job, le) (rate(http_server_request_duration_seconds_bucket[5m])))",
        NONE,
        CLOSE,
    ),
    t(
        "histogram_quantile(0.99, rate(http_server_request_duration_seconds_bucket[10m]))",
        NONE,
        CLOSE,
    ),
    t(
        "histogram_quantile(0.25, sum by (le, http_route) (increase(http_server_request_duration_seconds_bucket[15m])))",
        NONE,
        CLOSE,
    ),
    t("histogram_quantile(0.75, http_server_request_duration_seconds_bucket)", NONE, CLOSE),
    t(
        "sum by (job) (rate(http_server_request_duration_seconds_sum[5m])) / sum by (job) (rate(http_server_request_duration_seconds_count[5m]))",
        NONE,
        CLOSE,
    ),
    // Subqueries (steps multiples of 15 s, see `at`).
    t("max_over_time(rate(http_server_requests_total[1m])[10m:30s])", NONE, CLOSE),
    t("avg_over_time(sum by (job) (queue_length)[15m:1m])", NONE, CLOSE),
    t("rate(http_server_request_duration_seconds_count[5m:15s])", NONE, CLOSE),
    t("deriv(sum(app_memory_usage_bytes)[20m:2m])", NONE, CLOSE),
    t("max_over_time(deriv(room_temperature_celsius[5m])[30m:5m])", NONE, CLOSE),
    t("min_over_time(queue_length[10m:])", NONE, EXACT),
    t("sum_over_time(queue_length[10m:1m] offset 15m)", NONE, EXACT),
    // Other functions.
    t("abs(delta(room_temperature_celsius[5m]))", NONE, CLOSE),
    t("clamp_max(queue_length, 50)", NONE, EXACT),
    t("clamp(room_temperature_celsius, 20, 25)", NONE, EXACT),
    t("round(room_temperature_celsius, 0.5)", NONE, EXACT),
    // Rounding raw values (rounding a computed one turns a last-bit difference into a whole one).
    t("ceil(app_cpu_time_seconds_total / 4)", NONE, EXACT),
    t("ln(app_memory_usage_bytes)", NONE, CLOSE),
    t("sqrt(queue_length)", NONE, CLOSE),
    t(
        r#"label_replace(room_temperature_celsius, "node", "$1", "instance", "(.*)-.*")"#,
        NONE,
        EXACT,
    ),
    t(r#"label_join(queue_length, "where", "/", "job", "instance", "queue")"#, NONE, EXACT),
    t(
        "hour(timestamp(room_temperature_celsius)) * 60 + minute(timestamp(room_temperature_celsius))",
        NONE,
        EXACT,
    ),
];

/// Instant query times (minutes after T0): at the start, around the restarts (65m, 130m), the
/// outages (40m–43m, 100m–107m), the late target (40m), the early one (140m) and the end, and
/// past the lookback delta after the end.
pub(super) const INSTANT_MINUTES: &[i64] = &[
    1, 4, 27, 41, 44, 64, 66, 69, 103, 108, 131, 141, 146, 179, 181, 186,
];

pub(super) fn cases() -> Vec<Case> {
    let whole = When::Range {
        start: at(0),
        end: at(HOURS * 60 + 3),
        step: 60,
    };
    // Every 15 s around the restart at 65m.
    let restart = When::Range {
        start: at(58),
        end: at(78),
        step: 15,
    };
    let mut out = Vec::new();
    let mut i = 0usize;
    for template in TEMPLATES {
        for metric in template.metrics {
            let query = template.query.replace("{}", metric);
            let ties = query.contains("topk(") || query.contains("bottomk");
            for j in 0..5 {
                let minutes = INSTANT_MINUTES[(i * 7 + j * 3) % INSTANT_MINUTES.len()];
                out.push(Case {
                    query: query.clone(),
                    when: When::Instant(at(minutes)),
                    exact: template.exact,
                    ordered: template.query.starts_with("sort"),
                    ties,
                });
            }
            if !template.instant_only {
                out.push(Case {
                    query: query.clone(),
                    when: whole,
                    exact: template.exact,
                    ordered: false,
                    ties,
                });
                if i.is_multiple_of(3) {
                    out.push(Case {
                        query: query.clone(),
                        when: restart,
                        exact: template.exact,
                        ordered: false,
                        ties,
                    });
                }
            }
            i += 1;
        }
    }
    out
}
