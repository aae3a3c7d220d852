// Formatting of numbers with units, durations, rates and times. Pure functions (unit-tested).

/** The units a chart axis, legend or table cell can show. */
export type Unit =
  | 'percent' // 0..100
  | 'percentunit' // 0..1 shown as percent
  | 'bytes'
  | 'bytes/s'
  | 's'
  | 'ms'
  | 'req/s'
  | 'ops/s'
  | 'cores'
  | 'plain';

const BYTE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
const SI_SUFFIX = ['', 'k', 'M', 'G', 'T', 'P', 'E'];

/** A number with at most `digits` significant digits, no trailing zeros, no exponent for normal ranges. */
export function formatNumber(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e-3 && abs < 1e15) {
    const intDigits = Math.floor(Math.log10(abs)) + 1;
    const decimals = Math.max(0, Math.min(6, digits - intDigits));
    const s = v.toFixed(decimals);
    return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
  }
  const s = v.toPrecision(digits);
  if (s.includes('e')) return s.replace(/\.?0+e/, 'e');
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** 1234 → "1.23k", 2.5e6 → "2.5M". */
export function formatSI(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return formatNumber(v);
  const abs = Math.abs(v);
  let i = 0;
  let x = v;
  while (Math.abs(x) >= 1000 && i < SI_SUFFIX.length - 1) {
    x /= 1000;
    i++;
  }
  if (abs < 1000) return formatNumber(v, digits);
  return formatNumber(x, digits) + SI_SUFFIX[i];
}

/** 1536 → "1.5 KiB". */
export function formatBytes(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return formatNumber(v);
  let i = 0;
  let x = v;
  while (Math.abs(x) >= 1024 && i < BYTE_UNITS.length - 1) {
    x /= 1024;
    i++;
  }
  return `${formatNumber(x, digits)} ${BYTE_UNITS[i]}`;
}

/** A duration given in milliseconds: "850 µs", "12.4 ms", "1.25 s", "3m 20s", "2h 5m", "3d 4h". */
export function formatDurationMs(ms: number): string {
  if (!Number.isFinite(ms)) return formatNumber(ms);
  const neg = ms < 0;
  const a = Math.abs(ms);
  let s: string;
  if (a === 0) s = '0 ms';
  else if (a < 1) s = `${formatNumber(a * 1000)} µs`;
  else if (a < 1000) s = `${formatNumber(a)} ms`;
  else if (a < 60_000) s = `${formatNumber(a / 1000)} s`;
  else {
    const totalS = Math.round(a / 1000);
    const d = Math.floor(totalS / 86400);
    const h = Math.floor((totalS % 86400) / 3600);
    const m = Math.floor((totalS % 3600) / 60);
    const sec = totalS % 60;
    if (d > 0) s = h > 0 ? `${d}d ${h}h` : `${d}d`;
    else if (h > 0) s = m > 0 ? `${h}h ${m}m` : `${h}h`;
    else s = sec > 0 ? `${m}m ${sec}s` : `${m}m`;
  }
  return neg ? `-${s}` : s;
}

/** A value in the given unit, for axes, legends and table cells. null/undefined → "–". */
export function formatValue(v: number | null | undefined, unit: Unit): string {
  if (v === null || v === undefined) return '–';
  if (Number.isNaN(v)) return 'NaN';
  switch (unit) {
    case 'percent':
      return `${formatNumber(v, Math.abs(v) < 1 && v !== 0 ? 2 : 3)}%`;
    case 'percentunit':
      return formatValue(v * 100, 'percent');
    case 'bytes':
      return formatBytes(v);
    case 'bytes/s':
      return `${formatBytes(v)}/s`;
    case 's':
      return formatDurationMs(v * 1000);
    case 'ms':
      return formatDurationMs(v);
    case 'req/s':
      return `${formatSI(v)} req/s`;
    case 'ops/s':
      return `${formatSI(v)}/s`;
    case 'cores':
      return `${formatNumber(v)} cores`;
    case 'plain':
      return formatSI(v);
  }
}

/** How long ago `thenMs` was, relative to `nowMs`: "just now", "12s ago", "5m ago", "3h ago", "2d ago". */
export function formatAgo(thenMs: number, nowMs: number): string {
  const d = nowMs - thenMs;
  if (d < 0) return 'in the future';
  if (d < 1000) return 'just now';
  if (d < 60_000) return `${Math.floor(d / 1000)}s ago`;
  if (d < 3_600_000) return `${Math.floor(d / 60_000)}m ago`;
  if (d < 86_400_000) return `${Math.floor(d / 3_600_000)}h ago`;
  return `${Math.floor(d / 86_400_000)}d ago`;
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

/** Local date and time "2026-12-01 06:13:56" (seconds optional). */
export function formatDateTime(ms: number, seconds = true): string {
  const d = new Date(ms);
  const base = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return seconds ? `${base}:${pad(d.getSeconds())}` : base;
}

/** A Prometheus/Go duration string for a number of seconds: 90 → "1m30s", 15 → "15s". */
export function promDuration(seconds: number): string {
  let s = Math.max(1, Math.round(seconds));
  const parts: string[] = [];
  const units: [string, number][] = [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ];
  for (const [u, n] of units) {
    if (s >= n) {
      parts.push(`${Math.floor(s / n)}${u}`);
      s %= n;
    }
  }
  return parts.join('');
}
