// Where links to traces and logs go. The trace and log pages come in a later issue: until then
// these point at the JSON API. Change them here only.

import { qs } from './api';

const s = (ms: number) => String(Math.floor(ms / 1000));

/** One trace (exemplar dots, trace ids). */
export function traceLink(traceId: string): string {
  return `/lookout/v1/traces/${encodeURIComponent(traceId)}`;
}

/** Traces of a service over a time range. */
export function serviceTracesLink(service: string, startMs: number, endMs: number): string {
  return `/lookout/v1/traces${qs({ service, start: s(startMs), end: s(endMs) })}`;
}

/** Logs of a service over a time range. */
export function serviceLogsLink(service: string, startMs: number, endMs: number): string {
  return `/lookout/v1/logs${qs({ service, start: s(startMs), end: s(endMs) })}`;
}

/** Whether a link leaves the single-page app (the JSON API pages above do). */
export function isExternalToApp(href: string): boolean {
  return !href.startsWith('/ui/') && href !== '/ui';
}
