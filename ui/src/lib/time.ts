// Time ranges: `from`/`to` URL values ("now", "now-1h", or absolute ms since the epoch),
// resolution to absolute milliseconds, query steps and rate windows. Pure (unit-tested).

export const DEFAULT_FROM = 'now-1h';
export const DEFAULT_TO = 'now';

export const PRESETS: { label: string; from: string }[] = [
  { label: 'Last 15 minutes', from: 'now-15m' },
  { label: 'Last 1 hour', from: 'now-1h' },
  { label: 'Last 6 hours', from: 'now-6h' },
  { label: 'Last 24 hours', from: 'now-24h' },
  { label: 'Last 7 days', from: 'now-7d' },
];

export const REFRESH_OPTIONS: { label: string; value: string; ms: number }[] = [
  { label: 'Off', value: '', ms: 0 },
  { label: '10s', value: '10s', ms: 10_000 },
  { label: '30s', value: '30s', ms: 30_000 },
  { label: '1m', value: '1m', ms: 60_000 },
];

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 7 * 86_400_000,
};

/** "90s", "1h30m", "15m", "7d" → milliseconds; null when not a duration. */
export function parseDuration(s: string): number | null {
  const t = s.trim();
  if (t === '') return null;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t)) !== null) {
    total += parseFloat(m[1]!) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  return pos === t.length && pos > 0 ? total : null;
}

/**
 * A `from`/`to` value at `nowMs`: "now", "now-15m", "now+5m", absolute ms ("1767225600000"),
 * or an ISO date. null when it is none of those.
 */
export function parseTime(value: string, nowMs: number): number | null {
  const v = value.trim();
  if (v === 'now') return nowMs;
  const rel = /^now([+-])(.+)$/.exec(v);
  if (rel) {
    const d = parseDuration(rel[2]!);
    if (d === null) return null;
    return rel[1] === '-' ? nowMs - d : nowMs + d;
  }
  if (/^\d{10,}$/.test(v)) return parseInt(v, 10);
  if (/^\d{4}-\d{2}-\d{2}/.test(v)) {
    const t = Date.parse(v);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

export interface ResolvedRange {
  from: string;
  to: string;
  /** ms since the epoch */
  start: number;
  end: number;
}

/** Resolves URL values to an absolute range; bad or reversed values fall back to the defaults. */
export function resolveRange(from: string | null, to: string | null, nowMs: number): ResolvedRange {
  let f = from ?? DEFAULT_FROM;
  let t = to ?? DEFAULT_TO;
  let start = parseTime(f, nowMs);
  let end = parseTime(t, nowMs);
  if (start === null || end === null || start >= end) {
    f = DEFAULT_FROM;
    t = DEFAULT_TO;
    start = parseTime(f, nowMs)!;
    end = nowMs;
  }
  return { from: f, to: t, start, end };
}

/** A label for the picker button: the preset's name, or "from → to". */
export function describeRange(from: string, to: string, fmt: (ms: number) => string): string {
  if (to === 'now') {
    const p = PRESETS.find((x) => x.from === from);
    if (p) return p.label;
    if (from.startsWith('now-')) return `Last ${from.slice(4)}`;
  }
  const show = (v: string) => (/^\d{10,}$/.test(v) ? fmt(parseInt(v, 10)) : v);
  return `${show(from)} → ${show(to)}`;
}

const NICE_STEPS_S = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/**
 * A query_range step (seconds) giving at most `maxPoints` points over [start, end] ms,
 * rounded up to a "nice" value, and never below `minStepS`.
 */
export function pickStep(startMs: number, endMs: number, maxPoints = 300, minStepS = 1): number {
  const rangeS = Math.max(1, (endMs - startMs) / 1000);
  const raw = Math.max(minStepS, rangeS / maxPoints);
  for (const s of NICE_STEPS_S) if (s >= raw) return s;
  return Math.ceil(raw / 86400) * 86400;
}

/** A rate() window for a step: at least 4 steps and at least 1 minute (seconds). */
export function rateWindow(stepS: number, minS = 60): number {
  return Math.max(minS, 4 * stepS);
}

/**
 * The start of a query_range grid that ends exactly at `endMs` (so the newest point is "now")
 * and begins at or before `startMs`.
 */
export function alignStart(startMs: number, endMs: number, stepS: number): number {
  const stepMs = stepS * 1000;
  return endMs - Math.ceil((endMs - startMs) / stepMs) * stepMs;
}
