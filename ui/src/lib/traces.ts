// Traces: the API's shapes, the flattened tree the waterfall draws, the critical path, the
// comparison of two traces, the search form <-> URL <-> API mapping. Pure (unit-tested).

import type { LogRecord } from './logs';

export interface ServiceCount {
  name: string;
  spanCount: number;
  errorCount: number;
}

export interface TraceSummary {
  traceId: string;
  rootService: string;
  rootName: string;
  startTime: string;
  startTimeUnixNano: string;
  durationMs: number;
  spanCount: number;
  errorCount: number;
  services: ServiceCount[];
  warnings?: string[];
}

export type Attrs = Record<string, unknown>;

export interface SpanEvent {
  timeUnixNano: string;
  name: string;
  attributes: Attrs;
}

export interface SpanLink {
  traceId: string;
  spanId: string;
  attributes: Attrs;
}

export interface SpanNode {
  spanId: string;
  parentSpanId: string;
  service: string;
  name: string;
  kind: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  durationNs: string;
  selfTimeNs: string;
  depth: number;
  criticalPath: boolean;
  logCount: number;
  status: { code: 'unset' | 'ok' | 'error' | string; message: string };
  attributes: Attrs;
  resource: Attrs;
  scope: { name: string; version: string };
  events: SpanEvent[];
  links: SpanLink[];
  droppedCounts?: { attributes: number; events: number; links: number };
  children: SpanNode[];
}

export interface TraceTree {
  traceId: string;
  rootService: string;
  rootName: string;
  startTimeUnixNano: string;
  durationNs: string;
  spanCount: number;
  errorCount: number;
  services: ServiceCount[];
  truncated: boolean;
  warnings: string[];
  roots: SpanNode[];
}

/** A log of the trace (/lookout/v1/traces/{id}/logs): the logs API's record, as read here. */
export type TraceLog = Omit<LogRecord, 'resource' | 'scope'> & { resource?: Attrs };

// ---------- the flattened tree ----------

/** One span of the flattened tree, in pre-order (a subtree is the range [i, i + size)). */
export interface FlatSpan {
  node: SpanNode;
  spanId: string;
  service: string;
  name: string;
  /** index of the parent in the flat list, -1 for a root */
  parent: number;
  /** 0 for a root */
  level: number;
  /** ns since the trace's start (exact: relative values fit a double) */
  start: number;
  end: number;
  error: boolean;
  /** indexes of the children, by start time */
  children: number[];
  /** this span and its descendants */
  size: number;
}

export interface FlatTrace {
  spans: FlatSpan[];
  roots: number[];
  /** ns */
  duration: number;
  /** levels of nesting (1: only roots) */
  depth: number;
  /** services in order of appearance */
  services: string[];
  byId: Map<string, number>;
}

function nsBig(s: string | undefined): bigint {
  try {
    return BigInt(s ?? '0');
  } catch {
    return 0n;
  }
}

/** Flattens the API's nested tree (iteratively: traces may be deep). */
export function flatten(tree: Pick<TraceTree, 'roots' | 'startTimeUnixNano' | 'durationNs'>): FlatTrace {
  const t0 = nsBig(tree.startTimeUnixNano);
  const spans: FlatSpan[] = [];
  const roots: number[] = [];
  const services: string[] = [];
  const seen = new Set<string>();
  const byId = new Map<string, number>();
  let depth = 0;
  let maxEnd = 0;
  const stack: { node: SpanNode; parent: number; level: number }[] = [];
  for (let i = tree.roots.length - 1; i >= 0; i--) stack.push({ node: tree.roots[i]!, parent: -1, level: 0 });
  while (stack.length) {
    const { node, parent, level } = stack.pop()!;
    const idx = spans.length;
    const start = Number(nsBig(node.startTimeUnixNano) - t0);
    const end = Number(nsBig(node.endTimeUnixNano) - t0);
    spans.push({
      node,
      spanId: node.spanId,
      service: node.service,
      name: node.name,
      parent,
      level,
      start,
      end: Math.max(start, end),
      error: node.status?.code === 'error',
      children: [],
      size: 1,
    });
    if (end > maxEnd) maxEnd = end;
    if (!byId.has(node.spanId)) byId.set(node.spanId, idx);
    if (parent >= 0) spans[parent]!.children.push(idx);
    else roots.push(idx);
    if (level + 1 > depth) depth = level + 1;
    if (!seen.has(node.service)) {
      seen.add(node.service);
      services.push(node.service);
    }
    const kids = node.children ?? [];
    for (let k = kids.length - 1; k >= 0; k--) stack.push({ node: kids[k]!, parent: idx, level: level + 1 });
  }
  // Subtree sizes: children come after their parent in pre-order.
  for (let i = spans.length - 1; i >= 0; i--) {
    const p = spans[i]!.parent;
    if (p >= 0) spans[p]!.size += spans[i]!.size;
  }
  const duration = Math.max(Number(nsBig(tree.durationNs)), maxEnd, 1);
  return { spans, roots, duration, depth, services, byId };
}

/** The rows shown when the spans in `collapsed` have their descendants hidden. */
export function visibleRows(spans: readonly { size: number }[], collapsed: ReadonlySet<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < spans.length; ) {
    out.push(i);
    i += collapsed.has(i) ? spans[i]!.size : 1;
  }
  return out;
}

/** The ancestors of span `i` (nearest first). */
export function ancestors(spans: readonly { parent: number }[], i: number): number[] {
  const out: number[] = [];
  for (let p = spans[i]?.parent ?? -1; p >= 0; p = spans[p]!.parent) out.push(p);
  return out;
}

/**
 * The critical path: from each root, the child that finished last, then the child that finished
 * last before that one started, and so on (each walked into recursively the same way). A span is
 * on the path when some of its time is what the root waited for.
 */
export function criticalPath(
  spans: readonly { start: number; end: number; children: readonly number[] }[],
  roots: readonly number[],
): Set<number> {
  const on = new Set<number>();
  const stack = [...roots];
  while (stack.length) {
    const i = stack.pop()!;
    if (on.has(i)) continue;
    on.add(i);
    let cursor = spans[i]!.end;
    const byEnd = [...spans[i]!.children].sort((a, b) => spans[b]!.end - spans[a]!.end);
    for (const c of byEnd) {
      const { start, end } = spans[c]!;
      if (start < cursor && Math.min(end, cursor) > start) {
        stack.push(c);
        cursor = start;
      }
    }
  }
  return on;
}

/** Self time: the span's duration less the union of its children's time inside it (ns). */
export function selfTime(spans: readonly { start: number; end: number; children: readonly number[] }[], i: number): number {
  const s = spans[i]!;
  const iv = s.children.map((c) => [Math.min(Math.max(spans[c]!.start, s.start), s.end), Math.min(Math.max(spans[c]!.end, s.start), s.end)] as const);
  iv.sort((a, b) => a[0] - b[0]);
  let covered = 0;
  let cursor = s.start;
  for (const [cs0, ce] of iv) {
    const cs = Math.max(cs0, cursor);
    if (ce > cs) {
      covered += ce - cs;
      cursor = ce;
    }
  }
  return Math.max(0, s.end - s.start - covered);
}

/** Spans whose name, service, id, or an attribute key or value contains `q` (case-insensitive). */
export function searchSpans(spans: readonly FlatSpan[], q: string): number[] {
  const needle = q.trim().toLowerCase();
  if (!needle) return [];
  const hit = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v) ?? '').toLowerCase().includes(needle);
  const out: number[] = [];
  spans.forEach((s, i) => {
    if (hit(s.name) || hit(s.service) || s.spanId.toLowerCase() === needle) return void out.push(i);
    for (const [k, v] of Object.entries(s.node.attributes ?? {})) {
      if (hit(k) || hit(v)) return void out.push(i);
    }
  });
  return out;
}

// ---------- comparison ----------

export interface OpStat {
  service: string;
  name: string;
  count: number;
  /** ns, summed over the spans */
  total: number;
}

export interface CompareRow {
  service: string;
  name: string;
  a: OpStat | null;
  b: OpStat | null;
  /** b.total - a.total (ns); null when one side lacks the operation */
  diff: number | null;
}

export function opStats(spans: readonly { service: string; name: string; start: number; end: number }[]): Map<string, OpStat> {
  const m = new Map<string, OpStat>();
  for (const s of spans) {
    const k = `${s.service}\u0000${s.name}`;
    const o = m.get(k) ?? { service: s.service, name: s.name, count: 0, total: 0 };
    o.count++;
    o.total += s.end - s.start;
    m.set(k, o);
  }
  return m;
}

/** Operations (service + span name) of two traces: only in A, only in B, and in both with the duration difference. */
export function compareTraces(
  a: readonly { service: string; name: string; start: number; end: number }[],
  b: readonly { service: string; name: string; start: number; end: number }[],
): { onlyA: CompareRow[]; onlyB: CompareRow[]; both: CompareRow[] } {
  const sa = opStats(a);
  const sb = opStats(b);
  const onlyA: CompareRow[] = [];
  const onlyB: CompareRow[] = [];
  const both: CompareRow[] = [];
  for (const [k, x] of sa) {
    const y = sb.get(k) ?? null;
    if (y) both.push({ service: x.service, name: x.name, a: x, b: y, diff: y.total - x.total });
    else onlyA.push({ service: x.service, name: x.name, a: x, b: null, diff: null });
  }
  for (const [k, y] of sb) if (!sa.has(k)) onlyB.push({ service: y.service, name: y.name, a: null, b: y, diff: null });
  const byName = (p: CompareRow, q: CompareRow) => (p.service + p.name < q.service + q.name ? -1 : 1);
  onlyA.sort(byName);
  onlyB.sort(byName);
  both.sort((p, q) => Math.abs(q.diff!) - Math.abs(p.diff!) || byName(p, q));
  return { onlyA, onlyB, both };
}

// ---------- search form ----------

/** `key=value key2="a b"` (logfmt-like) → pairs; null when malformed. */
export function parseTags(text: string): [string, string][] | null {
  const out: [string, string][] = [];
  const re = /\s*([^\s="]+)=(?:"((?:[^"\\]|\\.)*)"|([^\s"]*))\s*/y;
  let pos = 0;
  const t = text.trim();
  while (pos < t.length) {
    re.lastIndex = pos;
    const m = re.exec(t);
    if (!m) return null;
    out.push([m[1]!, m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!]);
    pos = re.lastIndex;
  }
  return out;
}

/** A Go duration as the API takes it (300ms, 1.5s, 2m, 1h30m, 10us). */
export function isGoDuration(s: string): boolean {
  return /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d))+$/.test(s.trim()) || s.trim() === '0';
}

export const SEARCH_KEYS = ['service', 'operation', 'kind', 'tags', 'minDuration', 'maxDuration', 'errors', 'limit'] as const;
export const KINDS = ['server', 'client', 'producer', 'consumer', 'internal'] as const;

export interface SearchForm {
  service: string;
  operation: string;
  kind: string;
  tags: string;
  minDuration: string;
  maxDuration: string;
  errors: boolean;
  limit: number;
}

export function formFromParams(p: URLSearchParams): SearchForm {
  const limit = parseInt(p.get('limit') ?? '', 10);
  return {
    service: p.get('service') ?? '',
    operation: p.get('operation') ?? '',
    kind: p.get('kind') ?? '',
    tags: p.get('tags') ?? '',
    minDuration: p.get('minDuration') ?? '',
    maxDuration: p.get('maxDuration') ?? '',
    errors: p.get('errors') === '1',
    limit: Number.isFinite(limit) && limit > 0 ? Math.min(limit, 1500) : 20,
  };
}

export function formToParams(f: SearchForm): Record<string, string | null> {
  return {
    service: f.service || null,
    operation: f.operation || null,
    kind: f.kind || null,
    tags: f.tags.trim() || null,
    minDuration: f.minDuration.trim() || null,
    maxDuration: f.maxDuration.trim() || null,
    errors: f.errors ? '1' : null,
    limit: f.limit === 20 ? null : String(f.limit),
  };
}

/** Problems that would make the API answer 400, checked before asking. */
export function formProblems(f: SearchForm): string[] {
  const out: string[] = [];
  if (f.tags.trim() && parseTags(f.tags) === null) out.push('Tags: write key=value pairs separated by spaces (quote values with spaces: key="a b").');
  if (f.minDuration.trim() && !isGoDuration(f.minDuration)) out.push(`Min duration "${f.minDuration}" is not a duration (300ms, 1.5s, 2m).`);
  if (f.maxDuration.trim() && !isGoDuration(f.maxDuration)) out.push(`Max duration "${f.maxDuration}" is not a duration (300ms, 1.5s, 2m).`);
  if (f.kind && !(KINDS as readonly string[]).includes(f.kind)) out.push(`Unknown span kind "${f.kind}".`);
  return out;
}

/** The query of /lookout/v1/traces for a form and a time range (ms). */
export function searchQuery(f: SearchForm, startMs: number, endMs: number): [string, string][] {
  const q: [string, string][] = [
    ['start', String(Math.floor(startMs / 1000))],
    ['end', String(Math.ceil(endMs / 1000))],
    ['limit', String(f.limit)],
  ];
  if (f.service) q.push(['service', f.service]);
  if (f.operation) q.push(['operation', f.operation]);
  if (f.kind) q.push(['kind', f.kind]);
  if (f.errors) q.push(['status', 'error']);
  if (f.minDuration.trim()) q.push(['minDuration', f.minDuration.trim()]);
  if (f.maxDuration.trim()) q.push(['maxDuration', f.maxDuration.trim()]);
  for (const [k, v] of parseTags(f.tags) ?? []) q.push(['attr', `${k}=${v}`]);
  return q;
}

// ---------- display helpers ----------

export const SERVICE_COLORS = [
  '#3366cc', '#109618', '#ff9900', '#990099', '#0099c6', '#dd4477', '#66aa00', '#316395',
  '#994499', '#22aa99', '#aaaa11', '#6633cc', '#e67300', '#8b5a2b', '#5574a6', '#3b3eac',
];

/** Colour of each service, by order of appearance in the trace. */
export function serviceColors(services: readonly string[]): Map<string, string> {
  return new Map(services.map((s, i) => [s, SERVICE_COLORS[i % SERVICE_COLORS.length]!]));
}

/** "Nice" tick positions (ns) over [from, to] for about `count` ticks. */
export function timeTicks(from: number, to: number, count = 6): number[] {
  const span = Math.max(1, to - from);
  const raw = span / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const out: number[] = [];
  for (let t = Math.ceil(from / step) * step; t <= to + 1e-9; t += step) out.push(t);
  return out;
}

/** An attribute value as text. */
export function attrText(v: unknown): string {
  if (typeof v === 'string') return v;
  return JSON.stringify(v) ?? String(v);
}

/** A log body as text. */
export function bodyText(b: unknown): string {
  if (b === null || b === undefined) return '';
  return typeof b === 'string' ? b : JSON.stringify(b);
}
