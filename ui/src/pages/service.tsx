// Service (/ui/services/{name}): health with reasons, RED charts with exemplars, operations,
// callers and callees, instances with their process metrics.

import { useMemo } from 'preact/hooks';
import type { Route } from '../lib/url';
import { carrySearch, decodeSort, encodeSort, servicePath, sortRows, toggleSort } from '../lib/url';
import { query, queryExemplars, service, type Operation, type Peer, type ServiceDetail } from '../lib/api';
import { useAsync, useRange, useTitle } from '../lib/hooks';
import { setParams, useParams, useSearch, useTime } from '../lib/store';
import {
  operationTimeSpent,
  processCpu,
  processMemory,
  serviceErrorPercent,
  serviceExemplarSelector,
  serviceLatencyQuantile,
  serviceRequestRate,
} from '../lib/promql';
import { formatAgo, formatBytes, formatDateTime, formatNumber, formatValue } from '../lib/format';
import { serviceLogsLink, serviceTracesLink, traceLink } from '../lib/links';
import type { ExemplarPoint } from '../lib/series';
import type { RangeResult } from '../lib/api';
import { ErrorBox, Link, Loading, PageHeader, SortHeader, StatusBadge } from '../components/common';
import { Chart } from '../components/chart';

const ENTRY_KINDS = new Set(['SPAN_KIND_SERVER', 'SPAN_KIND_CONSUMER']);

/** The same rule as the health API: a service's requests are its server/consumer spans if it has any. */
export function hasEntrySpans(ops: Operation[]): boolean {
  return ops.some((o) => ENTRY_KINDS.has(o.span_kind));
}

export default function ServicePage({ route }: { route: Route }) {
  const name = route.page === 'service' ? route.name : '';
  useTitle(name);
  const time = useTime();
  const search = useSearch();
  const detail = useAsync((signal) => service(name, time.start, time.end, signal), [name, time.start, time.end, time.tick]);
  const d = detail.data;
  // Until the detail is known, assume entry spans (true for nearly every service); the charts
  // are fetched again if it turns out otherwise.
  const entryOnly = d ? hasEntrySpans(d.operations) : true;

  return (
    <div class="page" data-page="service" data-service={name} data-ready={detail.data || detail.error ? 'true' : 'false'}>
      <PageHeader
        title={
          <>
            <Link class="crumb" href={`/ui/${carrySearch(search)}`}>
              Services
            </Link>
            <span class="crumb-sep">/</span>
            <span class="service-name" data-testid="service-name">
              {name}
            </span>
            {d && <StatusBadge status={d.status} />}
          </>
        }
      >
        <a class="btn" href={serviceTracesLink(name, time.start, time.end)} data-testid="traces-link">
          Traces of this service
        </a>
        <a class="btn" href={serviceLogsLink(name, time.start, time.end)} data-testid="logs-link">
          Logs of this service
        </a>
      </PageHeader>
      {detail.error ? (
        <ErrorBox error={detail.error} />
      ) : !d ? (
        <Loading />
      ) : (
        <>
          <Summary d={d} />
          <RedCharts name={name} entryOnly={entryOnly} />
          <Operations name={name} ops={d.operations} />
          <div class="grid grid-2">
            <Peers title="Callers" peers={d.callers} testId="callers" />
            <Peers title="Callees" peers={d.callees} testId="callees" />
          </div>
          <Instances d={d} />
        </>
      )}
    </div>
  );
}

function Summary({ d }: { d: ServiceDetail }) {
  return (
    <section class="panel summary-panel">
      <div class="stats">
        <Stat label="Requests" value={formatValue(d.requests_per_second, 'req/s')} sub={`${formatNumber(Math.round(d.requests), 9)} in range`} />
        <Stat label="Errors" value={formatValue(d.error_percent, 'percent')} sub={`${formatNumber(Math.round(d.errors), 9)} errors`} bad={(d.error_percent ?? 0) >= 5} />
        <Stat label="p50" value={formatValue(d.p50_ms, 'ms')} />
        <Stat label="p99" value={formatValue(d.p99_ms, 'ms')} />
        <Stat label="Instances" value={String(d.instances)} />
        <Stat label="Spans" value={formatValue(d.activity.spans_per_second, 'ops/s')} />
        <Stat label="Logs" value={formatValue(d.activity.logs_per_second, 'ops/s')} />
        <Stat label="Metric points" value={formatValue(d.activity.metric_points_per_second, 'ops/s')} />
        <Stat label="Last seen" value={d.last_seen ? formatAgo(Date.parse(d.last_seen), Date.now()) : '–'} />
      </div>
      <div class="reasons-block" data-testid="reasons">
        {d.reasons.length === 0 ? (
          <span class="muted">No problems over the last {d.status_window}.</span>
        ) : (
          d.reasons.map((r) => (
            <div class={`reason status-text-${r.status}`} data-kind={r.kind}>
              <StatusBadge status={r.status} /> {r.message}
            </div>
          ))
        )}
        {d.probes.map((p) => (
          <div class={`reason status-text-${p.status}`} data-kind="probe">
            Probe {p.probe} ({p.kind} {p.instance}): {p.success ? 'ok' : `failed${p.error ? `: ${p.error}` : ''}`},{' '}
            {formatValue(p.duration_seconds, 's')}
          </div>
        ))}
      </div>
    </section>
  );
}

function Stat(props: { label: string; value: string; sub?: string; bad?: boolean }) {
  return (
    <div class={`stat${props.bad ? ' bad' : ''}`}>
      <div class="stat-label">{props.label}</div>
      <div class="stat-value">{props.value}</div>
      {props.sub && <div class="stat-sub">{props.sub}</div>}
    </div>
  );
}

/** Latency quantiles as one chart: three range queries merged into one result. */
function useLatency(name: string, entryOnly: boolean) {
  const time = useTime();
  const p50 = useRange((w) => serviceLatencyQuantile(name, entryOnly, 0.5, w), time);
  const p95 = useRange((w) => serviceLatencyQuantile(name, entryOnly, 0.95, w), time);
  const p99 = useRange((w) => serviceLatencyQuantile(name, entryOnly, 0.99, w), time);
  const data = useMemo((): RangeResult | undefined => {
    if (!p50.data || !p95.data || !p99.data) return undefined;
    const tag = (r: RangeResult, q: string) => r.series.map((s) => ({ ...s, metric: { ...s.metric, quantile: q } }));
    return { ...p50.data, series: [...tag(p50.data, 'p50'), ...tag(p95.data, 'p95'), ...tag(p99.data, 'p99')] };
  }, [p50.data, p95.data, p99.data]);
  return { data, error: p50.error ?? p95.error ?? p99.error, loading: p50.loading || p95.loading || p99.loading };
}

function RedCharts({ name, entryOnly }: { name: string; entryOnly: boolean }) {
  const time = useTime();
  const rate = useRange((w) => serviceRequestRate(name, entryOnly, w), time);
  const errors = useRange((w) => serviceErrorPercent(name, entryOnly, w), time);
  const latency = useLatency(name, entryOnly);
  const ex = useAsync(
    (signal) => queryExemplars(serviceExemplarSelector(name, entryOnly), time.start, time.end, signal),
    [name, entryOnly, time.start, time.end, time.tick],
  );
  const exemplars = useMemo((): ExemplarPoint[] => {
    const out: ExemplarPoint[] = [];
    for (const s of ex.data ?? []) {
      for (const e of s.exemplars) {
        const traceId = e.labels.trace_id ?? e.labels.traceID ?? e.labels.traceId;
        const v = parseFloat(e.value);
        if (traceId && Number.isFinite(v)) out.push({ t: e.timestamp, v, traceId, labels: e.labels });
      }
    }
    return out;
  }, [ex.data]);
  const slowest = useMemo(() => [...exemplars].sort((a, b) => b.v - a.v).slice(0, 5), [exemplars]);
  const one = () => 'requests';
  return (
    <>
      <div class="grid grid-3">
        <Chart title="Request rate" unit="req/s" data={rate.data} error={rate.error} loading={rate.loading} legend={one} testId="chart-rate" />
        <Chart title="Error %" unit="percent" data={errors.data} error={errors.error} loading={errors.loading} legend={() => 'errors'} testId="chart-errors" />
        <div>
          <Chart
            title="Latency"
            unit="ms"
            data={latency.data}
            error={latency.error}
            loading={latency.loading}
            legend={(l) => l.quantile ?? ''}
            exemplars={exemplars}
            testId="chart-latency"
          />
          <div class="exemplars" data-testid="exemplars" data-count={String(exemplars.length)}>
            {ex.error ? (
              <span class="muted">Exemplars unavailable: {ex.error.message}</span>
            ) : slowest.length === 0 ? (
              <span class="muted">No exemplars in this range.</span>
            ) : (
              <>
                Slowest exemplars:{' '}
                {slowest.map((e) => (
                  <a href={traceLink(e.traceId)} title={formatDateTime(e.t * 1000)}>
                    {formatValue(e.v, 'ms')}
                  </a>
                ))}
              </>
            )}
          </div>
        </div>
      </div>
    </>
  );
}

const OP_SORT_KEYS = ['name', 'kind', 'rps', 'error_percent', 'p50', 'p99', 'share'] as const;

function Operations({ name, ops }: { name: string; ops: Operation[] }) {
  const time = useTime();
  const params = useParams();
  const sort = decodeSort(params.get('opsort'), OP_SORT_KEYS, { key: 'share', dir: 'desc' });
  // Share of time: each operation's total time spent (increase of the duration histogram's
  // _sum over the range, i.e. calls × mean duration) over the service's total. This is the
  // exact "where does the time go" figure; calls × p50 would undercount long tails. When that
  // query fails, calls × p50 is used instead (marked with "≈").
  const rangeS = Math.max(60, Math.round((time.end - time.start) / 1000));
  const spent = useAsync(
    (signal) => query(operationTimeSpent(name, rangeS), time.end, signal),
    [name, rangeS, time.end, time.tick],
  );
  const shares = useMemo(() => {
    const m = new Map<string, number>();
    let approx = false;
    if (spent.data && spent.data.resultType === 'vector' && spent.data.result.length > 0) {
      for (const r of spent.data.result) {
        const v = parseFloat(r.value[1]);
        if (Number.isFinite(v)) m.set(`${r.metric.span_name}\u0000${r.metric.span_kind}`, v);
      }
    } else if (spent.data || spent.error) {
      approx = true;
      for (const o of ops) m.set(`${o.name}\u0000${o.span_kind}`, o.requests * (o.p50_ms ?? 0));
    }
    let total = 0;
    for (const v of m.values()) total += v;
    return { m, total, approx };
  }, [spent.data, spent.error, ops]);
  const share = (o: Operation) => {
    const v = shares.m.get(`${o.name}\u0000${o.span_kind}`);
    return v === undefined || shares.total <= 0 ? null : (100 * v) / shares.total;
  };
  const rows = useMemo(() => {
    const val = (o: Operation, key: string): number | string => {
      switch (key) {
        case 'name':
          return o.name;
        case 'kind':
          return o.span_kind;
        case 'rps':
          return o.requests_per_second;
        case 'error_percent':
          return o.error_percent ?? -1;
        case 'p50':
          return o.p50_ms ?? -1;
        case 'p99':
          return o.p99_ms ?? -1;
        default:
          return share(o) ?? -1;
      }
    };
    return sortRows(ops, sort, val);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [ops, sort.key, sort.dir, shares]);
  const onSort = (col: string) =>
    setParams({ opsort: encodeSort(toggleSort(sort, col, col === 'name' || col === 'kind' ? 'asc' : 'desc')) }, { replace: true });
  return (
    <section class="panel">
      <header class="panel-title">Top operations</header>
      {ops.length === 0 ? (
        <div class="empty-state">No spans in this range.</div>
      ) : (
        <table class="table" data-testid="operations">
          <thead>
            <tr>
              <SortHeader label="Operation" col="name" sort={sort} onSort={onSort} />
              <SortHeader label="Kind" col="kind" sort={sort} onSort={onSort} />
              <SortHeader label="Calls" col="rps" sort={sort} onSort={onSort} numeric />
              <SortHeader label="Errors" col="error_percent" sort={sort} onSort={onSort} numeric />
              <SortHeader label="p50" col="p50" sort={sort} onSort={onSort} numeric />
              <SortHeader label="p99" col="p99" sort={sort} onSort={onSort} numeric />
              <SortHeader
                label={shares.approx ? 'Share of time ≈' : 'Share of time'}
                col="share"
                sort={sort}
                onSort={onSort}
                numeric
                title="Time spent in the operation (calls × mean duration) as a share of the service's total"
              />
            </tr>
          </thead>
          <tbody>
            {rows.map((o) => {
              const sh = share(o);
              return (
                <tr data-operation={o.name}>
                  <td class="name">{o.name}</td>
                  <td class="muted">{o.span_kind.replace('SPAN_KIND_', '').toLowerCase()}</td>
                  <td class="num">{formatValue(o.requests_per_second, 'ops/s')}</td>
                  <td class={`num${(o.error_percent ?? 0) >= 5 ? ' bad' : ''}`}>{formatValue(o.error_percent, 'percent')}</td>
                  <td class="num">{formatValue(o.p50_ms, 'ms')}</td>
                  <td class="num">{formatValue(o.p99_ms, 'ms')}</td>
                  <td class="num share">
                    <div class="bar" style={{ width: `${Math.max(0, Math.min(100, sh ?? 0))}%` }} />
                    <span>{formatValue(sh, 'percent')}</span>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Peers({ title, peers, testId }: { title: string; peers: Peer[]; testId: string }) {
  const search = useSearch();
  return (
    <section class="panel">
      <header class="panel-title">{title}</header>
      {peers.length === 0 ? (
        <div class="empty-state">None in this range.</div>
      ) : (
        <table class="table" data-testid={testId}>
          <thead>
            <tr>
              <th>Service</th>
              <th class="num">Calls</th>
              <th class="num">Calls/s</th>
              <th class="num">Errors</th>
            </tr>
          </thead>
          <tbody>
            {[...peers]
              .sort((a, b) => b.calls - a.calls)
              .map((p) => (
                <tr>
                  <td class="name">
                    <Link href={`${servicePath(p.service)}${carrySearch(search)}`}>{p.service}</Link>
                  </td>
                  <td class="num">{formatNumber(p.calls, 6)}</td>
                  <td class="num">{formatValue(p.calls_per_second, 'ops/s')}</td>
                  <td class={`num${(p.error_percent ?? 0) >= 5 ? ' bad' : ''}`}>{formatValue(p.error_percent, 'percent')}</td>
                </tr>
              ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

const PROCESS_FIELDS: [string, string, (v: number) => string][] = [
  ['cpu_cores', 'CPU', (v) => formatValue(v, 'cores')],
  ['cpu_utilization', 'CPU util.', (v) => formatValue(v, 'percentunit')],
  ['memory_bytes', 'Memory', (v) => formatBytes(v)],
  ['virtual_memory_bytes', 'Virtual', (v) => formatBytes(v)],
  ['threads', 'Threads', (v) => formatNumber(v)],
  ['open_file_descriptors', 'Open files', (v) => formatNumber(v)],
];

function Instances({ d }: { d: ServiceDetail }) {
  const time = useTime();
  const cpu = useRange((w) => processCpu(d.name, w), time);
  const mem = useRange(processMemory(d.name), time);
  const hasProcessSeries = (cpu.data?.series.length ?? 0) + (mem.data?.series.length ?? 0) > 0;
  const now = Date.now();
  const legend = (l: Record<string, string>) => l.instance ?? d.name;
  return (
    <section class="panel">
      <header class="panel-title">Instances</header>
      {d.instance_details.length === 0 ? (
        <div class="empty-state">No instances in this range.</div>
      ) : (
        <table class="table" data-testid="instances">
          <thead>
            <tr>
              <th>Instance</th>
              <th class="num">Last seen</th>
              <th>Signals</th>
              <th>Attributes</th>
              <th>Process</th>
            </tr>
          </thead>
          <tbody>
            {d.instance_details.map((i) => (
              <tr>
                <td class="name">{i.instance}</td>
                <td class="num" title={i.last_seen ?? ''}>
                  {i.last_seen ? formatAgo(Date.parse(i.last_seen), now) : '–'}
                </td>
                <td class="kv">
                  {Object.entries(i.signals).map(([k, v]) => (
                    <span class="chip" title={v}>
                      {k.replace('_', ' ')} {formatAgo(Date.parse(v), now)}
                    </span>
                  ))}
                </td>
                <td class="kv">
                  {Object.entries(i.attributes).map(([k, v]) => (
                    <span class="chip">
                      <span class="muted">{k}=</span>
                      {v}
                    </span>
                  ))}
                </td>
                <td class="kv">
                  {PROCESS_FIELDS.filter(([k]) => i.process[k] !== undefined).map(([k, label, f]) => (
                    <span class="chip">
                      <span class="muted">{label} </span>
                      {f(i.process[k]!)}
                    </span>
                  ))}
                  {Object.keys(i.process).length === 0 && <span class="muted">not sent</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {(hasProcessSeries || cpu.error || mem.error) && (
        <div class="grid grid-2">
          <Chart title="Process CPU" unit="cores" data={cpu.data} error={cpu.error} legend={legend} height={140} testId="chart-process-cpu" />
          <Chart title="Process memory" unit="bytes" data={mem.data} error={mem.error} legend={legend} height={140} testId="chart-process-memory" />
        </div>
      )}
      {!hasProcessSeries && !cpu.loading && !mem.loading && (
        <div class="muted small">No process metrics (process.cpu.time, process.memory.usage) from this service's SDK.</div>
      )}
    </section>
  );
}
