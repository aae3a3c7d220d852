//! Health documents: the JSON a service's health endpoint answers with, read into a status and
//! per-check details. Understood: `{"status": "healthy|degraded|unhealthy"}` (ASP.NET Core and
//! most hand-written endpoints), `UP`/`DOWN` (Spring Boot, MicroProfile Health) and
//! `pass`/`warn`/`fail` (the IETF health check draft, `application/health+json`), with checks
//! under `checks` (an object of objects, an object of arrays as in the draft, or an array of
//! named objects), `components` (Spring) or `entries` (ASP.NET Core).

use serde::{Deserialize, Serialize};

/// A service's health as a probe sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    Healthy,
    /// Working, with a problem: the probe succeeds.
    Degraded,
    Unhealthy,
}

impl HealthStatus {
    pub const ALL: [HealthStatus; 3] = [
        HealthStatus::Healthy,
        HealthStatus::Degraded,
        HealthStatus::Unhealthy,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }

    /// A status word of one of the understood conventions, case-insensitive.
    pub fn parse(word: &str) -> Option<HealthStatus> {
        match word.trim().to_ascii_lowercase().as_str() {
            "healthy" | "up" | "pass" | "ok" | "serving" => Some(HealthStatus::Healthy),
            "degraded" | "warn" | "warning" => Some(HealthStatus::Degraded),
            "unhealthy" | "down" | "fail" | "out_of_service" | "not_serving" => {
                Some(HealthStatus::Unhealthy)
            }
            _ => None,
        }
    }
}

/// One dependency check reported by a health document.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
pub struct Check {
    pub name: String,
    /// `healthy`, `degraded` or `unhealthy` when the word was understood, else the word as
    /// sent (lowercase).
    pub status: String,
    /// The check's `output`, `description`, `error` or `message`, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// What a health document says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthDocument {
    pub status: HealthStatus,
    pub checks: Vec<Check>,
}

/// Reads `body` as a health document: `None` unless it is a JSON object whose `status` is an
/// understood word.
pub fn parse(body: &[u8]) -> Option<HealthDocument> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace())?;
    if *first != b'{' {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let status = HealthStatus::parse(value.get("status")?.as_str()?)?;
    let mut checks = Vec::new();
    for key in ["checks", "components", "entries"] {
        match value.get(key) {
            Some(serde_json::Value::Object(map)) => {
                for (name, entry) in map {
                    match entry {
                        serde_json::Value::Array(items) => {
                            for item in items {
                                let item_name = item
                                    .get("componentId")
                                    .and_then(|v| v.as_str())
                                    .map_or_else(|| name.clone(), |id| format!("{name} {id}"));
                                checks.push(check(item_name, item));
                            }
                        }
                        entry => checks.push(check(name.clone(), entry)),
                    }
                }
            }
            Some(serde_json::Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let name = item
                        .get("name")
                        .and_then(|v| v.as_str())
                        .map_or_else(|| format!("{key}[{i}]"), str::to_string);
                    checks.push(check(name, item));
                }
            }
            _ => {}
        }
    }
    Some(HealthDocument { status, checks })
}

fn check(name: String, entry: &serde_json::Value) -> Check {
    let word = match entry {
        serde_json::Value::String(s) => s.as_str(),
        other => other.get("status").and_then(|v| v.as_str()).unwrap_or(""),
    };
    let status = HealthStatus::parse(word)
        .map_or_else(|| word.to_ascii_lowercase(), |s| s.as_str().to_string());
    let output = ["output", "description", "error", "message"]
        .iter()
        .find_map(|k| entry.get(k).and_then(|v| v.as_str()))
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    Check {
        name,
        status,
        output,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, status: &str, output: Option<&str>) -> Check {
        Check {
            name: name.into(),
            status: status.into(),
            output: output.map(Into::into),
        }
    }

    #[test]
    fn plain_status_words() {
        for (body, status) in [
            (r#"{"status":"healthy"}"#, HealthStatus::Healthy),
            (r#"{"status":"Degraded"}"#, HealthStatus::Degraded),
            (r#" {"status":"unhealthy"}"#, HealthStatus::Unhealthy),
            (r#"{"status":"UP"}"#, HealthStatus::Healthy),
            (r#"{"status":"DOWN"}"#, HealthStatus::Unhealthy),
            (r#"{"status":"pass"}"#, HealthStatus::Healthy),
            (r#"{"status":"warn"}"#, HealthStatus::Degraded),
            (r#"{"status":"fail"}"#, HealthStatus::Unhealthy),
        ] {
            assert_eq!(parse(body.as_bytes()).unwrap().status, status, "{body}");
        }
        for body in [
            "OK",
            "",
            r#"{"state":"up"}"#,
            r#"{"status":"sideways"}"#,
            r#"{"status":1}"#,
            "[1]",
            "{broken",
        ] {
            assert_eq!(parse(body.as_bytes()), None, "{body}");
        }
    }

    #[test]
    fn checks_of_each_convention() {
        let doc =
            parse(br#"{"status":"degraded","checks":{"db":{"status":"unhealthy"}}}"#).unwrap();
        assert_eq!(doc.status, HealthStatus::Degraded);
        assert_eq!(doc.checks, vec![check("db", "unhealthy", None)]);

        let ietf = br#"{"status":"warn","checks":{"cassandra:responseTime":[
            {"componentId":"dfd6cf2b","status":"warn","output":"slow"}],
            "uptime":[{"status":"pass"}]}}"#;
        let doc = parse(ietf).unwrap();
        assert_eq!(doc.status, HealthStatus::Degraded);
        assert_eq!(
            doc.checks,
            vec![
                check("cassandra:responseTime dfd6cf2b", "degraded", Some("slow")),
                check("uptime", "healthy", None),
            ]
        );

        let spring = br#"{"status":"DOWN","components":{"db":{"status":"DOWN","details":{"error":"x"}},"ping":{"status":"UP"}}}"#;
        let doc = parse(spring).unwrap();
        assert_eq!(
            doc.checks,
            vec![
                check("db", "unhealthy", None),
                check("ping", "healthy", None)
            ]
        );

        let microprofile =
            br#"{"status":"UP","checks":[{"name":"disk","status":"UP"},{"status":"MAYBE"}]}"#;
        let doc = parse(microprofile).unwrap();
        assert_eq!(
            doc.checks,
            vec![
                check("disk", "healthy", None),
                check("checks[1]", "maybe", None)
            ]
        );

        let aspnet = br#"{"status":"Unhealthy","entries":{"redis":{"status":"Unhealthy","description":"refused"}}}"#;
        let doc = parse(aspnet).unwrap();
        assert_eq!(
            doc.checks,
            vec![check("redis", "unhealthy", Some("refused"))]
        );
    }
}
