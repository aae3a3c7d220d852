// The fixed data set the browser test sends over OTLP/HTTP JSON, and what the pages must show.

import { randomBytes } from 'node:crypto';

export const XSS = '<img src=x onerror=alert(1)>';

/** Services, their requests per batch and errors per batch (server spans). */
export const SERVICES = [
  { name: 'frontend', requests: 40, errors: 1, durationMs: 20, callee: 'payments' },
  { name: 'payments', requests: 40, errors: 16, durationMs: 35 }, // 40% errors: unhealthy
  { name: 'inventory', requests: 30, errors: 0, durationMs: 8 },
  { name: XSS, requests: 20, errors: 0, durationMs: 12, spanName: `GET /items/${XSS}` },
];
export const BATCHES = 5;

export const EXPECTED = {
  failing: 'payments',
  failingErrorPercent: 40,
  healthy: ['inventory'],
  xss: XSS,
};

const hex = (n) => randomBytes(n).toString('hex');
const str = (key, v) => ({ key, value: { stringValue: v } });
const resource = (service, instance) => ({
  attributes: [str('service.name', service), str('service.instance.id', instance), str('host.name', 'test-host'), str('process.runtime.name', 'node')],
});

function span({ traceId, spanId, parent, name, kind, startNs, durMs, error, attrs = [] }) {
  return {
    traceId,
    spanId,
    parentSpanId: parent ?? '',
    name,
    kind, // 2 server, 3 client
    startTimeUnixNano: String(startNs),
    endTimeUnixNano: String(startNs + BigInt(Math.round(durMs * 1e6))),
    attributes: attrs,
    status: error ? { code: 2, message: 'boom' } : { code: 1 },
  };
}

/** One batch: every service's requests, with frontend → payments calls for callers/callees. */
export function tracesBatch(nowMs) {
  const bySvc = new Map(SERVICES.map((s) => [s.name, []]));
  const links = new Map(); // callee → [{traceId, parent}]: its first requests are children of these calls
  for (const s of SERVICES) {
    for (let i = 0; i < s.requests; i++) {
      const link = links.get(s.name)?.[i];
      const traceId = link?.traceId ?? hex(16);
      const start = BigInt(nowMs - 1000 + i * 10) * 1_000_000n;
      const rootId = hex(8);
      const error = i < s.errors;
      bySvc.get(s.name).push(
        span({
          traceId,
          spanId: rootId,
          parent: link?.parent,
          name: s.spanName ?? `GET /${s.name}`,
          kind: 2,
          startNs: start,
          durMs: s.durationMs + (i % 5),
          error,
          attrs: [str('http.route', `/${s.name}`)],
        }),
      );
      if (s.callee && i < 10) {
        const clientId = hex(8);
        bySvc.get(s.name).push(span({ traceId, spanId: clientId, parent: rootId, name: `call ${s.callee}`, kind: 3, startNs: start + 1_000_000n, durMs: 5, error: false }));
        if (!links.has(s.callee)) links.set(s.callee, []);
        links.get(s.callee).push({ traceId, parent: clientId });
      }
    }
  }
  return {
    resourceSpans: SERVICES.map((s) => ({
      resource: resource(s.name, `${s.name}-1`),
      scopeSpans: [{ scope: { name: 'lookout-ui-test' }, spans: bySvc.get(s.name) }],
    })),
  };
}

export function logsBatch(nowMs) {
  return {
    resourceLogs: SERVICES.map((s) => ({
      resource: resource(s.name, `${s.name}-1`),
      scopeLogs: [
        {
          logRecords: [
            {
              timeUnixNano: String(BigInt(nowMs) * 1_000_000n),
              severityNumber: 9,
              severityText: 'INFO',
              body: { stringValue: `hello from ${s.name} ${XSS}` },
            },
          ],
        },
      ],
    })),
  };
}

/** Process metrics of frontend's SDK (job="frontend"): CPU time counter and memory gauge. */
export function metricsBatch(nowMs, batch) {
  const t = String(BigInt(nowMs) * 1_000_000n);
  const start = String(BigInt(nowMs - 600_000) * 1_000_000n);
  return {
    resourceMetrics: [
      {
        resource: resource('frontend', 'frontend-1'),
        scopeMetrics: [
          {
            metrics: [
              {
                name: 'process.cpu.time',
                unit: 's',
                sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: [{ startTimeUnixNano: start, timeUnixNano: t, asDouble: 10 + batch * 0.5 }] },
              },
              {
                name: 'process.memory.usage',
                unit: 'By',
                gauge: { dataPoints: [{ timeUnixNano: t, asInt: String(50_000_000 + batch * 1_000_000) }] },
              },
            ],
          },
        ],
      },
    ],
  };
}

async function post(base, path, body) {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${text}`);
  if (text.includes('partialSuccess') && /rejected\w*":\s*"?[1-9]/.test(text)) throw new Error(`POST ${path}: partial success ${text}`);
}

/** Sends BATCHES batches one span-metrics flush apart so the counters have several samples. */
export async function sendDataSet(otlpHttpBase, { gapMs = 1500 } = {}) {
  for (let b = 0; b < BATCHES; b++) {
    const now = Date.now();
    await post(otlpHttpBase, '/v1/traces', tracesBatch(now));
    await post(otlpHttpBase, '/v1/logs', logsBatch(now));
    await post(otlpHttpBase, '/v1/metrics', metricsBatch(now, b));
    if (b < BATCHES - 1) await new Promise((r) => setTimeout(r, gapMs));
  }
}
