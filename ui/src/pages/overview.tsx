// Overview (/ui/): every service with its health, RED figures and a request-rate sparkline,
// and a strip of host charts.

import { useMemo } from 'preact/hooks';
import type { Route } from '../lib/url';
import { decodeSort, encodeSort, toggleSort, servicePath, carrySearch, sortRows, type SortState } from '../lib/url';
import { services, type Service } from '../lib/api';
import { useAsync, useRange, useTitle } from '../lib/hooks';
import { setParams, useParams, useSearch, useTime } from '../lib/store';
import { allServicesRequestRate, HOST_QUERIES } from '../lib/promql';
import { alignMatrix } from '../lib/series';
import { formatAgo, formatValue } from '../lib/format';
import { ErrorBox, Link, Loading, PageHeader, SortHeader, StatusBadge } from '../components/common';
import { Chart, Sparkline } from '../components/chart';
import { STATUS_RANK } from '../lib/status';

const SORT_KEYS = ['name', 'status', 'rps', 'error_percent', 'p50', 'p99', 'instances', 'last_seen'] as const;
const DEFAULT_SORT: SortState = { key: 'status', dir: 'desc' };

function sortValue(s: Service, key: string): number | string {
  switch (key) {
    case 'name':
      return s.name;
    case 'status':
      return STATUS_RANK[s.status] ?? 0;
    case 'rps':
      return s.requests_per_second;
    case 'error_percent':
      return s.error_percent ?? -1;
    case 'p50':
      return s.p50_ms ?? -1;
    case 'p99':
      return s.p99_ms ?? -1;
    case 'instances':
      return s.instances;
    case 'last_seen':
      return s.last_seen ? Date.parse(s.last_seen) : 0;
    default:
      return 0;
  }
}

export function sortServices(list: Service[], sort: SortState): Service[] {
  return sortRows(list, sort, sortValue, (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export default function OverviewPage(_props: { route: Route }) {
  useTitle('Overview');
  const time = useTime();
  const params = useParams();
  const search = useSearch();
  const sort = decodeSort(params.get('sort'), SORT_KEYS, DEFAULT_SORT);
  const filter = params.get('q') ?? '';

  const svc = useAsync((signal) => services(time.start, time.end, signal), [time.start, time.end, time.tick]);
  const spark = useRange((w) => allServicesRequestRate(w), time, 60);

  const sparkByService = useMemo(() => {
    const m = new Map<string, (number | null)[]>();
    if (!spark.data) return { xs: [] as number[], m };
    const a = alignMatrix(spark.data);
    a.labels.forEach((l, i) => m.set(l.service_name ?? '', a.ys[i] as (number | null)[]));
    return { xs: a.xs, m };
  }, [spark.data]);

  const rows = useMemo(() => {
    const list = svc.data?.services ?? [];
    const f = filter.toLowerCase();
    return sortServices(f ? list.filter((s) => s.name.toLowerCase().includes(f)) : list, sort);
  }, [svc.data, filter, sort.key, sort.dir]);

  const onSort = (col: string) => setParams({ sort: encodeSort(toggleSort(sort, col, col === 'name' ? 'asc' : 'desc')) }, { replace: true });
  const ready = (!!svc.data || !!svc.error) && (!!spark.data || !!spark.error);
  const counts = useMemo(() => {
    const c: Record<string, number> = {};
    for (const s of svc.data?.services ?? []) c[s.status] = (c[s.status] ?? 0) + 1;
    return c;
  }, [svc.data]);

  return (
    <div class="page" data-page="overview" data-ready={ready ? 'true' : 'false'}>
      <PageHeader title="Services">
        <span class="summary">
          {(['unhealthy', 'degraded', 'healthy', 'unknown'] as const).map((s) =>
            counts[s] ? (
              <span class={`summary-item status-text-${s}`} key={s}>
                {counts[s]} {s}
              </span>
            ) : null,
          )}
        </span>
        <input
          type="search"
          class="filter"
          placeholder="Filter services"
          aria-label="Filter services"
          value={filter}
          onInput={(e) => setParams({ q: e.currentTarget.value }, { replace: true })}
        />
      </PageHeader>
      <HostStrip />
      <section class="panel">
        {svc.error ? (
          <ErrorBox error={svc.error} />
        ) : !svc.data ? (
          <Loading />
        ) : rows.length === 0 ? (
          <div class="empty-state">
            {filter ? 'No service matches the filter.' : 'No services yet: send OTLP traces, logs or metrics to Lookout.'}
          </div>
        ) : (
          <table class="table services-table" data-testid="services-table">
            <thead>
              <tr>
                <SortHeader label="Service" col="name" sort={sort} onSort={onSort} />
                <SortHeader label="Status" col="status" sort={sort} onSort={onSort} />
                <th>Reasons</th>
                <SortHeader label="Requests" col="rps" sort={sort} onSort={onSort} numeric />
                <th class="num" title="Request rate over the time range">
                  Trend
                </th>
                <SortHeader label="Errors" col="error_percent" sort={sort} onSort={onSort} numeric />
                <SortHeader label="p50" col="p50" sort={sort} onSort={onSort} numeric />
                <SortHeader label="p99" col="p99" sort={sort} onSort={onSort} numeric />
                <SortHeader label="Instances" col="instances" sort={sort} onSort={onSort} numeric />
                <SortHeader label="Last seen" col="last_seen" sort={sort} onSort={onSort} numeric />
              </tr>
            </thead>
            <tbody>
              {rows.map((s) => (
                <tr key={s.name} data-service={s.name} data-status={s.status}>
                  <td class="name">
                    <Link href={`${servicePath(s.name)}${carrySearch(search)}`}>{s.name}</Link>
                  </td>
                  <td>
                    <StatusBadge status={s.status} />
                  </td>
                  <td class="reasons">
                    {s.reasons.map((r) => (
                      <div class={`reason status-text-${r.status}`} data-kind={r.kind}>
                        {r.message}
                      </div>
                    ))}
                  </td>
                  <td class="num" data-col="rps">
                    {formatValue(s.requests_per_second, 'req/s')}
                  </td>
                  <td class="num spark-cell">
                    {sparkByService.m.has(s.name) ? (
                      <Sparkline xs={sparkByService.xs} values={sparkByService.m.get(s.name)!} unit="req/s" />
                    ) : (
                      <span class="muted">–</span>
                    )}
                  </td>
                  <td class={`num${(s.error_percent ?? 0) >= 5 ? ' bad' : ''}`} data-col="error_percent" data-value={s.error_percent ?? ''}>
                    {formatValue(s.error_percent, 'percent')}
                  </td>
                  <td class="num">{formatValue(s.p50_ms, 'ms')}</td>
                  <td class="num">{formatValue(s.p99_ms, 'ms')}</td>
                  <td class="num">{s.instances}</td>
                  <td class="num" title={s.last_seen ?? ''}>
                    {s.last_seen ? formatAgo(Date.parse(s.last_seen), Date.now()) : '–'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {spark.error && <ErrorBox error={spark.error} />}
      </section>
    </div>
  );
}

function HostStrip() {
  const time = useTime();
  const search = useSearch();
  const cpu = useRange(HOST_QUERIES.cpuTotal(null), time);
  const mem = useRange(HOST_QUERIES.memoryUtil(null), time);
  const disk = useRange(HOST_QUERIES.diskMax(null), time);
  const net = useRange((w) => HOST_QUERIES.networkTotal(null, w), time);
  const legend = (l: Record<string, string>) => l.instance ?? 'host';
  return (
    <div class="host-strip">
      <div class="strip-title">
        Hosts <Link href={`/ui/hosts${carrySearch(search)}`}>details →</Link>
      </div>
      <div class="grid grid-4">
        <Chart title="CPU" unit="percentunit" data={cpu.data} error={cpu.error} loading={cpu.loading} legend={legend} height={110} max={1} testId="host-cpu" />
        <Chart title="Memory used" unit="percentunit" data={mem.data} error={mem.error} loading={mem.loading} legend={legend} height={110} max={1} testId="host-memory" />
        <Chart title="Fullest filesystem" unit="percentunit" data={disk.data} error={disk.error} loading={disk.loading} legend={legend} height={110} max={1} testId="host-disk" />
        <Chart title="Network (excl. lo)" unit="bytes/s" data={net.data} error={net.error} loading={net.loading} legend={legend} height={110} testId="host-network" />
      </div>
    </div>
  );
}
