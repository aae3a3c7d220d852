//! A dashboard: PromQL panels in a 24-column grid, with variables, as stored and served.

use serde::{Deserialize, Serialize};

/// Most panels in one dashboard, and queries in one panel.
pub const MAX_PANELS: usize = 100;
pub const MAX_QUERIES: usize = 10;
pub const MAX_VARIABLES: usize = 20;
/// The grid's columns.
pub const COLUMNS: u32 = 24;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// Lowercase letters, digits, `-` and `_`; from the title when created without one.
    #[serde(default)]
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The time range the dashboard opens with, as the UI writes it (`now-6h`).
    #[serde(default)]
    pub time: TimeRange,
    #[serde(default)]
    pub variables: Vec<Variable>,
    #[serde(default)]
    pub panels: Vec<Panel>,
    /// Set by the server: provisioned from a file (read-only).
    #[serde(default)]
    pub provisioned: bool,
    /// Set by the server: the file it was provisioned from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRange {
    pub from: String,
    pub to: String,
}

impl Default for TimeRange {
    fn default() -> Self {
        TimeRange {
            from: "now-6h".into(),
            to: "now".into(),
        }
    }
}

/// A variable: `$name` in queries, chosen among the values of `label` (of the series
/// `match` selects, else of all series).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    pub name: String,
    #[serde(default)]
    pub title: String,
    pub label: String,
    #[serde(default, rename = "match")]
    pub selector: String,
    /// The value it starts with (empty: the first).
    #[serde(default)]
    pub default: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PanelType {
    Timeseries,
    Stat,
    Bar,
    Table,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    pub title: String,
    #[serde(rename = "type")]
    pub kind: PanelType,
    #[serde(default)]
    pub description: String,
    pub queries: Vec<PanelQuery>,
    /// See [`UNITS`]; `currency:EUR` (any ISO 4217 code) for money.
    #[serde(default)]
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
    /// Colours from a value up (stat panels), lowest first.
    #[serde(default)]
    pub thresholds: Vec<Threshold>,
    #[serde(default)]
    pub grid: Grid,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelQuery {
    pub expr: String,
    /// A legend template: `{{label}}` is replaced by the series' label.
    #[serde(default)]
    pub legend: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    pub value: f64,
    pub color: String,
}

/// Place and size in the grid (24 columns; rows of the UI's row height).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl Default for Grid {
    fn default() -> Self {
        Grid {
            x: 0,
            y: 0,
            w: 12,
            h: 8,
        }
    }
}

/// The units the UI formats.
pub const UNITS: [&str; 12] = [
    "",
    "short",
    "percent",
    "percentunit",
    "bytes",
    "bytes/s",
    "bits/s",
    "s",
    "ms",
    "req/s",
    "ops/s",
    "none",
];

const COLORS: [&str; 7] = ["green", "yellow", "orange", "red", "blue", "purple", "grey"];

/// Grafana's interval variables, replaced by a duration before a query is checked.
const BUILTIN: [&str; 3] = ["__rate_interval", "__interval", "__range"];

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A dashboard id made from a title: `Shop KPIs` → `shop-kpis`.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    out.chars().take(64).collect()
}

pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !id.starts_with(['-', '_'])
}

/// `expr` with `$name`, `${name}` and Grafana's interval variables replaced, for parsing; a
/// problem for a `$name` that is neither.
fn substitute(expr: &str, variables: &[String]) -> Result<String, String> {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) => (&braced[..end], end + 2),
                None => return Err("an unclosed ${ in the query".into()),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        if BUILTIN.contains(&name) {
            out.push_str("1m");
        } else if variables.iter().any(|v| v == name) {
            out.push('x');
        } else {
            return Err(format!(
                "uses ${name}, which is not a variable of this dashboard"
            ));
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out)
}

fn color_ok(c: &str) -> bool {
    COLORS.contains(&c)
        || (c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|c| c.is_ascii_hexdigit()))
}

fn unit_ok(unit: &str) -> bool {
    UNITS.contains(&unit)
        || unit
            .strip_prefix("currency:")
            .is_some_and(|code| code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()))
}

impl Dashboard {
    /// Every problem, each with its path in the document (`panels[2].queries[0].expr: ...`).
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !valid_id(&self.id) {
            problems.push(format!(
                "id: {:?} must be 1 to 64 lowercase letters, digits, - and _, not starting with - or _",
                self.id
            ));
        }
        if self.title.trim().is_empty() {
            problems.push("title: must not be empty".into());
        }
        if self.variables.len() > MAX_VARIABLES {
            problems.push(format!("variables: at most {MAX_VARIABLES}"));
        }
        let mut names = Vec::new();
        for (i, v) in self.variables.iter().enumerate() {
            let path = format!("variables[{i}]");
            if !is_identifier(&v.name) || v.name.starts_with("__") {
                problems.push(format!(
                    "{path}.name: {:?} must be a letter or _ then letters, digits or _ (not starting with __)",
                    v.name
                ));
            } else if names.contains(&v.name) {
                problems.push(format!(
                    "{path}.name: {:?} is used by an earlier variable",
                    v.name
                ));
            }
            names.push(v.name.clone());
            if !crate::promql::is_label_name(&v.label) {
                problems.push(format!("{path}.label: {:?} is not a label name", v.label));
            }
            if !v.selector.is_empty() {
                match promql_parser::parser::parse(&v.selector) {
                    Ok(promql_parser::parser::Expr::VectorSelector(_)) => {}
                    Ok(_) => problems.push(format!(
                        "{path}.match: {:?} is not a series selector",
                        v.selector
                    )),
                    Err(e) => problems.push(format!("{path}.match: {e}")),
                }
            }
        }
        if self.panels.len() > MAX_PANELS {
            problems.push(format!("panels: at most {MAX_PANELS}"));
        }
        for (i, p) in self.panels.iter().enumerate() {
            let path = format!("panels[{i}]");
            if p.title.trim().is_empty() {
                problems.push(format!("{path}.title: must not be empty"));
            }
            if p.queries.is_empty() {
                problems.push(format!("{path}.queries: a panel needs a query"));
            }
            if p.queries.len() > MAX_QUERIES {
                problems.push(format!("{path}.queries: at most {MAX_QUERIES}"));
            }
            for (j, q) in p.queries.iter().enumerate() {
                let path = format!("{path}.queries[{j}].expr");
                if q.expr.trim().is_empty() {
                    problems.push(format!("{path}: must not be empty"));
                    continue;
                }
                match substitute(&q.expr, &names) {
                    Ok(expr) => {
                        if let Err(e) = promql_parser::parser::parse(&expr) {
                            problems.push(format!("{path}: {e} in {:?}", q.expr));
                        }
                    }
                    Err(e) => problems.push(format!("{path}: {e}")),
                }
            }
            if !unit_ok(&p.unit) {
                problems.push(format!(
                    "{path}.unit: {:?} is not one of {}, or currency:XXX (an ISO 4217 code)",
                    p.unit,
                    UNITS[1..].join(", ")
                ));
            }
            if p.decimals.is_some_and(|d| d > 10) {
                problems.push(format!("{path}.decimals: at most 10"));
            }
            for (j, t) in p.thresholds.iter().enumerate() {
                if !t.value.is_finite() {
                    problems.push(format!("{path}.thresholds[{j}].value: must be a number"));
                }
                if !color_ok(&t.color) {
                    problems.push(format!(
                        "{path}.thresholds[{j}].color: {:?} is not one of {} or #rrggbb",
                        t.color,
                        COLORS.join(", ")
                    ));
                }
            }
            let g = p.grid;
            if g.w == 0 || g.w > COLUMNS || g.x + g.w > COLUMNS {
                problems.push(format!(
                    "{path}.grid: x + w must be within {COLUMNS} columns and w at least 1"
                ));
            }
            if g.h == 0 || g.h > 50 {
                problems.push(format!("{path}.grid.h: must be 1 to 50"));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dashboard(json: serde_json::Value) -> Dashboard {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn variables_and_interval_placeholders_are_checked_before_parsing() {
        let d = dashboard(serde_json::json!({
            "id": "shop", "title": "Shop",
            "variables": [{"name": "service", "label": "service_name"}],
            "panels": [
                {"title": "ok", "type": "timeseries", "queries": [
                    {"expr": "sum(rate(x{service_name=\"$service\"}[$__rate_interval]))"},
                    {"expr": "sum by (${service}) (x)"}]},
                {"title": "bad", "type": "stat", "unit": "currency:eur", "queries": [
                    {"expr": "rate(x{a=\"$nope\"}[5m])"}, {"expr": "rate(x[5m]"}]},
            ],
        }));
        assert_eq!(
            d.validate(),
            [
                "panels[1].queries[0].expr: uses $nope, which is not a variable of this dashboard",
                "panels[1].queries[1].expr: unclosed left parenthesis in \"rate(x[5m]\"",
                "panels[1].unit: \"currency:eur\" is not one of short, percent, percentunit, bytes, bytes/s, bits/s, s, ms, req/s, ops/s, none, or currency:XXX (an ISO 4217 code)",
            ]
        );
    }

    #[test]
    fn ids_titles_grid_and_thresholds_are_checked() {
        let d = dashboard(serde_json::json!({
            "id": "Bad Id", "title": " ",
            "variables": [{"name": "1x", "label": "a-b"}],
            "panels": [{"title": "p", "type": "stat", "queries": [{"expr": "up"}],
                "grid": {"x": 20, "y": 0, "w": 6, "h": 4},
                "thresholds": [{"value": 1, "color": "teal"}]}],
        }));
        let problems = d.validate();
        assert_eq!(problems.len(), 6, "{problems:#?}");
        assert!(problems[0].starts_with("id: \"Bad Id\""));
        assert_eq!(problems[1], "title: must not be empty");
        assert!(problems[4].starts_with("panels[0].thresholds[0].color: \"teal\""));
        assert!(problems[5].starts_with("panels[0].grid: x + w"));
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Shop KPIs (EU)"), "shop-kpis-eu");
        assert_eq!(slug("  --  "), "");
        assert!(valid_id(&slug("Überblick 2024")));
    }
}
