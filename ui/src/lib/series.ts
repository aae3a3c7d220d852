// Turns Prometheus matrices into uPlot's aligned columns. Pure (unit-tested).

import type { Labels, MatrixSeries, RangeResult } from './api';

export interface ExemplarPoint {
  /** seconds */
  t: number;
  v: number;
  traceId: string;
  labels: Labels;
}

export interface Aligned {
  /** x values (seconds) */
  xs: number[];
  /**
   * One column per series. null = no sample at that step (drawn as a gap); undefined = an x that
   * only exists for another series (exemplars), skipped without breaking the line.
   */
  ys: (number | null | undefined)[][];
  labels: Labels[];
  /** non-null numeric values over all line series */
  points: number;
  /** column of the exemplar series in `ys`, or -1 */
  exemplarColumn: number;
}

function num(s: string): number | null {
  const v = parseFloat(s);
  return Number.isFinite(v) ? v : null;
}

/** Aligns range-query series on the step grid; optional exemplars become one extra column. */
export function alignMatrix(r: RangeResult, exemplars: ExemplarPoint[] = []): Aligned {
  const n = Math.max(0, Math.floor((r.end - r.start) / r.step + 1e-9) + 1);
  const grid: number[] = [];
  for (let i = 0; i < n; i++) grid.push(r.start + i * r.step);
  // Samples not on the grid (should not happen) get their own x.
  const extra = new Set<number>();
  for (const s of r.series) for (const [t] of s.values) if (!onGrid(t, r)) extra.add(t);
  for (const e of exemplars) extra.add(e.t);
  const uniq = [...new Set([...grid, ...extra])].sort((a, b) => a - b);
  const pos = new Map<number, number>();
  uniq.forEach((t, i) => pos.set(t, i));
  const gridSet = new Set(grid);

  let points = 0;
  const ys: (number | null | undefined)[][] = [];
  for (const s of r.series) {
    const col: (number | null | undefined)[] = uniq.map((t) => (gridSet.has(t) ? null : undefined));
    for (const [t, v] of s.values) {
      const i = pos.get(t);
      if (i === undefined) continue;
      const x = num(v);
      col[i] = x;
      if (x !== null) points++;
    }
    ys.push(col);
  }
  let exemplarColumn = -1;
  if (exemplars.length > 0) {
    const col: (number | null | undefined)[] = uniq.map(() => undefined);
    for (const e of exemplars) col[pos.get(e.t)!] = e.v;
    exemplarColumn = ys.length;
    ys.push(col);
  }
  return { xs: uniq, ys, labels: r.series.map((s: MatrixSeries) => s.metric), points, exemplarColumn };
}

function onGrid(t: number, r: RangeResult): boolean {
  const k = (t - r.start) / r.step;
  return Math.abs(k - Math.round(k)) < 1e-6 && t >= r.start - 1e-6 && t <= r.end + 1e-6;
}

/** A legend name for a series: the values of the labels that differ, else the metric name. */
export function seriesName(labels: Labels, keys?: string[]): string {
  const ks = keys ?? Object.keys(labels).filter((k) => k !== '__name__').sort();
  const parts = ks.filter((k) => labels[k] !== undefined).map((k) => labels[k]!);
  if (parts.length > 0) return parts.join(' ');
  return labels.__name__ ?? 'value';
}

/** The label keys whose values differ between series (what a legend needs to tell them apart). */
export function varyingKeys(all: Labels[]): string[] {
  const keys = new Set<string>();
  for (const l of all) for (const k of Object.keys(l)) keys.add(k);
  return [...keys]
    .filter((k) => new Set(all.map((l) => l[k] ?? '')).size > 1)
    .sort();
}
