//! PromQL functions (`promql/functions.go`), float samples only.

use lookout_storage::Labels;
use promql_parser::parser::{Call, Expr};

use super::drop_name;
use super::eval::{
    is_valid_label_name, kahan_add, mean, merge_same_labels, quantile, rank, stdvar, Evaluator,
    Matrix, StepSeries, Val,
};
use super::PromqlError;

/// Functions behind Prometheus's experimental-functions flag: not supported.
const EXPERIMENTAL: &[&str] = &[
    "double_exponential_smoothing",
    "holt_winters",
    "mad_over_time",
    "first_over_time",
    "ts_of_min_over_time",
    "ts_of_max_over_time",
    "ts_of_last_over_time",
    "ts_of_first_over_time",
    "sort_by_label",
    "sort_by_label_desc",
    "info",
    "limitk",
    "limit_ratio",
    "histogram_quantiles",
    "step",
    "range",
    "start",
    "end",
    "min_of",
    "max_of",
];

/// Functions of native histograms: not supported (float samples only).
const NATIVE_HISTOGRAM: &[&str] = &[
    "histogram_count",
    "histogram_sum",
    "histogram_avg",
    "histogram_fraction",
    "histogram_stddev",
    "histogram_stdvar",
];

pub(crate) fn call(ev: &mut Evaluator<'_>, call: &Call) -> Result<Val, PromqlError> {
    let name = call.func.name;
    let args: Vec<&Expr> = call.args.args.iter().map(|a| a.as_ref()).collect();
    if EXPERIMENTAL.contains(&name) {
        return Err(PromqlError::Unsupported(format!(
            "function \"{name}\" is experimental and not supported"
        )));
    }
    if NATIVE_HISTOGRAM.contains(&name) {
        return Err(PromqlError::Unsupported(format!(
            "function \"{name}\" works on native histograms, which are not supported"
        )));
    }
    let steps = ev.steps();
    match name {
        "time" => Ok(Val::Scalar(
            ev.times().into_iter().map(|t| t as f64 / 1000.0).collect(),
        )),
        "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; steps])),
        "vector" => {
            let s = ev.eval_scalar(args[0], "call to function \"vector\"")?;
            Ok(Val::Vector(vec![StepSeries {
                labels: Labels::default(),
                values: s.into_iter().map(Some).collect(),
            }]))
        }
        "scalar" => {
            let v = ev.eval_vector(args[0], "call to function \"scalar\"")?;
            Ok(Val::Scalar(
                (0..steps)
                    .map(|step| {
                        let mut present = v.iter().filter_map(|s| s.values[step]);
                        match (present.next(), present.next()) {
                            (Some(x), None) => x,
                            _ => f64::NAN,
                        }
                    })
                    .collect(),
            ))
        }
        "timestamp" => {
            let inner = strip_parens(args[0]);
            if let Expr::VectorSelector(vs) = inner {
                return Ok(Val::Vector(merge_same_labels(
                    ev.vector_selector_times(vs)?,
                )?));
            }
            let times = ev.times();
            let v = ev.eval_vector(args[0], "call to function \"timestamp\"")?;
            map_vector(v, true, |step, _| Some(times[step] as f64 / 1000.0))
        }
        "abs" => simple(ev, args[0], name, f64::abs),
        "ceil" => simple(ev, args[0], name, f64::ceil),
        "floor" => simple(ev, args[0], name, f64::floor),
        "exp" => simple(ev, args[0], name, f64::exp),
        "sqrt" => simple(ev, args[0], name, f64::sqrt),
        "ln" => simple(ev, args[0], name, f64::ln),
        "log2" => simple(ev, args[0], name, f64::log2),
        "log10" => simple(ev, args[0], name, f64::log10),
        "sgn" => simple(ev, args[0], name, |x| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }),
        "acos" => simple(ev, args[0], name, f64::acos),
        "acosh" => simple(ev, args[0], name, f64::acosh),
        "asin" => simple(ev, args[0], name, f64::asin),
        "asinh" => simple(ev, args[0], name, f64::asinh),
        "atan" => simple(ev, args[0], name, f64::atan),
        "atanh" => simple(ev, args[0], name, f64::atanh),
        "cos" => simple(ev, args[0], name, f64::cos),
        "cosh" => simple(ev, args[0], name, f64::cosh),
        "sin" => simple(ev, args[0], name, f64::sin),
        "sinh" => simple(ev, args[0], name, f64::sinh),
        "tan" => simple(ev, args[0], name, f64::tan),
        "tanh" => simple(ev, args[0], name, f64::tanh),
        "deg" => simple(ev, args[0], name, f64::to_degrees),
        "rad" => simple(ev, args[0], name, f64::to_radians),
        "round" => {
            let to = match args.get(1) {
                Some(a) => ev.eval_scalar(a, "call to function \"round\"")?,
                None => vec![1.0; steps],
            };
            let v = ev.eval_vector(args[0], "call to function \"round\"")?;
            map_vector(v, true, |step, x| {
                let inverse = 1.0 / to[step];
                Some((x * inverse + 0.5).floor() / inverse)
            })
        }
        "clamp" => {
            let min = ev.eval_scalar(args[1], "call to function \"clamp\"")?;
            let max = ev.eval_scalar(args[2], "call to function \"clamp\"")?;
            let v = ev.eval_vector(args[0], "call to function \"clamp\"")?;
            map_vector(v, true, |step, x| {
                let (lo, hi) = (min[step], max[step]);
                if hi < lo {
                    return None;
                }
                Some(go_max(lo, go_min(hi, x)))
            })
            .map(|v| match v {
                Val::Vector(v) => Val::Vector(v),
                other => other,
            })
        }
        "clamp_min" | "clamp_max" => {
            let bound = ev.eval_scalar(args[1], "call to function")?;
            let v = ev.eval_vector(args[0], "call to function")?;
            let is_min = name == "clamp_min";
            map_vector(v, true, |step, x| {
                Some(if is_min {
                    go_max(bound[step], x)
                } else {
                    go_min(bound[step], x)
                })
            })
        }
        "absent" => {
            let v = ev.eval_vector(args[0], "call to function \"absent\"")?;
            let labels = absent_labels(args[0]);
            let values: Vec<Option<f64>> = (0..steps)
                .map(|step| (!v.iter().any(|s| s.values[step].is_some())).then_some(1.0))
                .collect();
            Ok(Val::Vector(if values.iter().any(Option::is_some) {
                vec![StepSeries { labels, values }]
            } else {
                vec![]
            }))
        }
        "absent_over_time" => {
            let m = ev.eval_matrix(args[0], "call to function \"absent_over_time\"")?;
            let labels = absent_labels(args[0]);
            let values: Vec<Option<f64>> = (0..steps)
                .map(|step| {
                    (!(0..m.series.len()).any(|i| !m.window(i, step).is_empty())).then_some(1.0)
                })
                .collect();
            Ok(Val::Vector(if values.iter().any(Option::is_some) {
                vec![StepSeries { labels, values }]
            } else {
                vec![]
            }))
        }
        "sort" | "sort_desc" => {
            let mut v = ev.eval_vector(args[0], "call to function")?;
            if steps == 1 {
                let desc = name == "sort_desc";
                v.sort_by(|a, b| {
                    rank(
                        a.values[0].unwrap_or(f64::NAN),
                        b.values[0].unwrap_or(f64::NAN),
                        desc,
                    )
                });
            }
            Ok(Val::Vector(v))
        }
        "label_replace" => {
            let v = ev.eval_vector(args[0], "call to function \"label_replace\"")?;
            let dst = string_arg(ev, args[1])?;
            let replacement = string_arg(ev, args[2])?;
            let src = string_arg(ev, args[3])?;
            let pattern = string_arg(ev, args[4])?;
            let re = regex::Regex::new(&format!("^(?s:{pattern})$")).map_err(|e| {
                PromqlError::BadData(format!(
                    "invalid regular expression in label_replace(): {pattern}: {e}"
                ))
            })?;
            if !is_valid_label_name(&dst) {
                return Err(PromqlError::BadData(format!(
                    "invalid destination label name in label_replace(): {dst}"
                )));
            }
            let out = v
                .into_iter()
                .map(|mut s| {
                    let value = s.labels.get(&src).unwrap_or("").to_owned();
                    if let Some(caps) = re.captures(&value) {
                        let mut expanded = String::new();
                        caps.expand(&go_template(&replacement), &mut expanded);
                        set_label(&mut s.labels, &dst, expanded);
                    }
                    s
                })
                .collect();
            Ok(Val::Vector(merge_same_labels(out)?))
        }
        "label_join" => {
            let v = ev.eval_vector(args[0], "call to function \"label_join\"")?;
            let dst = string_arg(ev, args[1])?;
            let sep = string_arg(ev, args[2])?;
            let mut srcs = Vec::new();
            for a in &args[3..] {
                let s = string_arg(ev, a)?;
                if !is_valid_label_name(&s) {
                    return Err(PromqlError::BadData(format!(
                        "invalid source label name in label_join(): {s}"
                    )));
                }
                srcs.push(s);
            }
            if !is_valid_label_name(&dst) {
                return Err(PromqlError::BadData(format!(
                    "invalid destination label name in label_join(): {dst}"
                )));
            }
            let out = v
                .into_iter()
                .map(|mut s| {
                    let joined: Vec<&str> =
                        srcs.iter().map(|n| s.labels.get(n).unwrap_or("")).collect();
                    let joined = joined.join(&sep);
                    set_label(&mut s.labels, &dst, joined);
                    s
                })
                .collect();
            Ok(Val::Vector(merge_same_labels(out)?))
        }
        "histogram_quantile" => {
            let q = ev.eval_scalar(args[0], "call to function \"histogram_quantile\"")?;
            let v = ev.eval_vector(args[1], "call to function \"histogram_quantile\"")?;
            histogram_quantile(&q, v, steps)
        }
        "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour" | "minute"
        | "month" | "year" => {
            let v = match args.first() {
                Some(a) => ev.eval_vector(a, "call to function")?,
                None => vec![StepSeries {
                    labels: Labels::default(),
                    values: ev
                        .times()
                        .into_iter()
                        .map(|t| Some(t as f64 / 1000.0))
                        .collect(),
                }],
            };
            map_vector(v, true, |_, x| date_part(name, x))
        }
        "rate" | "increase" | "delta" => {
            let m = ev.eval_matrix(args[0], &format!("call to function \"{name}\""))?;
            let counter = name != "delta";
            let is_rate = name == "rate";
            range_fn(ev, m, true, |w, t, range| {
                extrapolated_rate(w, t, range, counter, is_rate)
            })
        }
        "irate" | "idelta" => {
            let m = ev.eval_matrix(args[0], &format!("call to function \"{name}\""))?;
            let is_rate = name == "irate";
            range_fn(ev, m, true, |w, _, _| {
                let [.., (pt, pv), (lt, lv)] = w else {
                    return None;
                };
                let mut result = lv - pv;
                if is_rate && lv < pv {
                    result = *lv;
                }
                let dt = (lt - pt) as f64 / 1000.0;
                if is_rate {
                    if dt == 0.0 {
                        return None;
                    }
                    result /= dt;
                }
                Some(result)
            })
        }
        "deriv" => {
            let m = ev.eval_matrix(args[0], "call to function \"deriv\"")?;
            range_fn(ev, m, true, |w, _, _| {
                if w.len() < 2 {
                    return None;
                }
                Some(linear_regression(w, w[0].0).0)
            })
        }
        "predict_linear" => {
            let m = ev.eval_matrix(args[0], "call to function \"predict_linear\"")?;
            let d = ev.eval_scalar(args[1], "call to function \"predict_linear\"")?;
            // The intercept is at the step's own time, whatever `@` or `offset` say.
            let times = ev.times();
            range_fn_step(ev, m, true, |w, step| {
                if w.len() < 2 {
                    return None;
                }
                let (slope, intercept) = linear_regression(w, times[step]);
                Some(slope * d[step] + intercept)
            })
        }
        "changes" => {
            let m = ev.eval_matrix(args[0], "call to function \"changes\"")?;
            range_fn(ev, m, true, |w, _, _| {
                let first = w.first()?;
                let mut prev = first.1;
                let mut n = 0.0;
                for (_, v) in &w[1..] {
                    if *v != prev && !(v.is_nan() && prev.is_nan()) {
                        n += 1.0;
                    }
                    prev = *v;
                }
                Some(n)
            })
        }
        "resets" => {
            let m = ev.eval_matrix(args[0], "call to function \"resets\"")?;
            range_fn(ev, m, true, |w, _, _| {
                let first = w.first()?;
                let mut prev = first.1;
                let mut n = 0.0;
                for (_, v) in &w[1..] {
                    if *v < prev {
                        n += 1.0;
                    }
                    prev = *v;
                }
                Some(n)
            })
        }
        "avg_over_time" | "min_over_time" | "max_over_time" | "sum_over_time"
        | "count_over_time" | "last_over_time" | "present_over_time" | "stddev_over_time"
        | "stdvar_over_time" => {
            let m = ev.eval_matrix(args[0], &format!("call to function \"{name}\""))?;
            let keep_name = name == "last_over_time";
            range_fn(ev, m, !keep_name, |w, _, _| {
                if w.is_empty() {
                    return None;
                }
                let xs = || w.iter().map(|(_, v)| *v);
                Some(match name {
                    "avg_over_time" => mean(&xs().collect::<Vec<_>>()),
                    "min_over_time" => {
                        xs().fold(f64::NAN, |a, b| if a.is_nan() || b < a { b } else { a })
                    }
                    "max_over_time" => {
                        xs().fold(f64::NAN, |a, b| if a.is_nan() || b > a { b } else { a })
                    }
                    "sum_over_time" => {
                        let (mut s, mut c) = (0.0, 0.0);
                        for x in xs() {
                            kahan_add(&mut s, &mut c, x);
                        }
                        s + c
                    }
                    "count_over_time" => w.len() as f64,
                    "last_over_time" => w[w.len() - 1].1,
                    "present_over_time" => 1.0,
                    "stddev_over_time" => stdvar(&xs().collect::<Vec<_>>()).sqrt(),
                    _ => stdvar(&xs().collect::<Vec<_>>()),
                })
            })
        }
        "quantile_over_time" => {
            let q = ev.eval_scalar(args[0], "call to function \"quantile_over_time\"")?;
            let m = ev.eval_matrix(args[1], "call to function \"quantile_over_time\"")?;
            range_fn_step(ev, m, true, |w, step| {
                if w.is_empty() {
                    return None;
                }
                Some(quantile(q[step], w.iter().map(|(_, v)| *v).collect()))
            })
        }
        other => Err(PromqlError::BadData(format!(
            "function \"{other}\" is not supported"
        ))),
    }
}

fn strip_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => strip_parens(&p.expr),
        other => other,
    }
}

/// Go's `math.Max`/`math.Min` NaN handling: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

/// Go's `$1`/`${name}` expansion differs from Rust's only in that `$1x` means `${1x}` in both;
/// the syntax is shared, so the template is passed through.
fn go_template(s: &str) -> String {
    s.to_owned()
}

fn set_label(labels: &mut Labels, name: &str, value: String) {
    labels.0.retain(|(n, _)| n != name);
    if !value.is_empty() {
        labels.0.push((name.to_owned(), value));
        labels.0.sort_by(|a, b| a.0.cmp(&b.0));
    }
}

fn string_arg(ev: &mut Evaluator<'_>, e: &Expr) -> Result<String, PromqlError> {
    match ev.eval(e)? {
        Val::String(s) => Ok(s),
        _ => Err(PromqlError::BadData("expected a string argument".into())),
    }
}

/// The labels `absent` gives its result: the selector's equality matchers.
fn absent_labels(e: &Expr) -> Labels {
    let vs = match strip_parens(e) {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::default(),
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    let ms = &vs.matchers.matchers;
    for m in ms {
        if m.name == "__name__" {
            continue;
        }
        // A label constrained more than once gets no value.
        if ms.iter().filter(|o| o.name == m.name).count() > 1 {
            continue;
        }
        if let promql_parser::label::MatchOp::Equal = m.op {
            pairs.push((m.name.clone(), m.value.clone()));
        }
    }
    Labels::new(pairs)
}

fn simple(
    ev: &mut Evaluator<'_>,
    arg: &Expr,
    name: &str,
    f: fn(f64) -> f64,
) -> Result<Val, PromqlError> {
    let v = ev.eval_vector(arg, &format!("call to function \"{name}\""))?;
    map_vector(v, true, |_, x| Some(f(x)))
}

fn map_vector(
    v: Vec<StepSeries>,
    drop: bool,
    mut f: impl FnMut(usize, f64) -> Option<f64>,
) -> Result<Val, PromqlError> {
    let out: Vec<StepSeries> = v
        .into_iter()
        .map(|s| StepSeries {
            labels: if drop { drop_name(&s.labels) } else { s.labels },
            values: s
                .values
                .iter()
                .enumerate()
                .map(|(step, x)| f(step, (*x)?))
                .collect(),
        })
        .filter(|s| s.values.iter().any(Option::is_some))
        .collect();
    Ok(Val::Vector(merge_same_labels(out)?))
}

fn range_fn(
    ev: &mut Evaluator<'_>,
    m: Matrix,
    drop: bool,
    f: impl Fn(&[(i64, f64)], i64, i64) -> Option<f64>,
) -> Result<Val, PromqlError> {
    let times = m.times.clone();
    let range = m.range;
    range_fn_step(ev, m, drop, |w, step| f(w, times[step], range))
}

fn range_fn_step(
    ev: &mut Evaluator<'_>,
    m: Matrix,
    drop: bool,
    mut f: impl FnMut(&[(i64, f64)], usize) -> Option<f64>,
) -> Result<Val, PromqlError> {
    let steps = m.times.len();
    let mut out = Vec::with_capacity(m.series.len());
    for i in 0..m.series.len() {
        ev.check_deadline()?;
        let values: Vec<Option<f64>> = (0..steps).map(|step| f(m.window(i, step), step)).collect();
        if values.iter().any(Option::is_some) {
            let labels = &m.series[i].0;
            out.push(StepSeries {
                labels: if drop {
                    drop_name(labels)
                } else {
                    labels.clone()
                },
                values,
            });
        }
    }
    Ok(Val::Vector(merge_same_labels(out)?))
}

/// `rate`, `increase` and `delta` (`extrapolatedRate` of functions.go).
fn extrapolated_rate(
    w: &[(i64, f64)],
    t: i64,
    range: i64,
    counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let range_start = t - range;
    let range_end = t;
    let (first_t, first_v) = w[0];
    let (last_t, last_v) = w[w.len() - 1];
    let mut result = last_v - first_v;
    if counter {
        let mut prev = first_v;
        for (_, v) in &w[1..] {
            if *v < prev {
                result += prev;
            }
            prev = *v;
        }
    }
    let mut to_start = (first_t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    let average = sampled / (w.len() - 1) as f64;
    let threshold = average * 1.1;
    if to_start >= threshold {
        to_start = average / 2.0;
    }
    if counter && result > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = average / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= range as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Least squares over the samples, x in seconds from `intercept_time`: (slope, intercept).
fn linear_regression(w: &[(i64, f64)], intercept_time: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init = w[0].1;
    let mut constant = true;
    for (i, (t, v)) in w.iter().enumerate() {
        if constant && i > 0 && *v != init {
            constant = false;
        }
        n += 1.0;
        let x = (t - intercept_time) as f64 / 1000.0;
        kahan_add(&mut sx, &mut cx, x);
        kahan_add(&mut sy, &mut cy, *v);
        kahan_add(&mut sxy, &mut cxy, x * v);
        kahan_add(&mut sx2, &mut cx2, x * x);
    }
    if constant {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    let (sx, sy, sxy, sx2) = (sx + cx, sy + cy, sxy + cxy, sx2 + cx2);
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

fn date_part(name: &str, seconds: f64) -> Option<f64> {
    use jiff::civil::Weekday;
    let ts = jiff::Timestamp::from_second(seconds.floor() as i64).ok()?;
    let dt = ts.to_zoned(jiff::tz::TimeZone::UTC).datetime();
    Some(match name {
        "day_of_month" => dt.day() as f64,
        "day_of_week" => match dt.weekday() {
            Weekday::Sunday => 0.0,
            w => w.to_monday_one_offset() as f64,
        },
        "day_of_year" => dt.day_of_year() as f64,
        "days_in_month" => dt.days_in_month() as f64,
        "hour" => dt.hour() as f64,
        "minute" => dt.minute() as f64,
        "month" => dt.month() as f64,
        _ => dt.year() as f64,
    })
}

fn histogram_quantile(q: &[f64], v: Vec<StepSeries>, steps: usize) -> Result<Val, PromqlError> {
    use std::collections::HashMap;
    let mut groups: HashMap<Labels, Vec<(f64, usize)>> = HashMap::new();
    let mut order = Vec::new();
    for (i, s) in v.iter().enumerate() {
        let Some(le) = s.labels.get("le") else {
            continue;
        };
        let Ok(bound) = parse_le(le) else { continue };
        let mut key = drop_name(&s.labels);
        key.0.retain(|(n, _)| n != "le");
        groups
            .entry(key.clone())
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push((bound, i));
    }
    let mut out = Vec::new();
    for key in order {
        let members = &groups[&key];
        // Two series for one bucket (differing only in name) is a conflict, as in Prometheus.
        for (a, (_, ia)) in members.iter().enumerate() {
            for (_, ib) in &members[a + 1..] {
                if v[*ia].labels.get("le") == v[*ib].labels.get("le")
                    && (0..steps).any(|s| v[*ia].values[s].is_some() && v[*ib].values[s].is_some())
                {
                    return Err(PromqlError::Execution(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
            }
        }
        let values: Vec<Option<f64>> = (0..steps)
            .map(|step| {
                let mut buckets: Vec<(f64, f64)> = members
                    .iter()
                    .filter_map(|(b, i)| Some((*b, v[*i].values[step]?)))
                    .collect();
                if buckets.is_empty() {
                    return None;
                }
                Some(bucket_quantile(q[step], &mut buckets))
            })
            .collect();
        if values.iter().any(Option::is_some) {
            out.push(StepSeries {
                labels: key,
                values,
            });
        }
    }
    Ok(Val::Vector(out))
}

fn parse_le(s: &str) -> Result<f64, ()> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Ok(f64::INFINITY),
        "-Inf" | "-inf" => Ok(f64::NEG_INFINITY),
        _ => s.trim().parse::<f64>().map_err(|_| ()),
    }
}

/// Bucket counts closer than this (relative) are equal for `histogram_quantile`: the
/// `smallDeltaTolerance` of Prometheus's `quantile.go`.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// `almost.Equal` of Prometheus's `util/almost`: `a` and `b` differ by less than `epsilon` times
/// the sum of their magnitudes.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if (a.is_nan() && b.is_nan()) || a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// `bucketQuantile` of Prometheus's `quantile.go`.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    if buckets.last().map(|b| b.0) != Some(f64::INFINITY) {
        return f64::NAN;
    }
    // Coalesce equal bounds.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (b, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == *b => last.1 += c,
            _ => merged.push((*b, *c)),
        }
    }
    // `ensureMonotonicAndIgnoreSmallDeltas` (prometheus/prometheus#13153, merged in November
    // 2023): a difference between neighbouring buckets small enough to be float noise (relative
    // 1e-12) is ignored in either direction, then every decrease is removed.
    let mut prev = merged[0].1;
    for b in merged.iter_mut().skip(1) {
        let curr = b.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) || curr < prev {
            b.1 = prev;
            continue;
        }
        prev = curr;
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 || observations.is_nan() {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = merged.partition_point(|(_, c)| *c < rank);
    if b == merged.len() - 1 {
        return merged[merged.len() - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_extrapolates_like_prometheus() {
        // 0..=10 at 1/s over a 10 s window ending at 10 s: increase 10 over (0, 10].
        let w: Vec<(i64, f64)> = (1..=10).map(|i| (i * 1000, i as f64)).collect();
        let r = extrapolated_rate(&w, 10_000, 10_000, true, false).unwrap();
        assert!((r - 10.0).abs() < 1e-9, "{r}");
        // A counter reset adds the value before it: 5 → 10 → (reset) 2 is an increase of 7.
        let w = vec![(1000, 5.0), (2000, 10.0), (3000, 2.0)];
        let r = extrapolated_rate(&w, 3000, 2000, true, false).unwrap();
        assert!((r - 7.0).abs() < 1e-9, "{r}");
        // Fewer than two samples: no rate.
        assert_eq!(extrapolated_rate(&w[..1], 3000, 2000, true, true), None);
    }

    #[test]
    fn bucket_quantile_interpolates() {
        let mut b = vec![(0.1, 50.0), (0.5, 90.0), (f64::INFINITY, 100.0)];
        assert!((bucket_quantile(0.5, &mut b) - 0.1).abs() < 1e-9);
        let mut b = vec![(0.1, 50.0), (0.5, 90.0), (f64::INFINITY, 100.0)];
        assert!((bucket_quantile(0.7, &mut b) - 0.3).abs() < 1e-9);
        let mut b = vec![(0.1, 50.0), (0.5, 90.0), (f64::INFINITY, 100.0)];
        assert_eq!(bucket_quantile(0.99, &mut b), 0.5);
    }

    #[test]
    fn bucket_quantile_ignores_float_noise_between_buckets() {
        // Sums of rates can leave buckets that hold nothing a few ulps above the one before.
        // Prometheus 3.x takes such counts as equal (relative 1e-12): all 10 observations are
        // in the first bucket, so the 100th percentile is its bound, not the next one's.
        let noise = 10.000000000000002;
        let mut b = vec![(1.0, 10.0), (2.0, noise), (f64::INFINITY, noise)];
        assert_eq!(bucket_quantile(1.0, &mut b), 1.0);
        // A real difference stays, and decreases are still removed.
        let mut b = vec![(1.0, 10.0), (2.0, 10.001), (f64::INFINITY, 10.001)];
        assert_eq!(bucket_quantile(1.0, &mut b), 2.0);
        let mut b = vec![(1.0, 10.0), (2.0, 5.0), (4.0, 20.0), (f64::INFINITY, 20.0)];
        assert!((bucket_quantile(0.75, &mut b) - 3.0).abs() < 1e-12);
        assert!(almost_equal(0.0, 0.0, 1e-12) && !almost_equal(0.0, 1e-300, 1e-12));
        assert!(almost_equal(f64::NAN, f64::NAN, 1e-12) && !almost_equal(1.0, f64::NAN, 1e-12));
    }
}
