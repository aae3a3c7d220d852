//! OTLP names as Prometheus names, the way Prometheus's own OTLP receiver builds them
//! (`prometheus/otlptranslator`, strategy `UnderscoreEscapingWithSuffixes`): characters outside
//! `[a-zA-Z0-9_:]` become `_`, the unit is appended as words (`s` → `seconds`, `By` → `bytes`,
//! `{requests}` dropped, `a/b` → `a_per_b`), `_ratio` for gauges of unit `1`, `_total` for
//! monotonic counters.

/// What kind of Prometheus metric a name is built for (suffixes depend on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromType {
    Counter,
    Gauge,
    Histogram,
    Summary,
    Unknown,
}

impl PromType {
    /// The type as Prometheus's metadata API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PromType::Counter => "counter",
            PromType::Gauge => "gauge",
            PromType::Histogram => "histogram",
            PromType::Summary => "summary",
            PromType::Unknown => "unknown",
        }
    }
}

fn main_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        _ => return None,
    })
}

fn per_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// Drops `{annotations}` from a UCUM unit (`{request}/s` → `/s`).
fn strip_braces(unit: &str) -> String {
    let mut out = String::with_capacity(unit.len());
    let mut depth = 0;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
}

/// The Prometheus metric name of an OTLP metric.
pub fn metric_name(name: &str, unit: &str, kind: PromType) -> String {
    let mut words: Vec<String> = tokens(name).map(str::to_owned).collect();
    let unit = strip_braces(unit);
    let (main, per) = match unit.split_once('/') {
        Some((m, p)) => (m.trim(), Some(p.trim())),
        None => (unit.trim(), None),
    };
    let push_unit = |words: &mut Vec<String>, word: &str| {
        if !word.is_empty() && !words.iter().any(|w| w == word) {
            for t in tokens(word) {
                words.push(t.to_owned());
            }
        }
    };
    if !main.is_empty() && main != "1" {
        let word = main_unit(main)
            .map(str::to_owned)
            .unwrap_or_else(|| tokens(main).collect::<Vec<_>>().join("_"));
        push_unit(&mut words, &word);
    }
    if let Some(per) = per.filter(|p| !p.is_empty()) {
        let word = per_unit(per)
            .map(str::to_owned)
            .unwrap_or_else(|| tokens(per).collect::<Vec<_>>().join("_"));
        if !word.is_empty() && !words.contains(&word) {
            words.push("per".to_owned());
            words.push(word);
        }
    }
    match kind {
        PromType::Counter => {
            words.retain(|w| w != "total");
            words.push("total".to_owned());
        }
        PromType::Gauge if main == "1" => {
            words.retain(|w| w != "ratio");
            words.push("ratio".to_owned());
        }
        _ => {}
    }
    let mut out = words.join("_");
    if out.is_empty() {
        out.push('_');
    }
    if out.as_bytes()[0].is_ascii_digit() {
        out.insert(0, '_');
    }
    out
}

/// The Prometheus label name of an OTLP attribute key.
pub fn label_name(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        return out;
    }
    if out.as_bytes()[0].is_ascii_digit() {
        out.insert_str(0, "key_");
    } else if out.starts_with('_') && !out.starts_with("__") {
        out.insert_str(0, "key");
    }
    out
}

/// A float as Prometheus formats `le` and `quantile` label values (Go's `FormatFloat(f, 'f',
/// -1, 64)`: shortest exact decimal, no exponent; `+Inf`, `-Inf`, `NaN`).
pub fn format_label_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// A Prometheus duration (`30s`, `5m`, `1h30m`, `2d`, `1w`, `1y`, `0`) in milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let bad = || format!("not a valid duration string: {text:?}");
    if text == "0" {
        return Ok(0);
    }
    if text.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(ms)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// A sample value in Prometheus's test notations (`NaN`, `Inf`, `-Inf`, `stale`, numbers).
pub fn parse_test_value(s: &str) -> Option<f64> {
    match s {
        "NaN" | "nan" => Some(f64::NAN),
        "Inf" | "+Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        // Prometheus's stale marker.
        "stale" => Some(f64::from_bits(0x7ff0_0000_0000_0002)),
        _ => s.parse::<f64>().ok(),
    }
}

/// Expands the series-value notation of Prometheus's engine tests and of promtool's rule
/// tests: `a`, `a+bxN` and `a-bxN` (N more values, each b apart), `axN`, `_` (no sample),
/// `_xN`, `stale`. `None` is a missing sample.
pub fn expand_test_values(text: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        let bad = || format!("bad value {token:?}");
        if token == "_" {
            out.push(None);
            continue;
        }
        if let Some(n) = token.strip_prefix("_x") {
            let n: usize = n.parse().map_err(|_| bad())?;
            out.extend(std::iter::repeat_n(None, n));
            continue;
        }
        if let Some(v) = parse_test_value(token) {
            out.push(Some(v));
            continue;
        }
        let (head, times) = token.rsplit_once('x').ok_or_else(bad)?;
        let n: usize = times.parse().map_err(|_| bad())?;
        let split = head
            .char_indices()
            .skip(1)
            .find(|(i, c)| (*c == '+' || *c == '-') && !head[..*i].ends_with(['e', 'E']))
            .map(|(i, _)| i);
        let (start, step) = match split {
            Some(i) => (
                parse_test_value(&head[..i]).ok_or_else(bad)?,
                parse_test_value(&head[i..]).ok_or_else(bad)?,
            ),
            None => (parse_test_value(head).ok_or_else(bad)?, 0.0),
        };
        let mut v = start;
        out.push(Some(v));
        for _ in 0..n {
            v += step;
            out.push(Some(v));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_otlp_translation() {
        use PromType::*;
        for (name, unit, kind, want) in [
            (
                "http.server.request.duration",
                "s",
                Histogram,
                "http_server_request_duration_seconds",
            ),
            (
                "traces.span.metrics.calls",
                "{call}",
                Counter,
                "traces_span_metrics_calls_total",
            ),
            (
                "traces.span.metrics.duration",
                "ms",
                Histogram,
                "traces_span_metrics_duration_milliseconds",
            ),
            (
                "system.memory.usage",
                "By",
                Gauge,
                "system_memory_usage_bytes",
            ),
            (
                "system.cpu.utilization",
                "1",
                Gauge,
                "system_cpu_utilization_ratio",
            ),
            ("requests", "1", Counter, "requests_total"),
            ("orders.total", "", Counter, "orders_total"),
            ("throughput", "By/s", Gauge, "throughput_bytes_per_second"),
            ("queue.latency.seconds", "s", Gauge, "queue_latency_seconds"),
            ("rate", "{packets}/s", Gauge, "rate_per_second"),
            ("temp", "Cel", Gauge, "temp_celsius"),
            ("2xx", "", Gauge, "_2xx"),
            ("jobs", "{job}", Gauge, "jobs"),
        ] {
            assert_eq!(metric_name(name, unit, kind), want, "{name} {unit}");
        }
    }

    #[test]
    fn test_value_notation_expands() {
        assert_eq!(
            expand_test_values("1+2x2 _ 5 -1-1x1 _x2 3x1 1e3+1e3x1").unwrap(),
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
                Some(3.0),
                Some(1000.0),
                Some(2000.0)
            ]
        );
        assert!(expand_test_values("1+x").is_err());
        assert_eq!(
            expand_test_values("stale").unwrap()[0].map(f64::to_bits),
            Some(0x7ff0_0000_0000_0002)
        );
    }

    #[test]
    fn durations_parse_as_prometheus_does() {
        assert_eq!(parse_duration_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration_ms("0"), Ok(0));
        assert_eq!(parse_duration_ms("0m"), Ok(0));
        assert_eq!(parse_duration_ms("250ms"), Ok(250));
        for bad in ["", "5", "5 minutes", "m5", "1x"] {
            assert!(parse_duration_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn labels_and_floats() {
        assert_eq!(label_name("http.route"), "http_route");
        assert_eq!(label_name("1st"), "key_1st");
        assert_eq!(label_name("_x"), "key_x");
        assert_eq!(label_name("__x"), "__x");
        assert_eq!(format_label_float(0.005), "0.005");
        assert_eq!(format_label_float(10.0), "10");
        assert_eq!(format_label_float(f64::INFINITY), "+Inf");
        assert_eq!(format_label_float(1e21), "1000000000000000000000");
    }
}
