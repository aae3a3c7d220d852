import { useEffect, useRef, useState } from 'preact/hooks';
import { isAbort, queryRange, type RangeResult } from './api';
import { pickStep, rateWindow } from './time';
import type { TimeState } from './store';

export interface AsyncState<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
}

/**
 * Runs `fn` whenever `deps` change, aborting the previous run. Keeps the previous data while
 * loading (no flicker on auto-refresh).
 */
export function useAsync<T>(fn: (signal: AbortSignal) => Promise<T>, deps: unknown[]): AsyncState<T> {
  const [state, setState] = useState<AsyncState<T>>({ data: undefined, error: undefined, loading: true });
  const fnRef = useRef(fn);
  fnRef.current = fn;
  useEffect(() => {
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    fnRef.current(ctl.signal).then(
      (data) => {
        if (!ctl.signal.aborted) setState({ data, error: undefined, loading: false });
      },
      (error: unknown) => {
        if (ctl.signal.aborted || isAbort(error)) return;
        setState({ data: undefined, error: error instanceof Error ? error : new Error(String(error)), loading: false });
      },
    );
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  return state;
}

/**
 * A form's submit handler around `action`: prevents the default, sets `busy` while it runs and
 * keeps its failure in `error` (cleared on each submit).
 */
export function useSubmit(action: () => Promise<void>): { busy: boolean; error: Error | null; submit: (e: Event) => Promise<void> } {
  const [error, setError] = useState<Error | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (err) {
      setError(err as Error);
    } finally {
      setBusy(false);
    }
  };
  return { busy, error, submit };
}

/** Sets document.title for the page. */
export function useTitle(title: string) {
  useEffect(() => {
    document.title = title ? `${title} · Lookout` : 'Lookout';
  }, [title]);
}


/**
 * A range query over the current time range. `expr` gets the rate window (seconds, ≥ 4 steps
 * and ≥ 1m) so rates stay smooth at any zoom. null expr: nothing is fetched.
 */
export function useRange(
  expr: ((rateWindowS: number) => string) | string | null,
  time: TimeState,
  maxPoints = 300,
): AsyncState<RangeResult> {
  const step = pickStep(time.start, time.end, maxPoints);
  const q = expr === null ? null : typeof expr === 'string' ? expr : expr(rateWindow(step));
  return useAsync(
    (signal) => (q === null ? Promise.resolve({ series: [], start: 0, end: 0, step }) : queryRange(q, time.start, time.end, { step, signal })),
    [q, time.start, time.end, step, time.tick],
  );
}
