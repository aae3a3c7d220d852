// Where links to traces and logs go. The trace and log pages come in a later issue: until then
// these point at the JSON API. Change them here only.

import { qs } from './api';

/** One trace (exemplar dots, trace ids), optionally with a span selected. */
export function traceLink(traceId: string, spanId?: string): string {
  return `/ui/traces/${encodeURIComponent(traceId)}${qs({ span: spanId || undefined })}`;
}

/** Traces of a service over a time range. */
export function serviceTracesLink(service: string, startMs: number, endMs: number): string {
  return `/ui/traces${qs({ from: String(Math.floor(startMs)), service, to: String(Math.ceil(endMs)) })}`;
}

/** Logs of a service over a time range. */
export function serviceLogsLink(service: string, startMs: number, endMs: number): string {
  return `/ui/logs${qs({ from: String(Math.floor(startMs)), service, to: String(Math.ceil(endMs)) })}`;
}

/** Logs matching a query (the logs explorer), e.g. the logs of a trace. */
export function logsLink(params: { q?: string; service?: string; traceId?: string; fromMs?: number; toMs?: number }): string {
  return `/ui/logs${qs({
    from: params.fromMs === undefined ? undefined : String(Math.floor(params.fromMs)),
    q: params.q || undefined,
    service: params.service || undefined,
    to: params.toMs === undefined ? undefined : String(Math.ceil(params.toMs)),
    trace_id: params.traceId || undefined,
  })}`;
}

/** Whether a link leaves the single-page app (the JSON API pages above do). */
export function isExternalToApp(href: string): boolean {
  return !href.startsWith('/ui/') && href !== '/ui';
}
