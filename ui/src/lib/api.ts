// Typed fetch helpers for Lookout's Prometheus-compatible and /lookout/v1 APIs.

import { pickStep, alignStart } from './time';

/** An error answered by the API (or the network), shown in place by <ErrorBox>. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly errorType: string | null,
    readonly url: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}

/** The message of an error body: Prometheus's envelope or Lookout's `{"error": "..."}`. */
export function errorFromBody(body: unknown, status: number, url: string): ApiError {
  if (body && typeof body === 'object') {
    const b = body as Record<string, unknown>;
    if (typeof b.error === 'string') {
      const type = typeof b.errorType === 'string' ? b.errorType : null;
      return new ApiError(b.error, status, type, url);
    }
  }
  return new ApiError(`HTTP ${status}`, status, null, url);
}

/**
 * fetch `url` and parse the answer (empty: null). A network failure and a non-2xx answer become
 * ApiError (the body's message, else its first 300 characters); a 2xx answer that is not JSON
 * gives `body: undefined`. An abort is rethrown as is.
 */
export async function fetchJson(url: string, init: RequestInit): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if (isAbort(e)) throw e;
    throw new ApiError(`network error: ${e instanceof Error ? e.message : String(e)}`, 0, 'network', url);
  }
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    if (!res.ok) throw new ApiError(text.slice(0, 300) || `HTTP ${res.status}`, res.status, null, url);
    return { status: res.status, body: undefined };
  }
  if (!res.ok) throw errorFromBody(body, res.status, url);
  return { status: res.status, body };
}

/** GET a JSON document; non-2xx and Prometheus `status: "error"` become ApiError. */
export async function getJson<T>(url: string, signal?: AbortSignal): Promise<T> {
  const { status, body } = await fetchJson(url, { signal: signal ?? null, headers: { Accept: 'application/json' } });
  if (body === undefined) throw new ApiError('the answer is not JSON', status, 'bad_response', url);
  if (body && typeof body === 'object' && (body as { status?: unknown }).status === 'error') {
    throw errorFromBody(body, status, url);
  }
  return body as T;
}

export function qs(params: Record<string, string | number | string[] | undefined | null>): string {
  const sp = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) for (const x of v) sp.append(k, x);
    else sp.set(k, String(v));
  }
  const s = sp.toString();
  return s ? `?${s}` : '';
}

const sec = (ms: number) => (ms / 1000).toFixed(3).replace(/\.?0+$/, '');
/** Whole Unix seconds (the /lookout/v1 API takes RFC 3339 or Unix seconds). */
const secInt = (ms: number) => String(Math.floor(ms / 1000));

// ---------- Prometheus API ----------

export type Labels = Record<string, string>;

interface PromEnvelope<T> {
  status: 'success';
  data: T;
  warnings?: string[];
}

export interface MatrixSeries {
  metric: Labels;
  values: [number, string][];
}

export interface VectorSample {
  metric: Labels;
  value: [number, string];
}

export type QueryResult =
  | { resultType: 'vector'; result: VectorSample[] }
  | { resultType: 'matrix'; result: MatrixSeries[] }
  | { resultType: 'scalar'; result: [number, string] }
  | { resultType: 'string'; result: [number, string] };

export async function query(expr: string, timeMs?: number, signal?: AbortSignal): Promise<QueryResult> {
  const url = `/api/v1/query${qs({ query: expr, time: timeMs === undefined ? undefined : sec(timeMs) })}`;
  return (await getJson<PromEnvelope<QueryResult>>(url, signal)).data;
}

export interface RangeResult {
  series: MatrixSeries[];
  /** seconds */
  start: number;
  end: number;
  step: number;
}

/** query_range with a step giving at most `maxPoints` points (start aligned to the step). */
export async function queryRange(
  expr: string,
  startMs: number,
  endMs: number,
  opts: { step?: number; maxPoints?: number; signal?: AbortSignal } = {},
): Promise<RangeResult> {
  const step = opts.step ?? pickStep(startMs, endMs, opts.maxPoints ?? 300);
  const s = alignStart(startMs, endMs, step);
  const url = `/api/v1/query_range${qs({ query: expr, start: sec(s), end: sec(endMs), step: String(step) })}`;
  const res = await getJson<PromEnvelope<QueryResult>>(url, opts.signal);
  if (res.data.resultType !== 'matrix') {
    throw new ApiError(`expected a matrix, got ${res.data.resultType}`, 200, 'bad_response', url);
  }
  return { series: res.data.result, start: s / 1000, end: endMs / 1000, step };
}

export async function labelNames(signal?: AbortSignal, match?: string[]): Promise<string[]> {
  return (await getJson<PromEnvelope<string[]>>(`/api/v1/labels${qs({ 'match[]': match })}`, signal)).data;
}

export async function labelValues(
  name: string,
  opts: { match?: string[]; startMs?: number; endMs?: number; signal?: AbortSignal } = {},
): Promise<string[]> {
  const url = `/api/v1/label/${encodeURIComponent(name)}/values${qs({
    'match[]': opts.match,
    start: opts.startMs === undefined ? undefined : sec(opts.startMs),
    end: opts.endMs === undefined ? undefined : sec(opts.endMs),
  })}`;
  return (await getJson<PromEnvelope<string[]>>(url, opts.signal)).data;
}

export interface MetricMetadata {
  type: string;
  help: string;
  unit: string;
}

export async function metadata(signal?: AbortSignal, metric?: string): Promise<Record<string, MetricMetadata[]>> {
  return (await getJson<PromEnvelope<Record<string, MetricMetadata[]>>>(`/api/v1/metadata${qs({ metric })}`, signal)).data;
}

export interface Exemplar {
  labels: Labels;
  value: string;
  /** seconds */
  timestamp: number;
}

export interface ExemplarSeries {
  seriesLabels: Labels;
  exemplars: Exemplar[];
}

export async function queryExemplars(expr: string, startMs: number, endMs: number, signal?: AbortSignal): Promise<ExemplarSeries[]> {
  const url = `/api/v1/query_exemplars${qs({ query: expr, start: sec(startMs), end: sec(endMs) })}`;
  return (await getJson<PromEnvelope<ExemplarSeries[] | null>>(url, signal)).data ?? [];
}

export interface Alert {
  labels: Labels;
  annotations: Labels;
  state: 'firing' | 'pending' | 'inactive';
  activeAt?: string;
  value?: string;
}

export async function alerts(signal?: AbortSignal): Promise<Alert[]> {
  return (await getJson<PromEnvelope<{ alerts: Alert[] }>>('/api/v1/alerts', signal)).data.alerts ?? [];
}

export interface Rule {
  name: string;
  type: 'alerting' | 'recording';
  query: string;
  health: string;
  lastError?: string;
  state?: string;
  labels?: Labels;
  annotations?: Labels;
  alerts?: Alert[];
  duration?: number;
}

export interface RuleGroup {
  name: string;
  file: string;
  interval: number;
  rules: Rule[];
}

export async function rules(signal?: AbortSignal, type?: 'alert' | 'record'): Promise<RuleGroup[]> {
  return (await getJson<PromEnvelope<{ groups: RuleGroup[] }>>(`/api/v1/rules${qs({ type })}`, signal)).data.groups ?? [];
}

// ---------- /lookout/v1 ----------

export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy' | 'unknown';

export interface Reason {
  kind: 'error_rate' | 'latency' | 'alert' | 'probe' | 'silence' | 'no_data' | string;
  status: HealthStatus;
  message: string;
  value?: number;
  threshold?: number;
}

export interface ProbeResult {
  probe: string;
  service_name: string;
  kind: string;
  instance: string;
  success: boolean;
  status: string;
  duration_seconds: number;
  http_status_code?: number;
  error?: string;
  time_unix_ms: number;
}

export interface Service {
  name: string;
  status: HealthStatus;
  reasons: Reason[];
  requests_per_second: number;
  requests: number;
  errors: number;
  error_percent: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  activity: { spans_per_second: number; logs_per_second: number; metric_points_per_second: number };
  last_seen: string | null;
  instances: number;
  alerts: Alert[];
  probes: ProbeResult[];
}

export interface ServicesResponse {
  start: string;
  end: string;
  status_window: string;
  services: Service[];
}

export interface Operation {
  name: string;
  span_kind: string;
  requests_per_second: number;
  requests: number;
  errors: number;
  error_percent: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
}

export interface Peer {
  service: string;
  calls: number;
  calls_per_second: number;
  error_percent: number | null;
}

export interface InstanceDetail {
  instance: string;
  last_seen: string | null;
  signals: Record<string, string>;
  attributes: Record<string, string>;
  process: Record<string, number>;
}

export interface ServiceDetail extends Service {
  start: string;
  end: string;
  status_window: string;
  operations: Operation[];
  callers: Peer[];
  callees: Peer[];
  instance_details: InstanceDetail[];
}

export async function services(startMs: number, endMs: number, signal?: AbortSignal): Promise<ServicesResponse> {
  return getJson<ServicesResponse>(`/lookout/v1/services${qs({ start: secInt(startMs), end: secInt(endMs) })}`, signal);
}

export async function service(name: string, startMs: number, endMs: number, signal?: AbortSignal): Promise<ServiceDetail> {
  return getJson<ServiceDetail>(
    `/lookout/v1/services/${encodeURIComponent(name)}${qs({ start: secInt(startMs), end: secInt(endMs) })}`,
    signal,
  );
}

// ---------- Traces (trace search and view pages) ----------

import type { TraceLog, TraceSummary, TraceTree } from './traces';

/** /lookout/v1/traces with the query pairs of `searchQuery` (lib/traces.ts). */
export async function searchTraces(pairs: [string, string][], signal?: AbortSignal): Promise<TraceSummary[]> {
  const url = `/lookout/v1/traces?${new URLSearchParams(pairs).toString()}`;
  return (await getJson<{ traces: TraceSummary[] }>(url, signal)).traces ?? [];
}

/** The trace tree (/lookout/v1/traces/{id}). */
export async function traceTree(id: string, signal?: AbortSignal): Promise<TraceTree> {
  return getJson<TraceTree>(`/lookout/v1/traces/${encodeURIComponent(id)}`, signal);
}

/** The logs of a trace, oldest first. */
export async function traceLogs(id: string, signal?: AbortSignal): Promise<{ logs: TraceLog[]; truncated: boolean }> {
  const r = await getJson<{ logs: TraceLog[]; truncated?: boolean }>(`/lookout/v1/traces/${encodeURIComponent(id)}/logs`, signal);
  return { logs: r.logs ?? [], truncated: !!r.truncated };
}

/** Services with spans (Jaeger's /api/services). */
export async function traceServices(signal?: AbortSignal): Promise<string[]> {
  return ((await getJson<{ data: string[] | null }>('/api/services', signal)).data ?? []).slice().sort();
}

/** Span names of a service (Jaeger's /api/services/{s}/operations). */
export async function traceOperations(service: string, signal?: AbortSignal): Promise<string[]> {
  const r = await getJson<{ data: string[] | null }>(`/api/services/${encodeURIComponent(service)}/operations`, signal);
  return (r.data ?? []).slice().sort();
}
