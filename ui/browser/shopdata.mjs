// The data the dashboards, metrics and alerts checks need on top of data.mjs: the shop.* business
// metrics the shipped "Business" dashboard reads, error logs of the failing service (alert
// evidence), and the alert rule file that fires on the data set.
//
// Counters start at 0 and every sample lies inside the last minute before LAST_MS, so with the
// dashboard's time range ending exactly at the last sample (to=<ms>) increase() and rate() have
// nothing to extrapolate: increase(x[1h]) is the last value and rate(x[1m]) the last value / 60.

import { XSS, EXPECTED } from './data.mjs';

const str = (key, v) => ({ key, value: { stringValue: v } });

/** Per batch (5 batches, 1 s apart): counters' values at each batch. */
export const SHOP = {
  batches: 5,
  gapMs: 1000,
  activeUsers: [30, 35, 38, 40, 42],
  ordersCompleted: [0, 3, 6, 9, 12],
  ordersFailed: [0, 1, 2, 3, 4],
  revenue: [0, 19.99, 39.98, 59.97, 79.96],
  checkoutStarted: [0, 10, 20, 30, 40],
  checkoutCompleted: [0, 5, 10, 15, 20],
};

/** What the Business dashboard's stat panels must show (with a rate window of 60 s). */
export function expectedStats() {
  const last = (a) => a[a.length - 1];
  return {
    'Active users': last(SHOP.activeUsers),
    'Orders per minute': (last(SHOP.ordersCompleted) / 60) * 60,
    'Revenue in the last hour': last(SHOP.revenue),
    'Conversion rate': last(SHOP.checkoutCompleted) / last(SHOP.checkoutStarted),
  };
}

/** The time of the last shop sample (ms), set by sendShop. */
export const sent = { lastMs: 0 };

function shopMetrics(service, tNs, i) {
  const t = String(tNs);
  const start = String(tNs - BigInt(i) * 1_000_000_000n - 1_000_000n);
  const sum = (name, unit, points) => ({ name, unit, sum: { aggregationTemporality: 2, isMonotonic: true, dataPoints: points } });
  const pt = (v, attrs = []) => ({ startTimeUnixNano: start, timeUnixNano: t, asDouble: v, attributes: attrs });
  return {
    resource: { attributes: [str('service.name', service), str('service.instance.id', `${service}-1`)] },
    scopeMetrics: [
      {
        scope: { name: 'shop' },
        metrics: [
          { name: 'shop.active_users', unit: '{user}', gauge: { dataPoints: [{ timeUnixNano: t, asInt: String(SHOP.activeUsers[i]) }] } },
          sum('shop.orders', '{order}', [pt(SHOP.ordersCompleted[i], [str('status', 'completed')]), pt(SHOP.ordersFailed[i], [str('status', 'failed')])]),
          sum('shop.revenue', 'EUR', [pt(SHOP.revenue[i])]),
          sum('shop.checkout.started', '{checkout}', [pt(SHOP.checkoutStarted[i])]),
          sum('shop.checkout.completed', '{checkout}', [pt(SHOP.checkoutCompleted[i])]),
        ],
      },
    ],
  };
}

async function post(base, path, body) {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${text}`);
  if (/rejected\w*":\s*"?[1-9]/.test(text)) throw new Error(`POST ${path}: partial success ${text}`);
}

/** Error log lines of the failing service (the alert's evidence), one with markup in it. */
export const ERROR_LOG = `payment declined for order 17 ${XSS}`;

/** Sends the shop metrics (service "shop", and the same from a service named XSS) and error logs. */
export async function sendShop(otlpHttpBase) {
  const t0 = Date.now();
  for (let i = 0; i < SHOP.batches; i++) {
    const ms = t0 + i * SHOP.gapMs;
    const ns = BigInt(ms) * 1_000_000n;
    await post(otlpHttpBase, '/v1/metrics', { resourceMetrics: [shopMetrics('shop', ns, i), shopMetrics(XSS, ns, i)] });
    sent.lastMs = ms;
  }
  const now = BigInt(Date.now()) * 1_000_000n;
  await post(otlpHttpBase, '/v1/logs', {
    resourceLogs: [
      {
        resource: { attributes: [str('service.name', EXPECTED.failing), str('service.instance.id', `${EXPECTED.failing}-1`)] },
        scopeLogs: [
          {
            logRecords: [
              { timeUnixNano: String(now), severityNumber: 17, severityText: 'ERROR', body: { stringValue: ERROR_LOG } },
              { timeUnixNano: String(now + 1000n), severityNumber: 17, severityText: 'ERROR', body: { stringValue: 'card processor timed out' } },
            ],
          },
        ],
      },
    ],
  });
  // Sleep until the last sample is in the past (instant queries at LAST_MS see it).
  await new Promise((r) => setTimeout(r, 200));
}

/** The alert rules: the failing service's error rate (fires for payments only), evaluated every second. */
export const RULES = `groups:
  - name: ui-test
    interval: 1s
    rules:
      - alert: HighErrorRate
        expr: sum by (service_name) (rate(traces_span_metrics_calls_total{status_code="STATUS_CODE_ERROR"}[5m])) / sum by (service_name) (rate(traces_span_metrics_calls_total[5m])) > 0.2
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.service_name }} fails"
      - alert: ServiceTraffic
        expr: sum by (service_name) (rate(traces_span_metrics_calls_total[5m])) > 0
        labels:
          severity: info
      - alert: NeverFires
        expr: absent(up) > 1e9
        for: 1m
`;
