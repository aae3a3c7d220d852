//! Rule unit tests in promtool's format (`promtool test rules`): `input_series` in the
//! expanding notation (`a+bxN`, `a-bxN`, `axN`, `_`, `_xN`, `stale`), `alert_rule_test` and
//! `promql_expr_test`, evaluated every `evaluation_interval` from time 0 over a fresh store
//! the caller provides.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use crate::manager::AlertState;
use crate::rules::{self, parse_duration};
use crate::{
    AlertingConfig, Labels, Manager, QueryEngine, QueryResult, SampleAppender, StateStore,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    rule_files: Vec<String>,
    #[serde(default)]
    evaluation_interval: Option<String>,
    #[serde(default)]
    group_eval_order: Vec<String>,
    #[serde(default)]
    tests: Vec<TestGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestGroup {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    interval: Option<String>,
    #[serde(default)]
    input_series: Vec<InputSeries>,
    #[serde(default)]
    alert_rule_test: Vec<AlertTest>,
    #[serde(default)]
    promql_expr_test: Vec<ExprTest>,
    #[serde(default)]
    external_labels: BTreeMap<String, String>,
    #[serde(default)]
    external_url: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputSeries {
    series: String,
    values: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertTest {
    eval_time: String,
    alertname: String,
    #[serde(default)]
    exp_alerts: Vec<ExpAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpAlert {
    #[serde(default)]
    exp_labels: BTreeMap<String, String>,
    #[serde(default)]
    exp_annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExprTest {
    expr: String,
    eval_time: String,
    #[serde(default)]
    exp_samples: Vec<ExpSample>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpSample {
    labels: String,
    value: f64,
}

/// A query engine and the appender that feeds its store.
pub type Backend = (Arc<dyn QueryEngine>, Arc<dyn SampleAppender>);

/// Gives each test group an empty store to load its input series into.
pub trait TestBackend {
    fn fresh(&self) -> Result<Backend, String>;
}

/// The outcome of one test file.
#[derive(Debug, Default)]
pub struct Outcome {
    pub passed: usize,
    pub failures: Vec<String>,
}

#[derive(Default)]
struct MemoryState {
    entries: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl StateStore for MemoryState {
    fn load(&self) -> Result<Vec<(String, Vec<u8>)>, String> {
        Ok(self
            .entries
            .lock()
            .map(|e| e.clone().into_iter().collect())
            .unwrap_or_default())
    }
    fn save(&self, key: &str, value: &[u8]) -> Result<(), String> {
        if let Ok(mut e) = self.entries.lock() {
            e.insert(key.to_owned(), value.to_vec());
        }
        Ok(())
    }
    fn remove(&self, key: &str) -> Result<(), String> {
        if let Ok(mut e) = self.entries.lock() {
            e.remove(key);
        }
        Ok(())
    }
    fn record(&self, _: i64, _: &[u8]) -> Result<(), String> {
        Ok(())
    }
    fn history(&self, _: i64, _: i64, _: usize) -> Result<Vec<(i64, Vec<u8>)>, String> {
        Ok(Vec::new())
    }
}

/// Expands promtool's value notation; `None` is a missing sample.
pub fn expand_values(text: &str) -> Result<Vec<Option<f64>>, String> {
    lookout_proto::prometheus::expand_test_values(text)
}

/// The labels of a series written as a selector: `name{a="b"}`.
pub fn parse_series(text: &str) -> Result<Labels, String> {
    let text = text.trim();
    if text == "{}" {
        return Ok(Labels::new());
    }
    let expr =
        promql_parser::parser::parse(text).map_err(|e| format!("bad series {text:?}: {e}"))?;
    let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
        return Err(format!("bad series {text:?}"));
    };
    let mut labels: Labels = vs
        .matchers
        .matchers
        .iter()
        .map(|m| (m.name.clone(), m.value.clone()))
        .collect();
    if let Some(name) = vs.name {
        labels.insert("__name__".into(), name);
    }
    Ok(labels)
}

fn show(labels: &Labels) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

fn close(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Runs the tests of one file.
pub fn run(path: &Path, backend: &dyn TestBackend) -> Result<Outcome, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: TestFile = serde_saphyr::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map_or(String::new(), |l| format!(":{}:{}", l.line(), l.column()));
        format!(
            "{}{at}: {}",
            path.display(),
            e.to_string().lines().next().unwrap_or("")
        )
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let eval_interval = match &file.evaluation_interval {
        Some(s) => parse_duration(s)?,
        None => Duration::from_secs(60),
    };
    let patterns: Vec<String> = file
        .rule_files
        .iter()
        .map(|f| {
            if Path::new(f).is_absolute() {
                f.clone()
            } else {
                dir.join(f).display().to_string()
            }
        })
        .collect();
    let mut groups = rules::load(&patterns, eval_interval).map_err(|problems| {
        problems
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    })?;
    if !file.group_eval_order.is_empty() {
        groups.sort_by_key(|g| {
            file.group_eval_order
                .iter()
                .position(|n| *n == g.name)
                .unwrap_or(usize::MAX)
        });
    }
    let mut outcome = Outcome::default();
    for (index, test) in file.tests.iter().enumerate() {
        let name = test
            .name
            .clone()
            .unwrap_or_else(|| format!("test {}", index + 1));
        let interval = match &test.interval {
            Some(s) => parse_duration(s)?,
            None => eval_interval,
        };
        let (engine, appender) = backend.fresh()?;
        let mut samples = Vec::new();
        for s in &test.input_series {
            let labels = parse_series(&s.series).map_err(|e| format!("{name}: {e}"))?;
            let values = expand_values(&s.values).map_err(|e| format!("{name}: {e}"))?;
            for (k, v) in values.into_iter().enumerate() {
                if let Some(v) = v {
                    samples.push((labels.clone(), k as i64 * interval.as_millis() as i64, v));
                }
            }
        }
        samples.sort_by_key(|s| s.1);
        appender
            .append(&samples)
            .map_err(|e| format!("{name}: loading input series: {e}"))?;
        let config = AlertingConfig {
            external_labels: test.external_labels.clone(),
            external_url: test.external_url.clone().unwrap_or_default(),
            ..AlertingConfig::default()
        };
        let manager = Manager::new(
            config,
            groups.clone(),
            Arc::clone(&engine),
            Arc::clone(&appender),
            Arc::new(MemoryState::default()),
            None,
        );
        let mut checks: BTreeMap<i64, Vec<&AlertTest>> = BTreeMap::new();
        for t in &test.alert_rule_test {
            let at = parse_duration(&t.eval_time)?.as_millis() as i64;
            checks.entry(at).or_default().push(t);
        }
        let last = checks.keys().copied().max().unwrap_or(0);
        let step = eval_interval.as_millis().max(1) as i64;
        let mut t = 0;
        while t <= last {
            for g in &groups {
                let gi = g.interval.as_millis().max(1) as i64;
                if t % gi == 0 {
                    manager.evaluate(g, t);
                }
            }
            for check in checks.get(&t).into_iter().flatten() {
                let mut got: Vec<(Labels, Labels)> = manager
                    .alerts()
                    .into_iter()
                    .filter(|a| {
                        a.state == AlertState::Firing
                            && a.labels.get("alertname") == Some(&check.alertname)
                    })
                    .map(|a| (a.labels, a.annotations))
                    .collect();
                let mut want: Vec<(Labels, Labels)> = check
                    .exp_alerts
                    .iter()
                    .map(|e| {
                        let mut l = e.exp_labels.clone();
                        l.insert("alertname".into(), check.alertname.clone());
                        (l, e.exp_annotations.clone())
                    })
                    .collect();
                got.sort();
                want.sort();
                if got == want {
                    outcome.passed += 1;
                } else {
                    let fmt = |v: &[(Labels, Labels)]| {
                        v.iter()
                            .enumerate()
                            .map(|(i, (l, a))| {
                                format!("{i}: labels:{} annotations:{}", show(l), show(a))
                            })
                            .collect::<Vec<_>>()
                            .join(", ")
                    };
                    outcome.failures.push(format!(
                        "{name}: alertname: {}, time: {}\n    exp: [{}]\n    got: [{}]",
                        check.alertname,
                        check.eval_time,
                        fmt(&want),
                        fmt(&got)
                    ));
                }
            }
            t += step;
        }
        for e in &test.promql_expr_test {
            let at = parse_duration(&e.eval_time)?.as_millis() as i64;
            let mut got: Vec<(Labels, f64)> = match engine.instant(&e.expr, at) {
                Ok(QueryResult::Vector(v)) => v,
                Ok(QueryResult::Scalar(v)) => vec![(Labels::new(), v)],
                Err(err) => {
                    outcome.failures.push(format!(
                        "{name}: expr: {:?}, time: {}: {err}",
                        e.expr, e.eval_time
                    ));
                    continue;
                }
            };
            let mut want = Vec::new();
            for s in &e.exp_samples {
                want.push((
                    parse_series(&s.labels).map_err(|err| format!("{name}: {err}"))?,
                    s.value,
                ));
            }
            got.sort_by(|a, b| a.0.cmp(&b.0));
            want.sort_by(|a, b| a.0.cmp(&b.0));
            let same = got.len() == want.len()
                && got
                    .iter()
                    .zip(&want)
                    .all(|(g, w)| g.0 == w.0 && close(g.1, w.1));
            if same {
                outcome.passed += 1;
            } else {
                let fmt = |v: &[(Labels, f64)]| {
                    v.iter()
                        .map(|(l, x)| format!("{} {x}", show(l)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                outcome.failures.push(format!(
                    "{name}: expr: {:?}, time: {}\n    exp: [{}]\n    got: [{}]",
                    e.expr,
                    e.eval_time,
                    fmt(&want),
                    fmt(&got)
                ));
            }
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_notation_expands_as_promtool_does() {
        assert_eq!(
            expand_values("1+2x2 _ 5 -1-1x1 _x2 3x1").unwrap(),
            vec![
                Some(1.0),
                Some(3.0),
                Some(5.0),
                None,
                Some(5.0),
                Some(-1.0),
                Some(-2.0),
                None,
                None,
                Some(3.0),
                Some(3.0)
            ]
        );
        assert!(expand_values("1+x").is_err());
        let l = parse_series(r#"up{job="api", instance="a:1"}"#).unwrap();
        assert_eq!(l.get("__name__").map(String::as_str), Some("up"));
        assert_eq!(l.get("instance").map(String::as_str), Some("a:1"));
    }
}
