// Trace search (/ui/traces): filters in the URL (service, operation, kind, tags, min/max duration,
// errors only, limit, the shared time range), a scatter plot of the results (start × duration,
// errors red, click: the trace), the result rows, and the comparison of two selected traces.

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import type { Route } from '../lib/url';
import { searchTraces, traceOperations, traceServices, traceTree } from '../lib/api';
import { useAsync, useTitle } from '../lib/hooks';
import { navigate, setParams, useParams, useTime } from '../lib/store';
import { formatDateTime, formatDurationMs } from '../lib/format';
import { traceLink } from '../lib/links';
import {
  compareTraces,
  flatten,
  formFromParams,
  formProblems,
  formToParams,
  KINDS,
  searchQuery,
  serviceColors,
  type CompareRow,
  type SearchForm,
  type TraceSummary,
} from '../lib/traces';
import { ErrorBox, Link, Loading, PageHeader } from '../components/common';
import { nearestPoint, zoomToSelection } from '../components/chart';

const SORTS: { value: string; label: string; cmp: (a: TraceSummary, b: TraceSummary) => number }[] = [
  { value: '', label: 'Most recent', cmp: (a, b) => (BigInt(b.startTimeUnixNano) > BigInt(a.startTimeUnixNano) ? 1 : -1) },
  { value: 'longest', label: 'Longest first', cmp: (a, b) => b.durationMs - a.durationMs },
  { value: 'shortest', label: 'Shortest first', cmp: (a, b) => a.durationMs - b.durationMs },
  { value: 'spans', label: 'Most spans', cmp: (a, b) => b.spanCount - a.spanCount },
  { value: 'errors', label: 'Most errors', cmp: (a, b) => b.errorCount - a.errorCount },
];

const startMs = (t: TraceSummary) => Number(BigInt(t.startTimeUnixNano) / 1_000_000n);

export default function TracesPage(_props: { route: Route }) {
  const params = useParams();
  const time = useTime();
  const urlForm = useMemo(() => formFromParams(params), [params]);
  const problems = formProblems(urlForm);
  const query = problems.length ? null : searchQuery(urlForm, time.start, time.end);
  const qkey = query ? JSON.stringify(query) : '';
  const res = useAsync((signal) => (query ? searchTraces(query, signal) : Promise.resolve([])), [qkey, time.tick]);
  const sortKey = params.get('sort') ?? '';
  const sort = SORTS.find((s) => s.value === sortKey) ?? SORTS[0]!;
  const rows = useMemo(() => (res.data ? [...res.data].sort(sort.cmp) : undefined), [res.data, sort]);
  const compare = (params.get('compare') ?? '').split(',').filter(Boolean);
  const [picked, setPicked] = useState<string[]>([]);
  useTitle(urlForm.service ? `Traces of ${urlForm.service}` : 'Traces');

  return (
    <div class="page traces-page" data-page="traces" data-ready={(rows && !res.loading) || res.error || problems.length ? 'true' : 'false'} data-result-count={rows ? String(rows.length) : ''}>
      <PageHeader title="Traces">
        <label class="inline-label">
          Sort
          <select value={sortKey} onChange={(e) => setParams({ sort: (e.currentTarget as HTMLSelectElement).value || null }, { replace: true })} data-testid="sort">
            {SORTS.map((s) => (
              <option value={s.value}>{s.label}</option>
            ))}
          </select>
        </label>
      </PageHeader>
      <SearchBar form={urlForm} />
      {problems.length > 0 && (
        <div class="error-box" role="alert" data-testid="form-problems">
          {problems.map((p) => (
            <div>{p}</div>
          ))}
        </div>
      )}
      {res.error ? (
        <ErrorBox error={res.error} />
      ) : !rows ? (
        <Loading label="Searching…" />
      ) : (
        <>
          <Scatter rows={rows} startMs={time.start} endMs={time.end} />
          {compare.length === 2 && <CompareView a={compare[0]!} b={compare[1]!} rows={rows} />}
          <section class="panel">
            <header class="panel-title">
              <span data-testid="result-count">
                {rows.length} trace{rows.length === 1 ? '' : 's'}
                {rows.length >= urlForm.limit ? ` (limit ${urlForm.limit}: narrow the search or raise the limit)` : ''}
              </span>
              <span class="panel-tools">
                <span class="muted small">{picked.length ? `${picked.length} selected` : 'Select two traces to compare'}</span>
                <button
                  type="button"
                  class="btn tiny"
                  disabled={picked.length !== 2}
                  data-testid="compare"
                  onClick={() => setParams({ compare: picked.join(',') })}
                >
                  Compare
                </button>
                {compare.length > 0 && (
                  <button type="button" class="btn tiny" onClick={() => setParams({ compare: null })}>
                    Close comparison
                  </button>
                )}
              </span>
            </header>
            {rows.length === 0 ? (
              <div class="empty-state">No traces match in this time range.</div>
            ) : (
              <ResultsTable rows={rows} picked={picked} setPicked={setPicked} />
            )}
          </section>
        </>
      )}
    </div>
  );
}

function SearchBar({ form }: { form: SearchForm }) {
  const [f, setF] = useState<SearchForm>(form);
  useEffect(() => setF(form), [form]);
  const services = useAsync((signal) => traceServices(signal), []);
  const known = !!f.service && (services.data ?? []).includes(f.service);
  const ops = useAsync((signal) => (known ? traceOperations(f.service, signal) : Promise.resolve([])), [f.service, known]);
  const set = (patch: Partial<SearchForm>) => setF((x) => ({ ...x, ...patch }));
  const submit = (e: Event) => {
    e.preventDefault();
    setParams({ ...formToParams(f), compare: null });
  };
  const svcList = services.data ?? [];
  return (
    <form class="panel trace-search" onSubmit={submit} data-testid="search-form">
      <label class="field">
        Service
        <select value={f.service} onChange={(e) => set({ service: (e.currentTarget as HTMLSelectElement).value, operation: '' })} name="service">
          <option value="">All services</option>
          {f.service && !svcList.includes(f.service) && <option value={f.service}>{f.service}</option>}
          {svcList.map((s) => (
            <option value={s}>{s}</option>
          ))}
        </select>
      </label>
      <label class="field">
        Operation
        <select value={f.operation} onChange={(e) => set({ operation: (e.currentTarget as HTMLSelectElement).value })} name="operation">
          <option value="">All operations</option>
          {f.operation && !(ops.data ?? []).includes(f.operation) && <option value={f.operation}>{f.operation}</option>}
          {(ops.data ?? []).map((o) => (
            <option value={o}>{o}</option>
          ))}
        </select>
      </label>
      <label class="field">
        Span kind
        <select value={f.kind} onChange={(e) => set({ kind: (e.currentTarget as HTMLSelectElement).value })} name="kind">
          <option value="">Any</option>
          {KINDS.map((k) => (
            <option value={k}>{k}</option>
          ))}
        </select>
      </label>
      <label class="field wide">
        Tags
        <input
          type="text"
          name="tags"
          placeholder='http.status_code=500 env="prod eu"'
          value={f.tags}
          onInput={(e) => set({ tags: (e.currentTarget as HTMLInputElement).value })}
        />
      </label>
      <label class="field narrow">
        Min duration
        <input type="text" name="minDuration" placeholder="e.g. 100ms" value={f.minDuration} onInput={(e) => set({ minDuration: (e.currentTarget as HTMLInputElement).value })} />
      </label>
      <label class="field narrow">
        Max duration
        <input type="text" name="maxDuration" placeholder="e.g. 2s" value={f.maxDuration} onInput={(e) => set({ maxDuration: (e.currentTarget as HTMLInputElement).value })} />
      </label>
      <label class="field narrow">
        Limit
        <input type="number" name="limit" min={1} max={1500} value={String(f.limit)} onInput={(e) => set({ limit: Math.max(1, parseInt((e.currentTarget as HTMLInputElement).value, 10) || 20) })} />
      </label>
      <label class="check">
        <input type="checkbox" name="errors" checked={f.errors} onChange={(e) => set({ errors: (e.currentTarget as HTMLInputElement).checked })} />
        Errors only
      </label>
      <button type="submit" class="btn primary" data-testid="find">
        Find traces
      </button>
    </form>
  );
}

function ResultsTable({ rows, picked, setPicked }: { rows: TraceSummary[]; picked: string[]; setPicked: (p: string[]) => void }) {
  const max = Math.max(...rows.map((r) => r.durationMs), 0.001);
  const colors = serviceColors([...new Set(rows.flatMap((r) => r.services.map((s) => s.name)))].sort());
  return (
    <table class="table trace-results" data-testid="results">
      <thead>
        <tr>
          <th />
          <th>Root</th>
          <th class="num">Duration</th>
          <th class="num">Spans</th>
          <th>Services (spans, errors)</th>
          <th>Start</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => {
          const on = picked.includes(r.traceId);
          return (
            <tr data-trace-id={r.traceId} data-errors={String(r.errorCount)} class={r.errorCount ? 'has-error' : ''}>
              <td>
                <input
                  type="checkbox"
                  aria-label="select for comparison"
                  checked={on}
                  data-testid="pick"
                  onChange={() => setPicked(on ? picked.filter((x) => x !== r.traceId) : [...picked.slice(-1), r.traceId])}
                />
              </td>
              <td class="name">
                <Link href={traceLink(r.traceId)} data-testid="trace-link">
                  <span class="root-svc">{r.rootService}</span>: {r.rootName}
                </Link>
                <div class="muted small mono-wrap">{r.traceId}</div>
                {r.errorCount > 0 && <span class="badge status-unhealthy">{r.errorCount} error{r.errorCount === 1 ? '' : 's'}</span>}
              </td>
              <td class="num share">
                <span class="bar" style={{ width: `${(r.durationMs / max) * 100}%` }} />
                <span>{formatDurationMs(r.durationMs)}</span>
              </td>
              <td class="num">{r.spanCount}</td>
              <td>
                {r.services.map((s) => (
                  <span class="chip svc-chip" data-service={s.name}>
                    <span class="wf-swatch" style={{ background: colors.get(s.name) ?? '#888' }} />
                    {s.name} <span class="muted">{s.spanCount}</span>
                    {s.errorCount > 0 && <span class="err-count">{s.errorCount} err</span>}
                  </span>
                ))}
              </td>
              <td class="small">{formatDateTime(startMs(r))}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** Start time × duration, one point per trace, errors red; clicking a point opens the trace. */
function Scatter({ rows, startMs: from, endMs: to }: { rows: TraceSummary[]; startMs: number; endMs: number }) {
  const el = useRef<HTMLDivElement>(null);
  const sorted = useMemo(() => [...rows].sort((a, b) => startMs(a) - startMs(b)), [rows]);
  const data = useMemo(() => {
    const xs = sorted.map((r) => startMs(r) / 1000);
    const ok = sorted.map((r) => (r.errorCount ? null : r.durationMs));
    const err = sorted.map((r) => (r.errorCount ? r.durationMs : null));
    return [xs, ok, err] as unknown as uPlot.AlignedData;
  }, [sorted]);
  const points = sorted.length;
  useEffect(() => {
    const node = el.current;
    if (!node || !points) return;
    const u = new uPlot(
      {
        width: Math.max(200, node.clientWidth),
        height: 170,
        cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
        legend: { show: false },
        scales: {
          // The results' extent (padded), inside the searched range.
          x: {
            time: true,
            range: (_u, min, max) => {
              const pad = Math.max(1, (max - min) * 0.05);
              return [Math.max(from / 1000, min - pad), Math.min(to / 1000, max + pad)];
            },
          },
          y: { range: (_u, _min, max) => [0, (max || 1) * 1.1] },
        },
        axes: [
          { stroke: '#555', grid: { stroke: '#eee' }, ticks: { stroke: '#ddd' } },
          { stroke: '#555', grid: { stroke: '#eee' }, ticks: { stroke: '#ddd' }, size: 64, values: (_u, sp) => sp.map((v) => formatDurationMs(v)) },
        ],
        series: [
          {},
          { label: 'ok', stroke: '#3366cc', fill: '#3366cc', paths: () => null, points: { show: true, size: 7, fill: '#3366cc88', stroke: '#3366cc' } },
          { label: 'error', stroke: '#c62828', fill: '#c62828', paths: () => null, points: { show: true, size: 8, fill: '#c62828cc', stroke: '#c62828' } },
        ],
        hooks: { setSelect: [zoomToSelection()] },
      },
      data,
      node,
    );
    let downX = -1;
    const nearest = (e: MouseEvent) => nearestPoint(u, e, sorted, (r) => [startMs(r) / 1000, r.durationMs], 10);
    const onDown = (e: MouseEvent) => (downX = e.clientX);
    const onClick = (e: MouseEvent) => {
      if (Math.abs(e.clientX - downX) > 3) return;
      const r = nearest(e);
      if (r) navigate(traceLink(r.traceId));
    };
    const onMove = (e: MouseEvent) => {
      const r = nearest(e);
      u.over.style.cursor = r ? 'pointer' : '';
      u.over.title = r ? `${r.rootService}: ${r.rootName} — ${formatDurationMs(r.durationMs)}` : '';
    };
    u.over.addEventListener('mousedown', onDown);
    u.over.addEventListener('click', onClick);
    u.over.addEventListener('mousemove', onMove);
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, node.clientWidth);
      if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height: 170 });
    });
    ro.observe(node);
    return () => {
      ro.disconnect();
      u.destroy();
    };
  }, [data, from, to, points, sorted]);
  return (
    <section class="panel chart-panel" data-chart="Trace durations" data-testid="scatter" data-ready="true" data-points={String(points)} data-series-count="2">
      <header class="panel-title">
        <span>Duration by start time</span>
        <span class="muted small">click a point to open its trace; drag to zoom; red: with errors</span>
      </header>
      {points ? <div class="uplot-host" ref={el} /> : <div class="empty" style={{ height: '170px' }}>No traces</div>}
    </section>
  );
}

function CompareView({ a, b, rows }: { a: string; b: string; rows: TraceSummary[] }) {
  const ta = useAsync((signal) => traceTree(a, signal), [a]);
  const tb = useAsync((signal) => traceTree(b, signal), [b]);
  const result = useMemo(() => {
    if (!ta.data || !tb.data) return null;
    return compareTraces(flatten(ta.data).spans, flatten(tb.data).spans);
  }, [ta.data, tb.data]);
  const label = (id: string) => {
    const r = rows.find((x) => x.traceId === id);
    return r ? `${r.rootService}: ${r.rootName} (${formatDurationMs(r.durationMs)})` : id;
  };
  const err = ta.error ?? tb.error;
  return (
    <section class="panel compare" data-testid="compare-view" data-ready={result || err ? 'true' : 'false'}>
      <header class="panel-title">
        <span>Comparison</span>
      </header>
      <div class="compare-heads">
        <div>
          <strong>A</strong> <Link href={traceLink(a)}>{label(a)}</Link>
        </div>
        <div>
          <strong>B</strong> <Link href={traceLink(b)}>{label(b)}</Link>
        </div>
      </div>
      {err ? (
        <ErrorBox error={err} />
      ) : !result ? (
        <Loading />
      ) : (
        <div class="grid grid-3">
          <CompareList title="Only in A" rows={result.onlyA} side="a" testId="only-a" />
          <CompareList title="Only in B" rows={result.onlyB} side="b" testId="only-b" />
          <div>
            <h3 class="section-title">In both: duration B − A</h3>
            <table class="table" data-testid="both">
              <thead>
                <tr>
                  <th>Service / operation</th>
                  <th class="num">A</th>
                  <th class="num">B</th>
                  <th class="num">B − A</th>
                </tr>
              </thead>
              <tbody>
                {result.both.map((r) => (
                  <tr data-op={`${r.service} ${r.name}`}>
                    <td class="name">
                      <span class="muted">{r.service}</span> {r.name}
                    </td>
                    <td class="num">
                      {formatDurationMs(r.a!.total / 1e6)}
                      {r.a!.count > 1 ? ` ×${r.a!.count}` : ''}
                    </td>
                    <td class="num">
                      {formatDurationMs(r.b!.total / 1e6)}
                      {r.b!.count > 1 ? ` ×${r.b!.count}` : ''}
                    </td>
                    <td class={`num ${r.diff! > 0 ? 'diff-up' : r.diff! < 0 ? 'diff-down' : ''}`}>
                      {r.diff! > 0 ? '+' : ''}
                      {formatDurationMs(r.diff! / 1e6)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </section>
  );
}

function CompareList({ title, rows, side, testId }: { title: string; rows: CompareRow[]; side: 'a' | 'b'; testId: string }) {
  return (
    <div>
      <h3 class="section-title">
        {title} ({rows.length})
      </h3>
      {rows.length === 0 ? (
        <div class="muted small">none</div>
      ) : (
        <table class="table" data-testid={testId}>
          <tbody>
            {rows.map((r) => {
              const s = side === 'a' ? r.a! : r.b!;
              return (
                <tr data-op={`${r.service} ${r.name}`}>
                  <td class="name">
                    <span class="muted">{r.service}</span> {r.name}
                  </td>
                  <td class="num">
                    {formatDurationMs(s.total / 1e6)}
                    {s.count > 1 ? ` ×${s.count}` : ''}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}
