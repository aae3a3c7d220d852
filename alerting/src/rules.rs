//! Rule files in Prometheus's format: groups of recording and alerting rules. Loading reports
//! every problem (YAML syntax, unknown fields, bad PromQL, bad durations, bad templates,
//! duplicate rules) with file, line and column.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::template::Template;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    groups: Vec<GroupDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupDef {
    name: Spanned<String>,
    #[serde(default)]
    interval: Option<Spanned<String>>,
    #[serde(default)]
    limit: Option<u64>,
    #[serde(default)]
    query_offset: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    rules: Vec<RuleDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDef {
    #[serde(default)]
    record: Option<Spanned<String>>,
    #[serde(default)]
    alert: Option<Spanned<String>>,
    expr: Spanned<String>,
    #[serde(default, rename = "for")]
    for_: Option<Spanned<String>>,
    #[serde(default)]
    keep_firing_for: Option<Spanned<String>>,
    #[serde(default)]
    labels: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    annotations: BTreeMap<String, Spanned<String>>,
}

/// A loaded group.
#[derive(Clone, Debug)]
pub struct Group {
    pub name: String,
    pub file: PathBuf,
    pub interval: Duration,
    /// Rules are evaluated this far in the past (Prometheus's `query_offset`), for data that
    /// arrives late.
    pub query_offset: Duration,
    /// An alerting rule with more alerts, or a recording rule with more series, fails
    /// (Prometheus's `limit`); 0 means no limit.
    pub limit: usize,
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<Rule>,
}

/// A recording or alerting rule.
#[derive(Clone, Debug)]
pub struct Rule {
    pub kind: RuleKind,
    /// The metric name (recording) or alert name.
    pub name: String,
    pub expr: String,
    /// Rule labels, the group's included (the rule's win).
    pub labels: BTreeMap<String, Template>,
    pub annotations: BTreeMap<String, Template>,
    pub for_: Duration,
    pub keep_firing_for: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    Recording,
    Alerting,
}

impl Rule {
    /// A stable key of the rule within its group (for stored state).
    pub fn key(&self, group: &Group) -> String {
        format!(
            "{}\u{0}{}\u{0}{}",
            group.file.display(),
            group.name,
            self.name
        )
    }
}

/// One problem in a rule file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

/// A Prometheus duration (`30s`, `5m`, `1h30m`, `2d`, `1w`, `0`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    lookout_proto::prometheus::parse_duration_ms(text).map(Duration::from_millis)
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses one rule file's text. `default_interval` applies to groups without `interval`.
pub fn parse(
    file: &Path,
    text: &str,
    default_interval: Duration,
) -> Result<Vec<Group>, Vec<Problem>> {
    let name = file.display().to_string();
    let problem = |line: u64, column: u64, message: String| Problem {
        file: name.clone(),
        line,
        column,
        message,
    };
    let def: FileDef = match serde_saphyr::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            let message = e.to_string();
            let message = message.lines().next().unwrap_or("invalid YAML").to_owned();
            return Err(vec![problem(line, column, message)]);
        }
    };
    let mut problems = Vec::new();
    let mut groups = Vec::new();
    let mut group_names: BTreeMap<String, ()> = BTreeMap::new();
    for g in def.groups {
        let at = |s: &Spanned<String>| (s.referenced.line(), s.referenced.column());
        let (gl, gc) = at(&g.name);
        if g.name.value.is_empty() {
            problems.push(problem(gl, gc, "group name must not be empty".into()));
        }
        if group_names.insert(g.name.value.clone(), ()).is_some() {
            problems.push(problem(
                gl,
                gc,
                format!(
                    "groupname: \"{}\" is repeated in the same file",
                    g.name.value
                ),
            ));
        }
        let interval = match &g.interval {
            None => default_interval,
            Some(i) => match parse_duration(&i.value) {
                Ok(d) if !d.is_zero() => d,
                Ok(_) => {
                    let (l, c) = at(i);
                    problems.push(problem(
                        l,
                        c,
                        "group interval must be greater than 0".into(),
                    ));
                    default_interval
                }
                Err(e) => {
                    let (l, c) = at(i);
                    problems.push(problem(l, c, format!("interval: {e}")));
                    default_interval
                }
            },
        };
        let query_offset = match &g.query_offset {
            None => Duration::ZERO,
            Some(offset) => parse_duration(&offset.value).unwrap_or_else(|e| {
                let (l, c) = at(offset);
                problems.push(problem(l, c, format!("query_offset: {e}")));
                Duration::ZERO
            }),
        };
        let limit = usize::try_from(g.limit.unwrap_or(0)).unwrap_or(usize::MAX);
        let mut rules = Vec::new();
        let mut seen: BTreeMap<(String, String), ()> = BTreeMap::new();
        for r in g.rules {
            let (el, ec) = at(&r.expr);
            let (kind, rule_name) = match (&r.record, &r.alert) {
                (Some(rec), None) => {
                    let (l, c) = at(rec);
                    if !valid_metric_name(&rec.value) {
                        problems.push(problem(
                            l,
                            c,
                            format!("invalid recording rule name: {}", rec.value),
                        ));
                    }
                    (RuleKind::Recording, rec.value.clone())
                }
                (None, Some(alert)) => {
                    let (l, c) = at(alert);
                    if alert.value.is_empty() {
                        problems.push(problem(l, c, "alert name must not be empty".into()));
                    }
                    (RuleKind::Alerting, alert.value.clone())
                }
                (Some(rec), Some(_)) => {
                    let (l, c) = at(rec);
                    problems.push(problem(
                        l,
                        c,
                        "only one of 'record' and 'alert' must be set".into(),
                    ));
                    continue;
                }
                (None, None) => {
                    problems.push(problem(
                        el,
                        ec,
                        "one of 'record' or 'alert' must be set".into(),
                    ));
                    continue;
                }
            };
            if r.expr.value.trim().is_empty() {
                problems.push(problem(el, ec, "field 'expr' must be set in rule".into()));
            } else if let Err(e) = promql_parser::parser::parse(&r.expr.value) {
                problems.push(problem(el, ec, format!("could not parse expression: {e}")));
            }
            let mut duration = |d: &Option<Spanned<String>>, what: &str| -> Duration {
                match d {
                    None => Duration::ZERO,
                    Some(s) => parse_duration(&s.value).unwrap_or_else(|e| {
                        let (l, c) = at(s);
                        problems.push(problem(l, c, format!("{what}: {e}")));
                        Duration::ZERO
                    }),
                }
            };
            let for_ = duration(&r.for_, "for");
            let keep_firing_for = duration(&r.keep_firing_for, "keep_firing_for");
            if kind == RuleKind::Recording {
                for (field, set) in [
                    ("for", r.for_.is_some()),
                    ("keep_firing_for", r.keep_firing_for.is_some()),
                    ("annotations", !r.annotations.is_empty()),
                ] {
                    if set {
                        problems.push(problem(
                            el,
                            ec,
                            format!("invalid field '{field}' in recording rule"),
                        ));
                    }
                }
            }
            let mut labels = BTreeMap::new();
            for (k, v) in g.labels.iter() {
                if let Ok(t) = Template::parse(v) {
                    labels.insert(k.clone(), t);
                }
            }
            for (k, v) in &r.labels {
                let (l, c) = (v.referenced.line(), v.referenced.column());
                if !valid_label_name(k) || k == "__name__" {
                    problems.push(problem(l, c, format!("invalid label name: {k}")));
                }
                match Template::parse(&v.value) {
                    Ok(t) => {
                        labels.insert(k.clone(), t);
                    }
                    Err(e) => problems.push(problem(l, c, format!("label {k}: {e}"))),
                }
            }
            let mut annotations = BTreeMap::new();
            for (k, v) in &r.annotations {
                let (l, c) = (v.referenced.line(), v.referenced.column());
                if !valid_label_name(k) {
                    problems.push(problem(l, c, format!("invalid annotation name: {k}")));
                }
                match Template::parse(&v.value) {
                    Ok(t) => {
                        annotations.insert(k.clone(), t);
                    }
                    Err(e) => problems.push(problem(l, c, format!("annotation {k}: {e}"))),
                }
            }
            // The same rule twice (name and labels) in a group is a mistake.
            let label_text = format!(
                "{:?}",
                r.labels
                    .iter()
                    .map(|(k, v)| (k, &v.value))
                    .collect::<Vec<_>>()
            );
            if seen.insert((rule_name.clone(), label_text), ()).is_some() {
                problems.push(problem(el, ec, format!("duplicate rule: {rule_name} is defined twice with the same labels in group {}", g.name.value)));
            }
            rules.push(Rule {
                kind,
                name: rule_name,
                expr: r.expr.value.trim().to_owned(),
                labels,
                annotations,
                for_,
                keep_firing_for,
            });
        }
        groups.push(Group {
            name: g.name.value,
            file: file.to_path_buf(),
            interval,
            query_offset,
            limit,
            labels: g.labels,
            rules,
        });
    }
    if problems.is_empty() {
        Ok(groups)
    } else {
        Err(problems)
    }
}

/// Loads every file matching the glob patterns; all problems of all files are returned.
pub fn load(patterns: &[String], default_interval: Duration) -> Result<Vec<Group>, Vec<Problem>> {
    let mut groups = Vec::new();
    let mut problems = Vec::new();
    for pattern in patterns {
        let paths = match glob::glob(pattern) {
            Ok(p) => p,
            Err(e) => {
                problems.push(Problem {
                    file: pattern.clone(),
                    line: 0,
                    column: 0,
                    message: format!("invalid file pattern: {e}"),
                });
                continue;
            }
        };
        let mut matched = false;
        for path in paths.flatten() {
            matched = true;
            match std::fs::read_to_string(&path) {
                Ok(text) => match parse(&path, &text, default_interval) {
                    Ok(g) => groups.extend(g),
                    Err(p) => problems.extend(p),
                },
                Err(e) => problems.push(Problem {
                    file: path.display().to_string(),
                    line: 0,
                    column: 0,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
        if !matched && !pattern.contains(['*', '?', '[']) {
            problems.push(Problem {
                file: pattern.clone(),
                line: 0,
                column: 0,
                message: "no such file".into(),
            });
        }
    }
    if problems.is_empty() {
        Ok(groups)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        match parse(Path::new("r.yaml"), text, Duration::from_secs(60)) {
            Ok(_) => Vec::new(),
            Err(p) => p.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_prometheus_rule_file_loads() {
        let text = r#"
groups:
  - name: service-health
    interval: 30s
    labels: {team: shop}
    rules:
      - record: service:errors:ratio_rate5m
        expr: |
          sum by (service_name) (rate(traces_span_metrics_calls_total{status_code="STATUS_CODE_ERROR"}[5m]))
            / sum by (service_name) (rate(traces_span_metrics_calls_total[5m]))
      - alert: HighErrorRate
        expr: service:errors:ratio_rate5m > 0.05
        for: 5m
        keep_firing_for: 2m
        labels: {severity: page}
        annotations:
          summary: "{{ $labels.service_name }} error rate is {{ $value | humanizePercentage }}"
"#;
        let groups = parse(Path::new("r.yaml"), text, Duration::from_secs(60)).unwrap();
        assert_eq!(groups[0].interval, Duration::from_secs(30));
        let alert = &groups[0].rules[1];
        assert_eq!(alert.kind, RuleKind::Alerting);
        assert_eq!(alert.for_, Duration::from_secs(300));
        assert_eq!(alert.keep_firing_for, Duration::from_secs(120));
        assert!(alert.labels.contains_key("team") && alert.labels.contains_key("severity"));
    }

    #[test]
    fn every_kind_of_mistake_is_reported_with_its_place() {
        let text = r#"groups:
  - name: g
    rules:
      - alert: A
        expr: sum(rate(x[5m])
        for: 5 minutes
        annotations:
          summary: "{{ $labels.x | humanise }}"
      - alert: B
        expr: up == 0
      - alert: B
        expr: up == 0
      - record: "bad name"
        expr: up
"#;
        let p = problems(text);
        assert_eq!(p.len(), 5, "{p:#?}");
        assert!(
            p[0].starts_with("r.yaml:5:15: could not parse expression"),
            "{}",
            p[0]
        );
        assert!(
            p[1].starts_with("r.yaml:6:14: for: not a valid duration"),
            "{}",
            p[1]
        );
        assert!(
            p[2].starts_with("r.yaml:8:20: annotation summary: function \"humanise\" not defined"),
            "{}",
            p[2]
        );
        assert!(p[3].contains("duplicate rule: B"), "{}", p[3]);
        assert!(
            p[4].starts_with("r.yaml:13:17: invalid recording rule name"),
            "{}",
            p[4]
        );
        let p = problems("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        labls: {}\n");
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("r.yaml:6:") && p[0].contains("labls"),
            "{}",
            p[0]
        );
        let p = problems("groups:\n  - name: g\n   rules: [\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].starts_with("r.yaml:3:"), "{}", p[0]);
        let p = problems("groups:\n  - name: g\n  - name: g\n");
        assert!(p[0].contains("repeated"), "{}", p[0]);
    }
}
