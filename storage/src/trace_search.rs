//! Reads of the trace search index: services, operations, trace search, the service graph's
//! spans and error spans. Every read scans only the entries of its window and filters.

use std::collections::HashSet;
use std::time::Instant;

use lookout_proto::TraceId;
use rocksdb::{ColumnFamily, ReadOptions};

use crate::error::{Result, StorageError};
use crate::keys;
use crate::store::{hex, Store, CF_TRACE_INDEX};
use crate::trace_index::{self as ti, Summary};
use crate::{ErrorSpan, Operation, TimeRange, TraceMatch, TraceQuery, TraceSearch};

/// How many index entries are read between two looks at the deadline.
const DEADLINE_EVERY: u32 = 512;
/// Candidate driver ranges are counted up to this many entries to pick the smallest.
const SIZE_PROBE: usize = 4096;

pub(crate) struct Deadline {
    at: Option<Instant>,
    count: u32,
}

impl Deadline {
    pub(crate) fn new(at: Option<Instant>) -> Self {
        Deadline { at, count: 0 }
    }

    pub(crate) fn at(&self) -> Option<Instant> {
        self.at
    }

    pub(crate) fn check(&mut self) -> Result<()> {
        self.count = self.count.wrapping_add(1);
        if self.count % DEADLINE_EVERY == 1 && crate::cancel::expired(self.at) {
            return Err(StorageError::Timeout);
        }
        Ok(())
    }
}

/// Iterates `[lower, upper)` of the index, calling `each(key, value)` until it returns false.
pub(crate) fn scan(
    store: &Store,
    cf: &ColumnFamily,
    lower: Vec<u8>,
    upper: Vec<u8>,
    deadline: &mut Deadline,
    mut each: impl FnMut(&[u8], &[u8]) -> Result<bool>,
) -> Result<()> {
    let mut opts = ReadOptions::default();
    opts.set_iterate_lower_bound(lower);
    opts.set_iterate_upper_bound(upper);
    let mut it = store.db.raw_iterator_cf_opt(cf, opts);
    it.seek_to_first();
    while let (Some(key), Some(value)) = (it.key(), it.value()) {
        deadline.check()?;
        if !each(key, value)? {
            return Ok(());
        }
        it.next();
    }
    it.status()?;
    Ok(())
}

/// The key just past every key that starts with `prefix`.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0xff; prefix.len() + 1]
}

pub(crate) fn scan_prefix(
    store: &Store,
    cf: &ColumnFamily,
    prefix: &[u8],
    deadline: &mut Deadline,
    each: impl FnMut(&[u8], &[u8]) -> Result<bool>,
) -> Result<()> {
    scan(
        store,
        cf,
        prefix.to_vec(),
        prefix_end(prefix),
        deadline,
        each,
    )
}

pub(crate) fn corrupt(key: &[u8], reason: &str) -> StorageError {
    StorageError::Corrupt {
        cf: CF_TRACE_INDEX,
        key: hex(key),
        reason: reason.into(),
    }
}

/// One attribute filter, resolved against the service's resources.
struct TagFilter {
    prefix: Vec<u8>,
    /// Resources of the service that have this attribute: their spans match it.
    resources: HashSet<u64>,
}

impl Store {
    /// `range` without the hours retention has expired (their index entries may linger until
    /// compaction drops them).
    pub(crate) fn live(&self, range: TimeRange) -> TimeRange {
        let cutoff = u64::from(
            self.trace_cutoff_hour
                .load(std::sync::atomic::Ordering::Relaxed),
        ) * keys::HOUR_NS;
        TimeRange {
            start_unix_nano: range.start_unix_nano.max(cutoff),
            end_unix_nano: range.end_unix_nano,
        }
    }

    fn search_service(
        &self,
        cf: &ColumnFamily,
        service: &str,
        query: &TraceQuery,
        deadline: &mut Deadline,
        accept: &mut dyn FnMut(&TraceId) -> Result<bool>,
        out: &mut Vec<TraceMatch>,
    ) -> Result<()> {
        let mut tags = Vec::with_capacity(query.attributes.len());
        for (key, value) in &query.attributes {
            if !ti::keyable(key) || !ti::keyable(value) {
                return Ok(());
            }
            let mut resource_prefix = Vec::new();
            ti::prefix(
                &mut resource_prefix,
                ti::RESOURCE_ATTRIBUTE,
                &[service.as_bytes(), key.as_bytes(), value.as_bytes()],
            );
            let mut resources = HashSet::new();
            scan_prefix(self, cf, &resource_prefix, deadline, |k, _| {
                let id = k
                    .get(resource_prefix.len()..)
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .ok_or_else(|| corrupt(k, "resource attribute key without resource id"))?;
                resources.insert(u64::from_be_bytes(id));
                Ok(true)
            })?;
            let mut prefix = Vec::new();
            ti::hashed(
                &mut prefix,
                ti::ATTRIBUTE,
                &[service.as_bytes(), key.as_bytes(), value.as_bytes()],
            );
            tags.push(TagFilter { prefix, resources });
        }

        // The driver is the smallest of the candidate ranges in the window: the entries of a
        // tag no resource has (they are exactly its matches), the operation's, the service's.
        // Sizes are counted up to `SIZE_PROBE` entries, so picking costs little and a rare tag
        // drives a search that also names a common one.
        let range = self.live(query.range);
        if range.start_unix_nano >= range.end_unix_nano {
            return Ok(());
        }
        let mut candidates: Vec<(Option<usize>, Vec<u8>)> = tags
            .iter()
            .enumerate()
            .filter(|(_, t)| t.resources.is_empty())
            .map(|(i, t)| (Some(i), t.prefix.clone()))
            .collect();
        let mut fallback = Vec::new();
        match &query.operation {
            Some(op) => ti::hashed(
                &mut fallback,
                ti::OPERATION_TIME,
                &[service.as_bytes(), op.as_bytes()],
            ),
            None => ti::hashed(&mut fallback, ti::SERVICE_TIME, &[service.as_bytes()]),
        }
        candidates.push((None, fallback));
        let (driver, driver_prefix) = if candidates.len() == 1 {
            candidates.swap_remove(0)
        } else {
            let mut best = 0;
            let mut best_size = usize::MAX;
            for (i, (_, prefix)) in candidates.iter().enumerate() {
                let (lower, upper) = ti::window(prefix, range.start_unix_nano, range.end_unix_nano);
                let mut size = 0;
                scan(self, cf, lower, upper, deadline, |_, _| {
                    size += 1;
                    Ok(size < SIZE_PROBE.min(best_size))
                })?;
                if size < best_size {
                    (best, best_size) = (i, size);
                }
            }
            candidates.swap_remove(best)
        };
        let operation_hash = query.operation.as_deref().map(ti::operation_hash);
        let summary_filters = operation_hash.is_some()
            || query.span_kind.is_some()
            || query.status.is_some()
            || query.min_duration_ns.is_some()
            || query.max_duration_ns.is_some()
            || query.root_only
            || tags.iter().any(|t| !t.resources.is_empty());
        let mut service_prefix = Vec::new();
        ti::hashed(&mut service_prefix, ti::SERVICE_TIME, &[service.as_bytes()]);
        let (lower, upper) = ti::window(&driver_prefix, range.start_unix_nano, range.end_unix_nano);
        let mut seen: HashSet<TraceId> = HashSet::new();
        let mut found = 0;
        let mut probe = Vec::with_capacity(128);
        scan(self, cf, lower, upper, deadline, |key, value| {
            let start = ti::span_start(key).ok_or_else(|| corrupt(key, "no span reference"))?;
            let reference =
                ti::span_reference(key).ok_or_else(|| corrupt(key, "no span reference"))?;
            let key_trace = ti::long_key_trace(key);
            if key_trace.is_some_and(|t| seen.contains(&t)) {
                return Ok(true);
            }
            // `A` entries (and `P` entries of format 9) carry no summary, and with a short
            // reference no trace id: both are read from the span's `T` entry, when a filter or
            // the trace id needs it.
            let (summary, trace) = if value.is_empty() {
                if !summary_filters && key_trace.is_some() {
                    (None, key_trace)
                } else {
                    probe.clear();
                    probe.extend_from_slice(&service_prefix);
                    probe.extend_from_slice(reference);
                    match self.db.get_pinned_cf(cf, &probe)? {
                        Some(v) => {
                            let (summary, trace) = ti::decode_span_value(&v)
                                .ok_or_else(|| corrupt(&probe, "bad span value"))?;
                            (Some(summary), trace.or(key_trace))
                        }
                        None => return Ok(true),
                    }
                }
            } else {
                let (summary, trace) =
                    ti::decode_span_value(value).ok_or_else(|| corrupt(key, "bad span value"))?;
                (Some(summary), trace.or(key_trace))
            };
            let Some(trace) = trace else {
                return Err(corrupt(key, "no trace id"));
            };
            if seen.contains(&trace) {
                return Ok(true);
            }
            if summary.is_some_and(|s| !summary_matches(&s, query, operation_hash)) {
                return Ok(true);
            }
            for (i, tag) in tags.iter().enumerate() {
                if Some(i) == driver
                    || summary.is_some_and(|s| tag.resources.contains(&s.resource_id))
                {
                    continue;
                }
                probe.clear();
                probe.extend_from_slice(&tag.prefix);
                probe.extend_from_slice(reference);
                if self.db.get_pinned_cf(cf, &probe)?.is_none() {
                    return Ok(true);
                }
            }
            seen.insert(trace);
            if !accept(&trace)? {
                return Ok(true);
            }
            out.push(TraceMatch {
                trace_id: trace,
                start_unix_nano: start,
            });
            found += 1;
            Ok(found < query.limit)
        })
    }

    fn services_inner(&self, deadline: &mut Deadline) -> Result<Vec<String>> {
        let cf = self.cf(CF_TRACE_INDEX)?;
        let mut out = Vec::new();
        scan_prefix(self, cf, &[ti::SERVICE], deadline, |key, _| {
            out.push(String::from_utf8_lossy(&key[1..]).into_owned());
            Ok(true)
        })?;
        Ok(out)
    }
}

fn summary_matches(s: &Summary, q: &TraceQuery, operation_hash: Option<u64>) -> bool {
    operation_hash.is_none_or(|h| h == s.operation_hash)
        && q.span_kind.is_none_or(|k| k == i32::from(s.kind))
        && q.status.is_none_or(|c| c == i32::from(s.status))
        && q.min_duration_ns.is_none_or(|d| s.duration_ns >= d)
        && q.max_duration_ns.is_none_or(|d| s.duration_ns <= d)
        && (!q.root_only || s.root)
}

impl TraceSearch for Store {
    fn services(&self) -> Result<Vec<String>> {
        self.index_queued_spans_for_read()?;
        self.services_inner(&mut Deadline::new(None))
    }

    fn operations(&self, service: &str) -> Result<Vec<Operation>> {
        self.index_queued_spans_for_read()?;
        let cf = self.cf(CF_TRACE_INDEX)?;
        let mut prefix = Vec::new();
        ti::prefix(&mut prefix, ti::OPERATION, &[service.as_bytes()]);
        let mut out = Vec::new();
        scan_prefix(self, cf, &prefix, &mut Deadline::new(None), |key, _| {
            let rest = &key[prefix.len()..];
            let (&kind, name) = rest
                .split_first()
                .ok_or_else(|| corrupt(key, "operation key without kind"))?;
            out.push(Operation {
                name: String::from_utf8_lossy(name).into_owned(),
                span_kind: i32::from(kind),
            });
            Ok(true)
        })?;
        out.sort_by(|a, b| (&a.name, a.span_kind).cmp(&(&b.name, b.span_kind)));
        Ok(out)
    }

    fn find_traces(
        &self,
        query: &TraceQuery,
        accept: &mut dyn FnMut(&TraceId) -> Result<bool>,
    ) -> Result<Vec<TraceMatch>> {
        self.index_queued_spans_for_read()?;
        let cf = self.cf(CF_TRACE_INDEX)?;
        let mut deadline = Deadline::new(query.deadline);
        let services = match &query.service {
            Some(s) => vec![s.clone()],
            None => self.services_inner(&mut deadline)?,
        };
        let mut out = Vec::new();
        for service in &services {
            if !ti::keyable(service) {
                continue;
            }
            self.search_service(cf, service, query, &mut deadline, accept, &mut out)?;
        }
        if services.len() > 1 {
            // Newest first across services; a trace found in two services counts once.
            out.sort_by_key(|m| std::cmp::Reverse(m.start_unix_nano));
            let mut seen = HashSet::new();
            out.retain(|m| seen.insert(m.trace_id));
            out.truncate(query.limit);
        }
        Ok(out)
    }

    fn service_graph(
        &self,
        range: TimeRange,
        deadline: Option<Instant>,
    ) -> Result<crate::ServiceGraph> {
        self.index_queued_spans_for_read()?;
        self.service_graph_of(range, deadline)
    }

    fn error_spans(
        &self,
        service: Option<&str>,
        range: TimeRange,
        limit: usize,
        deadline: Option<Instant>,
    ) -> Result<Vec<ErrorSpan>> {
        self.index_queued_spans_for_read()?;
        let cf = self.cf(CF_TRACE_INDEX)?;
        let mut deadline = Deadline::new(deadline);
        let services = match service {
            Some(s) => vec![s.to_string()],
            None => self.services_inner(&mut deadline)?,
        };
        let range = self.live(range);
        let mut out = Vec::new();
        if range.start_unix_nano >= range.end_unix_nano {
            return Ok(out);
        }
        for service in services {
            let mut prefix = Vec::new();
            ti::hashed(&mut prefix, ti::ERROR, &[service.as_bytes()]);
            let (lower, upper) = ti::window(&prefix, range.start_unix_nano, range.end_unix_nano);
            scan(self, cf, lower, upper, &mut deadline, |key, value| {
                let (start, trace_id, span_id) =
                    ti::span_suffix(key).ok_or_else(|| corrupt(key, "no span suffix"))?;
                let (operation, exception_type, message) = ti::decode_error_value(value)
                    .ok_or_else(|| corrupt(key, "not an error entry"))?;
                out.push(ErrorSpan {
                    service: service.clone(),
                    operation,
                    exception_type,
                    message,
                    trace_id,
                    span_id,
                    start_unix_nano: start,
                });
                Ok(out.len() < limit)
            })?;
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SpanReader;
    use crate::{SpanWriter, StorageConfig};
    use lookout_proto::convert::{convert_traces, Limits};
    use lookout_proto::requests::shop_trace;
    use lookout_proto::SpanId;

    const HOUR: u64 = keys::HOUR_NS;
    const T0: u64 = 480_000 * HOUR;

    /// Ten shop traces a minute apart from T0; seeds 3 and 7 fail.
    fn shop(dir: &std::path::Path) -> Store {
        let store = Store::open(dir, &StorageConfig::default()).unwrap();
        for seed in 0..10u64 {
            for request in shop_trace(seed, T0 + seed * 60_000_000_000, seed % 4 == 3) {
                let batch = convert_traces(request, &Limits::default());
                store.write_spans(&batch.batch).unwrap();
            }
        }
        store
    }

    fn seeds(store: &Store, query: &TraceQuery) -> Vec<u64> {
        store
            .find_traces(query, &mut |_| Ok(true))
            .unwrap()
            .iter()
            .map(|m| u64::from_be_bytes(m.trace_id.0[8..].try_into().unwrap()))
            .collect()
    }

    fn query(service: &str) -> TraceQuery {
        let mut q = TraceQuery::new(
            TimeRange {
                start_unix_nano: T0,
                end_unix_nano: T0 + HOUR,
            },
            100,
        );
        q.service = Some(service.into());
        q
    }

    #[test]
    fn search_by_each_filter_finds_exactly_the_matching_traces_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        assert_searches_shop(&shop(dir.path()));
    }

    /// Rewrites the `T`, `P` and `A` entries of the shop traces whose seed is even the way
    /// format 8 wrote them: the long suffix `!start · trace id · span id`, the summary alone as
    /// the `T` and `P` values.
    fn to_format_8_keys(store: &Store) -> usize {
        let cf = store.cf(CF_TRACE_INDEX).unwrap();
        let mut long = std::collections::HashMap::new();
        for seed in (0..10u64).step_by(2) {
            let mut trace = [0u8; 16];
            trace[..8].copy_from_slice(&0x5eed_u64.to_be_bytes());
            trace[8..].copy_from_slice(&seed.to_be_bytes());
            for s in store.trace(&TraceId(trace)).unwrap() {
                let (t, id) = (TraceId(trace), SpanId::from_slice(&s.span.span_id).unwrap());
                let mut reference = Vec::new();
                ti::push_span_ref(&mut reference, s.span.start_time_unix_nano, &t, &id);
                let mut suffix = Vec::new();
                ti::push_span_suffix(&mut suffix, s.span.start_time_unix_nano, &t, &id);
                long.insert(reference, suffix);
            }
        }
        let mut rewritten = 0;
        let entries: Vec<_> = store
            .db
            .iterator_cf(cf, rocksdb::IteratorMode::Start)
            .map(|e| e.unwrap())
            .collect();
        let summaries: std::collections::HashMap<_, _> = entries
            .iter()
            .filter(|(k, _)| k[0] == ti::SERVICE_TIME)
            .map(|(k, v)| (k[ti::HASHED_PREFIX..].to_vec(), v[..Summary::LEN].to_vec()))
            .collect();
        for (key, _) in entries {
            let tag = key[0];
            let span_pointing = [ti::SERVICE_TIME, ti::OPERATION_TIME, ti::ATTRIBUTE];
            if !span_pointing.contains(&tag) || key.len() != ti::SHORT_KEY {
                continue;
            }
            let Some(suffix) = long.get(&key[ti::HASHED_PREFIX..]) else {
                continue;
            };
            let mut old = key[..ti::HASHED_PREFIX].to_vec();
            old.extend_from_slice(suffix);
            let value = match tag {
                ti::ATTRIBUTE => &[][..],
                _ => &summaries[&key[ti::HASHED_PREFIX..]][..],
            };
            store.db.delete_cf(cf, &key).unwrap();
            store.db.put_cf(cf, &old, value).unwrap();
            rewritten += 1;
        }
        rewritten
    }

    #[test]
    fn an_index_written_by_format_8_is_searched_beside_format_9_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = shop(dir.path());
        store.index_queued_spans_for_read().unwrap();
        assert!(to_format_8_keys(&store) > 50);
        assert_searches_shop(&store);
    }

    fn assert_searches_shop(store: &Store) {
        assert_eq!(store.services().unwrap(), ["cart", "gateway", "payment"]);
        let ops: Vec<_> = store
            .operations("gateway")
            .unwrap()
            .into_iter()
            .map(|o| (o.name, o.span_kind))
            .collect();
        assert_eq!(
            ops,
            [
                ("GET /checkout".to_string(), 2),
                ("POST /cart".to_string(), 3),
                ("POST /pay".to_string(), 3)
            ]
        );

        let all: Vec<u64> = (0..10).rev().collect();
        assert_eq!(seeds(store, &query("gateway")), all);

        let mut q = query("payment");
        q.status = Some(2);
        assert_eq!(seeds(store, &q), [7, 3]);

        // A span attribute (int compared as text), an event attribute, a resource attribute.
        let mut q = query("gateway");
        q.attributes = vec![("http.response.status_code".into(), "500".into())];
        assert_eq!(seeds(store, &q), [7, 3]);
        let mut q = query("payment");
        q.attributes = vec![("exception.type".into(), "CardDeclined".into())];
        assert_eq!(seeds(store, &q), [7, 3]);
        let mut q = query("payment");
        q.attributes = vec![("event".into(), "exception".into())];
        assert_eq!(seeds(store, &q), [7, 3]);
        let mut q = query("cart");
        q.attributes = vec![("host.name".into(), "host-a".into())];
        assert_eq!(seeds(store, &q), all);
        q.attributes.push(("cart.items".into(), "3".into()));
        assert_eq!(seeds(store, &q), all);
        q.attributes.push(("cart.items".into(), "4".into()));
        assert!(seeds(store, &q).is_empty());
        // A tag alone drives the search from its entries, without a summary filter.
        let mut q = query("cart");
        q.attributes = vec![("cart.items".into(), "3".into())];
        assert_eq!(seeds(store, &q), all);

        // All filters on one span: the client span to /pay lasts 65 ms, the server span 61 ms.
        let mut q = query("gateway");
        q.operation = Some("POST /pay".into());
        q.min_duration_ns = Some(64_000_000);
        assert_eq!(seeds(store, &q).len(), 10);
        q.span_kind = Some(2);
        assert!(
            seeds(store, &q).is_empty(),
            "no server span named POST /pay"
        );
        let mut q = query("gateway");
        q.min_duration_ns = Some(101_000_000);
        assert!(seeds(store, &q).is_empty());
        let mut q = query("gateway");
        q.root_only = true;
        q.operation = Some("GET /checkout".into());
        q.limit = 3;
        assert_eq!(seeds(store, &q), [9, 8, 7]);

        // The window: traces 2..=4 started in [T0 + 2 min, T0 + 5 min).
        let mut q = query("gateway");
        q.range = TimeRange {
            start_unix_nano: T0 + 120_000_000_000,
            end_unix_nano: T0 + 300_000_000_000,
        };
        assert_eq!(seeds(store, &q), [4, 3, 2]);
        q.service = None;
        assert_eq!(seeds(store, &q), [4, 3, 2], "all services, each trace once");
    }

    #[test]
    fn scope_and_link_attributes_are_searchable_within_the_per_span_budget() {
        use lookout_proto::otlp::common::v1::InstrumentationScope;
        use lookout_proto::otlp::trace::v1::{span::Link, Span};
        use lookout_proto::requests::{string_kv, traces};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StorageConfig::default()).unwrap();
        let span = |trace: u8, id: u8| Span {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            name: "consume".into(),
            start_time_unix_nano: T0 + u64::from(trace),
            end_time_unix_nano: T0 + 1_000,
            ..Default::default()
        };
        let mut linked = span(1, 1);
        linked.links = vec![Link {
            trace_id: vec![9; 16],
            span_id: vec![9; 8],
            attributes: vec![string_kv("messaging.message.id", "m-42")],
            ..Default::default()
        }];
        let mut request = traces(Some("worker"), vec![linked, span(2, 1)]);
        request.resource_spans[0].scope_spans[0].scope = Some(InstrumentationScope {
            name: "kafka".into(),
            attributes: vec![string_kv("messaging.system", "kafka")],
            ..Default::default()
        });
        // A span whose own attributes use the whole budget: its scope's are not indexed.
        let mut crowded = span(3, 1);
        crowded.attributes = (0..64).map(|i| string_kv(&format!("k{i}"), "v")).collect();
        let mut second = traces(Some("worker"), vec![crowded]);
        second.resource_spans[0].scope_spans[0].scope = Some(InstrumentationScope {
            name: "kafka".into(),
            attributes: vec![string_kv("messaging.system", "kafka")],
            ..Default::default()
        });
        for r in [request, second] {
            store
                .write_spans(&convert_traces(r, &Limits::default()).batch)
                .unwrap();
        }
        let traces_of = |key: &str, value: &str| {
            let mut q = query("worker");
            q.attributes = vec![(key.into(), value.into())];
            let mut found: Vec<u8> = store
                .find_traces(&q, &mut |_| Ok(true))
                .unwrap()
                .iter()
                .map(|m| m.trace_id.0[0])
                .collect();
            found.sort();
            found
        };
        assert_eq!(traces_of("messaging.system", "kafka"), [1, 2]);
        assert_eq!(traces_of("messaging.message.id", "m-42"), [1]);
        assert!(traces_of("messaging.message.id", "m-43").is_empty());
        assert_eq!(traces_of("k63", "v"), [3]);
    }

    #[test]
    fn graph_and_error_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = shop(dir.path());
        let range = TimeRange {
            start_unix_nano: T0,
            end_unix_nano: T0 + HOUR,
        };
        let graph = store.service_graph(range, None).unwrap();
        let nodes: Vec<_> = graph
            .nodes
            .iter()
            .map(|(s, n)| (s.as_str(), n.requests, n.errors))
            .collect();
        assert_eq!(
            nodes,
            [("cart", 10, 0), ("gateway", 10, 2), ("payment", 10, 2)]
        );
        let edges: Vec<_> = graph
            .edges
            .iter()
            .map(|((a, b), e)| (a.as_str(), b.as_str(), e.calls, e.errors))
            .collect();
        assert_eq!(
            edges,
            [("gateway", "cart", 10, 0), ("gateway", "payment", 10, 2)]
        );
        let errors = store.error_spans(None, range, 100, None).unwrap();
        let mut got: Vec<_> = errors
            .iter()
            .map(|e| {
                (
                    e.service.as_str(),
                    e.operation.as_str(),
                    e.exception_type.as_str(),
                )
            })
            .collect();
        got.dedup();
        assert_eq!(
            got,
            [
                ("gateway", "GET /checkout", ""),
                ("payment", "POST /pay", "CardDeclined")
            ]
        );
        assert_eq!(errors.len(), 4);
        assert_eq!(errors[0].message, "payment failed");
    }

    #[test]
    fn retention_drops_expired_index_entries() {
        let dir = tempfile::tempdir().unwrap();
        let store = shop(dir.path());
        let retention = crate::Retention {
            traces: std::time::Duration::from_secs(3600),
            ..Default::default()
        };
        store.enforce_retention(&retention, T0 + 3 * HOUR).unwrap();
        store.compact_all().unwrap();
        assert!(seeds(&store, &query("gateway")).is_empty());
        let cf = store.cf(CF_TRACE_INDEX).unwrap();
        let left: Vec<u8> = store
            .db
            .iterator_cf(cf, rocksdb::IteratorMode::Start)
            .map(|e| e.unwrap().0[0])
            .collect();
        assert!(
            left.iter()
                .all(|t| [ti::SERVICE, ti::OPERATION, ti::RESOURCE_ATTRIBUTE].contains(t)),
            "only service, operation and resource entries are left: {:?}",
            left.iter().map(|&b| b as char).collect::<String>()
        );
        assert!(!store.services().unwrap().is_empty());
        // They go too once no batch has written them for the retention: services and
        // operations of pods long gone are not listed for ever.
        let now = lookout_proto::now_unix_nano();
        store.enforce_retention(&retention, now + 4 * HOUR).unwrap();
        store.compact_all().unwrap();
        assert_eq!(
            store
                .db
                .iterator_cf(cf, rocksdb::IteratorMode::Start)
                .count(),
            0
        );
        assert!(store.services().unwrap().is_empty());
    }
}
