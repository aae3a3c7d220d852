// Dashboards: the document (query-api/src/dashboards/model.rs), its API, variable substitution,
// legend templates, units, thresholds, layout and the API's validation problems. The functions
// below the API calls are pure (unit-tested in tests/dashboards.test.ts).

import { fetchJson, getJson, type Labels } from './api';
import { formatBytes, formatDurationMs, formatNumber, formatSI } from './format';
import { promRange } from './promql';

export interface Variable {
  name: string;
  title?: string;
  label: string;
  match?: string;
  default?: string;
}

export interface PanelQuery {
  expr: string;
  legend?: string;
}

export interface Threshold {
  value: number;
  color: string;
}

export interface Grid {
  x: number;
  y: number;
  w: number;
  h: number;
}

export type PanelType = 'timeseries' | 'stat' | 'bar' | 'table';
export const PANEL_TYPES: PanelType[] = ['timeseries', 'stat', 'bar', 'table'];

export interface Panel {
  title: string;
  type: PanelType;
  description?: string;
  queries: PanelQuery[];
  unit?: string;
  decimals?: number | null;
  thresholds?: Threshold[];
  grid: Grid;
}

export interface Dashboard {
  id: string;
  title: string;
  description?: string;
  tags?: string[];
  time?: { from: string; to: string };
  variables?: Variable[];
  panels: Panel[];
  provisioned?: boolean;
  file?: string | null;
}

export interface DashboardSummary {
  id: string;
  title: string;
  description: string;
  tags: string[];
  panels: number;
  provisioned: boolean;
  file: string | null;
}

export const UNITS = ['', 'short', 'percent', 'percentunit', 'bytes', 'bytes/s', 'bits/s', 's', 'ms', 'req/s', 'ops/s', 'none'];
export const COLORS = ['green', 'yellow', 'orange', 'red', 'blue', 'purple', 'grey'];
export const COLUMNS = 24;
/** Height of one grid row in pixels. */
export const ROW_PX = 36;

// ---------- API ----------

const BASE = '/lookout/v1/dashboards';

export async function listDashboards(signal?: AbortSignal): Promise<DashboardSummary[]> {
  return (await getJson<{ dashboards: DashboardSummary[] }>(BASE, signal)).dashboards;
}

export async function getDashboard(id: string, signal?: AbortSignal): Promise<Dashboard> {
  return getJson<Dashboard>(`${BASE}/${encodeURIComponent(id)}`, signal);
}

async function send<T>(method: string, url: string, body?: unknown): Promise<T | null> {
  const { body: parsed } = await fetchJson(url, {
    method,
    headers: body === undefined ? { Accept: 'application/json' } : { Accept: 'application/json', 'Content-Type': 'application/json' },
    body: body === undefined ? null : typeof body === 'string' ? body : JSON.stringify(body),
  });
  return (parsed ?? null) as T | null;
}

/** POST: creates (201). `body` may be raw JSON text (import). */
export async function createDashboard(body: Dashboard | string): Promise<Dashboard> {
  return (await send<Dashboard>('POST', BASE, typeof body === 'string' ? body : forSave(body)))!;
}

export async function saveDashboard(d: Dashboard): Promise<Dashboard> {
  return (await send<Dashboard>('PUT', `${BASE}/${encodeURIComponent(d.id)}`, forSave(d)))!;
}

export async function deleteDashboard(id: string): Promise<void> {
  await send('DELETE', `${BASE}/${encodeURIComponent(id)}`);
}

/** The document as the API takes it (no server-set fields, no null decimals). */
export function forSave(d: Dashboard): Dashboard {
  const { provisioned: _p, file: _f, ...rest } = d;
  return {
    ...rest,
    panels: d.panels.map((p) => {
      const out: Panel = { ...p, queries: p.queries.map((q) => ({ ...q })), grid: { ...p.grid } };
      if (out.decimals === null || out.decimals === undefined) delete out.decimals;
      return out;
    }),
  };
}

// ---------- variables ----------

export interface Interval {
  /** query step (seconds) */
  stepS: number;
  /** range (seconds) */
  rangeS: number;
}

/** `$__rate_interval`: 4 steps, at least 1 minute (seconds). */
export function rateIntervalS(stepS: number): number {
  return Math.max(4 * stepS, 60);
}

/**
 * `expr` with `$name` / `${name}` replaced by the chosen values (`"` and `\` escaped, as values sit
 * in PromQL strings) and Grafana's `$__rate_interval`, `$__interval`, `$__range`. Unknown names
 * stay as they are (the API then names them in its error).
 */
export function substitute(expr: string, values: Record<string, string>, iv: Interval): string {
  return expr.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = braced ?? bare ?? '';
    switch (name) {
      case '__rate_interval':
        return promRange(rateIntervalS(iv.stepS));
      case '__interval':
        return promRange(iv.stepS);
      case '__range':
        return promRange(iv.rangeS);
    }
    const v = values[name];
    if (v === undefined) return whole;
    return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  });
}

/** The URL key of a variable (Grafana's `var-name`). */
export const varKey = (name: string) => `var-${name}`;

/** The value a variable takes: the URL's if it is one of the values, else its default, else the first value. */
export function chooseValue(fromUrl: string | null, def: string | undefined, values: string[]): string {
  if (fromUrl !== null && fromUrl !== '' && (values.length === 0 || values.includes(fromUrl))) return fromUrl;
  if (def && (values.length === 0 || values.includes(def))) return def;
  return values[0] ?? fromUrl ?? def ?? '';
}

// ---------- legends ----------

/** `{{label}}` replaced by the series' label value (missing: empty); no template: null. */
export function legendText(template: string | undefined, labels: Labels): string | null {
  if (!template) return null;
  return template.replace(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g, (_m, k: string) => labels[k] ?? '');
}

// ---------- units ----------

/** A value in a dashboard unit, with `decimals` fixed when given. */
export function formatPanelValue(v: number | null | undefined, unit: string | undefined, decimals?: number | null): string {
  if (v === null || v === undefined) return '–';
  if (!Number.isFinite(v)) return formatNumber(v);
  const d = decimals ?? null;
  const fixed = (x: number) => (d === null ? formatNumber(x) : x.toFixed(d));
  const si = (x: number) => {
    if (d === null) return formatSI(x);
    const suffix = ['', 'k', 'M', 'G', 'T', 'P'];
    let i = 0;
    while (Math.abs(x) >= 1000 && i < suffix.length - 1) {
      x /= 1000;
      i++;
    }
    return x.toFixed(d) + suffix[i];
  };
  const u = unit ?? '';
  if (u.startsWith('currency:')) {
    const code = u.slice('currency:'.length);
    try {
      return new Intl.NumberFormat('en', {
        style: 'currency',
        currency: code,
        minimumFractionDigits: d ?? 2,
        maximumFractionDigits: d ?? 2,
      }).format(v);
    } catch {
      return `${fixed(v)} ${code}`;
    }
  }
  switch (u) {
    case 'none':
      return fixed(v);
    case 'percent':
      return `${fixed(v)}%`;
    case 'percentunit':
      return `${fixed(v * 100)}%`;
    case 'bytes':
      return formatBytes(v);
    case 'bytes/s':
      return `${formatBytes(v)}/s`;
    case 'bits/s':
      return `${si(v)}b/s`;
    case 's':
      return d === null ? formatDurationMs(v * 1000) : `${v.toFixed(d)} s`;
    case 'ms':
      return d === null ? formatDurationMs(v) : `${v.toFixed(d)} ms`;
    case 'req/s':
      return `${si(v)} req/s`;
    case 'ops/s':
      return `${si(v)} ops/s`;
    default:
      return si(v);
  }
}

// ---------- thresholds ----------

const NAMED: Record<string, string> = {
  green: '#1a7f37',
  yellow: '#d4a200',
  orange: '#e8710a',
  red: '#c62828',
  blue: '#2c5bd6',
  purple: '#7c3aed',
  grey: '#6b7280',
};

/** A threshold colour as CSS: a named one or #rrggbb; anything else null. */
export function cssColor(c: string): string | null {
  if (NAMED[c]) return NAMED[c]!;
  return /^#[0-9a-fA-F]{6}$/.test(c) ? c : null;
}

/** The colour of the highest threshold at or below `v` (thresholds in any order); null: none. */
export function thresholdColor(v: number | null | undefined, thresholds: Threshold[] | undefined): string | null {
  if (v === null || v === undefined || Number.isNaN(v) || !thresholds?.length) return null;
  let best: Threshold | null = null;
  for (const t of thresholds) if (v >= t.value && (best === null || t.value >= best.value)) best = t;
  return best ? cssColor(best.color) : null;
}

// ---------- layout ----------

/** Flows panels in their order into rows of 24 columns (keeps w and h; sets x and y). */
export function reflow(panels: Panel[]): Panel[] {
  let x = 0;
  let y = 0;
  let rowH = 0;
  return panels.map((p) => {
    const w = Math.min(COLUMNS, Math.max(1, p.grid.w));
    if (x + w > COLUMNS) {
      y += rowH;
      x = 0;
      rowH = 0;
    }
    const g = { x, y, w, h: p.grid.h };
    x += w;
    rowH = Math.max(rowH, p.grid.h);
    return { ...p, grid: g };
  });
}

/** Panels in reading order (row, then column): the order the grid shows them in. */
export function readingOrder(panels: Panel[]): Panel[] {
  return [...panels].sort((a, b) => a.grid.y - b.grid.y || a.grid.x - b.grid.x);
}

export function newPanel(type: PanelType = 'timeseries'): Panel {
  return {
    title: 'New panel',
    type,
    queries: [{ expr: '', legend: '' }],
    unit: '',
    thresholds: [],
    grid: { x: 0, y: 0, w: type === 'stat' ? 6 : 12, h: type === 'stat' ? 4 : 8 },
  };
}

/** A dashboard id from a title, as the API makes one (`Shop KPIs` → `shop-kpis`). */
export function slug(title: string): string {
  let out = '';
  for (const c of title.toLowerCase()) {
    if (/[a-z0-9]/.test(c)) out += c;
    else if (out && !out.endsWith('-')) out += '-';
  }
  return out.replace(/-+$/, '').slice(0, 64);
}

// ---------- validation problems ----------

/**
 * The problems of a 400 answer, each with the path it names (`panels[2].queries[0].expr`), or ''
 * when it names none. The API joins problems with "; " and prefixes JSON errors.
 */
export function splitProblems(message: string): { path: string; text: string }[] {
  const m = message.replace(/^invalid dashboard JSON: /, '');
  const parts = m.split(/; (?=(?:id|title|description|tags|time|variables|panels)(?:\[\d+\])?[.:[])/);
  return parts.map((p) => {
    const mm = /^((?:id|title|description|tags|time|variables|panels)(?:\[\d+\]|\.[A-Za-z_]+)*):\s?(.*)$/s.exec(p);
    return mm ? { path: mm[1]!, text: mm[2]! } : { path: '', text: p };
  });
}

/** The problems under `prefix` (exactly it, or a path inside it). */
export function problemsAt(problems: { path: string; text: string }[], prefix: string): string[] {
  return problems
    .filter((p) => p.path === prefix || p.path.startsWith(`${prefix}.`) || p.path.startsWith(`${prefix}[`))
    .map((p) => (p.path === prefix ? p.text : `${p.path.slice(prefix.length).replace(/^\./, '')}: ${p.text}`));
}
