// The app's one piece of global state: the location (History API) and the "now" that relative
// time ranges resolve against (renewed on navigation and on each auto-refresh tick).

import { useEffect, useMemo, useState } from 'preact/hooks';
import { mergeSearch, matchRoute, type Params, type Route } from './url';
import { resolveRange, REFRESH_OPTIONS, type ResolvedRange } from './time';

interface Snapshot {
  pathname: string;
  search: string;
  now: number;
  /** increments on every refresh tick and every navigation */
  tick: number;
}

let snap: Snapshot = { pathname: location.pathname, search: location.search, now: Date.now(), tick: 0 };
const listeners = new Set<() => void>();

function emit() {
  for (const l of listeners) l();
}

function update(partial: Partial<Snapshot>) {
  snap = { ...snap, ...partial, tick: snap.tick + 1 };
  emit();
}

window.addEventListener('popstate', () => {
  update({ pathname: location.pathname, search: location.search, now: Date.now() });
});

/** Navigates inside the app: `href` is a path with an optional query string. */
export function navigate(href: string, opts: { replace?: boolean } = {}) {
  const url = new URL(href, location.origin);
  if (url.pathname + url.search === location.pathname + location.search) return;
  if (opts.replace) history.replaceState(null, '', url.pathname + url.search);
  else {
    history.pushState(null, '', url.pathname + url.search);
    window.scrollTo(0, 0);
  }
  // Relative times are re-resolved when the page or the time range changes, not on a sort.
  const before = new URLSearchParams(snap.search);
  const after = url.searchParams;
  const timeChanged =
    url.pathname !== snap.pathname || before.get('from') !== after.get('from') || before.get('to') !== after.get('to');
  update({ pathname: url.pathname, search: url.search, now: timeChanged ? Date.now() : snap.now });
}

/** Changes query-string keys of the current view (null removes a key). */
export function setParams(patch: Params, opts: { replace?: boolean } = {}) {
  navigate(location.pathname + mergeSearch(location.search, patch), opts);
}

/** Re-resolves relative times and refetches everything. */
export function refreshNow() {
  update({ now: Date.now() });
}

function useSnapshot(): Snapshot {
  const [, setN] = useState(0);
  useEffect(() => {
    const l = () => setN((n) => n + 1);
    listeners.add(l);
    return () => {
      listeners.delete(l);
    };
  }, []);
  return snap;
}

export function useRoute(): Route {
  const s = useSnapshot();
  return useMemo(() => matchRoute(s.pathname), [s.pathname]);
}

export function useParams(): URLSearchParams {
  const s = useSnapshot();
  return useMemo(() => new URLSearchParams(s.search), [s.search]);
}

export function useSearch(): string {
  return useSnapshot().search;
}

export interface TimeState extends ResolvedRange {
  refresh: string;
  /** changes whenever data should be fetched again */
  tick: number;
}

export function useTime(): TimeState {
  const s = useSnapshot();
  const params = useMemo(() => new URLSearchParams(s.search), [s.search]);
  const from = params.get('from');
  const to = params.get('to');
  const refresh = params.get('refresh') ?? '';
  const range = useMemo(() => resolveRange(from, to, s.now), [from, to, s.now]);
  return { ...range, refresh, tick: s.now };
}

/** Runs the auto-refresh timer chosen in the URL (`refresh=10s|30s|1m`). Mounted once, by the shell. */
export function useAutoRefresh() {
  const params = useParams();
  const refresh = params.get('refresh') ?? '';
  useEffect(() => {
    const opt = REFRESH_OPTIONS.find((o) => o.value === refresh);
    if (!opt || opt.ms === 0) return;
    const id = setInterval(() => {
      if (document.visibilityState === 'visible') refreshNow();
    }, opt.ms);
    return () => clearInterval(id);
  }, [refresh]);
}
