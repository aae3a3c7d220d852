//! The trace search index: the `trace_index` column family (`storage/FORMAT.md`, "Trace index").
//!
//! A span's entries are built when it is written and written just after it (`span_write`).
//! Entries that point to a span are `tag · xxh3-64 of their strings (8) · span reference`,
//! where the reference starts with `!start`, the bitwise complement of the span's start time,
//! so a forward scan of a prefix runs newest first and a time window is one contiguous key
//! range. Format 9 writes the short reference `!start (8) · xxh3-64(trace id · span id) (8)`
//! in `T`, `P` and `A` keys (25 bytes) and puts the trace id in the span's `T` value; `E` keys,
//! and every key of formats up to 8, end with `!start (8) · trace id (16) · span id (8)`
//! (41 bytes), which reads still accept.

use lookout_proto::otlp::common::v1::any_value::Value;
use lookout_proto::otlp::common::v1::KeyValue;
use lookout_proto::otlp::trace::v1::{status::StatusCode, Span};
use lookout_proto::{SpanId, TraceId};

use crate::keys::HOUR_NS;

pub const SERVICE: u8 = b'S';
pub const OPERATION: u8 = b'O';
pub const SERVICE_TIME: u8 = b'T';
pub const OPERATION_TIME: u8 = b'P';
pub const ATTRIBUTE: u8 = b'A';
pub const RESOURCE_ATTRIBUTE: u8 = b'R';
pub const ERROR: u8 = b'E';
/// Format 5's service graph entries, keyed by hour (read, no longer written).
pub const GRAPH: u8 = b'G';
/// Service graph entries keyed by minute (`service_graph`).
pub const GRAPH_MINUTE: u8 = b'g';
/// The service graph of one minute (`service_graph`).
pub const GRAPH_AGGREGATE: u8 = b'M';
/// A write whose index entries are queued: `Q · sequence (8)`, the write's span keys
/// (`span_write`).
pub const SPAN_QUEUE: u8 = b'Q';

/// Bytes of `!start · trace id · span id` at the end of a span-pointing key of format 8 and
/// before (still written for `E`, whose scans need both ids).
pub const SPAN_SUFFIX: usize = 8 + 16 + 8;
/// Bytes of the short span reference `!start · xxh3-64(trace id · span id)` ending the `T`,
/// `P` and `A` keys format 9 writes.
pub const SPAN_REF: usize = 8 + 8;
/// Length of `tag · h`, the start of every span-pointing key.
pub const HASHED_PREFIX: usize = 9;
/// Length of a span-pointing key with a short reference; one with the long suffix is
/// `HASHED_PREFIX + SPAN_SUFFIX`.
pub const SHORT_KEY: usize = HASHED_PREFIX + SPAN_REF;

/// Service name used when a resource has no `service.name` (as the OpenTelemetry SDKs do).
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// What the index keeps about a span in every entry that points to it, so that filters on
/// operation, kind, status and duration never read the span itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub duration_ns: u64,
    pub resource_id: u64,
    pub operation_hash: u64,
    pub kind: u8,
    pub status: u8,
    pub root: bool,
}

impl Summary {
    pub const LEN: usize = 27;

    pub fn of(span: &Span, resource_id: u64) -> Summary {
        Summary {
            duration_ns: span
                .end_time_unix_nano
                .saturating_sub(span.start_time_unix_nano),
            resource_id,
            operation_hash: operation_hash(&span.name),
            kind: span.kind.clamp(0, 255) as u8,
            status: span
                .status
                .as_ref()
                .map_or(0, |s| s.code.clamp(0, 255) as u8),
            root: span.parent_span_id.is_empty(),
        }
    }

    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0u8; Self::LEN];
        out[..8].copy_from_slice(&self.duration_ns.to_be_bytes());
        out[8..16].copy_from_slice(&self.resource_id.to_be_bytes());
        out[16..24].copy_from_slice(&self.operation_hash.to_be_bytes());
        out[24] = self.kind;
        out[25] = self.status;
        out[26] = u8::from(self.root);
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<Summary> {
        if bytes.len() < Self::LEN {
            return None;
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(b)
        };
        Some(Summary {
            duration_ns: u64_at(0),
            resource_id: u64_at(8),
            operation_hash: u64_at(16),
            kind: bytes[24],
            status: bytes[25],
            root: bytes[26] != 0,
        })
    }

    pub fn is_error(&self) -> bool {
        i32::from(self.status) == StatusCode::Error as i32
    }
}

pub fn operation_hash(name: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(name.as_bytes())
}

/// The string an attribute value is indexed and searched as (Jaeger compares tags as text):
/// strings as they are, booleans `true`/`false`, integers and floats in decimal. Other kinds
/// (bytes, arrays, maps) are not indexed.
pub fn attribute_text(kv: &KeyValue, out: &mut String) -> bool {
    value_text(kv.value.as_ref(), out)
}

/// [`attribute_text`] of a bare value.
pub fn value_text(
    value: Option<&lookout_proto::otlp::common::v1::AnyValue>,
    out: &mut String,
) -> bool {
    out.clear();
    push_value_text(value, out)
}

/// Appends the text of `value` to `out`: [`value_text`] without clearing `out` first.
pub fn push_value_text(
    value: Option<&lookout_proto::otlp::common::v1::AnyValue>,
    out: &mut String,
) -> bool {
    use std::fmt::Write;
    match value.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => out.push_str(s),
        Some(Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(Value::DoubleValue(d)) => {
            let _ = write!(out, "{d}");
        }
        _ => return false,
    }
    true
}

/// A text usable as a key part: a NUL would make the key ambiguous.
pub fn keyable(text: &str) -> bool {
    !text.as_bytes().contains(&0)
}

/// `tag · xxh3-64(part · 0 · part · 0 ...)`: the fixed 9-byte prefix of a span-pointing key.
/// Hashing keeps every such key one length (25 or 41 bytes) whatever the lengths of service names, keys and
/// values, which makes memtable inserts (the largest cost of indexing) and comparisons cheap.
pub fn hashed(buf: &mut Vec<u8>, tag: u8, parts: &[&[u8]]) {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for part in parts {
        h.update(part);
        h.update(&[0]);
    }
    buf.clear();
    buf.push(tag);
    buf.extend_from_slice(&h.digest().to_be_bytes());
}

/// `tag · part · 0 · part · 0 ...` (the prefix of a key).
pub fn prefix(buf: &mut Vec<u8>, tag: u8, parts: &[&[u8]]) {
    buf.clear();
    buf.push(tag);
    for part in parts {
        buf.extend_from_slice(part);
        buf.push(0);
    }
}

pub fn push_span_suffix(buf: &mut Vec<u8>, start_unix_nano: u64, trace: &TraceId, span: &SpanId) {
    buf.extend_from_slice(&(!start_unix_nano).to_be_bytes());
    buf.extend_from_slice(trace.as_bytes());
    buf.extend_from_slice(span.as_bytes());
}

/// Appends the short span reference: `!start · xxh3-64(trace id · span id)`. A hash of both
/// ids rather than some of their bytes, because ids are not always random where one would take
/// them: some generators (AWS X-Ray's) start a trace id with a timestamp, Jaeger and Zipkin
/// clients give a root span the trace id's low half as its id, and the spans of one trace
/// share their trace id.
pub fn push_span_ref(buf: &mut Vec<u8>, start_unix_nano: u64, trace: &TraceId, span: &SpanId) {
    let mut ids = [0u8; 24];
    ids[..16].copy_from_slice(trace.as_bytes());
    ids[16..].copy_from_slice(span.as_bytes());
    buf.extend_from_slice(&(!start_unix_nano).to_be_bytes());
    buf.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&ids).to_be_bytes());
}

/// The value of a `T` entry of format 9: the span's summary and trace id.
pub fn push_span_value(buf: &mut Vec<u8>, summary: &[u8; Summary::LEN], trace: &TraceId) {
    buf.clear();
    buf.extend_from_slice(summary);
    buf.extend_from_slice(trace.as_bytes());
}

/// The summary of a `T` value (or a `P` value of format 8 and before), and the trace id
/// format 9 puts after it (`None` in a value of format 8 and before, whose key holds it).
pub fn decode_span_value(value: &[u8]) -> Option<(Summary, Option<TraceId>)> {
    let summary = Summary::decode(value)?;
    match value.len() - Summary::LEN {
        0 => Some((summary, None)),
        16 => Some((
            summary,
            Some(TraceId::from_slice(&value[Summary::LEN..]).ok()?),
        )),
        _ => None,
    }
}

/// The start time of a span-pointing key, whichever reference it ends with.
pub fn span_start(key: &[u8]) -> Option<u64> {
    let inv: [u8; 8] = key.get(HASHED_PREFIX..HASHED_PREFIX + 8)?.try_into().ok()?;
    Some(!u64::from_be_bytes(inv))
}

/// What follows `tag · h` in a span-pointing key (the short reference or the long suffix): the
/// other entries of the same span end with the same bytes.
pub fn span_reference(key: &[u8]) -> Option<&[u8]> {
    key.get(HASHED_PREFIX..).filter(|r| r.len() >= 8)
}

/// The trace id in a span-pointing key with the long suffix (`None` for a short one).
pub fn long_key_trace(key: &[u8]) -> Option<TraceId> {
    if key.len() != HASHED_PREFIX + SPAN_SUFFIX {
        return None;
    }
    span_suffix(key).map(|(_, t, _)| t)
}

/// The start time, trace id and span id at the end of a span-pointing key.
pub fn span_suffix(key: &[u8]) -> Option<(u64, TraceId, SpanId)> {
    let at = key.len().checked_sub(SPAN_SUFFIX)?;
    let mut inv = [0u8; 8];
    inv.copy_from_slice(&key[at..at + 8]);
    let trace = TraceId::from_slice(&key[at + 8..at + 24]).ok()?;
    let span = SpanId::from_slice(&key[at + 24..]).ok()?;
    Some((!u64::from_be_bytes(inv), trace, span))
}

/// The key range `[lower, upper)` of entries under `prefix` whose span started in
/// `[start, end)`.
pub fn window(prefix: &[u8], start: u64, end: u64) -> (Vec<u8>, Vec<u8>) {
    let mut lower = prefix.to_vec();
    lower.extend_from_slice(&(!end.saturating_sub(1)).to_be_bytes());
    let mut upper = prefix.to_vec();
    upper.extend_from_slice(&(!start).to_be_bytes());
    upper.extend_from_slice(&[0xff; 25]);
    (lower, upper)
}

/// `G · hour (4) · trace id (16) · span id (8) · content hash (8)`: one per span, for the
/// service graph. The content hash is the span's, as in its `spans` key, so two spans sharing
/// an id each have their entry. Format 3 wrote these keys without the hash (29 bytes); reads
/// accept both.
pub fn graph_key(hour: u32, trace: &TraceId, span: &SpanId, content: u64) -> [u8; 37] {
    let mut key = [0u8; 37];
    key[0] = GRAPH;
    key[1..5].copy_from_slice(&hour.to_be_bytes());
    key[5..21].copy_from_slice(trace.as_bytes());
    key[21..29].copy_from_slice(span.as_bytes());
    key[29..].copy_from_slice(&content.to_be_bytes());
    key
}

/// A span as the service graph sees it (the value of a `G` entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphSpan {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub start_unix_nano: u64,
    pub duration_ns: u64,
    pub kind: u8,
    pub status: u8,
    pub service: String,
}

pub fn encode_graph_value(span: &Span, service: &str, buf: &mut Vec<u8>) {
    buf.clear();
    let parent = SpanId::from_slice(&span.parent_span_id).map_or([0u8; 8], |p| p.0);
    buf.extend_from_slice(&parent);
    buf.extend_from_slice(&span.start_time_unix_nano.to_be_bytes());
    buf.extend_from_slice(
        &span
            .end_time_unix_nano
            .saturating_sub(span.start_time_unix_nano)
            .to_be_bytes(),
    );
    buf.push(span.kind.clamp(0, 255) as u8);
    buf.push(
        span.status
            .as_ref()
            .map_or(0, |s| s.code.clamp(0, 255) as u8),
    );
    buf.extend_from_slice(service.as_bytes());
}

pub fn decode_graph(key: &[u8], value: &[u8]) -> Option<GraphSpan> {
    if (key.len() != 29 && key.len() != 37) || value.len() < 26 {
        return None;
    }
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&value[at..at + 8]);
        u64::from_be_bytes(b)
    };
    Some(GraphSpan {
        trace_id: TraceId::from_slice(&key[5..21]).ok()?,
        span_id: SpanId::from_slice(&key[21..29]).ok()?,
        parent_span_id: SpanId::from_slice(&value[..8]).ok(),
        start_unix_nano: u64_at(8),
        duration_ns: u64_at(16),
        kind: value[24],
        status: value[25],
        service: String::from_utf8_lossy(&value[26..]).into_owned(),
    })
}

/// The bucket of a `G` key (its hour) or of a `g` or `M` key (its minute).
pub fn graph_bucket(key: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(key.get(1..5)?.try_into().ok()?))
}

/// What an error span is grouped by (the value of an `E` entry): its operation, the exception
/// type (from its `exception` event, else empty) and a message (the exception message, else
/// the status message).
pub fn encode_error_value(span: &Span, buf: &mut Vec<u8>) {
    let mut exception_type = "";
    let mut message = span.status.as_ref().map_or("", |s| s.message.as_str());
    if let Some(event) = span.events.iter().find(|e| e.name == "exception") {
        let get = |key: &str| lookout_proto::model::string_attribute(&event.attributes, key);
        exception_type = get("exception.type").unwrap_or("");
        if let Some(m) = get("exception.message") {
            message = m;
        }
    }
    buf.clear();
    for part in [span.name.as_str(), exception_type] {
        let part = truncate(part, 1024);
        buf.extend_from_slice(&(part.len() as u16).to_be_bytes());
        buf.extend_from_slice(part.as_bytes());
    }
    buf.extend_from_slice(truncate(message, 1024).as_bytes());
}

/// Operation, exception type and message of an `E` value.
pub fn decode_error_value(value: &[u8]) -> Option<(String, String, String)> {
    let mut rest = value;
    let mut take = || {
        let len = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize;
        let part = String::from_utf8_lossy(rest.get(2..2 + len)?).into_owned();
        rest = &rest[2 + len..];
        Some(part)
    };
    let operation = take()?;
    let exception_type = take()?;
    Some((
        operation,
        exception_type,
        String::from_utf8_lossy(rest).into_owned(),
    ))
}

/// `text` cut to at most `max` bytes on a character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The start time below which an entry has expired, or `None` for entries that never expire
/// (services, operations, resource attributes).
/// The value of `S`, `O` and `R` entries written at `now`: the hour they are kept until,
/// rewritten by every batch that writes them. Two hours past the write: a span may be dated
/// up to `otlp.future_grace_period` (1h) ahead, and must expire before the entries that find
/// it.
pub fn keep_until_hour(now_unix_nano: u64) -> u32 {
    crate::keys::hour_of(now_unix_nano).saturating_add(2)
}

/// The hour an `S`, `O` or `R` entry is kept until; `None` for other entries and for those
/// written before entries carried it (kept).
pub fn kept_until(key: &[u8], value: &[u8]) -> Option<u32> {
    match *key.first()? {
        SERVICE | OPERATION | RESOURCE_ATTRIBUTE => value.try_into().ok().map(u32::from_be_bytes),
        _ => None,
    }
}

pub fn entry_time(key: &[u8]) -> Option<u64> {
    match *key.first()? {
        SERVICE_TIME | OPERATION_TIME | ATTRIBUTE | ERROR => span_start(key),
        GRAPH => graph_bucket(key).map(|h| u64::from(h) * HOUR_NS),
        GRAPH_MINUTE | GRAPH_AGGREGATE => {
            graph_bucket(key).map(|m| u64::from(m) * crate::service_graph::MINUTE_NS)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::otlp::trace::v1::{span::Event, Status};

    #[test]
    fn window_selects_exactly_the_start_range_newest_first() {
        let (t, s) = (TraceId([1; 16]), SpanId([2; 8]));
        let key = |start: u64| {
            let mut k = Vec::new();
            hashed(&mut k, SERVICE_TIME, &[b"svc"]);
            push_span_suffix(&mut k, start, &t, &s);
            k
        };
        let mut p = Vec::new();
        hashed(&mut p, SERVICE_TIME, &[b"svc"]);
        let (lo, hi) = window(&p, 100, 200);
        let inside = |k: &Vec<u8>| *k >= lo && *k < hi;
        assert!(inside(&key(100)) && inside(&key(199)));
        assert!(!inside(&key(99)) && !inside(&key(200)));
        assert!(key(150) < key(120), "newer sorts first");
        assert_eq!(span_suffix(&key(150)), Some((150, t, s)));
        assert_eq!(entry_time(&key(150)), Some(150));
        assert_eq!(long_key_trace(&key(150)), Some(t));

        // Format 9's short reference sorts and windows the same way, and carries no trace id.
        let short = |start: u64| {
            let mut k = Vec::new();
            hashed(&mut k, SERVICE_TIME, &[b"svc"]);
            push_span_ref(&mut k, start, &t, &s);
            k
        };
        assert_eq!(short(150).len(), SHORT_KEY);
        assert!(inside(&short(100)) && inside(&short(199)));
        assert!(!inside(&short(99)) && !inside(&short(200)));
        assert!(short(150) < short(120), "newer sorts first");
        assert_eq!(entry_time(&short(150)), Some(150));
        assert_eq!(long_key_trace(&short(150)), None);
        assert_eq!(span_suffix(&short(150)), None);
    }

    #[test]
    fn span_values_of_both_formats_decode() {
        let summary = Summary {
            duration_ns: 5,
            resource_id: 6,
            operation_hash: 7,
            kind: 2,
            status: 1,
            root: true,
        };
        let t = TraceId([4; 16]);
        let mut value = Vec::new();
        push_span_value(&mut value, &summary.encode(), &t);
        assert_eq!(decode_span_value(&value), Some((summary, Some(t))));
        assert_eq!(decode_span_value(&summary.encode()), Some((summary, None)));
        assert_eq!(decode_span_value(&value[..30]), None);
    }

    #[test]
    fn values_round_trip() {
        let span = Span {
            name: "GET /pay".into(),
            start_time_unix_nano: 10,
            end_time_unix_nano: 25,
            kind: 2,
            parent_span_id: vec![3; 8],
            status: Some(Status {
                code: 2,
                message: "boom".into(),
            }),
            events: vec![Event {
                name: "exception".into(),
                attributes: vec![lookout_proto::requests::string_kv(
                    "exception.type",
                    "IOError",
                )],
                ..Default::default()
            }],
            ..Default::default()
        };
        let summary = Summary::of(&span, 7);
        assert_eq!(Summary::decode(&summary.encode()), Some(summary));
        assert!(summary.is_error() && !summary.root && summary.duration_ns == 15);
        let mut buf = Vec::new();
        encode_error_value(&span, &mut buf);
        assert_eq!(
            decode_error_value(&buf),
            Some(("GET /pay".into(), "IOError".into(), "boom".into()))
        );
        encode_graph_value(&span, "pay", &mut buf);
        let (t, s) = (TraceId([1; 16]), SpanId([2; 8]));
        let g = decode_graph(&graph_key(5, &t, &s, 9), &buf).unwrap();
        assert_eq!(g.parent_span_id, Some(SpanId([3; 8])));
        assert_eq!((g.service.as_str(), g.duration_ns, g.kind), ("pay", 15, 2));
        assert_eq!(entry_time(&graph_key(5, &t, &s, 9)), Some(5 * HOUR_NS));
        // A key of format 3, without the content hash, reads the same.
        assert_eq!(decode_graph(&graph_key(5, &t, &s, 9)[..29], &buf), Some(g));
        assert_eq!(truncate("héllo", 2), "h");
    }
}
