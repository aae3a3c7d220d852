// URL state: routes under /ui/ and view state in the query string. Pure (unit-tested).

export const BASE = '/ui';

export type Route =
  | { page: 'overview' }
  | { page: 'service'; name: string }
  | { page: 'hosts' }
  | { page: 'dashboards' }
  | { page: 'dashboard'; id: string }
  | { page: 'metrics' }
  | { page: 'alerts' }
  | { page: 'traces' }
  | { page: 'trace'; id: string }
  | { page: 'logs' }
  | { page: 'errors' }
  | { page: 'error'; service: string; operation: string }
  | { page: 'servicemap' }
  | { page: 'notfound'; path: string };

function decodeSegment(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

/** The route of a pathname ("/ui/services/checkout" → service "checkout"). */
export function matchRoute(pathname: string): Route {
  let p = pathname;
  if (p === BASE || p === `${BASE}/` || p === '/') return { page: 'overview' };
  if (!p.startsWith(`${BASE}/`)) return { page: 'notfound', path: pathname };
  p = p.slice(BASE.length + 1).replace(/\/+$/, '');
  const parts = p.split('/');
  const one = (i: number) => (parts[i] === undefined ? null : decodeSegment(parts[i]!));
  switch (parts[0]) {
    case '':
      return { page: 'overview' };
    case 'services': {
      const name = parts.length === 2 ? one(1) : null;
      return name ? { page: 'service', name } : { page: 'notfound', path: pathname };
    }
    case 'hosts':
      return parts.length === 1 ? { page: 'hosts' } : { page: 'notfound', path: pathname };
    case 'dashboards': {
      if (parts.length === 1) return { page: 'dashboards' };
      const id = parts.length === 2 ? one(1) : null;
      return id ? { page: 'dashboard', id } : { page: 'notfound', path: pathname };
    }
    case 'metrics':
      return parts.length === 1 ? { page: 'metrics' } : { page: 'notfound', path: pathname };
    case 'alerts':
      return parts.length === 1 ? { page: 'alerts' } : { page: 'notfound', path: pathname };
    case 'traces': {
      if (parts.length === 1) return { page: 'traces' };
      const id = parts.length === 2 ? one(1) : null;
      return id ? { page: 'trace', id } : { page: 'notfound', path: pathname };
    }
    case 'logs':
      return parts.length === 1 ? { page: 'logs' } : { page: 'notfound', path: pathname };
    case 'service-map':
      return parts.length === 1 ? { page: 'servicemap' } : { page: 'notfound', path: pathname };
    case 'errors': {
      if (parts.length === 1) return { page: 'errors' };
      const service = parts.length === 3 ? one(1) : null;
      const operation = parts.length === 3 ? one(2) : null;
      return service !== null && operation !== null && service !== '' ? { page: 'error', service, operation } : { page: 'notfound', path: pathname };
    }
    default:
      return { page: 'notfound', path: pathname };
  }
}

/** The UI path of a service page, the name URL-encoded as one segment. */
export function servicePath(name: string): string {
  return `${BASE}/services/${encodeURIComponent(name)}`;
}

/** The UI path of an error group: service and operation as segments, the kind (exception type, else message) in `kind=`. */
export function errorGroupPath(service: string, operation: string, kind: string): string {
  return `${BASE}/errors/${encodeURIComponent(service)}/${encodeURIComponent(operation)}?kind=${encodeURIComponent(kind)}`;
}

export function dashboardPath(id: string): string {
  return `${BASE}/dashboards/${encodeURIComponent(id)}`;
}

export type Params = Record<string, string | null | undefined>;

/**
 * Merges a patch into a query string: null/undefined/"" remove the key; the rest keep their
 * order; keys are emitted sorted so equal states give equal URLs.
 */
export function mergeSearch(search: string, patch: Params): string {
  const sp = new URLSearchParams(search);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null || v === undefined || v === '') sp.delete(k);
    else sp.set(k, v);
  }
  const entries = [...sp.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const out = new URLSearchParams(entries).toString();
  return out ? `?${out}` : '';
}

/** Keeps only the keys that carry across pages (time range, refresh). */
export const GLOBAL_KEYS = ['from', 'to', 'refresh'] as const;

export function carrySearch(search: string, extra: Params = {}): string {
  const sp = new URLSearchParams(search);
  const patch: Params = {};
  for (const k of GLOBAL_KEYS) patch[k] = sp.get(k);
  return mergeSearch('', { ...patch, ...extra });
}

export type SortDir = 'asc' | 'desc';

export interface SortState {
  key: string;
  dir: SortDir;
}

/** "error_percent" → asc, "-error_percent" → desc; unknown keys fall back to `def`. */
export function decodeSort(value: string | null, allowed: readonly string[], def: SortState): SortState {
  if (!value) return def;
  const desc = value.startsWith('-');
  const key = desc ? value.slice(1) : value;
  if (!allowed.includes(key)) return def;
  return { key, dir: desc ? 'desc' : 'asc' };
}

export function encodeSort(s: SortState): string {
  return s.dir === 'desc' ? `-${s.key}` : s.key;
}

/** Clicking a column header: same column flips direction, another starts with its default. */
export function toggleSort(cur: SortState, key: string, defaultDir: SortDir = 'desc'): SortState {
  if (cur.key === key) return { key, dir: cur.dir === 'asc' ? 'desc' : 'asc' };
  return { key, dir: defaultDir };
}

/**
 * A sorted copy of `list` by the column `sort.key` (its value from `value`) in `sort.dir`; rows
 * with equal values are ordered by `tie` (the default keeps their order).
 */
export function sortRows<T>(
  list: readonly T[],
  sort: SortState,
  value: (row: T, key: string) => number | string,
  tie: (a: T, b: T) => number = () => 0,
): T[] {
  const dir = sort.dir === 'asc' ? 1 : -1;
  return [...list].sort((a, b) => {
    const va = value(a, sort.key);
    const vb = value(b, sort.key);
    if (va < vb) return -dir;
    if (va > vb) return dir;
    return tie(a, b);
  });
}
