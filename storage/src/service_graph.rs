//! The service graph: calls between services and the requests into each, joined trace by
//! trace from the `g` entries of the trace index, and kept per closed minute as an `M`
//! aggregate (`storage/FORMAT.md`, "Service graph"), so a window costs one read per whole
//! minute plus a scan of the minutes at its edges and of those not yet closed.
//!
//! A minute is closed [`SETTLE`] after it ends; its aggregate is built by the first read that
//! needs it (or by [`Store::build_service_graph`] in the background) and stored, after the
//! queued index entries of every acknowledged span are written (`span_write`). A span that was
//! acknowledged for a minute closing or closed deletes that minute's aggregate in the write of
//! its index entries, and one whose minute closed while its entries were queued deletes it
//! right after that write, so the next read rebuilds it with the span: aggregates never hide a
//! span.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use lookout_proto::model::{Resource, SpanRecord};
use lookout_proto::{SpanId, TraceId};
use rocksdb::{ColumnFamily, ReadOptions};
use serde::{Deserialize, Serialize};
use sketches_ddsketch::DDSketch;

use crate::error::{Result, StorageError};
use crate::keys;
use crate::store::{decode, Store, CF_RESOURCES, CF_SPANS, CF_TRACE_INDEX};
use crate::trace_index::{self as ti, GraphSpan};
use crate::trace_search::{corrupt, prefix_end, scan, Deadline};
use crate::TimeRange;

pub const MINUTE_NS: u64 = 60_000_000_000;
/// How long after its end a minute's aggregate may be stored: spans are exported when they
/// end, in batches, so the spans of a minute keep arriving for a while after it.
pub const SETTLE: u64 = 2 * MINUTE_NS;

/// Minutes since the Unix epoch.
pub fn minute_of(unix_nano: u64) -> u32 {
    (unix_nano / MINUTE_NS).min(u64::from(u32::MAX)) as u32
}

/// Calls from one service to another.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    pub calls: u64,
    pub errors: u64,
}

/// Requests into a service, with their durations in a DDSketch (1% relative accuracy).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Node {
    pub requests: u64,
    pub errors: u64,
    /// `None` until the first request.
    durations_ns: Option<DDSketch>,
}

impl Node {
    /// The `q` quantile of the requests' durations in nanoseconds, within 1% of a duration
    /// seen and never outside the smallest and largest seen; `None` without requests.
    pub fn duration_quantile_ns(&self, q: f64) -> Option<f64> {
        let sketch = self.durations_ns.as_ref()?;
        let value = sketch.quantile(q.clamp(0.0, 1.0)).ok()??;
        Some(value.clamp(sketch.min()?, sketch.max()?))
    }

    fn add(&mut self, duration_ns: u64, error: bool) {
        self.requests += 1;
        self.errors += u64::from(error);
        self.durations_ns
            .get_or_insert_with(DDSketch::default)
            .add(duration_ns as f64);
    }

    fn merge(&mut self, other: Node) {
        self.requests += other.requests;
        self.errors += other.errors;
        match (&mut self.durations_ns, other.durations_ns) {
            (Some(mine), Some(theirs)) => {
                // Both sketches have the default configuration: merging cannot fail.
                let _ = mine.merge(&theirs);
            }
            (mine @ None, theirs) => *mine = theirs,
            (Some(_), None) => {}
        }
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("requests", &self.requests)
            .field("errors", &self.errors)
            .field("p50_ns", &self.duration_quantile_ns(0.5))
            .finish()
    }
}

/// The service graph of a window.
#[derive(Clone, Debug, Default)]
pub struct ServiceGraph {
    pub nodes: BTreeMap<String, Node>,
    pub edges: BTreeMap<(String, String), Edge>,
}

/// How an aggregate is stored (JSON: maps with tuple keys are lists here).
#[derive(Serialize, Deserialize)]
struct Stored {
    nodes: Vec<(String, Node)>,
    edges: Vec<(String, String, Edge)>,
}

impl ServiceGraph {
    /// Adds the spans of one trace: an edge for each span whose parent is in another service,
    /// a request for each span that enters its service (a root, a server or consumer span, or
    /// a span whose parent is in another service). `parents` are spans of the trace outside
    /// the window, read only as the parents of `spans`.
    pub fn add_trace(&mut self, spans: &[GraphSpan], parents: &[GraphSpan]) {
        let at = |i: usize| spans.get(i).unwrap_or_else(|| &parents[i - spans.len()]);
        let mut by_id: HashMap<SpanId, Vec<usize>> = HashMap::new();
        for i in 0..spans.len() + parents.len() {
            by_id.entry(at(i).span_id).or_default().push(i);
        }
        for (i, s) in spans.iter().enumerate() {
            let parent = s
                .parent_span_id
                .and_then(|p| by_id.get(&p))
                .and_then(|candidates| pick_parent(candidates, i, |p| at(p).service == s.service))
                .map(at);
            let error = s.status == 2;
            let crosses = parent.is_some_and(|p| p.service != s.service);
            if let Some(p) = parent.filter(|_| crosses) {
                let edge = self
                    .edges
                    .entry((p.service.clone(), s.service.clone()))
                    .or_default();
                edge.calls += 1;
                edge.errors += u64::from(error);
            }
            let kind = i32::from(s.kind);
            let entry = s.parent_span_id.is_none()
                || crosses
                || kind == lookout_proto::otlp::trace::v1::span::SpanKind::Server as i32
                || kind == lookout_proto::otlp::trace::v1::span::SpanKind::Consumer as i32;
            let node = self.nodes.entry(s.service.clone()).or_default();
            // A server span under a client span of the same service is the same request.
            if entry && !parent.is_some_and(|p| p.service == s.service && p.kind == s.kind) {
                node.add(s.duration_ns, error);
            }
        }
    }

    /// Adds another graph's counts to this one.
    pub fn merge(&mut self, other: ServiceGraph) {
        for (name, node) in other.nodes {
            self.nodes.entry(name).or_default().merge(node);
        }
        for (pair, edge) in other.edges {
            let mine = self.edges.entry(pair).or_default();
            mine.calls += edge.calls;
            mine.errors += edge.errors;
        }
    }

    fn encode(&self) -> Vec<u8> {
        let stored = Stored {
            nodes: self
                .nodes
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            edges: self
                .edges
                .iter()
                .map(|((a, b), e)| (a.clone(), b.clone(), e.clone()))
                .collect(),
        };
        // Strings, integers and finite floats only: serialising cannot fail.
        serde_json::to_vec(&stored).unwrap_or_default()
    }

    fn decode(bytes: &[u8]) -> Option<ServiceGraph> {
        let stored: Stored = serde_json::from_slice(bytes).ok()?;
        Some(ServiceGraph {
            nodes: stored.nodes.into_iter().collect(),
            edges: stored
                .edges
                .into_iter()
                .map(|(a, b, e)| ((a, b), e))
                .collect(),
        })
    }
}

/// The parent of span `child` among `candidates` (the spans with its parent's id, in trace
/// order): not the span itself, preferably one for which `same_service` holds (the children
/// of a shared client/server span id belong under the half in their own service), else the
/// first.
pub fn pick_parent(
    candidates: &[usize],
    child: usize,
    same_service: impl Fn(usize) -> bool,
) -> Option<usize> {
    let mut others = candidates.iter().copied().filter(|&p| p != child);
    let first = others.clone().next()?;
    Some(others.find(|&p| same_service(p)).unwrap_or(first))
}

/// `g · minute (4) · trace id (16) · span id (8) · content hash (8)`: one per span.
pub fn graph_key(minute: u32, trace: &TraceId, span: &SpanId, content: u64) -> [u8; 37] {
    let mut key = ti::graph_key(minute, trace, span, content);
    key[0] = ti::GRAPH_MINUTE;
    key
}

/// `M · minute (4)`: the service graph of the spans that started in that minute.
pub fn aggregate_key(minute: u32) -> [u8; 5] {
    let mut key = [ti::GRAPH_AGGREGATE; 5];
    key[1..].copy_from_slice(&minute.to_be_bytes());
    key
}

/// The keys from `tag · first` up to the end of `tag · last` (minutes or hours).
fn bounds(tag: u8, first: u32, last: u32) -> (Vec<u8>, Vec<u8>) {
    let key = |n: u32| {
        let mut k = vec![tag];
        k.extend_from_slice(&n.to_be_bytes());
        k
    };
    (key(first), prefix_end(&key(last)))
}

/// The minute below which a span acknowledged at `now` deletes its minute's aggregate when its
/// index entries are written: half the settling time before any read may store it. Spans not
/// counted as late whose minute is below it by the time their entries are written delete the
/// aggregate right after that write.
pub fn late_below(now_unix_nano: u64) -> u32 {
    minute_of(now_unix_nano.saturating_sub(SETTLE / 2))
}

/// The minutes whose aggregates a write deletes, because it holds spans of theirs that came
/// late (or the parents of such spans).
#[derive(Default)]
pub(crate) struct LateMinutes {
    minutes: std::collections::BTreeSet<u32>,
    /// Ranges too long to delete minute by minute (spans lasting hours).
    ranges: Vec<(u32, u32)>,
}

impl LateMinutes {
    /// Minutes `first..=last`.
    pub(crate) fn add(&mut self, first: u32, last: u32) {
        if last.saturating_sub(first) < 60 {
            self.minutes.extend(first..=last);
        } else {
            self.ranges.push((first, last));
        }
    }

    /// Adds `other`'s minutes.
    pub(crate) fn extend(&mut self, other: &LateMinutes) {
        self.minutes.extend(&other.minutes);
        self.ranges.extend_from_slice(&other.ranges);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.minutes.is_empty() && self.ranges.is_empty()
    }

    pub(crate) fn delete_in(&self, wb: &mut rocksdb::WriteBatch, cf: &ColumnFamily) {
        for &minute in &self.minutes {
            wb.delete_cf(cf, aggregate_key(minute));
        }
        for &(first, last) in &self.ranges {
            let end = prefix_end(&aggregate_key(last));
            wb.delete_range_cf(cf, aggregate_key(first).to_vec(), end);
        }
    }
}

/// Minutes below this are closed at `now`: their aggregates may be stored.
fn closed_below(now_unix_nano: u64) -> u32 {
    minute_of(now_unix_nano.saturating_sub(SETTLE))
}

impl Store {
    /// The service graph of the spans that started in `range`: stored aggregates for its
    /// whole closed minutes (built and stored when missing), the spans themselves for the
    /// rest. A span's parent is looked up wherever it is stored, also outside the window.
    pub(crate) fn service_graph_of(
        &self,
        range: TimeRange,
        deadline: Option<Instant>,
    ) -> Result<ServiceGraph> {
        let mut graph = ServiceGraph::default();
        let range = self.live(range);
        if range.start_unix_nano >= range.end_unix_nano {
            return Ok(graph);
        }
        let cf = self.cf(CF_TRACE_INDEX)?;
        let mut deadline = Deadline::new(deadline);
        self.legacy_graph(cf, range, &mut deadline, &mut graph)?;
        // Only the minutes from the first to the last that has spans are visited, whatever
        // the window.
        let Some((first, last)) = self.span_minutes(cf)? else {
            return Ok(graph);
        };
        let range = TimeRange {
            start_unix_nano: range
                .start_unix_nano
                .max(u64::from(first).saturating_mul(MINUTE_NS)),
            end_unix_nano: range
                .end_unix_nano
                .min((u64::from(last) + 1).saturating_mul(MINUTE_NS)),
        };
        if range.start_unix_nano >= range.end_unix_nano {
            return Ok(graph);
        }
        let first_whole = range.start_unix_nano.div_ceil(MINUTE_NS);
        let end_whole = (range.end_unix_nano / MINUTE_NS)
            .min(u64::from(closed_below(lookout_proto::now_unix_nano())));
        if first_whole >= end_whole {
            self.raw_graph(cf, range, &mut deadline, &mut graph)?;
            return Ok(graph);
        }
        let part = |start: u64, end: u64| TimeRange {
            start_unix_nano: start,
            end_unix_nano: end,
        };
        self.raw_graph(
            cf,
            part(range.start_unix_nano, first_whole.saturating_mul(MINUTE_NS)),
            &mut deadline,
            &mut graph,
        )?;
        for minute in first_whole..end_whole {
            deadline.check()?;
            let minute = minute as u32;
            let aggregate = self.minute_graph(cf, minute, &mut deadline)?;
            graph.merge(aggregate);
        }
        self.raw_graph(
            cf,
            part(end_whole.saturating_mul(MINUTE_NS), range.end_unix_nano),
            &mut deadline,
            &mut graph,
        )?;
        Ok(graph)
    }

    /// Builds and stores the aggregates of the closed minutes not visited yet (at most the
    /// last `back` minutes), oldest first, so that reads find them; stops at `until` and goes
    /// on from there at the next call. Returns how many it built.
    pub fn build_service_graph(&self, back: u32, until: Option<Instant>) -> Result<usize> {
        use std::sync::atomic::Ordering::Relaxed;
        // Aggregates are built from what the index holds: every acknowledged span first.
        self.index_queued_spans_for_read()?;
        let cf = self.cf(CF_TRACE_INDEX)?;
        let closed = closed_below(lookout_proto::now_unix_nano());
        let cutoff = self.trace_cutoff_hour.load(Relaxed).saturating_mul(60);
        let from = closed
            .saturating_sub(back)
            .max(cutoff)
            .max(self.graph.built_below.load(Relaxed));
        let mut built = 0;
        for minute in from..closed {
            if self.db.get_pinned_cf(cf, aggregate_key(minute))?.is_some() {
                continue;
            }
            let stopped = crate::cancel::expired(until)
                || match self.minute_graph(cf, minute, &mut Deadline::new(until)) {
                    Ok(_) => false,
                    Err(StorageError::Timeout) => true,
                    Err(e) => return Err(e),
                };
            if stopped {
                self.graph.built_below.fetch_max(minute, Relaxed);
                return Ok(built);
            }
            built += 1;
        }
        self.graph.built_below.fetch_max(closed, Relaxed);
        Ok(built)
    }

    /// The aggregate of a closed minute: stored, else built from its spans and stored.
    fn minute_graph(
        &self,
        cf: &ColumnFamily,
        minute: u32,
        deadline: &mut Deadline,
    ) -> Result<ServiceGraph> {
        let key = aggregate_key(minute);
        if let Some(bytes) = self.db.get_pinned_cf(cf, key)? {
            return ServiceGraph::decode(&bytes).ok_or_else(|| corrupt(&key, "not a graph"));
        }
        let generation = self.graph.generation();
        let mut graph = ServiceGraph::default();
        let start = u64::from(minute) * MINUTE_NS;
        let range = TimeRange {
            start_unix_nano: start,
            end_unix_nano: start + MINUTE_NS,
        };
        self.raw_graph(cf, range, deadline, &mut graph)?;
        // Stored only if no late span of any minute was written meanwhile: such a write
        // deletes its minute's aggregate, and must not be undone by this put.
        self.graph.put_if_unchanged(generation, || {
            Ok(self.db.put_cf(cf, key, graph.encode())?)
        })?;
        Ok(graph)
    }

    /// Adds the spans that started in `range`, from their `g` entries, trace by trace.
    fn raw_graph(
        &self,
        cf: &ColumnFamily,
        range: TimeRange,
        deadline: &mut Deadline,
        graph: &mut ServiceGraph,
    ) -> Result<()> {
        if range.start_unix_nano >= range.end_unix_nano {
            return Ok(());
        }
        let mut resources = HashMap::new();
        let mut lookups = Deadline::new(deadline.at());
        let first = minute_of(range.start_unix_nano);
        let last = minute_of(range.end_unix_nano - 1);
        self.each_trace(
            cf,
            ti::GRAPH_MINUTE,
            (first, last),
            range,
            deadline,
            |group| {
                let parents = self.parents_elsewhere(group, &mut resources, &mut lookups)?;
                graph.add_trace(group, &parents);
                Ok(())
            },
        )
    }

    /// Calls `each` with the spans of each trace (adjacent entries of one trace id) among the
    /// `tag` entries of minutes or hours `first..=last` that started in `range`.
    fn each_trace(
        &self,
        cf: &ColumnFamily,
        tag: u8,
        (first, last): (u32, u32),
        range: TimeRange,
        deadline: &mut Deadline,
        mut each: impl FnMut(&[GraphSpan]) -> Result<()>,
    ) -> Result<()> {
        let (lower, upper) = bounds(tag, first, last);
        let mut group: Vec<GraphSpan> = Vec::new();
        scan(self, cf, lower, upper, deadline, |key, value| {
            let span = ti::decode_graph(key, value)
                .ok_or_else(|| corrupt(key, "not a service graph entry"))?;
            if span.start_unix_nano < range.start_unix_nano
                || span.start_unix_nano >= range.end_unix_nano
            {
                return Ok(true);
            }
            if group.first().is_some_and(|g| g.trace_id != span.trace_id) {
                each(&group)?;
                group.clear();
            }
            group.push(span);
            Ok(true)
        })?;
        if !group.is_empty() {
            each(&group)?;
        }
        Ok(())
    }

    /// The first and the last minute that have a `g` entry.
    fn span_minutes(&self, cf: &ColumnFamily) -> Result<Option<(u32, u32)>> {
        let mut opts = ReadOptions::default();
        opts.set_iterate_lower_bound([ti::GRAPH_MINUTE]);
        opts.set_iterate_upper_bound([ti::GRAPH_MINUTE + 1]);
        let mut it = self.db.raw_iterator_cf_opt(cf, opts);
        it.seek_to_first();
        let first = it.key().and_then(ti::graph_bucket);
        it.seek_to_last();
        let last = it.key().and_then(ti::graph_bucket);
        it.status()?;
        Ok(first.zip(last))
    }

    /// Spans written by format 5 (`G`, keyed by hour), joined within their hour as then.
    fn legacy_graph(
        &self,
        cf: &ColumnFamily,
        range: TimeRange,
        deadline: &mut Deadline,
        graph: &mut ServiceGraph,
    ) -> Result<()> {
        let first = keys::hour_of(range.start_unix_nano);
        let last = keys::hour_of(range.end_unix_nano.saturating_sub(1));
        let (mut counted, mut retried): (Vec<GraphSpan>, Vec<GraphSpan>) = (Vec::new(), Vec::new());
        self.each_trace(cf, ti::GRAPH, (first, last), range, deadline, |group| {
            counted.clear();
            retried.clear();
            for span in group {
                // Entries of one span id are adjacent: a span written in format 3 and again
                // (a retry) in format 4 has two identical entries, counted once.
                if counted
                    .iter()
                    .rev()
                    .take_while(|g| g.span_id == span.span_id)
                    .any(|g| g == span)
                {
                    continue;
                }
                // A span written before the upgrade to format 6 and retried after it is
                // counted from its `g` entry, and is still a parent here.
                if self.has_minute_entry(cf, span)? {
                    retried.push(span.clone());
                } else {
                    counted.push(span.clone());
                }
            }
            graph.add_trace(&counted, &retried);
            Ok(())
        })
    }

    /// Whether `span` (read from a `G` entry) also has a `g` entry.
    fn has_minute_entry(&self, cf: &ColumnFamily, span: &GraphSpan) -> Result<bool> {
        let key = graph_key(
            minute_of(span.start_unix_nano),
            &span.trace_id,
            &span.span_id,
            0,
        );
        let prefix = &key[..29];
        let mut opts = ReadOptions::default();
        opts.set_iterate_upper_bound(prefix_end(prefix));
        let mut it = self.db.raw_iterator_cf_opt(cf, opts);
        it.seek(prefix);
        while let (Some(key), Some(value)) = (it.key(), it.value()) {
            if ti::decode_graph(key, value).as_ref() == Some(span) {
                return Ok(true);
            }
            it.next();
        }
        it.status()?;
        Ok(false)
    }

    /// The parents of `group` (spans of one trace) that are not in it, read from `spans`:
    /// a trace crossing a minute or hour boundary is joined across it.
    fn parents_elsewhere(
        &self,
        group: &[GraphSpan],
        resources: &mut HashMap<u64, Arc<Resource>>,
        deadline: &mut Deadline,
    ) -> Result<Vec<GraphSpan>> {
        let present: HashSet<SpanId> = group.iter().map(|s| s.span_id).collect();
        let missing: HashSet<SpanId> = group
            .iter()
            .filter_map(|s| s.parent_span_id)
            .filter(|p| !present.contains(p))
            .collect();
        let mut found = Vec::new();
        let Some(first) = group.first() else {
            return Ok(found);
        };
        if missing.is_empty() {
            return Ok(found);
        }
        let trace = first.trace_id;
        let spans_cf = self.cf(CF_SPANS)?;
        // Parents start before their children: two hours back, one ahead for clock skew.
        let starts = group.iter().map(|s| keys::hour_of(s.start_unix_nano));
        let near = starts.clone().min().unwrap_or(0).saturating_sub(2)
            ..=starts.max().unwrap_or(0).saturating_add(1);
        for hour in self.trace_hours(&trace)? {
            if !near.contains(&hour) {
                continue;
            }
            for parent in &missing {
                deadline.check()?;
                let mut prefix = keys::span_prefix(hour, &trace).to_vec();
                prefix.extend_from_slice(parent.as_bytes());
                let mut opts = ReadOptions::default();
                opts.set_prefix_same_as_start(true);
                let mut it = self.db.raw_iterator_cf_opt(spans_cf, opts);
                it.seek(&prefix);
                while let (Some(key), Some(value)) = (it.key(), it.value()) {
                    if !key.starts_with(&prefix) {
                        break;
                    }
                    let record: SpanRecord = decode(CF_SPANS, key, value)?;
                    let span = record.span.unwrap_or_default();
                    // A resource that cannot be read leaves the parent without a service
                    // name rather than failing the whole graph.
                    let resource = self
                        .resolve::<Resource>(CF_RESOURCES, resources, record.resource_id)
                        .ok();
                    let service = resource
                        .as_deref()
                        .and_then(Resource::service_name)
                        .filter(|s| !s.is_empty() && ti::keyable(s))
                        .unwrap_or(ti::UNKNOWN_SERVICE);
                    found.push(GraphSpan {
                        trace_id: trace,
                        span_id: *parent,
                        parent_span_id: SpanId::from_slice(&span.parent_span_id).ok(),
                        start_unix_nano: span.start_time_unix_nano,
                        duration_ns: span
                            .end_time_unix_nano
                            .saturating_sub(span.start_time_unix_nano),
                        kind: span.kind.clamp(0, 255) as u8,
                        status: span
                            .status
                            .as_ref()
                            .map_or(0, |s| s.code.clamp(0, 255) as u8),
                        service: service.to_string(),
                    });
                    it.next();
                }
                it.status()?;
            }
        }
        Ok(found)
    }
}

/// What the service graph's writers and readers share.
#[derive(Default)]
pub(crate) struct GraphState {
    /// Held (shared) by each write of late spans, and (exclusive) by a read storing an
    /// aggregate: a put never lands between a late write and its count.
    writes: std::sync::RwLock<()>,
    /// Counts writes of late spans; an aggregate built while one was written is not stored.
    late_writes: std::sync::atomic::AtomicU64,
    /// Minutes below this were visited by [`Store::build_service_graph`].
    built_below: std::sync::atomic::AtomicU32,
}

impl GraphState {
    /// Runs the write of a batch holding spans of late minutes (whose aggregates it deletes).
    pub(crate) fn late_write<T>(&self, write: impl FnOnce() -> T) -> T {
        let _shared = self.writes.read().unwrap_or_else(|p| p.into_inner());
        let result = write();
        self.late_writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        result
    }

    fn generation(&self) -> u64 {
        self.late_writes.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs `put` unless a late write began since `generation` was read.
    fn put_if_unchanged(&self, generation: u64, put: impl FnOnce() -> Result<()>) -> Result<()> {
        let _exclusive = self.writes.write().unwrap_or_else(|p| p.into_inner());
        if self.generation() == generation {
            put()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SpanWriter, StorageConfig, TraceSearch};
    use lookout_proto::convert::{convert_traces, Limits};
    use lookout_proto::requests::shop_trace;

    const HOUR: u64 = keys::HOUR_NS;
    const MS: u64 = 1_000_000;
    const T0: u64 = 480_000 * HOUR;

    fn write(store: &Store, seed: u64, start: u64, fail: bool) {
        for request in shop_trace(seed, start, fail) {
            let batch = convert_traces(request, &Limits::default());
            store.write_spans(&batch.batch).unwrap();
        }
    }

    fn window(start: u64, end: u64) -> TimeRange {
        TimeRange {
            start_unix_nano: start,
            end_unix_nano: end,
        }
    }

    /// (service, requests, errors) and (caller, callee, calls, errors), for comparing graphs.
    type Counts = (Vec<(String, u64, u64)>, Vec<(String, String, u64, u64)>);

    fn counts(graph: &ServiceGraph) -> Counts {
        (
            graph
                .nodes
                .iter()
                .map(|(s, n)| (s.clone(), n.requests, n.errors))
                .collect(),
            graph
                .edges
                .iter()
                .map(|((a, b), e)| (a.clone(), b.clone(), e.calls, e.errors))
                .collect(),
        )
    }

    fn raw(store: &Store, range: TimeRange) -> ServiceGraph {
        store.index_queued_spans().unwrap();
        let mut graph = ServiceGraph::default();
        let cf = store.cf(CF_TRACE_INDEX).unwrap();
        store
            .raw_graph(cf, range, &mut Deadline::new(None), &mut graph)
            .unwrap();
        graph
    }

    fn aggregates(store: &Store) -> usize {
        store.index_queued_spans().unwrap();
        let cf = store.cf(CF_TRACE_INDEX).unwrap();
        store
            .db
            .prefix_iterator_cf(cf, [ti::GRAPH_AGGREGATE])
            .take_while(|e| e.as_ref().is_ok_and(|(k, _)| k[0] == ti::GRAPH_AGGREGATE))
            .count()
    }

    #[test]
    fn aggregated_minutes_give_the_answer_of_the_spans() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StorageConfig::default()).unwrap();
        // 200 traces at uneven times over ten minutes, one in five failing.
        for seed in 0..200u64 {
            let start = T0 + (seed * seed * 7_919 % 600_000) * MS;
            write(&store, seed, start, seed % 5 == 0);
        }
        // A window that starts and ends inside a minute.
        let range = window(T0 + 90_500 * MS, T0 + 530_250 * MS);
        let expected = counts(&raw(&store, range));
        assert!(
            expected.1.len() == 2 && expected.1[1].2 > 100,
            "{expected:?}"
        );

        let first = store.service_graph(range, None).unwrap();
        assert_eq!(counts(&first), expected);
        assert_eq!(aggregates(&store), 6, "the whole minutes 2 to 7 are stored");
        let second = store.service_graph(range, None).unwrap();
        assert_eq!(counts(&second), expected, "read from the aggregates");
        let gateway = &second.nodes["gateway"];
        let p50 = gateway.duration_quantile_ns(0.5).unwrap();
        assert_eq!(p50, 100.0 * MS as f64, "every checkout lasts 100 ms");
        let payment = &second.nodes["payment"];
        let p99 = payment.duration_quantile_ns(0.99).unwrap();
        assert_eq!(p99, 61.0 * MS as f64);

        // All of time: only the minutes with spans are visited.
        let all = store.service_graph(window(0, u64::MAX), None).unwrap();
        assert_eq!(counts(&all), counts(&raw(&store, window(0, u64::MAX))));
        assert_eq!(all.nodes["gateway"].requests, 200);
    }

    #[test]
    fn a_parent_in_another_hour_is_joined() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StorageConfig::default()).unwrap();
        // The payment call starts 1 ms before the hour, the payment server 1 ms after it.
        write(&store, 1, T0 + HOUR - 31 * MS, false);
        for range in [window(T0, T0 + 2 * HOUR), window(T0 + HOUR, T0 + 2 * HOUR)] {
            let graph = store.service_graph(range, None).unwrap();
            let edge = &graph.edges[&("gateway".to_string(), "payment".to_string())];
            assert_eq!(edge.calls, 1, "{range:?}");
            assert_eq!(graph.nodes["payment"].requests, 1);
        }
        let graph = store
            .service_graph(window(T0 + HOUR, T0 + 2 * HOUR), None)
            .unwrap();
        assert!(
            !graph.nodes.contains_key("cart"),
            "the cart call is before the window"
        );
    }

    #[test]
    fn a_span_arriving_after_its_minute_was_aggregated_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StorageConfig::default()).unwrap();
        let requests = shop_trace(1, T0 + 10 * MS, false);
        let batch = convert_traces(requests[0].clone(), &Limits::default());
        store.write_spans(&batch.batch).unwrap();
        let range = window(T0, T0 + MINUTE_NS);
        let graph = store.service_graph(range, None).unwrap();
        assert!(graph.edges.is_empty());
        assert_eq!(aggregates(&store), 1);

        for request in &requests[1..] {
            let batch = convert_traces(request.clone(), &Limits::default());
            store.write_spans(&batch.batch).unwrap();
        }
        assert_eq!(
            aggregates(&store),
            0,
            "the late write deleted the aggregate"
        );
        let graph = store.service_graph(range, None).unwrap();
        assert_eq!(graph.edges.len(), 2);
        assert_eq!(aggregates(&store), 1);
    }

    /// One span of trace 9 in `service`: (id, parent) and its start and end.
    fn span_in(store: &Store, service: &str, ids: (u8, Option<u8>), start: u64, end: u64) {
        use lookout_proto::otlp::trace::v1::{span::SpanKind, Span};
        let kind = if ids.1.is_some() {
            SpanKind::Server
        } else {
            SpanKind::Client
        };
        let span = Span {
            trace_id: vec![9; 16],
            span_id: vec![ids.0; 8],
            parent_span_id: ids.1.map(|p| vec![p; 8]).unwrap_or_default(),
            name: "call".into(),
            kind: kind as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: end,
            ..Default::default()
        };
        let request = lookout_proto::requests::traces(Some(service), vec![span]);
        let batch = convert_traces(request, &Limits::default());
        store.write_spans(&batch.batch).unwrap();
    }

    #[test]
    fn a_late_parent_rebuilds_the_minutes_of_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StorageConfig::default()).unwrap();
        // The child (minute 2) is exported first; its parent, a 3-minute call, comes later.
        span_in(
            &store,
            "payment",
            (2, Some(1)),
            T0 + 130_000 * MS,
            T0 + 131_000 * MS,
        );
        let range = window(T0, T0 + 5 * MINUTE_NS);
        assert!(store.service_graph(range, None).unwrap().edges.is_empty());
        assert_eq!(aggregates(&store), 1, "minute 2, the only one with spans");
        span_in(
            &store,
            "gateway",
            (1, None),
            T0 + 10_000 * MS,
            T0 + 200_000 * MS,
        );
        assert_eq!(
            aggregates(&store),
            0,
            "the parent's minutes 0 to 3 are deleted"
        );
        let graph = store.service_graph(range, None).unwrap();
        let edge = &graph.edges[&("gateway".to_string(), "payment".to_string())];
        assert_eq!(edge.calls, 1);
    }

    #[test]
    fn spans_at_the_end_of_time_do_not_break_the_graph() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StorageConfig::default()).unwrap();
        span_in(&store, "gateway", (1, None), u64::MAX - 1_000, u64::MAX);
        span_in(
            &store,
            "payment",
            (2, Some(1)),
            u64::MAX - 500,
            u64::MAX - 1,
        );
        let graph = store.service_graph(window(0, u64::MAX), None).unwrap();
        assert_eq!(graph.edges.len(), 1);
        let mut late = LateMinutes::default();
        late.add(0, u32::MAX - 1);
        let mut wb = rocksdb::WriteBatch::default();
        late.delete_in(&mut wb, store.cf(CF_TRACE_INDEX).unwrap());
        store.db.write(wb).unwrap();
    }

    #[test]
    fn an_aggregate_built_across_a_late_write_is_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StorageConfig::default()).unwrap();
        write(&store, 1, T0, false);
        store.index_queued_spans().unwrap();
        let generation = store.graph.generation();
        write(&store, 2, T0, false);
        // The late minute's aggregate goes when the index entries are written.
        store.index_queued_spans().unwrap();
        let mut stored = false;
        store
            .graph
            .put_if_unchanged(generation, || {
                stored = true;
                Ok(())
            })
            .unwrap();
        assert!(!stored);
    }

    #[test]
    fn open_minutes_are_read_from_their_spans_and_not_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), &StorageConfig::default()).unwrap();
        let now = lookout_proto::now_unix_nano();
        write(&store, 1, now - 200 * MS, true);
        assert_eq!(store.build_service_graph(60, None).unwrap(), 60);
        assert_eq!(aggregates(&store), 60, "closed minutes only");
        let graph = store
            .service_graph(window(now - HOUR, now + MINUTE_NS), None)
            .unwrap();
        assert_eq!(graph.nodes["payment"].errors, 1);
        assert_eq!(graph.edges.len(), 2);
        let cf = store.cf(CF_TRACE_INDEX).unwrap();
        let open = aggregate_key(minute_of(now));
        assert!(store.db.get_cf(cf, open).unwrap().is_none());
        assert_eq!(
            store.build_service_graph(60, None).unwrap(),
            0,
            "built once"
        );
    }
}
