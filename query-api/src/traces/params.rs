//! Parsing of the parameters the trace APIs share: durations, ids, times, kinds, statuses.
//! Every error names the parameter.

use lookout_proto::otlp::trace::v1::{span::SpanKind, status::StatusCode};
use lookout_proto::TraceId;

use crate::ApiError;

/// The query string as ordered pairs (a key may repeat, as Jaeger's `tag` and `traceID` do).
pub fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The first value of the first of `names` present and not empty.
pub fn get<'a>(pairs: &'a [(String, String)], names: &[&str]) -> Option<&'a str> {
    names.iter().find_map(|name| {
        pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    })
}

/// A Go duration (`300ms`, `1.5h`, `2h45m`, `10us`, `0`) in nanoseconds, as Jaeger parses
/// `minDuration` and `maxDuration`; days (`7d`) are accepted too.
pub fn go_duration(name: &str, text: &str) -> Result<u64, ApiError> {
    let bad = || {
        ApiError::bad(format!(
            "malformed parameter {name}: {text:?} is not a duration (examples: 300ms, 1.5s, 2m)"
        ))
    };
    let s = text.trim();
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.starts_with('-') {
        return Err(ApiError::bad(format!(
            "malformed parameter {name}: {text:?} is negative"
        )));
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut rest = s;
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            "d" => 86400e9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(total.round() as u64)
}

/// A trace id in hex; shorter ids are left-padded with zeros as Jaeger does.
pub fn trace_id(name: &str, text: &str) -> Result<TraceId, ApiError> {
    let text = text.trim();
    if text.is_empty() || text.len() > 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad(format!(
            "malformed parameter {name}: {text:?} is not a trace id (1 to 32 hex digits)"
        )));
    }
    let padded = format!("{text:0>32}");
    padded.parse().map_err(|e| {
        ApiError::bad(format!(
            "malformed parameter {name}: {text:?} is not a trace id: {e}"
        ))
    })
}

/// An integer parameter.
pub fn integer<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, ApiError> {
    text.trim().parse().map_err(|_| {
        ApiError::bad(format!(
            "malformed parameter {name}: {text:?} is not a non-negative integer"
        ))
    })
}

/// An RFC 3339 time (`2026-11-26T10:00:00.123456789Z`, any offset) in Unix nanoseconds.
pub fn rfc3339(name: &str, text: &str) -> Result<u64, ApiError> {
    let ts: jiff::Timestamp = text.trim().parse().map_err(|e| {
        ApiError::bad(format!(
            "malformed parameter {name}: {text:?} is not an RFC 3339 time: {e}"
        ))
    })?;
    u64::try_from(ts.as_nanosecond()).map_err(|_| {
        ApiError::bad(format!(
            "malformed parameter {name}: {text:?} is before 1970"
        ))
    })
}

/// A time as Lookout's own API takes it: RFC 3339, or a Unix time in seconds (with a
/// fraction), as Prometheus's API does.
pub fn time(name: &str, text: &str) -> Result<u64, ApiError> {
    if let Ok(seconds) = text.trim().parse::<f64>() {
        if (0.0..1e10).contains(&seconds) {
            return Ok((seconds * 1e9).round() as u64);
        }
        return Err(ApiError::bad(format!(
            "malformed parameter {name}: {text:?} is out of range"
        )));
    }
    rfc3339(name, text)
}

/// RFC 3339 with nanoseconds, in UTC.
pub fn format_rfc3339(unix_nano: u64) -> String {
    jiff::Timestamp::from_nanosecond(i128::from(unix_nano))
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Span kind names as Jaeger writes them (`server`, ...); empty for unspecified.
pub fn kind_name(kind: i32) -> &'static str {
    match SpanKind::try_from(kind) {
        Ok(SpanKind::Internal) => "internal",
        Ok(SpanKind::Server) => "server",
        Ok(SpanKind::Client) => "client",
        Ok(SpanKind::Producer) => "producer",
        Ok(SpanKind::Consumer) => "consumer",
        _ => "",
    }
}

/// A span kind: `server`, `SPAN_KIND_SERVER` or the OTLP number.
pub fn kind(name: &str, text: &str) -> Result<i32, ApiError> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_prefix("span_kind_").unwrap_or(&t);
    let kind = match t {
        "unspecified" => SpanKind::Unspecified,
        "internal" => SpanKind::Internal,
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        n => match n
            .parse::<i32>()
            .ok()
            .and_then(|n| SpanKind::try_from(n).ok())
        {
            Some(k) => k,
            None => {
                return Err(ApiError::bad(format!(
                    "malformed parameter {name}: {text:?} is not a span kind \
                     (server, client, producer, consumer, internal)"
                )))
            }
        },
    };
    Ok(kind as i32)
}

/// A status: `error`, `ok`, `unset` (or `STATUS_CODE_ERROR`, ...).
pub fn status(name: &str, text: &str) -> Result<i32, ApiError> {
    let t = text.trim().to_ascii_lowercase();
    match t.strip_prefix("status_code_").unwrap_or(&t) {
        "unset" => Ok(StatusCode::Unset as i32),
        "ok" => Ok(StatusCode::Ok as i32),
        "error" => Ok(StatusCode::Error as i32),
        _ => Err(ApiError::bad(format!(
            "malformed parameter {name}: {text:?} is not a status (error, ok, unset)"
        ))),
    }
}

/// `key:value` (Jaeger's `tag`) or `key=value`.
pub fn key_value(name: &str, text: &str, separator: char) -> Result<(String, String), ApiError> {
    match text.split_once(separator) {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(ApiError::bad(format!(
            "malformed parameter {name}: {text:?} is not key{separator}value"
        ))),
    }
}

/// A JSON object of attribute filters (`tags`, `query.attributes`); values may be strings,
/// numbers or booleans and are compared as text.
pub fn json_map(name: &str, text: &str) -> Result<Vec<(String, String)>, ApiError> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| ApiError::bad(format!("malformed parameter {name}: {e}")))?;
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            serde_json::Value::Number(n) => Ok((k, n.to_string())),
            serde_json::Value::Bool(b) => Ok((k, b.to_string())),
            other => Err(ApiError::bad(format!(
                "malformed parameter {name}: value of {k:?} must be a string, number or boolean, not {other}"
            ))),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("d", "1.5ms").unwrap(), 1_500_000);
        assert_eq!(
            go_duration("d", "2h45m").unwrap(),
            (2 * 3600 + 45 * 60) * 1_000_000_000
        );
        assert_eq!(go_duration("d", "10µs").unwrap(), 10_000);
        assert_eq!(go_duration("d", "10us").unwrap(), 10_000);
        assert_eq!(go_duration("d", "0").unwrap(), 0);
        assert_eq!(go_duration("d", "2d").unwrap(), 2 * 86_400_000_000_000);
        for bad in ["", "5", "ms", "1x", "-1s", "1.2.3s"] {
            let err = go_duration("minDuration", bad).unwrap_err().to_string();
            assert!(err.contains("minDuration"), "{bad}: {err}");
        }
    }

    #[test]
    fn ids_times_kinds() {
        assert_eq!(
            trace_id("t", "abc").unwrap().to_hex(),
            format!("{:0>32}", "abc")
        );
        assert!(trace_id("traceID", "xyz")
            .unwrap_err()
            .to_string()
            .contains("traceID"));
        assert!(trace_id("t", "0").is_err());
        assert_eq!(
            rfc3339("t", "1970-01-01T00:00:01.5Z").unwrap(),
            1_500_000_000
        );
        assert_eq!(
            rfc3339("t", "1970-01-01T01:00:01+01:00").unwrap(),
            1_000_000_000
        );
        assert_eq!(time("t", "1.25").unwrap(), 1_250_000_000);
        assert_eq!(format_rfc3339(1_500_000_000), "1970-01-01T00:00:01.5Z");
        assert_eq!(kind("k", "SPAN_KIND_SERVER").unwrap(), 2);
        assert_eq!(kind("k", "client").unwrap(), 3);
        assert!(kind("spanKind", "nope")
            .unwrap_err()
            .to_string()
            .contains("spanKind"));
        assert_eq!(status("s", "error").unwrap(), 2);
        assert_eq!(
            json_map("tags", r#"{"a":"b","n":5,"t":true}"#).unwrap(),
            vec![
                ("a".into(), "b".into()),
                ("n".into(), "5".into()),
                ("t".into(), "true".into())
            ]
        );
        assert!(json_map("tags", "{")
            .unwrap_err()
            .to_string()
            .contains("tags"));
    }
}
