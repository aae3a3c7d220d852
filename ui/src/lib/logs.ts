// Logs explorer, errors and service map: API types and fetch helpers for /lookout/v1/logs,
// /logs/volume, /logs/fields, /errors, /service-map and the trace tree, plus pure helpers
// (nanosecond times, query clauses, record identity, stacking) that are unit-tested.

import { getJson, qs } from './api';

// ---------- nanosecond times ----------

/** RFC 3339 with nanoseconds (UTC) of a Unix time in ns given as a decimal string or bigint. */
export function nsToRfc3339(ns: string | bigint): string {
  const n = typeof ns === 'bigint' ? ns : BigInt(ns);
  const ms = n / 1_000_000n;
  const frac = (n % 1_000_000_000n).toString().padStart(9, '0');
  const iso = new Date(Number(ms)).toISOString(); // 2026-01-02T03:04:05.678Z
  return `${iso.slice(0, 19)}.${frac}Z`;
}

/** A Unix time in ns plus `delta` ns, as a decimal string. */
export function addNs(ns: string, delta: number): string {
  return (BigInt(ns) + BigInt(delta)).toString();
}

export const nsToMs = (ns: string): number => Number(BigInt(ns) / 1_000_000n);

/** Whole Unix seconds for start/end parameters (start rounded down, end rounded up). */
export const secFloor = (ms: number) => String(Math.floor(ms / 1000));
export const secCeil = (ms: number) => String(Math.ceil(ms / 1000));

// ---------- the query language ----------

/** A term value for Lookout's log query language: always double-quoted, `\` and `"` escaped. */
export function quoteTerm(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** A field name of the query language with tantivy's special characters escaped. */
export function escapeField(name: string): string {
  return name.replace(/[\s\\:"'()[\]{}^~*+\-!&|<>=]/g, (c) => `\\${c}`);
}

/** The clause matching records whose attribute `key` equals `value` exactly. */
export function attributeClause(key: string, value: string): string {
  return `attributes.${escapeField(key)}:${quoteTerm(value)}`;
}

/** Adds a clause to a query (AND); an existing identical clause is not repeated. */
export function addClause(query: string, clause: string): string {
  const q = query.trim();
  if (!q) return clause;
  if (q === clause || q.endsWith(` AND ${clause}`) || q.includes(` AND ${clause} `)) return q;
  const wrapped = /\bOR\b/.test(q) ? `(${q})` : q;
  return `${wrapped} AND ${clause}`;
}

// ---------- log records ----------

export interface LogRecord {
  time: string;
  timeUnixNano: string;
  severity: string;
  severityNumber: number;
  service: string;
  body: unknown;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  scope: { name?: string; version?: string };
  traceId: string;
  spanId: string;
}

export interface LogsPage {
  logs: LogRecord[];
  nextCursor: string | null;
}

export interface LogFilter {
  query?: string;
  service?: string;
  minSeverity?: string;
  traceId?: string;
}

function filterParams(f: LogFilter) {
  return {
    query: f.query || undefined,
    service: f.service || undefined,
    min_severity: f.minSeverity || undefined,
    trace_id: f.traceId || undefined,
  };
}

export interface SearchOpts {
  /** RFC 3339 (ns) or Unix seconds */
  start?: string;
  end?: string;
  order?: 'newest' | 'oldest';
  limit?: number;
  cursor?: string | null;
}

export async function searchLogs(f: LogFilter, o: SearchOpts, signal?: AbortSignal): Promise<LogsPage> {
  const url = `/lookout/v1/logs${qs({ ...filterParams(f), start: o.start, end: o.end, order: o.order, limit: o.limit, cursor: o.cursor ?? undefined })}`;
  return getJson<LogsPage>(url, signal);
}

export interface VolumeBucket {
  start: string;
  startUnixNano: string;
  count: number;
  by?: Record<string, number>;
}

export interface Volume {
  stepSeconds: number;
  buckets: VolumeBucket[];
}

export async function logVolume(f: LogFilter, start: string, end: string, buckets: number, signal?: AbortSignal): Promise<Volume> {
  return getJson<Volume>(`/lookout/v1/logs/volume${qs({ ...filterParams(f), start, end, buckets, by: 'severity' })}`, signal);
}

export interface FieldsAnswer {
  sampled: number;
  sampleIsAll: boolean;
  key: string | null;
  fields: { key?: string; value?: string; count: number }[];
}

export async function logFields(f: LogFilter, start: string, end: string, key?: string, signal?: AbortSignal): Promise<FieldsAnswer> {
  return getJson<FieldsAnswer>(`/lookout/v1/logs/fields${qs({ ...filterParams(f), start, end, key, top: key ? 10 : undefined })}`, signal);
}

/** The text of an OTLP AnyValue rendered by the API (strings as is, the rest as JSON). */
export function valueText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  return JSON.stringify(v);
}

/** An identity of a record for de-duplication (the API has no record id). */
export function recordKey(r: LogRecord): string {
  return JSON.stringify([r.timeUnixNano, r.service, r.severityNumber, r.body, r.traceId, r.spanId, r.attributes, r.resource]);
}

/** Whether a trace or span id is set (not empty, not all zeros). */
export function hasId(id: string | undefined | null): id is string {
  return !!id && !/^0*$/.test(id);
}

/** Severity levels as the volume answer names them, most severe first. */
export const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'unknown'] as const;
export const LEVEL_COLORS: Record<string, string> = {
  fatal: '#8b0707',
  error: '#dc3912',
  warn: '#ff9900',
  info: '#3366cc',
  debug: '#7b8794',
  trace: '#b8c0cc',
  unknown: '#c9ced6',
};

/** The level of a record (the API's mapping of severity text, else number). */
export function levelOf(text: string, num: number): string {
  const t = text.toLowerCase();
  if (t === 'warning') return 'warn';
  if (t === 'critical') return 'fatal';
  if ((LEVELS as readonly string[]).includes(t) && t !== 'unknown') return t;
  if (num >= 1 && num <= 4) return 'trace';
  if (num <= 8 && num >= 5) return 'debug';
  if (num <= 12 && num >= 9) return 'info';
  if (num <= 16 && num >= 13) return 'warn';
  if (num <= 20 && num >= 17) return 'error';
  if (num <= 24 && num >= 21) return 'fatal';
  return 'unknown';
}

/**
 * Stacks volume buckets by level: the levels present (most severe first) and, for each, the
 * cumulative counts (level i's column = sum of levels 0..i), so drawing the last column first
 * and each earlier one over it gives a stacked bar chart. xs are bucket starts in seconds.
 */
export function stackVolume(v: Volume): { xs: number[]; levels: string[]; raw: number[][]; stacked: number[][]; total: number } {
  const present = new Set<string>();
  for (const b of v.buckets) for (const k of Object.keys(b.by ?? {})) present.add(k);
  const levels = [...LEVELS.filter((l) => present.has(l)), ...[...present].filter((l) => !(LEVELS as readonly string[]).includes(l)).sort()];
  const xs = v.buckets.map((b) => Number(BigInt(b.startUnixNano) / 1_000_000n) / 1000);
  const raw = levels.map((l) => v.buckets.map((b) => b.by?.[l] ?? 0));
  const stacked: number[][] = [];
  levels.forEach((_l, i) => stacked.push(v.buckets.map((_b, j) => raw[i]![j]! + (i > 0 ? stacked[i - 1]![j]! : 0))));
  const total = v.buckets.reduce((a, b) => a + b.count, 0);
  return { xs, levels, raw, stacked, total };
}

// ---------- context ----------

export interface Context {
  before: LogRecord[];
  /** records with exactly the hit's timestamp (the hit among them), in the API's order */
  same: LogRecord[];
  after: LogRecord[];
}

/**
 * The records of the hit's service just before and just after it: [hit - 1h, hit) newest
 * first, [hit, hit + 1 ns) (ties), [hit + 1 ns, hit + 1h) oldest first. Exact: the windows are
 * half-open at nanosecond precision, so every neighbour is in exactly one of them.
 */
export async function logContext(hit: LogRecord, n: number, signal?: AbortSignal): Promise<Context> {
  const f: LogFilter = { service: hit.service };
  const at = hit.timeUnixNano;
  const hour = 3_600_000_000_000;
  const [before, same, after] = await Promise.all([
    searchLogs(f, { start: nsToRfc3339(addNs(at, -hour)), end: nsToRfc3339(at), order: 'newest', limit: n }, signal),
    searchLogs(f, { start: nsToRfc3339(at), end: nsToRfc3339(addNs(at, 1)), order: 'oldest', limit: 50 }, signal),
    searchLogs(f, { start: nsToRfc3339(addNs(at, 1)), end: nsToRfc3339(addNs(at, hour)), order: 'oldest', limit: n }, signal),
  ]);
  return { before: before.logs.slice().reverse(), same: same.logs, after: after.logs };
}

// ---------- errors ----------

export interface ErrorGroup {
  service: string;
  operation: string;
  exceptionType: string;
  message: string;
  count: number;
  firstSeen: string;
  lastSeen: string;
  traceIds: string[];
  /** The failing span of each of `traceIds`. */
  spanIds: string[];
  /** Occurrences per equal part of the range, when asked for. */
  buckets?: number[];
}

export interface ErrorsAnswer {
  start: string;
  end: string;
  truncated: boolean;
  groups: ErrorGroup[];
}

export async function errorGroups(startMs: number, endMs: number, opts: { service?: string; sort?: 'count' | 'recent'; limit?: number; buckets?: number }, signal?: AbortSignal): Promise<ErrorsAnswer> {
  return getJson<ErrorsAnswer>(
    `/lookout/v1/errors${qs({ start: secFloor(startMs), end: secCeil(endMs), service: opts.service || undefined, sort: opts.sort, limit: opts.limit, buckets: opts.buckets })}`,
    signal,
  );
}

/** What identifies a group: service, operation and exception type (else the message). */
export function groupKind(g: ErrorGroup): string {
  return g.exceptionType || g.message;
}

export function sameGroup(g: ErrorGroup, service: string, operation: string, kind: string): boolean {
  return g.service === service && g.operation === operation && groupKind(g) === kind;
}

// ---------- trace tree (for stack traces) ----------

export interface TreeSpan {
  spanId: string;
  service: string;
  name: string;
  startTimeUnixNano: string;
  status: { code: string; message: string };
  events: { timeUnixNano: string; name: string; attributes: Record<string, unknown> }[];
  children: TreeSpan[];
}

export interface TraceTree {
  traceId: string;
  roots: TreeSpan[];
}

export async function traceTree(id: string, signal?: AbortSignal): Promise<TraceTree> {
  return getJson<TraceTree>(`/lookout/v1/traces/${encodeURIComponent(id)}`, signal);
}

export interface ExceptionSample {
  traceId: string;
  spanId: string;
  timeUnixNano: string;
  type: string;
  message: string;
  stacktrace: string;
}

/** The exception events of a group's spans (service, operation, error status) in a trace, newest first. */
export function exceptionsOf(tree: TraceTree, service: string, operation: string, kind: string): ExceptionSample[] {
  const out: ExceptionSample[] = [];
  const stack = [...tree.roots];
  while (stack.length) {
    const s = stack.pop()!;
    stack.push(...(s.children ?? []));
    if (s.service !== service || s.name !== operation || s.status?.code !== 'error') continue;
    const exc = (s.events ?? []).filter((e) => e.name === 'exception');
    const matching = exc.filter((e) => valueText(e.attributes['exception.type']) === kind);
    const chosen = matching.length ? matching : exc;
    if (chosen.length === 0) {
      if (s.status.message === kind) {
        out.push({ traceId: tree.traceId, spanId: s.spanId, timeUnixNano: s.startTimeUnixNano, type: '', message: s.status.message, stacktrace: '' });
      }
      continue;
    }
    for (const e of chosen) {
      out.push({
        traceId: tree.traceId,
        spanId: s.spanId,
        timeUnixNano: e.timeUnixNano,
        type: valueText(e.attributes['exception.type']),
        message: valueText(e.attributes['exception.message']),
        stacktrace: valueText(e.attributes['exception.stacktrace']),
      });
    }
  }
  return out.sort((a, b) => (BigInt(b.timeUnixNano) > BigInt(a.timeUnixNano) ? 1 : BigInt(b.timeUnixNano) < BigInt(a.timeUnixNano) ? -1 : 0));
}

// ---------- service map ----------

export interface MapNode {
  service: string;
  requests: number;
  errors: number;
  requestRate: number;
  errorRate: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

export interface MapEdge {
  caller: string;
  callee: string;
  calls: number;
  errors: number;
}

export interface ServiceMap {
  start: string;
  end: string;
  nodes: MapNode[];
  edges: MapEdge[];
}

export async function serviceMap(startMs: number, endMs: number, signal?: AbortSignal): Promise<ServiceMap> {
  return getJson<ServiceMap>(`/lookout/v1/service-map${qs({ start: secFloor(startMs), end: secCeil(endMs) })}`, signal);
}

/** A node colour for an error ratio: green under 1%, amber under 5%, red above. */
export function errorColor(ratio: number): string {
  if (ratio >= 0.05) return '#c62828';
  if (ratio >= 0.01) return '#d39e00';
  return '#1a7f37';
}

/** Node diameter (px) for a request rate: log scale between 28 and 72. */
export function nodeSize(rate: number, maxRate: number): number {
  if (!(maxRate > 0) || !(rate > 0)) return 28;
  return Math.round(28 + 44 * (Math.log1p(rate) / Math.log1p(maxRate)));
}
