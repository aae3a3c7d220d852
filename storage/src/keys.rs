//! Key encodings, one function per column family (see `storage/FORMAT.md`). All integers are
//! big-endian so that byte order is numeric order.

use lookout_proto::{SpanId, TraceId};

pub const HOUR_NS: u64 = 3_600_000_000_000;

/// The hour bucket of a timestamp: hours since the Unix epoch (fits u32 until year 2459).
pub fn hour_of(unix_nano: u64) -> u32 {
    (unix_nano / HOUR_NS).min(u32::MAX as u64) as u32
}

/// `spans`: hour (4) | trace id (16) | span id (8) | content hash (8).
///
/// The content hash is [`content_hash`] of the stored value: a retried export (the same span
/// again) lands on the same key, while two different spans that share a span id (the client
/// and server halves of a Zipkin-style shared span, or a client that reuses ids) get two keys.
pub fn span_key(hour: u32, trace_id: &TraceId, span_id: &SpanId, content: u64) -> [u8; 36] {
    let mut key = [0u8; 36];
    key[..4].copy_from_slice(&hour.to_be_bytes());
    key[4..20].copy_from_slice(trace_id.as_bytes());
    key[20..28].copy_from_slice(span_id.as_bytes());
    key[28..].copy_from_slice(&content.to_be_bytes());
    key
}

/// The content hash of a stored span value (its `SpanRecord` encoding): xxh3-64.
pub fn content_hash(value: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(value)
}

/// The span id and content hash of a `spans` key. Keys written before format 4 are 28 bytes,
/// without the hash: it is then computed from `value`, so an old span and the same span
/// written again after an upgrade are recognised as one.
pub fn span_of_key(key: &[u8], value: &[u8]) -> Option<(SpanId, u64)> {
    let span = SpanId::from_slice(key.get(20..28)?).ok()?;
    let content = match key.len() {
        28 => content_hash(value),
        36 => u64::from_be_bytes(key.get(28..36)?.try_into().ok()?),
        _ => return None,
    };
    Some((span, content))
}

/// The prefix of all spans of one trace that started in one hour.
pub fn span_prefix(hour: u32, trace_id: &TraceId) -> [u8; 20] {
    let mut key = [0u8; 20];
    key[..4].copy_from_slice(&hour.to_be_bytes());
    key[4..].copy_from_slice(trace_id.as_bytes());
    key
}

/// `trace_hours`: trace id (16) | hour (4), no value.
pub fn trace_hour_key(trace_id: &TraceId, hour: u32) -> [u8; 20] {
    let mut key = [0u8; 20];
    key[..16].copy_from_slice(trace_id.as_bytes());
    key[16..].copy_from_slice(&hour.to_be_bytes());
    key
}

/// The hour in a `trace_hours` key.
pub fn trace_hour_of_key(key: &[u8]) -> Option<u32> {
    let bytes: [u8; 4] = key.get(16..20)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// `logs` and `metric_points`: time (8) | sequence (8).
pub fn time_key(unix_nano: u64, seq: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&unix_nano.to_be_bytes());
    key[8..].copy_from_slice(&seq.to_be_bytes());
    key
}

/// The time in a `logs` or `metric_points` key.
pub fn time_of_key(key: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = key.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// `resources` and `scopes`: id (8).
pub fn id_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

/// The first byte of a `resources` or `scopes` value that carries the hour it is kept until:
/// never the first byte of an encoded `Resource` or `Scope` (field 31, wire type 7, is invalid
/// protobuf), so values written before it are read as they are.
const KEPT_UNTIL: u8 = 0xff;

/// A `resources` / `scopes` value: `0xff` · hour kept until (4) · the encoded message.
pub fn interned_value(keep_until_hour: u32, encoded: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.push(KEPT_UNTIL);
    out.extend_from_slice(&keep_until_hour.to_be_bytes());
    out.extend_from_slice(encoded);
}

/// The encoded message of a `resources` / `scopes` value.
pub fn interned_message(value: &[u8]) -> &[u8] {
    match value.first() {
        Some(&KEPT_UNTIL) => value.get(5..).unwrap_or_default(),
        _ => value,
    }
}

/// The hour a `resources` / `scopes` value is kept until (`None`: written before values
/// carried it, kept).
pub fn interned_kept_until(value: &[u8]) -> Option<u32> {
    match value.first() {
        Some(&KEPT_UNTIL) => value.get(1..5)?.try_into().ok().map(u32::from_be_bytes),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_by_time() {
        assert!(time_key(1, u64::MAX) < time_key(2, 0));
        assert!(time_key(255, 0) < time_key(256, 0));
        let t = TraceId([7; 16]);
        let s = SpanId([9; 8]);
        assert!(span_key(10, &t, &s, u64::MAX) < span_key(11, &TraceId([0; 16]), &s, 0));
        assert!(span_key(10, &t, &s, 1).starts_with(&span_prefix(10, &t)));
        assert_eq!(
            span_of_key(&span_key(10, &t, &s, 77), b"value"),
            Some((s, 77))
        );
        // A key of format 3 (no hash): the hash is that of the value.
        assert_eq!(
            span_of_key(&span_key(10, &t, &s, 0)[..28], b"value"),
            Some((s, content_hash(b"value")))
        );
        assert_eq!(span_of_key(&span_key(10, &t, &s, 0)[..30], b"value"), None);
        assert_eq!(trace_hour_of_key(&trace_hour_key(&t, 42)), Some(42));
        assert_eq!(time_of_key(&time_key(1234, 5)), Some(1234));
        assert_eq!(hour_of(HOUR_NS * 3 + 1), 3);
    }
}
