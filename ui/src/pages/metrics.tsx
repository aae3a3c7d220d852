// Metrics explorer (/ui/metrics): a PromQL editor (CodeMirror + codemirror-promql, loaded on
// demand) with completion of metric names, labels and values; Graph (query_range) and Table
// (instant query at the range end) tabs; the API's error inline; a metric browser from
// /api/v1/metadata. Query (`q`), tab (`tab`) and range (`from`/`to`) live in the URL.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Route } from '../lib/url';
import { useAsync, useTitle } from '../lib/hooks';
import { setParams, useParams, useTime } from '../lib/store';
import { ApiError, labelValues, metadata, query, queryRange, type Labels, type QueryResult } from '../lib/api';
import { pickStep } from '../lib/time';
import { formatNumber, formatDateTime } from '../lib/format';
import { Chart } from '../components/chart';
import { ErrorBox, PageHeader } from '../components/common';
import type { PromQLEditor } from '../editor/promql';

type Tab = 'graph' | 'table';

/** "1:13: parse error: ..." → line 1, column 13 (Prometheus puts positions in parse errors). */
export function errorPosition(message: string): { line: number; col: number } | null {
  const m = /(?:^|: )(\d+):(\d+): /.exec(message);
  return m ? { line: parseInt(m[1]!, 10), col: parseInt(m[2]!, 10) } : null;
}

export default function MetricsPage(_props: { route: Route }) {
  useTitle('Metrics');
  const params = useParams();
  const time = useTime();
  const q = params.get('q') ?? '';
  const tab: Tab = params.get('tab') === 'table' ? 'table' : 'graph';
  const [text, setText] = useState(q);
  const textRef = useRef(text);
  textRef.current = text;
  const editor = useRef<PromQLEditor | null>(null);
  const host = useRef<HTMLDivElement>(null);
  const [editorState, setEditorState] = useState<'loading' | 'ready' | 'failed'>('loading');

  // The query in the URL is what runs; the editor follows back/forward.
  useEffect(() => {
    if (q !== textRef.current) {
      setText(q);
      editor.current?.setValue(q);
    }
  }, [q]);

  const run = () => setParams({ q: textRef.current.trim() });

  useEffect(() => {
    let dead = false;
    import('../editor/promql').then(
      (m) => {
        if (dead || !host.current) return;
        editor.current = m.createPromQLEditor(host.current, {
          value: textRef.current,
          onChange: (v) => setText(v),
          onRun: run,
        });
        setEditorState('ready');
      },
      () => !dead && setEditorState('failed'),
    );
    return () => {
      dead = true;
      editor.current?.destroy();
      editor.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const insert = (name: string) => {
    if (editor.current) editor.current.insert(name);
    else setText((t) => t + name);
  };

  return (
    <div class="page" data-page="metrics" data-ready={editorState !== 'loading' ? 'true' : 'false'} data-editor={editorState}>
      <PageHeader title="Metrics explorer" />
      <div class="metrics-layout">
        <div>
          <div class="query-bar">
            <div class="promql-editor" ref={host} data-testid="promql-editor" hidden={editorState === 'failed'} />
            {editorState === 'failed' && (
              <textarea class="code-area" rows={2} data-testid="promql-fallback" value={text} onInput={(e) => setText(e.currentTarget.value)} />
            )}
            <button type="button" class="btn primary" data-testid="run-query" onClick={run}>
              Execute
            </button>
          </div>
          <div class="tabs" role="tablist">
            {(['graph', 'table'] as Tab[]).map((t) => (
              <button type="button" role="tab" aria-selected={tab === t} class={tab === t ? 'active' : ''} data-tab={t} onClick={() => setParams({ tab: t === 'graph' ? null : t })}>
                {t === 'graph' ? 'Graph' : 'Table'}
              </button>
            ))}
          </div>
          {!q ? (
            <div class="panel empty-state">Enter a PromQL expression and press Enter or Execute. Shift+Enter: new line; Ctrl+Space: completion.</div>
          ) : tab === 'graph' ? (
            <GraphTab q={q} time={time} />
          ) : (
            <TableTab q={q} time={time} />
          )}
        </div>
        <MetricBrowser onPick={insert} />
      </div>
    </div>
  );
}

function QueryError({ error, q }: { error: Error; q: string }) {
  const pos = error instanceof ApiError ? errorPosition(error.message) : null;
  const line = pos ? q.split('\n')[pos.line - 1] : undefined;
  return (
    <div data-testid="query-error">
      <ErrorBox error={error} />
      {pos && line !== undefined && (
        <span class="error-pos" data-line={String(pos.line)} data-col={String(pos.col)}>
          {line}
          {'\n'}
          {' '.repeat(Math.max(0, pos.col - 1))}^
        </span>
      )}
    </div>
  );
}

function GraphTab({ q, time }: { q: string; time: ReturnType<typeof useTime> }) {
  const step = pickStep(time.start, time.end, 500);
  const res = useAsync((signal) => queryRange(q, time.start, time.end, { step, signal }), [q, time.start, time.end, step, time.tick]);
  if (res.error) return <QueryError error={res.error} q={q} />;
  return (
    <div data-testid="graph">
      <Chart title={q} unit="plain" data={res.data} loading={res.loading} height={360} testId="explorer-chart" format={(v) => formatNumber(v, 4)} />
      {res.data && <div class="muted small">Step {res.data.step}s · {res.data.series.length} series</div>}
    </div>
  );
}

function labelText(l: Labels): string {
  const name = l.__name__ ?? '';
  const rest = Object.keys(l)
    .filter((k) => k !== '__name__')
    .sort()
    .map((k) => `${k}=${JSON.stringify(l[k])}`)
    .join(', ');
  return `${name}{${rest}}`;
}

function TableTab({ q, time }: { q: string; time: ReturnType<typeof useTime> }) {
  const res = useAsync((signal) => query(q, time.end, signal), [q, time.end, time.tick]);
  if (res.error) return <QueryError error={res.error} q={q} />;
  const r: QueryResult | undefined = res.data;
  if (!r) return <div class="panel loading">Loading…</div>;
  let rows: { labels: Labels; value: string }[] = [];
  if (r.resultType === 'vector') rows = r.result.map((s) => ({ labels: s.metric, value: s.value[1] }));
  else if (r.resultType === 'matrix')
    rows = r.result.map((s) => ({ labels: s.metric, value: s.values.map(([t, v]) => `${v} @${formatDateTime(t * 1000)}`).join('\n') }));
  else rows = [{ labels: {}, value: r.result[1] }];
  return (
    <div class="panel" data-testid="result-table" data-ready="true" data-rows={String(rows.length)} data-result-type={r.resultType}>
      <div class="muted small">
        {r.resultType} at {formatDateTime(time.end)} · {rows.length} result{rows.length === 1 ? '' : 's'}
      </div>
      <table class="table">
        <thead>
          <tr>
            <th>Series</th>
            <th class="num">Value</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr>
              <td class="label-cell">
                {row.labels.__name__ && <span class="metric-name">{row.labels.__name__}</span>}
                {Object.keys(row.labels)
                  .filter((k) => k !== '__name__')
                  .sort()
                  .map((k) => (
                    <span class="chip" data-label={k} title={labelText(row.labels)}>
                      {k}="{row.labels[k]}"
                    </span>
                  ))}
              </td>
              <td class="num rule-expr" data-value={row.value}>
                {row.value}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length === 0 && <div class="empty-state">Empty result.</div>}
    </div>
  );
}

function MetricBrowser({ onPick }: { onPick: (name: string) => void }) {
  const [filter, setFilter] = useState('');
  const res = useAsync(async (signal) => {
    const [names, meta] = await Promise.all([labelValues('__name__', { signal }), metadata(signal).catch(() => ({}))]);
    return { names, meta: meta as Awaited<ReturnType<typeof metadata>> };
  }, []);
  const shown = useMemo(() => {
    const f = filter.trim().toLowerCase();
    const all = res.data?.names ?? [];
    return (f ? all.filter((n) => n.toLowerCase().includes(f)) : all).slice(0, 500);
  }, [res.data, filter]);
  return (
    <div class="panel metric-browser" data-testid="metric-browser">
      <div class="panel-title">Metrics {res.data && <span class="muted">({res.data.names.length})</span>}</div>
      <input class="filter" type="search" placeholder="Filter metrics" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} aria-label="Filter metrics" />
      {res.error && <ErrorBox error={res.error} />}
      <div class="metric-list">
        {shown.map((n) => {
          const m = (res.data?.meta[n] ?? res.data?.meta[n.replace(/_(bucket|sum|count)$/, '')])?.[0];
          return (
            <button type="button" class="metric-item" data-metric={n} onClick={() => onPick(n)} title="Insert into the query">
              <div class="metric-name">{n}</div>
              {m && (
                <div class="metric-meta">
                  {m.type}
                  {m.unit ? ` · ${m.unit}` : ''}
                  {m.help ? ` · ${m.help}` : ''}
                </div>
              )}
            </button>
          );
        })}
      </div>
    </div>
  );
}
