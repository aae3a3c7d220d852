// The trace waterfall: a collapsible span tree with bars on a time axis, virtualised (only the
// rows in view are in the DOM), and the minimap over the whole trace that zooms it by dragging.
// Untrusted text (service and span names) is only ever JSX text.

import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { formatDurationMs } from '../lib/format';
import { timeTicks, type FlatTrace } from '../lib/traces';

export const ROW_HEIGHT = 24;
const OVERSCAN = 12;

const ms = (ns: number) => formatDurationMs(ns / 1e6);

export interface WaterfallProps {
  flat: FlatTrace;
  /** flat indexes of the rows shown (collapsed subtrees left out) */
  rows: number[];
  collapsed: ReadonlySet<number>;
  onToggle: (i: number) => void;
  selected: number;
  onSelect: (i: number) => void;
  critical: ReadonlySet<number> | null;
  matches: ReadonlySet<number>;
  currentMatch: number;
  /** visible time window, ns since the trace's start */
  view: [number, number];
  colors: Map<string, string>;
  /** scroll the row of this span into view when this object changes */
  reveal: { index: number } | null;
}

export function Waterfall(p: WaterfallProps) {
  const body = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);
  const [v0, v1] = p.view;
  const vspan = Math.max(1, v1 - v0);

  useLayoutEffect(() => {
    const el = body.current!;
    const ro = new ResizeObserver(() => setHeight(el.clientHeight || 600));
    ro.observe(el);
    setHeight(el.clientHeight || 600);
    return () => ro.disconnect();
  }, []);

  useLayoutEffect(() => {
    if (!p.reveal) return;
    const el = body.current!;
    const pos = p.rows.indexOf(p.reveal.index);
    if (pos < 0) return;
    const top = pos * ROW_HEIGHT;
    if (top < el.scrollTop || top + ROW_HEIGHT > el.scrollTop + el.clientHeight) {
      el.scrollTop = Math.max(0, top - Math.floor(el.clientHeight / 3));
      setScrollTop(el.scrollTop);
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [p.reveal]);

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(p.rows.length, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
  const ticks = timeTicks(v0, v1, 6);
  const spans = p.flat.spans;

  const rendered = [];
  for (let pos = first; pos < last; pos++) {
    const i = p.rows[pos]!;
    const s = spans[i]!;
    const hasKids = s.children.length > 0;
    const isCollapsed = p.collapsed.has(i);
    const crit = p.critical?.has(i) ?? false;
    const left = ((s.start - v0) / vspan) * 100;
    const width = ((s.end - s.start) / vspan) * 100;
    // Duration label: right of the bar, else left of it, else inside it.
    const labelAt = left + width < 82 ? 'right' : left > 12 ? 'left' : 'inside';
    const color = p.colors.get(s.service) ?? '#888';
    const cls = [
      'wf-row',
      i === p.selected ? 'selected' : '',
      s.error ? 'error' : '',
      crit ? 'critical' : '',
      p.matches.has(i) ? 'match' : '',
      i === p.currentMatch ? 'current-match' : '',
    ]
      .filter(Boolean)
      .join(' ');
    rendered.push(
      <div
        key={i}
        class={cls}
        style={{ top: `${pos * ROW_HEIGHT}px`, height: `${ROW_HEIGHT}px` }}
        data-span-id={s.spanId}
        data-index={String(i)}
        data-level={String(s.level)}
        data-critical={crit ? 'true' : undefined}
        onClick={() => p.onSelect(i)}
      >
        <div class="wf-name" style={{ paddingLeft: `${4 + Math.min(s.level, 40) * 14}px` }}>
          {hasKids ? (
            <button
              type="button"
              class="wf-toggle"
              aria-expanded={isCollapsed ? 'false' : 'true'}
              aria-label={isCollapsed ? 'expand' : 'collapse'}
              title={isCollapsed ? `expand (${s.size - 1} hidden)` : 'collapse'}
              onClick={(e) => {
                e.stopPropagation();
                p.onToggle(i);
              }}
            >
              {isCollapsed ? '▸' : '▾'}
            </button>
          ) : (
            <span class="wf-toggle-space" />
          )}
          <span class="wf-swatch" style={{ background: color }} />
          <span class="wf-service">{s.service}</span>
          <span class="wf-op" title={s.name}>
            {s.name}
          </span>
          {isCollapsed && <span class="wf-hidden">+{s.size - 1}</span>}
          {s.error && (
            <span class="wf-error" title="error status" data-error="true">
              !
            </span>
          )}
          {s.node.logCount > 0 && (
            <span class="wf-logs" data-log-count={String(s.node.logCount)} title={`${s.node.logCount} log record(s)`}>
              {s.node.logCount} log{s.node.logCount === 1 ? '' : 's'}
            </span>
          )}
        </div>
        <div class="wf-timeline">
          {ticks.map((t) => (
            <span class="wf-grid" style={{ left: `${((t - v0) / vspan) * 100}%` }} />
          ))}
          <span
            class="wf-bar"
            style={{
              left: `${left}%`,
              width: `max(2px, ${width}%)`,
              background: s.error ? 'var(--unhealthy)' : color,
            }}
          />
          <span
            class={`wf-dur${labelAt === 'inside' ? ' inside' : ''}`}
            style={
              labelAt === 'right'
                ? { left: `calc(${Math.max(0, left + width)}% + 4px)` }
                : labelAt === 'left'
                  ? { right: `calc(${Math.max(0, 100 - left)}% + 4px)` }
                  : { left: `calc(${Math.max(0, left)}% + 4px)` }
            }
          >
            {ms(s.end - s.start)}
          </span>
        </div>
      </div>,
    );
  }

  return (
    <div class="waterfall" data-testid="waterfall" data-row-count={String(p.rows.length)} data-rendered-rows={String(last - first)}>
      <div class="wf-header">
        <div class="wf-name">Service &amp; operation</div>
        <div class="wf-timeline">
          {ticks.map((t) => (
            <span class="wf-tick" style={{ left: `${((t - v0) / vspan) * 100}%` }}>
              {ms(t)}
            </span>
          ))}
        </div>
      </div>
      <div
        class="wf-body"
        ref={body}
        style={{ height: `min(${p.rows.length * ROW_HEIGHT + 2}px, max(320px, calc(100vh - 330px)))` }}
        onScroll={(e) => setScrollTop((e.currentTarget as HTMLDivElement).scrollTop)}>
        <div class="wf-inner" style={{ height: `${p.rows.length * ROW_HEIGHT}px` }}>
          {rendered}
        </div>
      </div>
    </div>
  );
}

/** The whole trace in small: drag to zoom the waterfall to a time window; double-click resets. */
export function Minimap(props: {
  flat: FlatTrace;
  colors: Map<string, string>;
  view: [number, number];
  critical: ReadonlySet<number> | null;
  selected: number;
  onView: (v: [number, number]) => void;
}) {
  const { flat, colors } = props;
  const host = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(0);
  const [drag, setDrag] = useState<[number, number] | null>(null);
  const H = 56;

  useLayoutEffect(() => {
    const el = host.current!;
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    setWidth(el.clientWidth);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const c = canvas.current;
    if (!c || width <= 0) return;
    const dpr = window.devicePixelRatio || 1;
    c.width = Math.round(width * dpr);
    c.height = Math.round(H * dpr);
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, H);
    const n = flat.spans.length;
    const rowH = Math.max(0.5, Math.min(8, (H - 2) / n));
    const d = flat.duration;
    flat.spans.forEach((s, i) => {
      ctx.fillStyle = s.error ? '#c62828' : props.critical?.has(i) ? '#111' : (colors.get(s.service) ?? '#888');
      const x = (s.start / d) * width;
      const w = Math.max(1, ((s.end - s.start) / d) * width);
      const y = n * rowH <= H ? i * rowH : (i / n) * (H - rowH);
      ctx.fillRect(x, y, w, Math.max(rowH, 1));
    });
  }, [flat, colors, width, props.critical]);

  const toNs = (clientX: number) => {
    const r = host.current!.getBoundingClientRect();
    return Math.min(1, Math.max(0, (clientX - r.left) / r.width)) * flat.duration;
  };
  const [v0, v1] = props.view;
  const sel = drag ? [Math.min(drag[0], drag[1]), Math.max(drag[0], drag[1])] : null;
  const pct = (ns: number) => `${(ns / flat.duration) * 100}%`;
  return (
    <div
      class="minimap"
      ref={host}
      data-testid="minimap"
      style={{ height: `${H}px` }}
      title="Drag to zoom the waterfall; double-click to reset"
      onMouseDown={(e) => {
        if (e.button !== 0) return;
        e.preventDefault();
        const a = toNs(e.clientX);
        setDrag([a, a]);
        const move = (m: MouseEvent) => setDrag([a, toNs(m.clientX)]);
        const up = (m: MouseEvent) => {
          window.removeEventListener('mousemove', move);
          window.removeEventListener('mouseup', up);
          setDrag(null);
          const b = toNs(m.clientX);
          const lo = Math.min(a, b);
          const hi = Math.max(a, b);
          if (hi - lo > flat.duration / 500) props.onView([lo, hi]);
        };
        window.addEventListener('mousemove', move);
        window.addEventListener('mouseup', up);
      }}
      onDblClick={() => props.onView([0, flat.duration])}
    >
      <canvas ref={canvas} style={{ width: `${width}px`, height: `${H}px` }} />
      <div class="mm-shade" style={{ left: 0, width: pct(v0) }} />
      <div class="mm-shade" style={{ left: pct(v1), right: 0 }} />
      <div class="mm-window" style={{ left: pct(v0), width: pct(v1 - v0) }} />
      {props.selected >= 0 && flat.spans[props.selected] && (
        <div class="mm-marker" style={{ left: pct(flat.spans[props.selected]!.start), width: `max(2px, ${pct(flat.spans[props.selected]!.end - flat.spans[props.selected]!.start)})` }} />
      )}
      {sel && <div class="mm-select" style={{ left: pct(sel[0]!), width: pct(sel[1]! - sel[0]!) }} />}
    </div>
  );
}
