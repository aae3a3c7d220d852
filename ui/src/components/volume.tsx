// Log volume histogram (logs explorer): uPlot bars stacked by severity level, drag to zoom
// (sets from/to in the URL). `data-total` carries the sum of every bucket for tests.

import { useEffect, useMemo, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { LEVEL_COLORS, stackVolume, type Volume } from '../lib/logs';
import { formatDateTime, formatSI } from '../lib/format';
import { zoomToSelection } from './chart';
import { ErrorBox } from './common';

export function VolumeChart(props: { data: Volume | undefined; error?: Error | undefined; loading?: boolean; height?: number }) {
  const { data, error } = props;
  const height = props.height ?? 110;
  const st = useMemo(() => (data ? stackVolume(data) : undefined), [data]);
  return (
    <section
      class="panel chart-panel volume-panel"
      data-chart="Log volume"
      data-testid="log-volume"
      data-ready={data || error ? 'true' : 'false'}
      data-total={st ? String(st.total) : ''}
      data-series-count={st ? String(st.levels.length) : '0'}
      data-points={st ? String(st.xs.length) : '0'}
    >
      <header class="panel-title">
        <span>Volume{st ? `: ${st.total.toLocaleString('en-US')} records` : ''}</span>
        {props.loading && <span class="spinner" aria-label="loading" />}
        <span class="muted small" style={{ marginLeft: 'auto', fontWeight: 400 }}>
          drag to zoom
        </span>
      </header>
      {error ? (
        <ErrorBox error={error} />
      ) : st && st.total === 0 ? (
        <div class="empty" style={{ height: `${height}px` }}>
          No records in the range
        </div>
      ) : st ? (
        <VolumePlot st={st} height={height} />
      ) : (
        <div class="empty" style={{ height: `${height}px` }} />
      )}
    </section>
  );
}

function VolumePlot({ st, height }: { st: ReturnType<typeof stackVolume>; height: number }) {
  const el = useRef<HTMLDivElement>(null);
  const stRef = useRef(st);
  stRef.current = st;
  const shape = `${st.levels.join(',')}|${height}`;
  useEffect(() => {
    const node = el.current!;
    // The most severe level is drawn last (on top); each series holds the cumulative count.
    const order = st.levels.map((_l, i) => i).reverse();
    const series: uPlot.Series[] = [
      { label: 'Time', value: (_u, v) => (v === null ? '–' : formatDateTime(v * 1000)) },
      ...order.map((i) => {
        const level = st.levels[i]!;
        const color = LEVEL_COLORS[level] ?? '#999';
        return {
          label: level,
          stroke: color,
          fill: color,
          width: 0,
          paths: uPlot.paths.bars!({ size: [0.9, 40], align: 1 }),
          points: { show: false },
          value: (_u: uPlot, _v: number | null, _si: number, idx: number | null) => (idx === null ? '–' : String(stRef.current.raw[i]?.[idx] ?? 0)),
        } as uPlot.Series;
      }),
    ];
    const u = new uPlot(
      {
        width: Math.max(200, node.clientWidth),
        height,
        series,
        cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
        legend: { live: true },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
        axes: [
          { stroke: '#555', grid: { show: false }, ticks: { stroke: '#ddd' } },
          { stroke: '#555', grid: { stroke: '#eee' }, ticks: { stroke: '#ddd' }, size: 44, values: (_u, splits) => splits.map((v) => formatSI(v)) },
        ],
        hooks: { setSelect: [zoomToSelection({ tail: null })] },
      },
      [st.xs, ...order.map((i) => st.stacked[i]!)] as unknown as uPlot.AlignedData,
      node,
    );
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, node.clientWidth);
      if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height });
    });
    ro.observe(node);
    (node as unknown as { _u: uPlot })._u = u;
    return () => {
      ro.disconnect();
      u.destroy();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape]);
  useEffect(() => {
    const u = (el.current as unknown as { _u?: uPlot } | null)?._u;
    if (!u) return;
    const order = st.levels.map((_l, i) => i).reverse();
    u.setData([st.xs, ...order.map((i) => st.stacked[i]!)] as unknown as uPlot.AlignedData);
  }, [st]);
  return <div class="uplot-host" ref={el} />;
}
