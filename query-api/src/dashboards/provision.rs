//! Provisioned dashboards: YAML files named in the configuration, and the examples Lookout
//! ships. Every problem names its file, line and column.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::model::{slug, Dashboard};

/// The example dashboards Lookout ships: (file name, YAML).
pub const EXAMPLES: [(&str, &str); 1] = [(
    "business.yaml",
    include_str!("../../dashboards/business.yaml"),
)];

/// Where provisioned dashboards come from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardsConfig {
    /// YAML files, one dashboard each (glob patterns allowed); read-only in the UI.
    pub files: Vec<String>,
    /// Provision the examples Lookout ships ("Business").
    pub examples: bool,
}

impl Default for DashboardsConfig {
    fn default() -> Self {
        DashboardsConfig {
            files: Vec::new(),
            examples: true,
        }
    }
}

impl DashboardsConfig {
    /// Every problem of the files, as `file:line:column: path: problem`.
    pub fn validate(&self, prefix: &str, problems: &mut Vec<String>) {
        if let Err(found) = load_files(self) {
            problems.extend(found.into_iter().map(|p| format!("{prefix}.files: {p}")));
        }
    }
}

type Keys = BTreeMap<String, Spanned<serde::de::IgnoredAny>>;

#[derive(Deserialize)]
struct Lists {
    #[serde(default)]
    variables: Vec<Keys>,
    #[serde(default)]
    panels: Vec<Keys>,
}

#[derive(Deserialize)]
struct PanelLists {
    #[serde(default)]
    queries: Vec<Keys>,
    #[serde(default)]
    thresholds: Vec<Keys>,
}

#[derive(Deserialize)]
struct Panels {
    #[serde(default)]
    panels: Vec<PanelLists>,
}

fn at(keys: &Keys, key: Option<&str>) -> Option<(u64, u64)> {
    let spanned = key.and_then(|k| keys.get(k)).or_else(|| {
        keys.values()
            .min_by_key(|v| (v.referenced.line(), v.referenced.column()))
    })?;
    Some((spanned.referenced.line(), spanned.referenced.column()))
}

/// Where in the YAML `text` the value a [`Dashboard::validate`] problem names is.
fn locate(text: &str, problem: &str) -> Option<(u64, u64)> {
    let path = problem.split(": ").next()?;
    let parts: Vec<&str> = path
        .split(['.', '[', ']'])
        .filter(|s| !s.is_empty())
        .collect();
    let index = |i: usize| parts.get(i).and_then(|s| s.parse::<usize>().ok());
    match parts.first().copied()? {
        "variables" => {
            let lists: Lists = serde_saphyr::from_str(text).ok()?;
            at(lists.variables.get(index(1)?)?, parts.get(2).copied())
        }
        "panels" => {
            let i = index(1)?;
            if let (Some(&list @ ("queries" | "thresholds")), Some(j)) = (parts.get(2), index(3)) {
                let panels: Panels = serde_saphyr::from_str(text).ok()?;
                let p = panels.panels.get(i)?;
                let items = if list == "queries" {
                    &p.queries
                } else {
                    &p.thresholds
                };
                return at(items.get(j)?, parts.get(4).copied());
            }
            let lists: Lists = serde_saphyr::from_str(text).ok()?;
            at(lists.panels.get(i)?, parts.get(2).copied())
        }
        key => {
            let top: Keys = serde_saphyr::from_str(text).ok()?;
            at(&top, Some(key))
        }
    }
}

/// One dashboard from YAML `text` of `file`; its id from the title when it has none.
pub fn parse_yaml(file: &str, text: &str) -> Result<Dashboard, Vec<String>> {
    let mut dashboard: Dashboard =
        serde_saphyr::from_str(text).map_err(|e| vec![format!("{file}: {e}")])?;
    if dashboard.id.is_empty() {
        dashboard.id = slug(&dashboard.title);
    }
    dashboard.provisioned = true;
    dashboard.file = Some(file.to_string());
    let problems = dashboard.validate();
    if problems.is_empty() {
        return Ok(dashboard);
    }
    Err(problems
        .into_iter()
        .map(|p| match locate(text, &p) {
            Some((line, column)) => format!("{file}:{line}:{column}: {p}"),
            None => format!("{file}: {p}"),
        })
        .collect())
}

/// The provisioned dashboards: the examples (when on) and every file of `config.files`;
/// or every problem.
pub fn load_files(config: &DashboardsConfig) -> Result<Vec<Dashboard>, Vec<String>> {
    let mut problems = Vec::new();
    let mut parsed = Vec::new();
    if config.examples {
        for (name, text) in EXAMPLES {
            parsed.push(parse_yaml(&format!("examples/{name}"), text));
        }
    }
    for pattern in &config.files {
        let paths = match glob::glob(pattern) {
            Ok(paths) => paths,
            Err(e) => {
                problems.push(format!("{pattern}: not a valid pattern: {e}"));
                continue;
            }
        };
        let mut matched = false;
        for path in paths {
            matched = true;
            match path {
                Ok(path) => {
                    let file = path.display().to_string();
                    parsed.push(match std::fs::read_to_string(&path) {
                        Ok(text) => parse_yaml(&file, &text),
                        Err(e) => Err(vec![format!("{file}: {e}")]),
                    });
                }
                Err(e) => problems.push(format!("{pattern}: {e}")),
            }
        }
        if !matched {
            problems.push(format!("{pattern}: no such file"));
        }
    }
    let mut out: Vec<Dashboard> = Vec::new();
    for result in parsed {
        match result {
            Ok(d) => match out.iter().find(|e| e.id == d.id) {
                Some(earlier) => problems.push(format!(
                    "{}: id {:?} is also the id of {}",
                    d.file.as_deref().unwrap_or(""),
                    d.id,
                    earlier.file.as_deref().unwrap_or("")
                )),
                None => out.push(d),
            },
            Err(p) => problems.extend(p),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_load() {
        let dashboards = load_files(&DashboardsConfig::default()).unwrap();
        assert_eq!(dashboards[0].id, "business");
        assert!(dashboards[0].provisioned);
    }

    #[test]
    fn problems_name_file_line_and_column() {
        let text = "title: Shop\npanels:\n  - title: Orders\n    type: stat\n    queries:\n      - expr: up\n      - expr: rate(x[5m]\n  - title: ''\n    type: bar\n    queries: [{expr: up}]\n";
        let problems = parse_yaml("shop.yaml", text).unwrap_err();
        assert_eq!(
            problems,
            [
                "shop.yaml:7:15: panels[0].queries[1].expr: unclosed left parenthesis in \"rate(x[5m]\"",
                "shop.yaml:8:12: panels[1].title: must not be empty",
            ]
        );
        let problems = parse_yaml(
            "shop.yaml",
            "title: Shop\npanels:\n  - title: a\n    type: pie\n    queries: []\n",
        )
        .unwrap_err();
        assert!(problems[0].starts_with("shop.yaml: "), "{problems:?}");
        assert!(problems[0].contains("pie"), "{problems:?}");
    }
}
