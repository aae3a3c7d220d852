// Logs explorer (/ui/logs): query box (Lookout's log query language), service and severity
// filters, a volume histogram stacked by level (drag to zoom), the records newest or oldest
// first with "load more" (cursor paging), a field sidebar (keys and top values; a value click
// adds `attributes.<key>:"<value>"` to the query), expandable rows (attributes, resource, trace
// link at the record's span, context: the same service's records around it) and live tail.
// URL state: q, service, severity (minimum), trace_id, order (newest|oldest), limit (page size,
// default 100), tail (1 = live), from/to.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Route } from '../lib/url';
import { useAsync, useTitle } from '../lib/hooks';
import { setParams, useParams, useTime } from '../lib/store';
import { services } from '../lib/api';
import { formatDateTime } from '../lib/format';
import { traceLink } from '../lib/links';
import {
  addClause,
  attributeClause,
  hasId,
  levelOf,
  logContext,
  logFields,
  logVolume,
  nsToMs,
  nsToRfc3339,
  recordKey,
  searchLogs,
  secCeil,
  secFloor,
  valueText,
  type LogFilter,
  type LogRecord,
} from '../lib/logs';
import { ErrorBox, Link, Loading, PageHeader } from '../components/common';
import { VolumeChart } from '../components/volume';

const PAGE = 100;
const TAIL_MS = 2000;
const SEVERITIES = ['', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'];

function timeText(ns: string): string {
  const ms = nsToMs(ns);
  return `${formatDateTime(ms)}.${String(ms % 1000).padStart(3, '0')}`;
}

export default function LogsPage(_props: { route: Route }) {
  useTitle('Logs');
  const params = useParams();
  const time = useTime();
  const q = params.get('q') ?? '';
  const service = params.get('service') ?? '';
  const severity = params.get('severity') ?? '';
  const traceId = params.get('trace_id') ?? '';
  const order = params.get('order') === 'oldest' ? 'oldest' : 'newest';
  const tail = params.get('tail') === '1';
  const limit = Math.min(5000, Math.max(1, parseInt(params.get('limit') ?? '', 10) || PAGE));
  const filter: LogFilter = useMemo(() => ({ query: q, service, minSeverity: severity, traceId }), [q, service, severity, traceId]);
  const start = secFloor(time.start);
  const end = secCeil(time.end);
  const fkey = `${q}\u0000${service}\u0000${severity}\u0000${traceId}\u0000${start}\u0000${end}\u0000${time.tick}`;

  const first = useAsync((s) => searchLogs(filter, { start, end, order: tail ? 'newest' : order, limit }, s), [fkey, order, tail, limit]);
  const volume = useAsync((s) => logVolume(filter, start, end, 60, s), [fkey]);
  const svcList = useAsync((s) => services(time.start, time.end, s), [start, end]);

  // The list: the first page, more pages (cursor), and live-tail records (prepended).
  const [more, setMore] = useState<LogRecord[]>([]);
  const [tailed, setTailed] = useState<LogRecord[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [moreBusy, setMoreBusy] = useState(false);
  const [moreErr, setMoreErr] = useState<Error | undefined>(undefined);
  useEffect(() => {
    setMore([]);
    setTailed([]);
    setMoreErr(undefined);
    setCursor(first.data?.nextCursor ?? null);
  }, [first.data]);
  const rows = useMemo(() => [...tailed, ...(first.data?.logs ?? []), ...more], [tailed, first.data, more]);

  const loadMore = async () => {
    if (!cursor) return;
    setMoreBusy(true);
    try {
      const page = await searchLogs(filter, { start, end, order, limit, cursor });
      setMore((m) => [...m, ...page.logs]);
      setCursor(page.nextCursor);
      setMoreErr(undefined);
    } catch (e) {
      setMoreErr(e instanceof Error ? e : new Error(String(e)));
    } finally {
      setMoreBusy(false);
    }
  };

  // Live tail: every 2 s, the records newer than the newest shown (same filters), prepended.
  const rowsRef = useRef(rows);
  rowsRef.current = rows;
  const [tailErr, setTailErr] = useState<Error | undefined>(undefined);
  useEffect(() => {
    if (!tail || !first.data) return;
    let stop = false;
    let ctl: AbortController | null = null;
    const poll = async () => {
      const newest = rowsRef.current[0];
      const from = newest ? nsToRfc3339(newest.timeUnixNano) : start;
      const to = nsToRfc3339(BigInt(Date.now() + 60_000) * 1_000_000n);
      ctl = new AbortController();
      try {
        const page = await searchLogs(filter, { start: from, end: to, order: 'oldest', limit: 500 }, ctl.signal);
        if (stop) return;
        const seen = new Set(rowsRef.current.filter((r) => newest && r.timeUnixNano === newest.timeUnixNano).map(recordKey));
        const fresh = page.logs.filter((r) => !seen.has(recordKey(r))).reverse();
        if (fresh.length) setTailed((t) => [...fresh, ...t].slice(0, 5000));
        setTailErr(undefined);
      } catch (e) {
        if (!stop && !(e instanceof DOMException)) setTailErr(e instanceof Error ? e : new Error(String(e)));
      }
    };
    const id = setInterval(() => {
      if (document.visibilityState === 'visible') void poll();
    }, TAIL_MS);
    return () => {
      stop = true;
      clearInterval(id);
      ctl?.abort();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [tail, first.data]);

  const [draft, setDraft] = useState(q);
  useEffect(() => setDraft(q), [q]);
  const addFilter = (clause: string) => setParams({ q: addClause(q, clause) });

  const serviceNames = useMemo(() => {
    const names = new Set((svcList.data?.services ?? []).map((s) => s.name));
    if (service) names.add(service);
    return [...names].sort();
  }, [svcList.data, service]);

  const ready = (!!first.data || !!first.error) && (!!volume.data || !!volume.error);
  return (
    <div class="page" data-page="logs" data-ready={ready ? 'true' : 'false'} data-tail={tail ? 'live' : 'off'}>
      <PageHeader title="Logs">
        <button
          type="button"
          class={`btn${tail ? ' primary' : ''}`}
          data-testid="tail-toggle"
          title="Poll for newer records every 2 seconds"
          onClick={() =>
            setParams(tail ? { tail: null } : { tail: '1', order: null, to: null, from: /^now-/.test(time.from) ? time.from : 'now-15m' })
          }
        >
          {tail ? '❚❚ Pause live tail' : '▶ Live tail'}
        </button>
      </PageHeader>
      <form
        class="logs-query panel"
        data-testid="logs-query"
        onSubmit={(e) => {
          e.preventDefault();
          setParams({ q: draft.trim() || null });
        }}
      >
        <input
          type="search"
          name="q"
          class="logs-q"
          placeholder={'words, "phrases", AND/OR/NOT, severity:error, attributes.user.id:u-1, trace_id:…'}
          aria-label="Log query"
          value={draft}
          onInput={(e) => setDraft(e.currentTarget.value)}
        />
        <select name="service" aria-label="Service" value={service} onChange={(e) => setParams({ service: e.currentTarget.value || null })}>
          <option value="">All services</option>
          {serviceNames.map((n) => (
            <option value={n}>{n}</option>
          ))}
        </select>
        <select name="severity" aria-label="Minimum severity" value={severity} onChange={(e) => setParams({ severity: e.currentTarget.value || null })}>
          {SEVERITIES.map((s) => (
            <option value={s}>{s ? `≥ ${s}` : 'Any severity'}</option>
          ))}
        </select>
        <select name="order" aria-label="Order" value={order} disabled={tail} onChange={(e) => setParams({ order: e.currentTarget.value === 'oldest' ? 'oldest' : null })}>
          <option value="newest">Newest first</option>
          <option value="oldest">Oldest first</option>
        </select>
        <button type="submit" class="btn primary">
          Search
        </button>
      </form>
      {traceId && (
        <div class="chips-line">
          <span class="chip" data-testid="trace-filter">
            trace_id={traceId}{' '}
            <button type="button" class="linklike" onClick={() => setParams({ trace_id: null })} aria-label="Remove the trace filter">
              ×
            </button>
          </span>
        </div>
      )}
      <VolumeChart data={volume.data} error={volume.error} loading={volume.loading} />
      <div class="logs-layout">
        <FieldsSidebar filter={filter} start={start} end={end} tick={time.tick} onValue={(k, v) => addFilter(attributeClause(k, v))} />
        <section class="panel logs-results" data-testid="logs-results">
          {first.error ? (
            <ErrorBox error={first.error} />
          ) : !first.data ? (
            <Loading />
          ) : rows.length === 0 ? (
            <div class="empty-state" data-testid="no-logs">
              No records match in this time range.
            </div>
          ) : (
            <>
              <div class="small muted logs-count" data-testid="logs-count" data-count={String(rows.length)}>
                {rows.length} record{rows.length === 1 ? '' : 's'} shown{cursor && !tail ? ' (more available)' : ''}
                {tail && <span class="live-dot"> live</span>}
              </div>
              {tailErr && <ErrorBox error={tailErr} />}
              <div class="log-list" data-testid="log-list">
                {rows.map((r) => (
                  <LogRow key={recordKey(r)} r={r} onFilter={addFilter} />
                ))}
              </div>
              {!tail && cursor && (
                <button type="button" class="btn load-more" data-testid="load-more" disabled={moreBusy} onClick={() => void loadMore()}>
                  {moreBusy ? 'Loading…' : 'Load more'}
                </button>
              )}
              {moreErr && <ErrorBox error={moreErr} />}
            </>
          )}
        </section>
      </div>
    </div>
  );
}

function FieldsSidebar(props: { filter: LogFilter; start: string; end: string; tick: number; onValue: (key: string, value: string) => void }) {
  const { filter, start, end } = props;
  const deps = [filter, start, end, props.tick];
  const keys = useAsync((s) => logFields(filter, start, end, undefined, s), deps);
  const [open, setOpen] = useState<string | null>(null);
  return (
    <aside class="panel logs-fields" data-testid="fields" data-ready={keys.data || keys.error ? 'true' : 'false'}>
      <div class="panel-title">
        Fields
        {keys.data && !keys.data.sampleIsAll && <span class="muted small">(newest {keys.data.sampled})</span>}
      </div>
      {keys.error ? (
        <ErrorBox error={keys.error} />
      ) : !keys.data ? (
        <Loading />
      ) : keys.data.fields.length === 0 ? (
        <div class="muted small">No attributes.</div>
      ) : (
        <ul class="field-list">
          {keys.data.fields.slice(0, 60).map((f) => (
            <li data-field={f.key}>
              <button type="button" class="field-key" aria-expanded={open === f.key} onClick={() => setOpen(open === f.key ? null : f.key!)}>
                <span class="field-name">{f.key}</span>
                <span class="muted small">{f.count}</span>
              </button>
              {open === f.key && <FieldValues filter={filter} start={start} end={end} fieldKey={f.key!} total={keys.data!.sampled} onValue={props.onValue} />}
            </li>
          ))}
        </ul>
      )}
    </aside>
  );
}

function FieldValues(props: { filter: LogFilter; start: string; end: string; fieldKey: string; total: number; onValue: (key: string, value: string) => void }) {
  const vals = useAsync((s) => logFields(props.filter, props.start, props.end, props.fieldKey, s), [props.filter, props.start, props.end, props.fieldKey]);
  if (vals.error) return <ErrorBox error={vals.error} />;
  if (!vals.data) return <div class="muted small">Loading…</div>;
  return (
    <ul class="field-values" data-testid="field-values">
      {vals.data.fields.map((v) => (
        <li>
          <button type="button" class="linklike field-value" data-value={v.value} title="Add to the query" onClick={() => props.onValue(props.fieldKey, v.value ?? '')}>
            <span class="bar" style={{ width: `${props.total ? Math.round((100 * v.count) / props.total) : 0}%` }} />
            <span class="v">{v.value}</span>
            <span class="muted small">{v.count}</span>
          </button>
        </li>
      ))}
    </ul>
  );
}

function LogRow({ r, onFilter }: { r: LogRecord; onFilter: (clause: string) => void }) {
  const [open, setOpen] = useState(false);
  const [ctx, setCtx] = useState(false);
  const level = levelOf(r.severity, r.severityNumber);
  const body = valueText(r.body);
  return (
    <div class={`log-row${open ? ' open' : ''}`} data-testid="log-row" data-service={r.service} data-level={level} data-trace-id={r.traceId} data-span-id={r.spanId}>
      <button type="button" class="log-line" aria-expanded={open} onClick={() => setOpen(!open)}>
        <span class="log-time">{timeText(r.timeUnixNano)}</span>
        <span class={`lvl lvl-${level}`}>{r.severity || level}</span>
        <span class="log-service">{r.service}</span>
        <span class="log-body">{body}</span>
      </button>
      {open && (
        <div class="log-detail" data-testid="log-detail">
          <div class="log-actions">
            {hasId(r.traceId) && (
              <Link class="btn tiny" href={traceLink(r.traceId, hasId(r.spanId) ? r.spanId : undefined)} data-testid="trace-link">
                Open trace{hasId(r.spanId) ? ' at span' : ''}
              </Link>
            )}
            <button type="button" class={`btn tiny${ctx ? ' primary' : ''}`} data-testid="context-toggle" onClick={() => setCtx(!ctx)}>
              {ctx ? 'Hide context' : 'Context'}
            </button>
            <button type="button" class="btn tiny" onClick={() => setParams({ service: r.service })}>
              Only {r.service}
            </button>
            {hasId(r.traceId) && (
              <button type="button" class="btn tiny" onClick={() => onFilter(`trace_id:${r.traceId}`)}>
                Logs of this trace
              </button>
            )}
          </div>
          <pre class="log-body-full">{body}</pre>
          {ctx && <ContextView hit={r} />}
          <KvTable title="Attributes" kv={r.attributes} testId="log-attributes" />
          <KvTable title="Resource" kv={r.resource} testId="log-resource" />
          <div class="small muted">
            time {r.time} · severity {r.severity || '–'} ({r.severityNumber}) · scope {r.scope?.name || '–'}
            {r.scope?.version ? ` ${r.scope.version}` : ''}
            {hasId(r.traceId) && ` · trace ${r.traceId}`}
            {hasId(r.spanId) && ` · span ${r.spanId}`}
          </div>
        </div>
      )}
    </div>
  );
}

function KvTable({ title, kv, testId }: { title: string; kv: Record<string, unknown>; testId: string }) {
  const keys = Object.keys(kv ?? {}).sort();
  return (
    <div class="kv-block" data-testid={testId}>
      <div class="small muted">{title}</div>
      {keys.length === 0 ? (
        <div class="muted small">none</div>
      ) : (
        <table class="table kv-table">
          <tbody>
            {keys.map((k) => (
              <tr data-key={k}>
                <td class="k">{k}</td>
                <td class="v">{valueText(kv[k])}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

function ContextView({ hit }: { hit: LogRecord }) {
  const c = useAsync((s) => logContext(hit, 10, s), [recordKey(hit)]);
  if (c.error) return <ErrorBox error={c.error} />;
  if (!c.data) return <Loading label="Loading context…" />;
  const hitKey = recordKey(hit);
  const line = (r: LogRecord, role: string) => (
    <div class={`ctx-line ctx-${role}`} data-role={role}>
      <span class="log-time">{timeText(r.timeUnixNano)}</span>
      <span class={`lvl lvl-${levelOf(r.severity, r.severityNumber)}`}>{r.severity || levelOf(r.severity, r.severityNumber)}</span>
      <span class="log-body">{valueText(r.body)}</span>
    </div>
  );
  return (
    <div class="log-context" data-testid="context" data-ready="true">
      <div class="small muted">
        Context: records of <span class="service-name">{hit.service}</span> just before and after (any query, any severity)
      </div>
      {c.data.before.length === 0 && <div class="muted small">nothing earlier within an hour</div>}
      {c.data.before.map((r) => line(r, 'before'))}
      {c.data.same.map((r) => line(r, recordKey(r) === hitKey ? 'hit' : 'same'))}
      {c.data.after.map((r) => line(r, 'after'))}
      {c.data.after.length === 0 && <div class="muted small">nothing later within an hour</div>}
    </div>
  );
}
