// Time-series chart (uPlot): units on the axis and legend, shared cursor, drag to zoom (sets
// from/to in the URL), optional exemplar dots that open their trace.

import { useEffect, useMemo, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type { RangeResult, Labels } from '../lib/api';
import { alignMatrix, seriesName, varyingKeys, type ExemplarPoint } from '../lib/series';
import { formatValue, formatDateTime, type Unit } from '../lib/format';
import { setParams } from '../lib/store';
import type { Params } from '../lib/url';
import { traceLink } from '../lib/links';
import { ErrorBox } from './common';

export const PALETTE = [
  '#3366cc', '#dc3912', '#109618', '#ff9900', '#990099', '#0099c6', '#dd4477', '#66aa00',
  '#b82e2e', '#316395', '#994499', '#22aa99', '#aaaa11', '#6633cc', '#e67300', '#8b0707',
];

/** Tick steps for byte axes: powers of two of each binary unit (1 KiB, 2 KiB, 4 KiB...). */
const BYTE_INCRS: number[] = [];
for (let k = 0; k <= 5; k++) for (const m of [1, 2, 4, 8, 16, 32, 64, 128, 256, 512]) BYTE_INCRS.push(m * 1024 ** k);

export interface ChartProps {
  title: string;
  unit: Unit;
  data: RangeResult | undefined;
  error?: Error | undefined;
  loading?: boolean;
  /** legend text of a series; default: the label values that differ between series */
  legend?: (labels: Labels) => string;
  height?: number;
  exemplars?: ExemplarPoint[];
  /** y axis from 0 (default true) */
  zero?: boolean;
  /** y axis max (e.g. 1 for ratios) */
  max?: number;
  testId?: string;
  /** formats values instead of `unit` (dashboard units); added for the dashboards pages */
  format?: (v: number) => string;
  /** draws bars instead of lines; added for the dashboards pages */
  bars?: boolean;
}

/**
 * uPlot `setSelect` hook of drag to zoom: a selection 3 px wide or more clears itself and sets
 * from/to (ms) in the URL, with the `extra` URL parameters.
 */
/** The item drawn nearest to the mouse event on `u` (x in seconds, y in the y scale), within
 * `radius` pixels; null when none is that close. */
export function nearestPoint<T>(u: uPlot, e: MouseEvent, items: Iterable<T>, at: (item: T) => [number, number], radius: number): T | null {
  const rect = u.over.getBoundingClientRect();
  const x = e.clientX - rect.left;
  const y = e.clientY - rect.top;
  let best: T | null = null;
  let bestD = radius * radius;
  for (const item of items) {
    const [t, v] = at(item);
    const dx = u.valToPos(t, 'x') - x;
    const dy = u.valToPos(v, 'y') - y;
    const d = dx * dx + dy * dy;
    if (d < bestD) {
      bestD = d;
      best = item;
    }
  }
  return best;
}

export function zoomToSelection(extra: Params = {}): (u: uPlot) => void {
  return (u) => {
    if (u.select.width < 3) return;
    const min = u.posToVal(u.select.left, 'x');
    const max = u.posToVal(u.select.left + u.select.width, 'x');
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    setParams({ from: String(Math.round(min * 1000)), to: String(Math.round(max * 1000)), ...extra });
  };
}

export function Chart(props: ChartProps) {
  const { title, data, error, loading } = props;
  const ready = !!data || !!error;
  let count = 0;
  let points = 0;
  const aligned = useMemo(() => (data ? alignMatrix(data, props.exemplars ?? []) : undefined), [data, props.exemplars]);
  if (aligned) {
    count = data!.series.length;
    points = aligned.points;
  }
  return (
    <section
      class="panel chart-panel"
      data-testid={props.testId}
      data-chart={title}
      data-ready={ready ? 'true' : 'false'}
      data-series-count={String(count)}
      data-points={String(points)}
      data-exemplars={String(props.exemplars?.length ?? 0)}
    >
      <header class="panel-title">
        <span>{title}</span>
        {loading && <span class="spinner" aria-label="loading" />}
      </header>
      {error ? (
        <ErrorBox error={error} />
      ) : aligned && count === 0 ? (
        <div class="empty" style={{ height: `${props.height ?? 180}px` }}>
          No data
        </div>
      ) : aligned ? (
        <UPlotView {...props} aligned={aligned} />
      ) : (
        <div class="empty" style={{ height: `${props.height ?? 180}px` }} />
      )}
    </section>
  );
}

function UPlotView(props: ChartProps & { aligned: ReturnType<typeof alignMatrix> }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const exRef = useRef<ExemplarPoint[]>([]);
  exRef.current = props.exemplars ?? [];
  const { aligned, unit } = props;
  const height = props.height ?? 180;
  const keys = varyingKeys(aligned.labels);
  const names = aligned.labels.map((l) => (props.legend ? props.legend(l) : seriesName(l, keys.length ? keys : undefined)));
  const shape = `${names.join('\u0000')}|${aligned.exemplarColumn}|${unit}|${height}|${props.max}|${props.bars ? 'bars' : ''}`;
  const fmtRef = useRef(props.format);
  fmtRef.current = props.format;
  const formatV = (v: number) => (fmtRef.current ? fmtRef.current(v) : formatValue(v, unit));

  useEffect(() => {
    const node = el.current!;
    const fmt = (v: number | null | undefined) => (v === null || v === undefined ? '–' : formatV(v));
    const series: uPlot.Series[] = [
      { label: 'Time', value: (_u, v) => (v === null ? '–' : formatDateTime(v * 1000)) },
      ...names.map((name, i) => ({
        label: name,
        stroke: PALETTE[i % PALETTE.length]!,
        width: 1.5,
        value: (_u: uPlot, v: number | null) => fmt(v),
        points: { size: 4 },
        ...(props.bars
          ? { fill: `${PALETTE[i % PALETTE.length]!}99`, paths: uPlot.paths.bars!({ size: [0.8 / Math.max(1, names.length), 64], align: 0 }), points: { show: false } }
          : {}),
      })),
    ];
    if (aligned.exemplarColumn >= 0) {
      series.push({
        label: 'Exemplars (click: trace)',
        stroke: '#d62728',
        fill: '#d6272855',
        width: 0,
        paths: () => null,
        points: { show: true, size: 8, width: 1.5, stroke: '#d62728', fill: '#ffffff' },
        value: (_u: uPlot, v: number | null) => fmt(v),
      });
    }
    const opts: uPlot.Options = {
      width: Math.max(200, node.clientWidth),
      height,
      series,
      cursor: {
        sync: { key: 'lookout' },
        drag: { x: true, y: false, setScale: false },
        points: { size: 6 },
      },
      legend: { live: true },
      scales: {
        x: { time: true },
        y: {
          range: (_u, min, max) => {
            const lo = props.zero === false ? min : Math.min(0, min);
            let hi = props.max !== undefined ? Math.max(props.max, max) : max;
            if (hi <= lo) hi = lo + 1;
            return [lo, hi * (props.max !== undefined && max <= props.max ? 1 : 1.05)];
          },
        },
      },
      axes: [
        { stroke: '#555', grid: { stroke: '#eee' }, ticks: { stroke: '#ddd' } },
        {
          stroke: '#555',
          grid: { stroke: '#eee' },
          ticks: { stroke: '#ddd' },
          // Wide enough for the longest tick label ("146 KiB/s"), measured on the canvas font.
          size: (u, values) => {
            if (!values || values.length === 0) return 40;
            const ctx = u.ctx;
            ctx.save();
            ctx.font = '12px system-ui, sans-serif';
            const w = Math.max(...values.map((v) => ctx.measureText(String(v)).width));
            ctx.restore();
            return Math.ceil(w) + 22;
          },
          values: (_u, splits) => splits.map((v) => formatV(v)),
          ...(unit === 'bytes' || unit === 'bytes/s' ? { incrs: BYTE_INCRS } : {}),
        },
      ],
      hooks: { setSelect: [zoomToSelection()] },
    };
    const u = new uPlot(opts, [aligned.xs, ...aligned.ys] as unknown as uPlot.AlignedData, node);
    plot.current = u;

    // Exemplar click: the nearest dot within 8 px opens its trace.
    let downX = -1;
    const onDown = (e: MouseEvent) => {
      downX = e.clientX;
    };
    const nearest = (e: MouseEvent) => nearestPoint(u, e, exRef.current, (ex) => [ex.t, ex.v], 8);
    const onClick = (e: MouseEvent) => {
      if (Math.abs(e.clientX - downX) > 3) return;
      const ex = nearest(e);
      if (ex) window.location.href = traceLink(ex.traceId);
    };
    const onMove = (e: MouseEvent) => {
      if (exRef.current.length) u.over.style.cursor = nearest(e) ? 'pointer' : '';
    };
    u.over.addEventListener('mousedown', onDown);
    u.over.addEventListener('click', onClick);
    u.over.addEventListener('mousemove', onMove);

    const ro = new ResizeObserver(() => {
      const w = Math.max(200, node.clientWidth);
      if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height });
    });
    ro.observe(node);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape]);

  useEffect(() => {
    plot.current?.setData([aligned.xs, ...aligned.ys] as unknown as uPlot.AlignedData);
  }, [aligned]);

  return <div class="uplot-host" ref={el} />;
}

/** A tiny chart for table rows: no axes, no legend, no cursor. */
export function Sparkline(props: { values: (number | null)[]; xs: number[]; color?: string; width?: number; height?: number; unit: Unit }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const w = props.width ?? 120;
  const h = props.height ?? 28;
  useEffect(() => {
    const u = new uPlot(
      {
        width: w,
        height: h,
        pxAlign: false,
        cursor: { show: false },
        select: { show: false, left: 0, top: 0, width: 0, height: 0 },
        legend: { show: false },
        scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [{ show: false }, { show: false }],
        series: [{}, { stroke: props.color ?? PALETTE[0]!, width: 1.25, fill: `${props.color ?? PALETTE[0]!}22`, points: { show: false } }],
      },
      [props.xs, props.values] as unknown as uPlot.AlignedData,
      el.current!,
    );
    plot.current = u;
    return () => u.destroy();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [w, h]);
  useEffect(() => {
    plot.current?.setData([props.xs, props.values] as unknown as uPlot.AlignedData);
  }, [props.xs, props.values]);
  const last = [...props.values].reverse().find((v) => v !== null);
  const pts = props.values.filter((v) => v !== null).length;
  return (
    <div
      class="sparkline"
      ref={el}
      data-points={String(pts)}
      title={last === undefined || last === null ? 'no data' : `latest ${formatValue(last, props.unit)}`}
    />
  );
}
