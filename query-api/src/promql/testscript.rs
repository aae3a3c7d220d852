//! A runner for Prometheus's PromQL test scripts (`promql/promqltest/testdata/*.test`, format
//! in `../shared/conformance/README.md`): `load`, `clear`, `eval instant`, `eval range`,
//! `expect fail|ordered|string|range vector`. Data is loaded into a real [`Store`] and queried
//! through [`Engine`].
//!
//! What is skipped is reported with its reason: native histogram data or results, syntax the
//! parser does not accept, and functions the engine declares unsupported (experimental ones).
//! `expect warn`/`expect info` annotations are not compared (the engine produces none).

use std::collections::HashMap;
use std::sync::Arc;

use lookout_proto::prometheus::{expand_test_values, parse_test_value as parse_number};
use lookout_storage::series::NewSample;
use lookout_storage::{Labels, Store};
use promql_parser::parser::Expr;

use super::{Engine, PromqlConfig, PromqlError, Range, Value};

/// The outcome of one script.
#[derive(Debug, Default)]
pub struct Report {
    pub passed: usize,
    pub failed: Vec<String>,
    /// (line, reason)
    pub skipped: Vec<(usize, String)>,
}

#[derive(Debug, Clone)]
enum Expected {
    /// Instant: (labels, value) per element; a bare value for a scalar.
    Samples(Vec<(Labels, Option<f64>)>),
    Scalar(f64),
    String(String),
    /// Range query or an instant range vector: (labels, values per step).
    Ranges(Vec<(Labels, Vec<Option<f64>>)>),
}

#[derive(Debug)]
struct Eval {
    line: usize,
    expr: String,
    range: Range,
    instant: bool,
    fail: Option<Option<String>>,
    ordered: bool,
    range_vector: Option<Range>,
    expected: Vec<String>,
    string: Option<String>,
}

fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n * 1000);
    }
    if let Ok(f) = s.parse::<f64>() {
        return Ok((f * 1000.0) as i64);
    }
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let ms = lookout_proto::prometheus::parse_duration_ms(body)
        .map_err(|_| format!("bad duration {s:?}"))? as i64;
    Ok(if negative { -ms } else { ms })
}

/// Splits `metric{a="b"} values...` into the series part and the rest.
fn split_series(line: &str) -> (&str, &str) {
    let line = line.trim();
    if let Some(open) = line.find('{') {
        if !line[..open].contains(char::is_whitespace) {
            // Find the matching close brace outside quotes.
            let mut in_quote = false;
            let mut escaped = false;
            for (i, c) in line.char_indices().skip(open) {
                if escaped {
                    escaped = false;
                    continue;
                }
                match c {
                    '\\' if in_quote => escaped = true,
                    '"' => in_quote = !in_quote,
                    '}' if !in_quote => return (&line[..=i], line[i + 1..].trim()),
                    _ => {}
                }
            }
        }
    }
    match line.split_once(char::is_whitespace) {
        Some((a, b)) => (a, b.trim()),
        None => (line, ""),
    }
}

fn parse_labels(series: &str) -> Result<Labels, String> {
    let series = series.trim();
    if series == "{}" {
        return Ok(Labels::default());
    }
    let expr =
        promql_parser::parser::parse(series).map_err(|e| format!("bad series {series}: {e}"))?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(format!("bad series {series}"));
    };
    let mut pairs: Vec<(String, String)> = vs
        .matchers
        .matchers
        .iter()
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect();
    if let Some(name) = vs.name {
        pairs.retain(|(n, _)| n != "__name__");
        pairs.push(("__name__".into(), name));
    }
    Ok(Labels::new(pairs))
}

/// Whether a selector of the expression can select a series named `name`.
fn selects(expr: &Expr, name: &str) -> bool {
    let mut found = false;
    selected(expr, &mut |vs| {
        let by_name = vs.name.as_deref().is_none_or(|n| n == name);
        let by_matchers = vs
            .matchers
            .matchers
            .iter()
            .chain(vs.matchers.or_matchers.iter().flatten())
            .filter(|m| m.name == "__name__")
            .all(|m| m.is_match(name));
        found |= by_name && by_matchers;
    });
    found
}

fn selected(expr: &Expr, out: &mut dyn FnMut(&promql_parser::parser::VectorSelector)) {
    let selected_names = selected;
    match expr {
        Expr::VectorSelector(vs) => out(vs),
        Expr::MatrixSelector(ms) => out(&ms.vs),
        Expr::Aggregate(a) => {
            selected_names(&a.expr, out);
            if let Some(p) = &a.param {
                selected_names(p, out);
            }
        }
        Expr::Unary(u) => selected_names(&u.expr, out),
        Expr::Binary(b) => {
            selected_names(&b.lhs, out);
            selected_names(&b.rhs, out);
        }
        Expr::Paren(p) => selected_names(&p.expr, out),
        Expr::Subquery(s) => selected_names(&s.expr, out),
        Expr::Call(c) => {
            for a in &c.args.args {
                selected_names(a, out);
            }
        }
        _ => {}
    }
}

fn almost_equal(a: f64, b: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || diff < f64::MIN_POSITIVE {
        return diff < 1e-6 * f64::MIN_POSITIVE;
    }
    diff / (a.abs() + b.abs()).min(f64::MAX) < 1e-6
}

fn show(labels: &Labels) -> String {
    let inner: Vec<String> = labels.0.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Runs one script. `new_store` gives an empty store (at the start and on each `clear`).
pub fn run(
    name: &str,
    text: &str,
    known_skips: &[(&str, usize, &str)],
    new_store: &mut dyn FnMut() -> Result<Arc<Store>, String>,
) -> Result<Report, String> {
    let mut report = Report::default();
    let mut store = new_store()?;
    // Metrics whose data could not be loaded, with why.
    let mut native: HashMap<String, String> = HashMap::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    let is_indented = |l: &str| l.starts_with([' ', '\t']) && !l.trim().is_empty();
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        let lineno = i + 1;
        i += 1;
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut words = trimmed.split_whitespace();
        let command = words.next().unwrap_or("");
        match command {
            "clear" => {
                store = new_store()?;
                native.clear();
            }
            "load" | "load_with_nhcb" => {
                let nhcb = command == "load_with_nhcb";
                let step = parse_duration(words.next().unwrap_or(""))
                    .map_err(|e| format!("{name}:{lineno}: {e}"))?;
                let mut samples = Vec::new();
                while i < lines.len() && is_indented(lines[i]) {
                    let l = lines[i].trim();
                    let ln = i + 1;
                    i += 1;
                    if l.starts_with('#') {
                        continue;
                    }
                    let (series, values) = split_series(l);
                    let labels = match parse_labels(series) {
                        Ok(l) => l,
                        Err(e) => {
                            let metric = series
                                .split(['{', '@', ' '])
                                .next()
                                .unwrap_or_default()
                                .to_owned();
                            native.insert(
                                metric,
                                format!(
                                    "selects data in a notation not supported ({e}, line {ln})"
                                ),
                            );
                            continue;
                        }
                    };
                    if labels.get("__type__").is_some() || labels.get("__unit__").is_some() {
                        native.insert(
                            labels.name().to_owned(),
                            "selects __type__/__unit__ labels (an experimental feature)".into(),
                        );
                        continue;
                    }
                    if nhcb {
                        if let Some(base) = labels.name().strip_suffix("_bucket") {
                            native.insert(
                                base.to_owned(),
                                "selects native histograms converted from classic buckets (load_with_nhcb)".into(),
                            );
                        }
                    }
                    if values.contains("{{") {
                        native.insert(
                            labels.name().to_owned(),
                            "selects native histogram data".into(),
                        );
                        continue;
                    }
                    let values = match expand_test_values(values) {
                        Ok(v) => v,
                        Err(e) => {
                            native.insert(
                                labels.name().to_owned(),
                                format!(
                                    "selects data in a notation not supported ({e}, line {ln})"
                                ),
                            );
                            continue;
                        }
                    };
                    for (k, v) in values.into_iter().enumerate() {
                        if let Some(v) = v {
                            samples.push(NewSample {
                                labels: labels.clone(),
                                t: k as i64 * step,
                                v,
                                delta_start: None,
                                point: 0,
                                series: None,
                                key: 0,
                            });
                        }
                    }
                }
                // A series loaded twice: the later value at a time wins, as in Prometheus's
                // test storage.
                let mut last: HashMap<(Labels, i64), usize> = HashMap::new();
                for (k, s) in samples.iter().enumerate() {
                    last.insert((s.labels.clone(), s.t), k);
                }
                let mut keep: Vec<usize> = last.into_values().collect();
                keep.sort_unstable();
                let samples: Vec<NewSample> =
                    keep.into_iter().map(|k| samples[k].clone()).collect();
                store
                    .append_samples(&samples)
                    .map_err(|e| format!("{name}:{lineno}: load failed: {e}"))?;
            }
            "eval" | "eval_fail" | "eval_ordered" | "eval_warn" | "eval_info" => {
                let kind = words.next().unwrap_or("");
                let rest: Vec<&str> = words.collect();
                let mut eval = Eval {
                    line: lineno,
                    expr: String::new(),
                    range: Range {
                        start: 0,
                        end: 0,
                        step: 1,
                    },
                    instant: true,
                    fail: (command == "eval_fail").then_some(None),
                    ordered: command == "eval_ordered",
                    range_vector: None,
                    expected: Vec::new(),
                    string: None,
                };
                let parsed = match kind {
                    "instant" if rest.first() == Some(&"at") && rest.len() >= 3 => {
                        parse_duration(rest[1]).map(|t| {
                            eval.range = Range {
                                start: t,
                                end: t,
                                step: 1,
                            };
                            eval.expr = rest[2..].join(" ");
                        })
                    }
                    "range"
                        if rest.len() >= 7
                            && rest[0] == "from"
                            && rest[2] == "to"
                            && rest[4] == "step" =>
                    {
                        (|| {
                            eval.range = Range {
                                start: parse_duration(rest[1])?,
                                end: parse_duration(rest[3])?,
                                step: parse_duration(rest[5])?,
                            };
                            eval.instant = false;
                            eval.expr = rest[6..].join(" ");
                            Ok(())
                        })()
                    }
                    _ => Err(format!("unknown eval form: {trimmed}")),
                };
                parsed.map_err(|e| format!("{name}:{lineno}: {e}"))?;
                // Keep the original spacing of the expression.
                if let Some(pos) = line.find(&eval.expr) {
                    eval.expr = line[pos..].trim().to_owned();
                }
                while i < lines.len() && (is_indented(lines[i]) || lines[i].trim().starts_with('#'))
                {
                    let l = lines[i].trim();
                    i += 1;
                    if l.starts_with('#') {
                        continue;
                    }
                    if let Some(e) = l.strip_prefix("expect ") {
                        let e = e.trim();
                        if let Some(f) = e.strip_prefix("fail") {
                            let f = f.trim();
                            eval.fail = Some(
                                f.strip_prefix("msg:")
                                    .map(|m| m.trim().to_owned())
                                    .or_else(|| f.strip_prefix("regex:").map(|_| String::new()))
                                    .filter(|m| !m.is_empty()),
                            );
                        } else if e == "ordered" {
                            eval.ordered = true;
                        } else if let Some(s) = e.strip_prefix("string ") {
                            let s = s.trim();
                            eval.string = Some(s[1..s.len().saturating_sub(1).max(1)].to_owned());
                        } else if let Some(r) = e.strip_prefix("range vector ") {
                            let w: Vec<&str> = r.split_whitespace().collect();
                            if w.len() == 6 {
                                eval.range_vector = Some(Range {
                                    start: parse_duration(w[1])
                                        .map_err(|e| format!("{name}:{}: {e}", i))?,
                                    end: parse_duration(w[3])
                                        .map_err(|e| format!("{name}:{}: {e}", i))?,
                                    step: parse_duration(w[5])
                                        .map_err(|e| format!("{name}:{}: {e}", i))?,
                                });
                            }
                        }
                        // warn / info / no_warn / no_info: annotations are not compared.
                        continue;
                    }
                    eval.expected.push(l.to_owned());
                }
                if let Some((_, _, why)) = known_skips
                    .iter()
                    .find(|(f, l, _)| *f == name && *l == lineno)
                {
                    report.skipped.push((lineno, (*why).to_owned()));
                    continue;
                }
                run_eval(name, &eval, &store, &native, &mut report);
            }
            _ => return Err(format!("{name}:{lineno}: unknown command {command:?}")),
        }
    }
    Ok(report)
}

fn run_eval(
    name: &str,
    eval: &Eval,
    store: &Arc<Store>,
    native: &HashMap<String, String>,
    report: &mut Report,
) {
    let at = format!("{name}:{}", eval.line);
    if eval.expected.iter().any(|l| l.contains("{{")) {
        report
            .skipped
            .push((eval.line, "native histogram result".into()));
        return;
    }
    let expr = match super::parse(&eval.expr) {
        Ok(e) => e,
        Err(e) => {
            if eval.fail.is_some() {
                report.passed += 1;
            } else {
                report.skipped.push((
                    eval.line,
                    format!("syntax promql-parser does not accept: {e}"),
                ));
            }
            return;
        }
    };
    let mut unloadable: Vec<(&String, &String)> = native.iter().collect();
    unloadable.sort();
    if let Some((_, why)) = unloadable.into_iter().find(|(n, _)| selects(&expr, n)) {
        report.skipped.push((eval.line, why.clone()));
        return;
    }
    let engine = Engine::new(store.clone(), PromqlConfig::default());
    let result = engine.eval_expr(&expr, eval.range, eval.instant);
    let result = match (result, &eval.fail) {
        (Err(PromqlError::Unsupported(reason)), _) => {
            report.skipped.push((eval.line, reason));
            return;
        }
        (Err(e), Some(msg)) => {
            let text = e.to_string();
            match msg {
                Some(m) if !text.contains(m.as_str()) => report.failed.push(format!(
                    "{at}: {}: expected error {m:?}, got {text:?}",
                    eval.expr
                )),
                _ => report.passed += 1,
            }
            return;
        }
        (Ok(v), Some(_)) => {
            report
                .failed
                .push(format!("{at}: {}: expected an error, got {v:?}", eval.expr));
            return;
        }
        (Err(e), None) => {
            report
                .failed
                .push(format!("{at}: {}: unexpected error: {e}", eval.expr));
            return;
        }
        (Ok(v), None) => v,
    };
    match compare(eval, result) {
        Ok(()) => report.passed += 1,
        Err(e) => report.failed.push(format!("{at}: {}: {e}", eval.expr)),
    }
}

fn parse_expected(eval: &Eval) -> Result<Expected, String> {
    if let Some(s) = &eval.string {
        return Ok(Expected::String(s.clone()));
    }
    let ranged = !eval.instant || eval.range_vector.is_some();
    if ranged {
        let mut out = Vec::new();
        for l in &eval.expected {
            let (series, values) = split_series(l);
            let labels = parse_labels(series)?;
            out.push((labels, expand_test_values(values)?));
        }
        return Ok(Expected::Ranges(out));
    }
    if eval.expected.len() == 1 {
        if let Some(v) = parse_number(eval.expected[0].trim()) {
            return Ok(Expected::Scalar(v));
        }
    }
    let mut out = Vec::new();
    for l in &eval.expected {
        let (series, value) = split_series(l);
        let labels = parse_labels(series)?;
        let v =
            parse_number(value.trim()).ok_or_else(|| format!("bad expected value {value:?}"))?;
        out.push((labels, Some(v)));
    }
    Ok(Expected::Samples(out))
}

fn compare(eval: &Eval, result: Value) -> Result<(), String> {
    let expected = parse_expected(eval)?;
    match (expected, result) {
        (Expected::String(want), Value::String(_, got)) => {
            if want == got {
                Ok(())
            } else {
                Err(format!("expected string {want:?}, got {got:?}"))
            }
        }
        (Expected::Scalar(want), Value::Scalar(_, got)) => {
            if almost_equal(want, got) {
                Ok(())
            } else {
                Err(format!("expected scalar {want}, got {got}"))
            }
        }
        (Expected::Samples(want), Value::Vector(got)) => {
            if want.len() != got.len() {
                return Err(format!(
                    "expected {} elements, got {}: {:?}",
                    want.len(),
                    got.len(),
                    got.iter()
                        .map(|s| format!("{} {}", show(&s.labels), s.v))
                        .collect::<Vec<_>>()
                ));
            }
            for (k, (labels, v)) in want.iter().enumerate() {
                let found = if eval.ordered {
                    got.get(k).filter(|s| s.labels == *labels)
                } else {
                    got.iter().find(|s| s.labels == *labels)
                };
                let Some(s) = found else {
                    return Err(format!(
                        "expected {} (at {k}), got {:?}",
                        show(labels),
                        got.iter().map(|s| show(&s.labels)).collect::<Vec<_>>()
                    ));
                };
                let v = v.unwrap_or(f64::NAN);
                if !almost_equal(v, s.v) {
                    return Err(format!("{}: expected {v}, got {}", show(labels), s.v));
                }
            }
            Ok(())
        }
        (Expected::Samples(want), Value::Scalar(_, got)) if want.is_empty() => {
            Err(format!("expected an empty vector, got scalar {got}"))
        }
        (Expected::Ranges(want), Value::Matrix(got)) => {
            let times: Vec<i64> = match eval.range_vector {
                Some(r) => (0..)
                    .map(|k| r.start + k * r.step)
                    .take_while(|t| *t <= r.end)
                    .collect(),
                None => (0..)
                    .map(|k| eval.range.start + k * eval.range.step)
                    .take_while(|t| *t <= eval.range.end)
                    .collect(),
            };
            if want.len() != got.len() {
                return Err(format!(
                    "expected {} series, got {}: {:?}",
                    want.len(),
                    got.len(),
                    got.iter().map(|s| show(&s.labels)).collect::<Vec<_>>()
                ));
            }
            for (labels, values) in &want {
                let Some(s) = got.iter().find(|s| s.labels == *labels) else {
                    return Err(format!(
                        "expected series {}, got {:?}",
                        show(labels),
                        got.iter().map(|s| show(&s.labels)).collect::<Vec<_>>()
                    ));
                };
                let want_points: Vec<(i64, f64)> = values
                    .iter()
                    .zip(&times)
                    .filter_map(|(v, t)| v.map(|v| (*t, v)))
                    .collect();
                let same = want_points.len() == s.points.len()
                    && want_points
                        .iter()
                        .zip(&s.points)
                        .all(|(a, b)| a.0 == b.0 && almost_equal(a.1, b.1));
                if !same {
                    return Err(format!(
                        "{}: expected {:?}, got {:?}",
                        show(labels),
                        want_points,
                        s.points
                    ));
                }
            }
            Ok(())
        }
        (Expected::Ranges(want), Value::Vector(got)) if want.is_empty() && got.is_empty() => Ok(()),
        (want, got) => Err(format!("expected {want:?}, got {got:?}")),
    }
}
