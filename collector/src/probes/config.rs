//! The `probes:` list of the configuration: one entry per probe, its kind and its target.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a probe does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// An HTTP(S) request: expected status codes, optional body regex, health JSON.
    Http,
    /// A TCP connect, optionally with a TLS handshake.
    Tcp,
    /// `grpc.health.v1.Health/Check`.
    Grpc,
}

impl ProbeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Http => "http",
            ProbeKind::Tcp => "tcp",
            ProbeKind::Grpc => "grpc",
        }
    }
}

fn default_interval() -> Duration {
    Duration::from_secs(30)
}

fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_method() -> String {
    "GET".into()
}

fn default_true() -> bool {
    true
}

/// One probe. Which keys apply depends on `kind`: `url`, `method`, `headers`,
/// `expected_status`, `body_regex` and `health_json` are for `http`; `address` and `tls` for
/// `tcp` and `grpc`; `grpc_service` for `grpc`; `ca_file` for https URLs and `tls: true`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Unique among the probes: the `probe` label of its series.
    pub name: String,
    /// The service the probe checks: the `service_name` label of its series.
    pub service_name: String,
    pub kind: ProbeKind,
    /// Time between the starts of two probes.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// A probe taking longer fails with error `timeout`; at most `interval`.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// `http`: the URL requested (`http://` or `https://`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `tcp` and `grpc`: `host:port` connected to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// `http`: the request method.
    #[serde(default = "default_method")]
    pub method: String,
    /// `http`: request headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// `http`: status codes counted as success; empty means any 2xx.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expected_status: Vec<u16>,
    /// `http`: the body must match this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_regex: Option<String>,
    /// `http`: read a JSON health document's `status` and `checks` from the answer.
    #[serde(default = "default_true")]
    pub health_json: bool,
    /// `tcp` and `grpc`: TLS over the connection.
    #[serde(default)]
    pub tls: bool,
    /// PEM file of the CA certificates a TLS target's certificate is verified against, instead
    /// of the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// `grpc`: the service name asked about (empty: the server as a whole).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub grpc_service: String,
}

impl ProbeConfig {
    /// The target, as the `instance` label: the URL or the address.
    pub fn instance(&self) -> String {
        match self.kind {
            ProbeKind::Http => self.url.clone().unwrap_or_default(),
            ProbeKind::Tcp | ProbeKind::Grpc => self.address.clone().unwrap_or_default(),
        }
    }

    /// Whether the target is reached over TLS.
    pub fn uses_tls(&self) -> bool {
        match self.kind {
            ProbeKind::Http => self
                .url
                .as_deref()
                .and_then(|u| u.get(..8))
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://")),
            ProbeKind::Tcp | ProbeKind::Grpc => self.tls,
        }
    }

    /// Every problem of this probe, each with its path below `prefix` (`probes[0]`).
    pub fn validate(&self, prefix: &str, problems: &mut Vec<String>) {
        let mut problem =
            |key: &str, message: &str| problems.push(format!("{prefix}.{key}: {message}"));
        if self.name.trim().is_empty() {
            problem("name", "must not be empty");
        }
        if self.service_name.trim().is_empty() {
            problem("service_name", "must not be empty");
        }
        if self.timeout.is_zero() {
            problem("timeout", "must be greater than 0");
        }
        if self.interval < Duration::from_secs(1) {
            problem("interval", "must be at least 1s");
        } else if self.interval < self.timeout {
            problem(
                "interval",
                &format!(
                    "must not be shorter than timeout ({})",
                    humantime_serde::re::humantime::format_duration(self.timeout)
                ),
            );
        }
        let kind = self.kind.as_str();
        let http = self.kind == ProbeKind::Http;
        let not_for = |set: bool, key: &str, problem: &mut dyn FnMut(&str, &str)| {
            if set {
                problem(key, &format!("does not apply to {kind} probes"));
            }
        };
        match self.kind {
            ProbeKind::Http => {
                match self.url.as_deref() {
                    None => problem("url", "required for http probes"),
                    Some(url) => {
                        if let Err(e) = check_url(url) {
                            problem("url", &e);
                        }
                    }
                }
                if http::Method::from_bytes(self.method.as_bytes()).is_err() {
                    problem("method", &format!("not an HTTP method: {:?}", self.method));
                }
                for (name, value) in &self.headers {
                    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                        problem("headers", &format!("not a header name: {name:?}"));
                    }
                    if http::HeaderValue::from_str(value).is_err() {
                        problem(&format!("headers.{name}"), "not a valid header value");
                    }
                }
                for code in &self.expected_status {
                    if !(100..=599).contains(code) {
                        problem(
                            "expected_status",
                            &format!("{code} is not an HTTP status code"),
                        );
                    }
                }
                if let Some(re) = &self.body_regex {
                    if let Err(e) = regex::Regex::new(re) {
                        problem(
                            "body_regex",
                            &format!("not a valid regular expression: {e}"),
                        );
                    }
                }
                not_for(self.address.is_some(), "address", &mut problem);
                not_for(self.tls, "tls", &mut problem);
            }
            ProbeKind::Tcp | ProbeKind::Grpc => {
                match self.address.as_deref() {
                    None => problem("address", &format!("required for {kind} probes")),
                    Some(address) => {
                        if let Err(e) = check_address(address) {
                            problem("address", &e);
                        }
                    }
                }
                not_for(self.url.is_some(), "url", &mut problem);
                not_for(self.method != default_method(), "method", &mut problem);
                not_for(!self.headers.is_empty(), "headers", &mut problem);
                not_for(
                    !self.expected_status.is_empty(),
                    "expected_status",
                    &mut problem,
                );
                not_for(self.body_regex.is_some(), "body_regex", &mut problem);
            }
        }
        if self.kind != ProbeKind::Grpc {
            not_for(!self.grpc_service.is_empty(), "grpc_service", &mut problem);
        }
        if let Some(path) = &self.ca_file {
            if !self.uses_tls() {
                problem(
                    "ca_file",
                    if http {
                        "only used with an https url"
                    } else {
                        "only used with tls: true"
                    },
                );
            }
            if let Err(e) = super::tls::load_ca_file(path) {
                problem("ca_file", &e);
            }
        }
    }
}

/// Every problem of a `probes:` list, with paths below `prefix` (`probes`).
pub fn validate_probes(probes: &[ProbeConfig], prefix: &str, problems: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    for (i, probe) in probes.iter().enumerate() {
        let path = format!("{prefix}[{i}]");
        probe.validate(&path, problems);
        if !probe.name.is_empty() && !seen.insert(probe.name.as_str()) {
            problems.push(format!(
                "{path}.name: {:?} is used by an earlier probe",
                probe.name
            ));
        }
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a valid URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "scheme must be http or https, not {:?}",
            parsed.scheme()
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    Ok(())
}

/// `host:port`, with the host a name, an IPv4 address or a bracketed IPv6 address.
pub(crate) fn split_address(address: &str) -> Result<(&str, u16), String> {
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("must be host:port, not {address:?}"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("port must be a number from 1 to 65535, not {port:?}"))?;
    if port == 0 {
        return Err("port must be a number from 1 to 65535, not \"0\"".into());
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("must be host:port, not {address:?}"));
    }
    Ok((host, port))
}

fn check_address(address: &str) -> Result<(), String> {
    split_address(address).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(url: &str) -> ProbeConfig {
        serde_json::from_value(serde_json::json!({
            "name": "web", "service_name": "shop", "kind": "http", "url": url,
        }))
        .unwrap()
    }

    fn problems(probes: &[ProbeConfig]) -> Vec<String> {
        let mut problems = Vec::new();
        validate_probes(probes, "probes", &mut problems);
        problems
    }

    #[test]
    fn defaults_are_filled_in() {
        let probe = http("http://127.0.0.1:8080/health");
        assert_eq!(probe.interval, Duration::from_secs(30));
        assert_eq!(probe.timeout, Duration::from_secs(10));
        assert_eq!(probe.method, "GET");
        assert!(probe.health_json);
        assert_eq!(probe.instance(), "http://127.0.0.1:8080/health");
        assert!(problems(&[probe]).is_empty());
    }

    #[test]
    fn problems_name_their_path() {
        let mut bad_url = http("ftp://example.com/");
        bad_url.interval = Duration::from_secs(2);
        bad_url.timeout = Duration::from_secs(5);
        let mut duplicate = http("not a url");
        duplicate.body_regex = Some("(".into());
        duplicate.address = Some("x:1".into());
        let tcp: ProbeConfig = serde_json::from_value(serde_json::json!({
            "name": "db", "service_name": "", "kind": "tcp", "address": "db", "ca_file": "/x",
        }))
        .unwrap();
        let found = problems(&[bad_url, duplicate, tcp]);
        for expected in [
            "probes[0].url: scheme must be http or https",
            "probes[0].interval: must not be shorter than timeout (5s)",
            "probes[1].url: not a valid URL",
            "probes[1].body_regex: not a valid regular expression",
            "probes[1].address: does not apply to http probes",
            "probes[1].name: \"web\" is used by an earlier probe",
            "probes[2].service_name: must not be empty",
            "probes[2].address: must be host:port",
            "probes[2].ca_file: only used with tls: true",
        ] {
            assert!(
                found.iter().any(|p| p.starts_with(expected)),
                "{expected} in {found:#?}"
            );
        }
    }

    #[test]
    fn an_unknown_kind_does_not_parse() {
        let err = serde_json::from_value::<ProbeConfig>(serde_json::json!({
            "name": "x", "service_name": "y", "kind": "icmp",
        }))
        .unwrap_err();
        assert!(err.to_string().contains("unknown variant `icmp`"), "{err}");
    }

    #[test]
    fn addresses_split_into_host_and_port() {
        assert_eq!(split_address("db:5432"), Ok(("db", 5432)));
        assert_eq!(split_address("[::1]:443"), Ok(("::1", 443)));
        assert!(split_address("db").is_err());
        assert!(split_address("db:0").is_err());
        assert!(split_address(":80").is_err());
    }
}
