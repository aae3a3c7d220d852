// Errors (/ui/errors): error groups of the range (/lookout/v1/errors: spans with status error by
// service, operation and exception type, else status message) with count, first and last seen
// and a sparkline. URL state: sort (count, last_seen, first_seen, service, operation; "-" =
// descending), service, from/to.
//
// The sparkline is the group's own occurrences per bucket (`buckets` of /lookout/v1/errors).

import { useMemo } from 'preact/hooks';
import { carrySearch, decodeSort, encodeSort, errorGroupPath, servicePath, sortRows, toggleSort, type Route, type SortState } from '../lib/url';
import { useAsync, useTitle } from '../lib/hooks';
import { setParams, useParams, useSearch, useTime } from '../lib/store';
import { formatAgo, formatDateTime } from '../lib/format';
import { errorGroups, groupKind, type ErrorGroup } from '../lib/logs';
import { ErrorBox, Link, Loading, PageHeader, SortHeader } from '../components/common';
import { Sparkline } from '../components/chart';

const SORT_KEYS = ['count', 'last_seen', 'first_seen', 'service', 'operation'] as const;
const DEFAULT_SORT: SortState = { key: 'count', dir: 'desc' };

function sortValue(g: ErrorGroup, key: string): number | string {
  switch (key) {
    case 'count':
      return g.count;
    case 'last_seen':
      return Date.parse(g.lastSeen);
    case 'first_seen':
      return Date.parse(g.firstSeen);
    case 'service':
      return g.service;
    case 'operation':
      return g.operation;
    default:
      return 0;
  }
}

export function sortGroups(list: ErrorGroup[], sort: SortState): ErrorGroup[] {
  return sortRows(list, sort, sortValue, (a, b) => b.count - a.count || (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
}

/** Buckets of the sparklines over the range. */
const SPARK_BUCKETS = 30;

/** The bucket start times (seconds) of `SPARK_BUCKETS` equal parts of `[start, end]` (ms). */
export function bucketTimes(startMs: number, endMs: number, n = SPARK_BUCKETS): number[] {
  const start = Math.floor(startMs / 1000);
  const width = Math.ceil((Math.ceil(endMs / 1000) - start) / n);
  return Array.from({ length: n }, (_, i) => start + i * width);
}

export default function ErrorsPage(_props: { route: Route }) {
  useTitle('Errors');
  const time = useTime();
  const params = useParams();
  const search = useSearch();
  const sort = decodeSort(params.get('sort'), SORT_KEYS, DEFAULT_SORT);
  const service = params.get('service') ?? '';
  const apiSort = sort.key === 'last_seen' || sort.key === 'first_seen' ? 'recent' : 'count';
  const res = useAsync((s) => errorGroups(time.start, time.end, { service, sort: apiSort, limit: 1000, buckets: SPARK_BUCKETS }, s), [time.start, time.end, time.tick, service, apiSort]);
  const sparkXs = useMemo(() => bucketTimes(time.start, time.end), [time.start, time.end]);
  const rows = useMemo(() => sortGroups(res.data?.groups ?? [], sort), [res.data, sort.key, sort.dir]);
  const onSort = (col: string) => setParams({ sort: encodeSort(toggleSort(sort, col, col === 'service' || col === 'operation' ? 'asc' : 'desc')) }, { replace: true });
  const total = rows.reduce((a, g) => a + g.count, 0);
  const ready = !!res.data || !!res.error;
  const now = Date.now();
  return (
    <div class="page" data-page="errors" data-ready={ready ? 'true' : 'false'}>
      <PageHeader title="Errors">
        {res.data && (
          <span class="summary">
            <span class="summary-item">
              {rows.length} group{rows.length === 1 ? '' : 's'}, {total} error span{total === 1 ? '' : 's'}
            </span>
          </span>
        )}
        {service && (
          <span class="chip" data-testid="service-filter">
            service={service}{' '}
            <button type="button" class="linklike" aria-label="Remove the service filter" onClick={() => setParams({ service: null })}>
              ×
            </button>
          </span>
        )}
      </PageHeader>
      <section class="panel">
        {res.error ? (
          <ErrorBox error={res.error} />
        ) : !res.data ? (
          <Loading />
        ) : rows.length === 0 ? (
          <div class="empty-state">No error spans in this time range.</div>
        ) : (
          <>
            {res.data.truncated && <div class="small muted">Over query.max_error_spans error spans: the counts cover the newest ones.</div>}
            <table class="table errors-table" data-testid="error-groups">
              <thead>
                <tr>
                  <SortHeader label="Service" col="service" sort={sort} onSort={onSort} />
                  <SortHeader label="Operation" col="operation" sort={sort} onSort={onSort} />
                  <th>Exception / message</th>
                  <SortHeader label="Count" col="count" sort={sort} onSort={onSort} numeric />
                  <th class="num" title="Occurrences of the group over the range">
                    Trend
                  </th>
                  <SortHeader label="First seen" col="first_seen" sort={sort} onSort={onSort} numeric />
                  <SortHeader label="Last seen" col="last_seen" sort={sort} onSort={onSort} numeric />
                </tr>
              </thead>
              <tbody>
                {rows.map((g) => {
                  const sp = g.buckets;
                  return (
                    <tr data-testid="error-group" data-service={g.service} data-operation={g.operation} data-kind={groupKind(g)} data-count={String(g.count)} data-spark-total={String((g.buckets ?? []).reduce((a, b) => a + b, 0))}>
                      <td class="name">
                        <Link href={`${servicePath(g.service)}${carrySearch(search)}`}>{g.service}</Link>
                      </td>
                      <td class="name">{g.operation}</td>
                      <td class="err-kind">
                        <Link href={`${errorGroupPath(g.service, g.operation, groupKind(g))}${carrySearch(search).replace(/^\?/, '&')}`} data-testid="group-link">
                          {g.exceptionType ? <strong class="exc-type">{g.exceptionType}</strong> : <em class="muted">no exception event</em>}
                        </Link>
                        <div class="err-message">{g.message}</div>
                      </td>
                      <td class="num" data-col="count">
                        {g.count}
                      </td>
                      <td class="num spark-cell">
                        {sp ? <Sparkline xs={sparkXs} values={sp} unit="plain" color="#c62828" /> : <span class="muted">–</span>}
                      </td>
                      <td class="num" title={formatDateTime(Date.parse(g.firstSeen))}>
                        {formatAgo(Date.parse(g.firstSeen), now)}
                      </td>
                      <td class="num" title={formatDateTime(Date.parse(g.lastSeen))}>
                        {formatAgo(Date.parse(g.lastSeen), now)}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </>
        )}
      </section>
    </div>
  );
}
