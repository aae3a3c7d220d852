// One dashboard panel: time series and bars (uPlot, via <Chart>), stat (the last value of an
// instant query at the range end, coloured by thresholds) and table (instant query, one row per
// series). A failing query shows the API's error text in the panel; other panels are unaffected.
//
// Bar panels draw bars over time (one bar per step; several series overlap, translucent).

import type { ComponentChildren } from 'preact';
import { useMemo } from 'preact/hooks';
import { query, queryRange, type Labels, type MatrixSeries, type RangeResult } from '../lib/api';
import { useAsync } from '../lib/hooks';
import type { TimeState } from '../lib/store';
import { pickStep } from '../lib/time';
import { seriesName, varyingKeys } from '../lib/series';
import { formatPanelValue, legendText, substitute, thresholdColor, ROW_PX, type Panel } from '../lib/dashboards';
import { Chart } from './chart';
import { ErrorBox } from './common';

export interface PanelProps {
  panel: Panel;
  /** chosen variable values */
  values: Record<string, string>;
  time: TimeState;
  /** false until the variables are known (nothing is fetched before) */
  enabled: boolean;
  /** extra controls (edit mode) shown in the panel's header */
  tools?: ComponentChildren;
  index: number;
}

const MAX_POINTS = 300;
const GAP_PX = 10;

/** The panel's height in pixels for its grid height. */
export function panelHeight(h: number): number {
  return h * ROW_PX + (h - 1) * GAP_PX;
}

export function useInterval(time: TimeState) {
  const stepS = pickStep(time.start, time.end, MAX_POINTS);
  return { stepS, rangeS: Math.max(1, Math.round((time.end - time.start) / 1000)) };
}

export function DashPanel(props: PanelProps) {
  const { panel } = props;
  const style = {
    gridColumn: `${panel.grid.x + 1} / span ${panel.grid.w}`,
    gridRow: `${panel.grid.y + 1} / span ${panel.grid.h}`,
  };
  return (
    <div class="dash-cell" style={style} data-panel-index={String(props.index)} data-panel-title={panel.title} data-panel-type={panel.type}>
      {panel.type === 'stat' ? (
        <StatPanel {...props} />
      ) : panel.type === 'table' ? (
        <TablePanel {...props} />
      ) : (
        <SeriesPanel {...props} />
      )}
    </div>
  );
}

function Header({ panel, tools, loading }: { panel: Panel; tools?: ComponentChildren; loading?: boolean }) {
  return (
    <header class="panel-title dash-panel-title">
      <span class="dash-panel-name" title={panel.description || undefined}>
        {panel.title}
      </span>
      {loading && <span class="spinner" aria-label="loading" />}
      {tools && <span class="dash-panel-tools">{tools}</span>}
    </header>
  );
}

function SeriesPanel(props: PanelProps) {
  const { panel, time, values, enabled } = props;
  const iv = useInterval(time);
  const exprs = panel.queries.map((q) => substitute(q.expr, values, iv));
  const key = JSON.stringify(exprs);
  const res = useAsync<RangeResult>(
    async (signal) => {
      if (!enabled) return new Promise<RangeResult>(() => {});
      if (exprs.some((e) => !e.trim())) throw new Error('Enter a query.');
      const parts = await Promise.all(exprs.map((e) => queryRange(e, time.start, time.end, { step: iv.stepS, signal })));
      const series: MatrixSeries[] = [];
      const all: Labels[] = parts.flatMap((p) => p.series.map((s) => s.metric));
      const keys = varyingKeys(all);
      parts.forEach((p, qi) => {
        for (const s of p.series) {
          const name = legendText(panel.queries[qi]!.legend, s.metric) ?? seriesName(s.metric, keys.length ? keys : undefined);
          series.push({ metric: { ...s.metric, __legend: name }, values: s.values });
        }
      });
      const first = parts[0]!;
      return { series, start: first.start, end: first.end, step: first.step };
    },
    [key, time.start, time.end, iv.stepS, time.tick, enabled],
  );
  const fmt = useMemo(() => (v: number) => formatPanelValue(v, panel.unit, panel.decimals), [panel.unit, panel.decimals]);
  // Chart height: the cell minus the title and the legend.
  const height = Math.max(60, panelHeight(panel.grid.h) - 80);
  return (
    <div class="dash-series">
      {props.tools && <div class="dash-tools-bar">{props.tools}</div>}
      <Chart
        title={panel.title}
        unit="plain"
        format={fmt}
        bars={panel.type === 'bar'}
        data={res.data}
        error={res.error}
        loading={res.loading && enabled}
        legend={(l) => l.__legend ?? seriesName(l)}
        height={height}
        testId={`panel-${props.index}`}
      />
    </div>
  );
}

interface Instant {
  rows: { labels: Labels; value: number | null; legend: string | null }[];
}

function useInstant(props: PanelProps) {
  const { panel, time, values, enabled } = props;
  const iv = useInterval(time);
  const exprs = panel.queries.map((q) => substitute(q.expr, values, iv));
  const key = JSON.stringify(exprs);
  return useAsync<Instant>(
    async (signal) => {
      if (!enabled) return new Promise<Instant>(() => {});
      if (exprs.some((e) => !e.trim())) throw new Error('Enter a query.');
      const parts = await Promise.all(exprs.map((e) => query(e, time.end, signal)));
      const rows: Instant['rows'] = [];
      parts.forEach((r, qi) => {
        const legend = panel.queries[qi]!.legend;
        if (r.resultType === 'vector') {
          for (const s of r.result) rows.push({ labels: s.metric, value: num(s.value[1]), legend: legendText(legend, s.metric) });
        } else if (r.resultType === 'scalar') {
          rows.push({ labels: {}, value: num(r.result[1]), legend: legendText(legend, {}) });
        } else if (r.resultType === 'matrix') {
          for (const s of r.result) {
            const last = s.values[s.values.length - 1];
            rows.push({ labels: s.metric, value: last ? num(last[1]) : null, legend: legendText(legend, s.metric) });
          }
        }
      });
      return { rows };
    },
    [key, time.end, iv.stepS, time.tick, enabled],
  );
}

function num(s: string): number | null {
  const v = parseFloat(s);
  return Number.isNaN(v) ? null : v;
}

function StatPanel(props: PanelProps) {
  const { panel } = props;
  const res = useInstant(props);
  const rows = res.data?.rows ?? [];
  const first = rows[0];
  const value = first?.value ?? null;
  const color = thresholdColor(value, panel.thresholds);
  const ready = !!res.data || !!res.error;
  return (
    <section
      class="panel dash-panel stat-panel"
      data-chart={panel.title}
      data-ready={ready ? 'true' : 'false'}
      data-series-count={String(rows.length)}
      data-value={value === null ? '' : String(value)}
      data-color={color ?? ''}
      style={color ? { background: color, borderColor: color } : undefined}
    >
      <Header panel={panel} tools={props.tools} loading={res.loading && props.enabled} />
      {res.error ? (
        <ErrorBox error={res.error} />
      ) : !res.data ? (
        <div class="stat-big muted">…</div>
      ) : rows.length === 0 ? (
        <div class="stat-big muted">No data</div>
      ) : (
        <div class={`stat-big${color ? ' on-color' : ''}`}>{formatPanelValue(value, panel.unit, panel.decimals)}</div>
      )}
      {rows.length > 1 && (
        <div class={`stat-more${color ? ' on-color' : ''}`}>
          {rows.slice(1, 4).map((r) => (
            <span>
              {r.legend ?? seriesName(r.labels)}: {formatPanelValue(r.value, panel.unit, panel.decimals)}{' '}
            </span>
          ))}
        </div>
      )}
    </section>
  );
}

function TablePanel(props: PanelProps) {
  const { panel } = props;
  const res = useInstant(props);
  const rows = res.data?.rows ?? [];
  const keys = useMemo(() => {
    const ks = new Set<string>();
    for (const r of rows) for (const k of Object.keys(r.labels)) ks.add(k);
    const sorted = [...ks].filter((k) => k !== '__name__').sort();
    return ks.has('__name__') ? ['__name__', ...sorted] : sorted;
  }, [rows]);
  const withLegend = rows.some((r) => r.legend !== null);
  const ready = !!res.data || !!res.error;
  return (
    <section class="panel dash-panel table-panel" data-chart={panel.title} data-ready={ready ? 'true' : 'false'} data-series-count={String(rows.length)}>
      <Header panel={panel} tools={props.tools} loading={res.loading && props.enabled} />
      {res.error ? (
        <ErrorBox error={res.error} />
      ) : rows.length === 0 ? (
        <div class="empty">{res.data ? 'No data' : ''}</div>
      ) : (
        <div class="dash-table-wrap" style={{ maxHeight: `${panelHeight(panel.grid.h) - 40}px` }}>
          <table class="table">
            <thead>
              <tr>
                {withLegend && <th>Series</th>}
                {keys.map((k) => (
                  <th>{k}</th>
                ))}
                <th class="num">Value</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr>
                  {withLegend && <td>{r.legend ?? ''}</td>}
                  {keys.map((k) => (
                    <td class="label-cell">{r.labels[k] ?? ''}</td>
                  ))}
                  <td class="num" data-value={r.value === null ? '' : String(r.value)}>
                    {formatPanelValue(r.value, panel.unit, panel.decimals)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
