// PromQL query building. Every label value that comes from data (service names...) goes through
// `quote` / `matcher`, never string concatenation. Pure (unit-tested).

/** A PromQL string literal: double-quoted, with \\, " and control characters escaped. */
export function quote(value: string): string {
  let out = '"';
  for (const ch of value) {
    switch (ch) {
      case '\\':
        out += '\\\\';
        break;
      case '"':
        out += '\\"';
        break;
      case '\n':
        out += '\\n';
        break;
      case '\r':
        out += '\\r';
        break;
      case '\t':
        out += '\\t';
        break;
      default:
        out += ch;
    }
  }
  return out + '"';
}

/** Escapes a string so it matches itself literally inside a PromQL regex (RE2). */
export function regexEscape(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export type Matcher = [name: string, op: '=' | '!=' | '=~' | '!~', value: string];

/** `{a="x",b=~"y"}` (empty matchers: ""). */
export function selector(matchers: Matcher[]): string {
  if (matchers.length === 0) return '';
  return `{${matchers.map(([n, op, v]) => `${n}${op}${quote(v)}`).join(',')}}`;
}

export const CALLS = 'traces_span_metrics_calls_total';
export const DURATION_BUCKET = 'traces_span_metrics_duration_milliseconds_bucket';
export const DURATION_SUM = 'traces_span_metrics_duration_milliseconds_sum';
export const ENTRY_KINDS = 'SPAN_KIND_SERVER|SPAN_KIND_CONSUMER';
export const ERROR_STATUS = 'STATUS_CODE_ERROR';

/** The rate window as PromQL: seconds → "5m", "90s"... */
export function promRange(seconds: number): string {
  const s = Math.max(1, Math.round(seconds));
  if (s % 86400 === 0) return `${s / 86400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** Overview: request rate of every service's entry spans, in one query. */
export function allServicesRequestRate(windowS: number): string {
  return `sum by (service_name) (rate(${CALLS}${selector([['span_kind', '=~', ENTRY_KINDS]])}[${promRange(windowS)}]))`;
}

/**
 * Matchers of a service's requests: its server and consumer spans when it has any, else all
 * its spans (the same rule as the service health API).
 */
export function serviceMatchers(service: string, entryOnly: boolean): Matcher[] {
  const m: Matcher[] = [['service_name', '=', service]];
  if (entryOnly) m.push(['span_kind', '=~', ENTRY_KINDS]);
  return m;
}

export function serviceRequestRate(service: string, entryOnly: boolean, windowS: number): string {
  return `sum(rate(${CALLS}${selector(serviceMatchers(service, entryOnly))}[${promRange(windowS)}]))`;
}

export function serviceErrorPercent(service: string, entryOnly: boolean, windowS: number): string {
  const m = serviceMatchers(service, entryOnly);
  const w = promRange(windowS);
  const errors = `sum(rate(${CALLS}${selector([...m, ['status_code', '=', ERROR_STATUS]])}[${w}]))`;
  const all = `sum(rate(${CALLS}${selector(m)}[${w}]))`;
  // `or vector(0)`-free: no errors series gives no result; the chart shows it as 0 via `(… or all*0)`.
  return `100 * ((${errors}) or (${all} * 0)) / ${all}`;
}

export function serviceLatencyQuantile(service: string, entryOnly: boolean, q: number, windowS: number): string {
  return `histogram_quantile(${q}, sum by (le) (rate(${DURATION_BUCKET}${selector(serviceMatchers(service, entryOnly))}[${promRange(windowS)}])))`;
}

/** Total time (ms) spent per operation in the window: increase of the duration sum. */
export function operationTimeSpent(service: string, rangeS: number): string {
  return `sum by (span_name, span_kind) (increase(${DURATION_SUM}${selector([['service_name', '=', service]])}[${promRange(rangeS)}]))`;
}

/** A service's exemplar source: its duration buckets (exemplars carry trace_id). */
export function serviceExemplarSelector(service: string, entryOnly: boolean): string {
  return `${DURATION_BUCKET}${selector(serviceMatchers(service, entryOnly))}`;
}

/** Process metrics of a service's SDK, matched by `job` (service.name, or namespace/name). */
export function processCpu(service: string, windowS: number): string {
  return `sum by (instance) (rate(process_cpu_time_seconds_total${selector(jobMatcher(service))}[${promRange(windowS)}]))`;
}

export function processMemory(service: string): string {
  return `sum by (instance) (process_memory_usage_bytes${selector(jobMatcher(service))})`;
}

function jobMatcher(service: string): Matcher[] {
  return [['job', '=~', `(.+/)?${regexEscape(service)}`]];
}

/** Host metrics, optionally of one instance. */
export function hostMatchers(instance: string | null, extra: Matcher[] = []): Matcher[] {
  return instance ? [['instance', '=', instance], ...extra] : extra;
}

export const HOST_QUERIES = {
  cpuTotal: (inst: string | null) =>
    `avg by (instance) (system_cpu_utilization_ratio${selector(hostMatchers(inst, [['cpu', '=', 'total']]))})`,
  cpuPerCore: (inst: string | null) =>
    `system_cpu_utilization_ratio${selector(hostMatchers(inst, [['cpu', '!=', 'total']]))}`,
  load: (inst: string | null) =>
    `{${['__name__=~"system_cpu_load_average_(1m|5m|15m)"', ...hostMatchers(inst).map(([n, op, v]) => `${n}${op}${quote(v)}`)].join(',')}}`,
  memoryUtil: (inst: string | null) =>
    `avg by (instance) (system_memory_utilization_ratio${selector(hostMatchers(inst, [['state', '=', 'used']]))})`,
  memoryBytes: (inst: string | null) => `sum by (instance, state) (system_memory_usage_bytes${selector(hostMatchers(inst))})`,
  swapBytes: (inst: string | null) => `sum by (instance, state) (system_paging_usage_bytes${selector(hostMatchers(inst))})`,
  diskMax: (inst: string | null) => `max by (instance) (system_filesystem_utilization_ratio${selector(hostMatchers(inst))})`,
  filesystem: (inst: string | null) =>
    `max by (instance, mountpoint) (system_filesystem_utilization_ratio${selector(hostMatchers(inst))})`,
  diskIo: (inst: string | null, w: number) =>
    `sum by (instance, device, direction) (rate(system_disk_io_bytes_total${selector(hostMatchers(inst))}[${promRange(w)}]))`,
  networkTotal: (inst: string | null, w: number) =>
    `sum by (instance) (rate(system_network_io_bytes_total${selector(hostMatchers(inst, [['device', '!=', 'lo']]))}[${promRange(w)}]))`,
  network: (inst: string | null, w: number) =>
    `sum by (instance, device, direction) (rate(system_network_io_bytes_total${selector(hostMatchers(inst, [['device', '!=', 'lo']]))}[${promRange(w)}]))`,
};
