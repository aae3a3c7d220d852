//! Answers of the Prometheus HTTP API, parsed and compared.

use super::*;

pub(super) type LabelSet = BTreeMap<String, String>;

/// A query's answer, ready to compare.
#[derive(Debug)]
pub(super) enum Answer {
    Error(String),
    Scalar(i64, f64),
    String(String),
    /// In the order answered.
    Vector(Vec<(LabelSet, i64, f64)>),
    Matrix(Vec<(LabelSet, Vec<(i64, f64)>)>),
}

pub(super) fn ms(v: &Value) -> i64 {
    (v.as_f64().expect("a timestamp") * 1000.0).round() as i64
}

pub(super) fn float(v: &Value) -> f64 {
    match v.as_str().expect("a value string") {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        s => s.parse().expect("a float"),
    }
}

pub(super) fn labels(v: &Value) -> LabelSet {
    v.as_object()
        .expect("labels")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect()
}

pub(super) fn answer(body: &Value) -> Answer {
    if body["status"] != "success" {
        return Answer::Error(format!("{}: {}", body["errorType"], body["error"]));
    }
    let result = &body["data"]["result"];
    match body["data"]["resultType"].as_str() {
        Some("scalar") => Answer::Scalar(ms(&result[0]), float(&result[1])),
        Some("string") => Answer::String(result[1].as_str().unwrap_or_default().to_owned()),
        Some("vector") => Answer::Vector(
            result
                .as_array()
                .expect("a vector")
                .iter()
                .map(|s| {
                    (
                        labels(&s["metric"]),
                        ms(&s["value"][0]),
                        float(&s["value"][1]),
                    )
                })
                .collect(),
        ),
        Some("matrix") => Answer::Matrix(
            result
                .as_array()
                .expect("a matrix")
                .iter()
                .map(|s| {
                    let points = s["values"]
                        .as_array()
                        .expect("values")
                        .iter()
                        .map(|p| (ms(&p[0]), float(&p[1])))
                        .collect();
                    (labels(&s["metric"]), points)
                })
                .collect(),
        ),
        other => Answer::Error(format!("unknown result type {other:?}")),
    }
}

pub(super) async fn ask(http: &reqwest::Client, base: &str, case: &Case) -> (Answer, String) {
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("query", &case.query);
    let path = match case.when {
        When::Instant(t) => {
            form.append_pair("time", &t.to_string());
            "/api/v1/query"
        }
        When::Range { start, end, step } => {
            form.append_pair("start", &start.to_string());
            form.append_pair("end", &end.to_string());
            form.append_pair("step", &step.to_string());
            "/api/v1/query_range"
        }
    };
    let response = http
        .post(format!("{base}{path}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.finish())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{base}{path} {}: {e}", case.query));
    let text = response.text().await.expect("an answer");
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{base}{path} {}: not JSON ({e}): {text}", case.query));
    (answer(&body), text)
}

pub(super) fn same(a: f64, b: f64, exact: bool) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    !exact
        && a.is_finite()
        && b.is_finite()
        && (a - b).abs() <= RELATIVE_TOLERANCE * a.abs().max(b.abs())
}

pub(super) fn show_labels(l: &LabelSet) -> String {
    let pairs: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(", "))
}

/// What differs between Lookout's answer and Prometheus's, if anything.
pub(super) fn difference(case: &Case, ours: &Answer, theirs: &Answer) -> Option<String> {
    let exact = case.exact;
    if case.ties {
        return tied_difference(ours, theirs, exact);
    }
    match (ours, theirs) {
        (Answer::Error(a), Answer::Error(b)) => {
            // Both refuse: not a difference of results (the messages may differ).
            let _ = (a, b);
            None
        }
        (Answer::Scalar(ta, a), Answer::Scalar(tb, b)) => {
            (ta != tb || !same(*a, *b, exact)).then(|| format!("scalar ({ta}, {a}) vs ({tb}, {b})"))
        }
        (Answer::String(a), Answer::String(b)) => {
            (a != b).then(|| format!("string {a:?} vs {b:?}"))
        }
        (Answer::Vector(a), Answer::Vector(b)) => {
            let mut out = String::new();
            let ma: HashMap<&LabelSet, (i64, f64)> =
                a.iter().map(|(l, t, v)| (l, (*t, *v))).collect();
            let mb: HashMap<&LabelSet, (i64, f64)> =
                b.iter().map(|(l, t, v)| (l, (*t, *v))).collect();
            for (l, (t, v)) in &ma {
                match mb.get(l) {
                    None => {
                        writeln!(out, "  only Lookout has {} = {v} @ {t}", show_labels(l)).unwrap()
                    }
                    Some((tb, vb)) if t != tb || !same(*v, *vb, exact) => writeln!(
                        out,
                        "  {}: Lookout {v} @ {t}, Prometheus {vb} @ {tb}",
                        show_labels(l)
                    )
                    .unwrap(),
                    Some(_) => {}
                }
            }
            for (l, (t, v)) in &mb {
                if !ma.contains_key(l) {
                    writeln!(out, "  only Prometheus has {} = {v} @ {t}", show_labels(l)).unwrap();
                }
            }
            if case.ordered && out.is_empty() {
                let va: Vec<f64> = a.iter().map(|s| s.2).collect();
                let vb: Vec<f64> = b.iter().map(|s| s.2).collect();
                if va.len() != vb.len() || va.iter().zip(&vb).any(|(x, y)| !same(*x, *y, exact)) {
                    writeln!(out, "  order differs: Lookout {va:?}, Prometheus {vb:?}").unwrap();
                }
            }
            (!out.is_empty()).then_some(out)
        }
        (Answer::Matrix(a), Answer::Matrix(b)) => {
            let mut out = String::new();
            let ma: HashMap<&LabelSet, &Vec<(i64, f64)>> = a.iter().map(|(l, p)| (l, p)).collect();
            let mb: HashMap<&LabelSet, &Vec<(i64, f64)>> = b.iter().map(|(l, p)| (l, p)).collect();
            for (l, pa) in &ma {
                let Some(pb) = mb.get(l) else {
                    writeln!(
                        out,
                        "  only Lookout has {} ({} points)",
                        show_labels(l),
                        pa.len()
                    )
                    .unwrap();
                    continue;
                };
                let first = (0..pa.len().max(pb.len())).find(|&i| match (pa.get(i), pb.get(i)) {
                    (Some((ta, va)), Some((tb, vb))) => ta != tb || !same(*va, *vb, exact),
                    _ => true,
                });
                if let Some(i) = first {
                    let around = |p: &[(i64, f64)]| -> String {
                        let from = i.saturating_sub(2);
                        let to = (i + 3).min(p.len());
                        let shown: Vec<String> = p
                            .get(from..to)
                            .unwrap_or_default()
                            .iter()
                            .map(|(t, v)| format!("{v} @ {t}"))
                            .collect();
                        format!("[{}] of {} points", shown.join(", "), p.len())
                    };
                    let kind = match (pa.get(i), pb.get(i)) {
                        (Some((ta, _)), Some((tb, _))) if ta != tb => "timestamps differ",
                        (Some(_), Some(_)) => "values differ",
                        _ => "lengths differ",
                    };
                    writeln!(
                        out,
                        "  {}: {kind} at point {i}: Lookout {}, Prometheus {}",
                        show_labels(l),
                        around(pa),
                        around(pb)
                    )
                    .unwrap();
                }
            }
            for (l, pb) in &mb {
                if !ma.contains_key(l) {
                    writeln!(
                        out,
                        "  only Prometheus has {} ({} points)",
                        show_labels(l),
                        pb.len()
                    )
                    .unwrap();
                }
            }
            (!out.is_empty()).then_some(out)
        }
        (a, b) => Some(format!(
            "  different kinds of answer: Lookout {a:?}, Prometheus {b:?}"
        )),
    }
}

/// Values per timestamp, sorted.
pub(super) fn values_by_time(answer: &Answer) -> Option<BTreeMap<i64, Vec<f64>>> {
    let mut out: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    match answer {
        Answer::Vector(v) => {
            for (_, t, x) in v {
                out.entry(*t).or_default().push(*x);
            }
        }
        Answer::Matrix(m) => {
            for (_, points) in m {
                for (t, x) in points {
                    out.entry(*t).or_default().push(*x);
                }
            }
        }
        _ => return None,
    }
    for values in out.values_mut() {
        values.sort_by(f64::total_cmp);
    }
    Some(out)
}

/// [`difference`] for `topk`/`bottomk`.
pub(super) fn tied_difference(ours: &Answer, theirs: &Answer, exact: bool) -> Option<String> {
    let (Some(a), Some(b)) = (values_by_time(ours), values_by_time(theirs)) else {
        return Some(format!(
            "  different kinds of answer: Lookout {ours:?}, Prometheus {theirs:?}"
        ));
    };
    let times: std::collections::BTreeSet<&i64> = a.keys().chain(b.keys()).collect();
    for t in times {
        let (va, vb) = (
            a.get(t).cloned().unwrap_or_default(),
            b.get(t).cloned().unwrap_or_default(),
        );
        if va.len() != vb.len() || va.iter().zip(&vb).any(|(x, y)| !same(*x, *y, exact)) {
            return Some(format!(
                "  values at {t} differ: Lookout {va:?}, Prometheus {vb:?}\n"
            ));
        }
    }
    None
}

/// How many values an answer holds.
pub(super) fn size(answer: &Answer) -> usize {
    match answer {
        Answer::Error(_) => 0,
        Answer::Scalar(..) | Answer::String(_) => 1,
        Answer::Vector(v) => v.len(),
        Answer::Matrix(m) => m.iter().map(|(_, p)| p.len()).sum(),
    }
}

pub(super) fn cut(text: &str, n: usize) -> &str {
    match text.char_indices().nth(n) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}
