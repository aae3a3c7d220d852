// An error group (/ui/errors/{service}/{operation}?kind=<exception type, else message>): its
// figures from /lookout/v1/errors, the newest stack trace (the `exception.stacktrace` of the
// newest matching span's exception event, read from the group's newest traces) and the sample
// traces, each linking to the trace view at the failing span.

import { carrySearch, servicePath, type Route } from '../lib/url';
import { useAsync, useTitle } from '../lib/hooks';
import { useParams, useSearch, useTime } from '../lib/store';
import { formatAgo, formatDateTime } from '../lib/format';
import { logsLink, traceLink } from '../lib/links';
import { errorGroups, exceptionsOf, nsToMs, sameGroup, traceTree, type ExceptionSample } from '../lib/logs';
import { ApiError } from '../lib/api';
import { ErrorBox, Link, Loading, PageHeader } from '../components/common';

export default function ErrorGroupPage({ route }: { route: Route }) {
  const service = route.page === 'error' ? route.service : '';
  const operation = route.page === 'error' ? route.operation : '';
  const params = useParams();
  const search = useSearch();
  const kind = params.get('kind') ?? '';
  const time = useTime();
  useTitle(`${kind || 'Error'} · ${service}`);
  const res = useAsync((s) => errorGroups(time.start, time.end, { service, limit: 100000 }, s), [service, time.start, time.end, time.tick]);
  const group = res.data?.groups.find((g) => sameGroup(g, service, operation, kind));
  const ids = group?.traceIds ?? [];
  const samples = useAsync(
    async (s) => {
      const out: { traceId: string; sample: ExceptionSample | null; error?: string }[] = [];
      for (const id of ids) {
        try {
          const tree = await traceTree(id, s);
          out.push({ traceId: id, sample: exceptionsOf(tree, service, operation, kind)[0] ?? null });
        } catch (e) {
          if (e instanceof ApiError) out.push({ traceId: id, sample: null, error: e.message });
          else throw e;
        }
      }
      return out;
    },
    [ids.join(','), service, operation, kind],
  );
  const newest = samples.data?.map((x) => x.sample).find((x) => x && x.stacktrace) ?? samples.data?.map((x) => x.sample).find((x) => x) ?? null;
  const ready = !!res.error || (!!res.data && (!group || !!samples.data || !!samples.error));
  return (
    <div class="page" data-page="error" data-ready={ready ? 'true' : 'false'}>
      <PageHeader
        title={
          <>
            <Link class="crumb" href={`/ui/errors${carrySearch(search)}`}>
              Errors
            </Link>
            <span class="crumb-sep">/</span>
            <span class="service-name" data-testid="group-title">
              {kind || '(empty message)'}
            </span>
          </>
        }
      >
        <Link class="btn" href={logsLink({ service, fromMs: time.start, toMs: time.end, q: 'severity:error' })} data-testid="group-logs-link">
          Error logs of {service}
        </Link>
      </PageHeader>
      <section class="panel summary-panel">
        <div class="stats">
          <div class="stat">
            <div class="stat-label">Service</div>
            <div class="stat-value service-name">
              <Link href={`${servicePath(service)}${carrySearch(search)}`}>{service}</Link>
            </div>
          </div>
          <div class="stat">
            <div class="stat-label">Operation</div>
            <div class="stat-value service-name" data-testid="group-operation">
              {operation}
            </div>
          </div>
          {group && (
            <>
              <div class="stat">
                <div class="stat-label">Count</div>
                <div class="stat-value" data-testid="group-count">
                  {group.count}
                </div>
              </div>
              <div class="stat">
                <div class="stat-label">First seen</div>
                <div class="stat-value small">{formatDateTime(Date.parse(group.firstSeen))}</div>
              </div>
              <div class="stat">
                <div class="stat-label">Last seen</div>
                <div class="stat-value small">{formatDateTime(Date.parse(group.lastSeen))}</div>
              </div>
            </>
          )}
        </div>
        {group && <div class="err-message" data-testid="group-message">{group.message}</div>}
      </section>
      {res.error ? (
        <ErrorBox error={res.error} />
      ) : !res.data ? (
        <Loading />
      ) : !group ? (
        <div class="panel empty-state" data-testid="group-missing">
          No error of this group in the time range.
        </div>
      ) : (
        <>
          <section class="panel">
            <div class="panel-title">Newest stack trace</div>
            {samples.error ? (
              <ErrorBox error={samples.error} />
            ) : !samples.data ? (
              <Loading />
            ) : newest && newest.stacktrace ? (
              <>
                <div class="small muted">
                  {newest.type && <strong>{newest.type}</strong>} {newest.message} · {formatDateTime(nsToMs(newest.timeUnixNano))} ·{' '}
                  <Link href={traceLink(newest.traceId, newest.spanId)}>trace {newest.traceId.slice(0, 16)}…</Link>
                </div>
                <pre class="stacktrace" data-testid="stacktrace">
                  {newest.stacktrace}
                </pre>
              </>
            ) : (
              <div class="muted" data-testid="no-stacktrace">
                The newest spans of this group carry no exception.stacktrace.
              </div>
            )}
          </section>
          <section class="panel">
            <div class="panel-title">Sample traces (newest first)</div>
            {!samples.data ? (
              <Loading />
            ) : (
              <table class="table" data-testid="sample-traces">
                <thead>
                  <tr>
                    <th>Trace</th>
                    <th>Time</th>
                    <th>Message</th>
                    <th>Logs</th>
                  </tr>
                </thead>
                <tbody>
                  {samples.data.map((x) => (
                    <tr data-trace-id={x.traceId}>
                      <td class="mono-wrap">
                        <Link href={traceLink(x.traceId, x.sample?.spanId)} data-testid="sample-trace-link">
                          {x.traceId}
                        </Link>
                      </td>
                      <td class="num" title={x.sample ? formatDateTime(nsToMs(x.sample.timeUnixNano)) : ''}>
                        {x.sample ? formatAgo(nsToMs(x.sample.timeUnixNano), Date.now()) : '–'}
                      </td>
                      <td class="err-message">{x.error ?? x.sample?.message ?? ''}</td>
                      <td>
                        <Link href={logsLink({ traceId: x.traceId, fromMs: time.start, toMs: time.end })}>logs</Link>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        </>
      )}
    </div>
  );
}
