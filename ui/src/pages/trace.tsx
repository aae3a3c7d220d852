// Trace view (/ui/traces/{id}?span=<id>&critical=1): summary, warnings, minimap, virtualised
// waterfall, span panel (attributes, resource, events with exception stack traces, links, status,
// self time), in-trace search, and the trace's logs in time order. Untrusted text is JSX text only.

import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Route } from '../lib/url';
import { traceLogs, traceTree } from '../lib/api';
import { useAsync, useTitle } from '../lib/hooks';
import { setParams, useParams } from '../lib/store';
import { formatDateTime, formatDurationMs } from '../lib/format';
import { logsLink, traceLink } from '../lib/links';
import {
  ancestors,
  attrText,
  bodyText,
  criticalPath,
  flatten,
  searchSpans,
  serviceColors,
  visibleRows,
  type Attrs,
  type FlatTrace,
  type SpanEvent,
  type TraceLog,
  type TraceTree,
} from '../lib/traces';
import { ErrorBox, Link, Loading, PageHeader } from '../components/common';
import { Minimap, Waterfall } from '../components/waterfall';

const ms = (ns: number) => formatDurationMs(ns / 1e6);

function startMsOf(tree: TraceTree): number {
  try {
    return Number(BigInt(tree.startTimeUnixNano) / 1_000_000n);
  } catch {
    return 0;
  }
}

export default function TracePage({ route }: { route: Route }) {
  const id = route.page === 'trace' ? route.id : '';
  const params = useParams();
  const spanParam = params.get('span') ?? '';
  const showCritical = params.get('critical') === '1';
  // Answers are tagged with their id: useAsync keeps the previous answer while the next loads.
  const treeRes = useAsync(async (signal) => ({ id, tree: await traceTree(id, signal) }), [id]);
  const logsRes = useAsync(async (signal) => ({ id, logs: await traceLogs(id, signal) }), [id]);
  const tree = { data: treeRes.data?.id === id ? treeRes.data.tree : undefined, error: treeRes.error };
  const logs = { data: logsRes.data?.id === id ? logsRes.data.logs : undefined, error: logsRes.error };
  const flat = useMemo(() => (tree.data ? flatten(tree.data) : null), [tree.data]);
  useTitle(tree.data ? `Trace ${tree.data.rootService}: ${tree.data.rootName}` : `Trace ${id}`);

  const ready = (!!flat || !!tree.error) && (!!logs.data || !!logs.error);
  return (
    <div
      class="page trace-page"
      data-page="trace"
      data-ready={ready ? 'true' : 'false'}
      data-trace-id={id}
      data-span-count={flat ? String(flat.spans.length) : undefined}
      data-depth={flat ? String(flat.depth) : undefined}
    >
      {tree.error ? (
        <>
          <PageHeader title={<span class="mono-wrap">Trace {id}</span>} />
          <ErrorBox error={tree.error} />
        </>
      ) : !flat || !tree.data ? (
        <>
          <PageHeader title={<span class="mono-wrap">Trace {id}</span>} />
          <Loading label="Loading the trace…" />
        </>
      ) : (
        <TraceView
          tree={tree.data}
          flat={flat}
          spanParam={spanParam}
          showCritical={showCritical}
          logs={logs.data?.logs}
          logsTruncated={logs.data?.truncated ?? false}
          logsError={logs.error}
        />
      )}
    </div>
  );
}

function TraceView(props: {
  tree: TraceTree;
  flat: FlatTrace;
  spanParam: string;
  showCritical: boolean;
  logs: TraceLog[] | undefined;
  logsTruncated: boolean;
  logsError: Error | undefined;
}) {
  const { tree, flat, spanParam, showCritical } = props;
  const [collapsed, setCollapsed] = useState<Set<number>>(() => new Set());
  const [view, setView] = useState<[number, number]>([0, flat.duration]);
  const [query, setQuery] = useState('');
  const [matchPos, setMatchPos] = useState(-1);
  const [reveal, setReveal] = useState<{ index: number } | null>(null);
  const colors = useMemo(() => serviceColors(flat.services), [flat]);
  const critical = useMemo(() => criticalPath(flat.spans, flat.roots), [flat]);
  const rows = useMemo(() => visibleRows(flat.spans, collapsed), [flat, collapsed]);
  const matches = useMemo(() => searchSpans(flat.spans, query), [flat, query]);
  const matchSet = useMemo(() => new Set(matches), [matches]);
  const selected = spanParam ? (flat.byId.get(spanParam) ?? -1) : -1;
  const startMs = startMsOf(tree);

  useEffect(() => {
    setView([0, flat.duration]);
    setCollapsed(new Set());
  }, [flat]);

  // A span chosen by the URL (deep link, log click, search): expand its ancestors, scroll to it.
  const revealSpan = (i: number) => {
    const anc = ancestors(flat.spans, i);
    setCollapsed((c) => {
      if (!anc.some((a) => c.has(a))) return c;
      const n = new Set(c);
      for (const a of anc) n.delete(a);
      return n;
    });
    setReveal({ index: i });
  };
  useEffect(() => {
    if (selected >= 0) revealSpan(selected);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [selected, flat]);

  const select = (i: number) => setParams({ span: i >= 0 ? flat.spans[i]!.spanId : null }, { replace: true });
  const toggle = (i: number) =>
    setCollapsed((c) => {
      const n = new Set(c);
      if (n.has(i)) n.delete(i);
      else n.add(i);
      return n;
    });
  const step = (d: number) => {
    if (!matches.length) return;
    const p = (matchPos + d + matches.length) % matches.length;
    setMatchPos(p);
    revealSpan(matches[p]!);
  };
  const zoomed = view[0] > 0 || view[1] < flat.duration;
  const criticalIds = showCritical ? [...critical].map((i) => flat.spans[i]!.spanId) : [];
  const sel = selected >= 0 ? flat.spans[selected]! : null;

  return (
    <div
      class="trace-view"
      data-selected-span={sel ? sel.spanId : ''}
      data-critical-path={criticalIds.join(' ')}
      data-critical-count={String(critical.size)}
      data-matches={String(matches.length)}
    >
      <PageHeader
        title={
          <>
            <Link class="crumb" href="/ui/traces">
              Traces
            </Link>
            <span class="crumb-sep">/</span>
            <span class="service-name" data-testid="trace-title">
              {tree.rootService}: {tree.rootName}
            </span>
          </>
        }
      >
        <button type="button" class={`btn${showCritical ? ' primary' : ''}`} data-testid="critical-toggle" onClick={() => setParams({ critical: showCritical ? null : '1' }, { replace: true })}>
          Critical path
        </button>
        <button type="button" class="btn" onClick={() => setCollapsed(new Set())} data-testid="expand-all">
          Expand all
        </button>
        <button
          type="button"
          class="btn"
          data-testid="collapse-all"
          onClick={() => setCollapsed(new Set(flat.roots.flatMap((r) => flat.spans[r]!.children).filter((c) => flat.spans[c]!.size > 1)))}
        >
          Collapse
        </button>
        <a class="btn" href={`/lookout/v1/traces/${encodeURIComponent(tree.traceId)}`} download={`trace-${tree.traceId}.json`} data-testid="download">
          Download JSON
        </a>
      </PageHeader>
      <div class="panel trace-summary" data-testid="trace-summary">
        <div class="stats">
          <Stat label="Trace ID" value={<span class="mono-wrap">{tree.traceId}</span>} />
          <Stat label="Start" value={formatDateTime(startMs)} />
          <Stat label="Duration" value={ms(flat.duration)} />
          <Stat label="Spans" value={String(tree.spanCount)} />
          <Stat label="Depth" value={String(flat.depth)} />
          <Stat label="Errors" value={String(tree.errorCount)} bad={tree.errorCount > 0} />
        </div>
        <div class="trace-services">
          {tree.services.map((s) => (
            <span class="chip svc-chip">
              <span class="wf-swatch" style={{ background: colors.get(s.name) ?? '#888' }} />
              {s.name} <span class="muted">{s.spanCount}</span>
              {s.errorCount > 0 && <span class="err-count">{s.errorCount} err</span>}
            </span>
          ))}
        </div>
      </div>
      {tree.warnings.length > 0 && (
        <div class="trace-warnings" role="status" data-testid="trace-warnings" data-count={String(tree.warnings.length)}>
          {tree.warnings.map((w) => (
            <div class="trace-warning">⚠ {w}</div>
          ))}
        </div>
      )}
      <div class="trace-toolbar">
        <input
          class="filter"
          type="search"
          placeholder="Find in trace (name, service, attribute)"
          value={query}
          data-testid="trace-search"
          onInput={(e) => {
            setQuery((e.currentTarget as HTMLInputElement).value);
            setMatchPos(-1);
          }}
          onKeyDown={(e) => {
            if (e.key === 'Enter') step(e.shiftKey ? -1 : 1);
          }}
        />
        <span class="muted" data-testid="match-count">
          {query.trim() ? `${matchPos >= 0 ? `${matchPos + 1} of ` : ''}${matches.length} match${matches.length === 1 ? '' : 'es'}` : ''}
        </span>
        <button type="button" class="btn tiny" disabled={!matches.length} onClick={() => step(-1)} data-testid="match-prev">
          ◀ Prev
        </button>
        <button type="button" class="btn tiny" disabled={!matches.length} onClick={() => step(1)} data-testid="match-next">
          Next ▶
        </button>
        <span class="toolbar-right muted small">
          {zoomed ? (
            <>
              Showing {ms(view[0])} – {ms(view[1])}{' '}
              <button type="button" class="btn tiny" onClick={() => setView([0, flat.duration])} data-testid="reset-zoom">
                Reset zoom
              </button>
            </>
          ) : (
            'Drag on the minimap to zoom'
          )}
        </span>
      </div>
      <Minimap flat={flat} colors={colors} view={view} critical={showCritical ? critical : null} selected={selected} onView={setView} />
      <div class={`trace-main${sel ? ' with-panel' : ''}`}>
        <Waterfall
          flat={flat}
          rows={rows}
          collapsed={collapsed}
          onToggle={toggle}
          selected={selected}
          onSelect={select}
          critical={showCritical ? critical : null}
          matches={matchSet}
          currentMatch={matchPos >= 0 ? (matches[matchPos] ?? -1) : -1}
          view={view}
          colors={colors}
          reveal={reveal}
        />
        {sel && (
          <SpanPanel
            flat={flat}
            index={selected}
            startMs={startMs}
            color={colors.get(sel.service) ?? '#888'}
            onClose={() => select(-1)}
            selfTimeNs={Number(sel.node.selfTimeNs)}
          />
        )}
      </div>
      <LogsPanel flat={flat} logs={props.logs} truncated={props.logsTruncated} error={props.logsError} traceStartNs={tree.startTimeUnixNano} traceId={tree.traceId} startMs={startMs} selected={sel?.spanId ?? ''} onSelect={(i) => select(i)} />
    </div>
  );
}

function Stat({ label, value, bad }: { label: string; value: preact.ComponentChildren; bad?: boolean }) {
  return (
    <div class={`stat${bad ? ' bad' : ''}`}>
      <div class="stat-label">{label}</div>
      <div class="stat-value trace-stat">{value}</div>
    </div>
  );
}

function AttrTable({ attrs, testId }: { attrs: Attrs | undefined; testId?: string }) {
  const entries = Object.entries(attrs ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  if (!entries.length) return <div class="muted small">none</div>;
  return (
    <table class="table attr-table" data-testid={testId}>
      <tbody>
        {entries.map(([k, v]) => (
          <tr data-key={k}>
            <td class="attr-key">{k}</td>
            <td class="attr-val">{attrText(v)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function EventView({ ev, offsetNs }: { ev: SpanEvent; offsetNs: number }) {
  const a = ev.attributes ?? {};
  const isExc = ev.name === 'exception';
  const rest: Attrs = {};
  for (const [k, v] of Object.entries(a)) if (!isExc || !['exception.type', 'exception.message', 'exception.stacktrace'].includes(k)) rest[k] = v;
  return (
    <li class={`span-event${isExc ? ' exception' : ''}`} data-event={ev.name}>
      <div>
        <span class="muted">+{ms(offsetNs)}</span> <strong>{ev.name}</strong>
      </div>
      {isExc && (
        <div class="exception-box">
          {a['exception.type'] !== undefined && (
            <div data-testid="exception-type">
              <strong>{attrText(a['exception.type'])}</strong>
            </div>
          )}
          {a['exception.message'] !== undefined && <div data-testid="exception-message">{attrText(a['exception.message'])}</div>}
          {a['exception.stacktrace'] !== undefined && <pre class="stacktrace" data-testid="exception-stacktrace">{attrText(a['exception.stacktrace'])}</pre>}
        </div>
      )}
      {Object.keys(rest).length > 0 && <AttrTable attrs={rest} />}
    </li>
  );
}

function SpanPanel(props: { flat: FlatTrace; index: number; startMs: number; color: string; onClose: () => void; selfTimeNs: number }) {
  const { flat, index, startMs, onClose, selfTimeNs } = props;
  const s = flat.spans[index]!;
  const n = s.node;
  const parent = s.parent >= 0 ? flat.spans[s.parent]! : null;
  let t0 = 0n;
  try {
    t0 = BigInt(n.startTimeUnixNano) - BigInt(s.start);
  } catch {
    /* keep 0 */
  }
  const evOffset = (e: SpanEvent) => {
    try {
      return Number(BigInt(e.timeUnixNano) - t0);
    } catch {
      return 0;
    }
  };
  return (
    <aside class="panel span-panel" data-testid="span-panel" data-span-id={s.spanId}>
      <header class="panel-title">
        <span class="span-title">
          <span class="wf-swatch" style={{ background: props.color }} />
          <span class="muted">{s.service}</span> <span>{s.name}</span>
        </span>
        <button type="button" class="btn tiny panel-tools" onClick={onClose} aria-label="close">
          ✕
        </button>
      </header>
      <dl class="span-facts">
        <dt>Span ID</dt>
        <dd class="mono-wrap">{s.spanId}</dd>
        <dt>Parent</dt>
        <dd class="mono-wrap">
          {parent ? (
            <button type="button" class="linklike" onClick={() => setParams({ span: parent.spanId }, { replace: true })}>
              {parent.name} ({parent.spanId})
            </button>
          ) : n.parentSpanId ? (
            `${n.parentSpanId} (not in the trace)`
          ) : (
            'root'
          )}
        </dd>
        <dt>Kind</dt>
        <dd>{n.kind || 'unspecified'}</dd>
        <dt>Start</dt>
        <dd>
          +{ms(s.start)} <span class="muted">({formatDateTime(startMs + s.start / 1e6)})</span>
        </dd>
        <dt>Duration</dt>
        <dd data-testid="span-duration">{ms(s.end - s.start)}</dd>
        <dt>Self time</dt>
        <dd data-testid="span-self-time">{ms(selfTimeNs)}</dd>
        <dt>Status</dt>
        <dd data-testid="span-status" class={n.status?.code === 'error' ? 'status-text-unhealthy' : ''}>
          {n.status?.code ?? 'unset'}
          {n.status?.message ? `: ${n.status.message}` : ''}
        </dd>
        <dt>Logs</dt>
        <dd data-testid="span-log-count">{n.logCount}</dd>
        <dt>Scope</dt>
        <dd class="mono-wrap">
          {n.scope?.name || '–'}
          {n.scope?.version ? ` ${n.scope.version}` : ''}
        </dd>
        {n.droppedCounts && (n.droppedCounts.attributes || n.droppedCounts.events || n.droppedCounts.links) ? (
          <>
            <dt>Dropped</dt>
            <dd>
              {n.droppedCounts.attributes} attributes, {n.droppedCounts.events} events, {n.droppedCounts.links} links
            </dd>
          </>
        ) : null}
      </dl>
      <h3 class="section-title">Attributes</h3>
      <AttrTable attrs={n.attributes} testId="span-attributes" />
      <h3 class="section-title">Events ({n.events.length})</h3>
      {n.events.length ? (
        <ul class="span-events" data-testid="span-events">
          {n.events.map((e) => (
            <EventView ev={e} offsetNs={evOffset(e)} />
          ))}
        </ul>
      ) : (
        <div class="muted small">none</div>
      )}
      <h3 class="section-title">Links ({n.links.length})</h3>
      {n.links.length ? (
        <ul class="span-links" data-testid="span-links">
          {n.links.map((l) => (
            <li>
              <Link href={traceLink(l.traceId, l.spanId)} class="mono-wrap" data-linked-trace={l.traceId}>
                {l.traceId} / {l.spanId}
              </Link>
              {Object.keys(l.attributes ?? {}).length > 0 && <AttrTable attrs={l.attributes} />}
            </li>
          ))}
        </ul>
      ) : (
        <div class="muted small">none</div>
      )}
      <h3 class="section-title">Resource</h3>
      <AttrTable attrs={n.resource} testId="span-resource" />
    </aside>
  );
}

function LogsPanel(props: {
  flat: FlatTrace;
  logs: TraceLog[] | undefined;
  truncated: boolean;
  error: Error | undefined;
  traceStartNs: string;
  traceId: string;
  startMs: number;
  selected: string;
  onSelect: (i: number) => void;
}) {
  const { flat, logs } = props;
  let t0 = 0n;
  try {
    t0 = BigInt(props.traceStartNs);
  } catch {
    /* 0 */
  }
  const offset = (l: TraceLog) => {
    try {
      return ms(Number(BigInt(l.timeUnixNano) - t0));
    } catch {
      return '';
    }
  };
  return (
    <section class="panel trace-logs" data-testid="trace-logs" data-count={String(logs?.length ?? 0)}>
      <header class="panel-title">
        <span>Logs of this trace</span>
        {logs && <span class="muted">{logs.length}{props.truncated ? ' (truncated)' : ''}</span>}
        <span class="panel-tools">
          <span class="muted small">click a record to select its span</span>
          <Link class="btn tiny" href={logsLink({ traceId: props.traceId, fromMs: props.startMs - 60_000, toMs: props.startMs + flat.duration / 1e6 + 60_000 })} data-testid="logs-page-link">
            Open in Logs
          </Link>
        </span>
      </header>
      {props.error ? (
        <ErrorBox error={props.error} />
      ) : !logs ? (
        <Loading />
      ) : logs.length === 0 ? (
        <div class="muted small">No log records carry this trace id.</div>
      ) : (
        <table class="table logs-table">
          <thead>
            <tr>
              <th class="num">Offset</th>
              <th>Severity</th>
              <th>Service</th>
              <th>Span</th>
              <th>Body</th>
            </tr>
          </thead>
          <tbody>
            {logs.map((l) => {
              const i = l.spanId ? (flat.byId.get(l.spanId) ?? -1) : -1;
              return (
                <tr
                  class={`log-row${i >= 0 ? ' clickable' : ''}${l.spanId && l.spanId === props.selected ? ' selected-row' : ''}`}
                  data-span-id={l.spanId}
                  title={l.time}
                  onClick={() => i >= 0 && props.onSelect(i)}
                >
                  <td class="num">+{offset(l)}</td>
                  <td>
                    <span class={`sev sev-${(l.severity || 'unset').toLowerCase()}`}>{l.severity || '–'}</span>
                  </td>
                  <td>{l.service}</td>
                  <td class="small">{i >= 0 ? flat.spans[i]!.name : l.spanId ? <span class="mono-wrap">{l.spanId}</span> : '–'}</td>
                  <td class="log-body">{bodyText(l.body)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}
