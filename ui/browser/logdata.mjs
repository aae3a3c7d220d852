// The logs/errors/service-map data set (sent by browser/pages/logs.mjs over OTLP/HTTP JSON,
// after data.mjs's): services lx-gateway → lx-orders → lx-billing and lx-gateway → lx-stock,
// error spans with exception events in known groups, logs tied to spans, logs with a unique
// token, logs of known severities, a sequence for context, untrusted text.

import { randomBytes } from 'node:crypto';
import { XSS } from './data.mjs';

const hex = (n) => randomBytes(n).toString('hex');
const str = (key, v) => ({ key, value: { stringValue: v } });
const resource = (service) => ({ attributes: [str('service.name', service), str('service.instance.id', `${service}-1`), str('host.name', 'test-host')] });

export const TOKEN = `lxtoken${hex(6)}`;
export const TRACES = 6;
/** Which trace indices fail where. */
const BILLING_FAILS = new Set([0, 2, 4]); // CardDeclinedError, exception event with stack trace
const ORDERS_FAILS = new Set([1, 3]); // TimeoutError, exception event
const STOCK_FAILS = new Set([5]); // status message only

export const LX = {
  services: ['lx-billing', 'lx-gateway', 'lx-orders', 'lx-stock'],
  /** caller → callee: calls, errors (the callee span's status) */
  edges: {
    'lx-gateway→lx-orders': { calls: TRACES, errors: ORDERS_FAILS.size },
    'lx-gateway→lx-stock': { calls: TRACES, errors: STOCK_FAILS.size },
    'lx-orders→lx-billing': { calls: TRACES, errors: BILLING_FAILS.size },
  },
  nodes: {
    'lx-gateway': { requests: TRACES, errors: 0 },
    'lx-orders': { requests: TRACES, errors: ORDERS_FAILS.size },
    'lx-stock': { requests: TRACES, errors: STOCK_FAILS.size },
    'lx-billing': { requests: TRACES, errors: BILLING_FAILS.size },
  },
  /** error groups: service|operation|kind → count */
  groups: {
    'lx-billing|charge|CardDeclinedError': BILLING_FAILS.size,
    'lx-orders|POST /orders|TimeoutError': ORDERS_FAILS.size,
    'lx-stock|GET /stock|out of stock': STOCK_FAILS.size,
  },
  /** the newest CardDeclinedError's stack trace (trace 4) */
  newestStack: null,
  /** trace ids (index → id) and the order span of each */
  traceIds: [],
  orderSpans: [],
  /** lx-stock's records by level (besides the token ones) */
  stockLevels: { debug: 4, info: 5, warn: 3, error: 2 },
  tokenCount: 3,
  /** customer.tier values of lx-orders' "order placed" records */
  tiers: { gold: 3, silver: 3 },
  ctx: { service: 'lx-ctx', count: 9, hit: 5 },
  xssBody: `payment note ${XSS}`,
  t0: 0,
};

function stackOf(i) {
  return `CardDeclinedError: card declined for order o-${i}\n    at charge (billing.js:${40 + i}:7)\n    at processPayment (billing.js:12:3)\n    at <anonymous> ${XSS}`;
}

function span({ traceId, spanId, parent, name, kind, startNs, durMs, error, message, events = [], attrs = [] }) {
  return {
    traceId,
    spanId,
    parentSpanId: parent ?? '',
    name,
    kind,
    startTimeUnixNano: String(startNs),
    endTimeUnixNano: String(startNs + BigInt(Math.round(durMs * 1e6))),
    attributes: attrs,
    events,
    status: error ? { code: 2, message: message ?? 'error' } : { code: 1 },
  };
}

const exception = (atNs, type, message, stack) => ({
  timeUnixNano: String(atNs),
  name: 'exception',
  attributes: [str('exception.type', type), str('exception.message', message), ...(stack ? [str('exception.stacktrace', stack)] : [])],
});

const ms = (n) => BigInt(Math.round(n * 1e6));

export function build(nowMs) {
  const base = BigInt(nowMs - 90_000) * 1_000_000n;
  LX.t0 = nowMs - 90_000;
  const spans = { 'lx-gateway': [], 'lx-orders': [], 'lx-stock': [], 'lx-billing': [] };
  const logs = { 'lx-orders': [], 'lx-billing': [], 'lx-stock': [], 'lx-ctx': [], [XSS]: [] };
  LX.traceIds = [];
  LX.orderSpans = [];
  for (let i = 0; i < TRACES; i++) {
    const t = base + ms(i * 5000);
    const traceId = hex(16);
    LX.traceIds.push(traceId);
    const root = hex(8);
    const callOrders = hex(8);
    const orders = hex(8);
    const callBilling = hex(8);
    const billing = hex(8);
    const callStock = hex(8);
    const stock = hex(8);
    LX.orderSpans.push(orders);
    spans['lx-gateway'].push(
      span({ traceId, spanId: root, name: 'GET /checkout', kind: 2, startNs: t, durMs: 50 }),
      span({ traceId, spanId: callOrders, parent: root, name: 'call lx-orders', kind: 3, startNs: t + ms(1), durMs: 30 }),
      span({ traceId, spanId: callStock, parent: root, name: 'call lx-stock', kind: 3, startNs: t + ms(32), durMs: 10 }),
    );
    const ordersErr = ORDERS_FAILS.has(i);
    spans['lx-orders'].push(
      span({
        traceId,
        spanId: orders,
        parent: callOrders,
        name: 'POST /orders',
        kind: 2,
        startNs: t + ms(2),
        durMs: 28,
        error: ordersErr,
        message: 'deadline exceeded',
        events: ordersErr ? [exception(t + ms(20), 'TimeoutError', `orders db timed out (${i})`, `TimeoutError: orders db timed out\n    at query (db.js:${i})`)] : [],
      }),
      span({ traceId, spanId: callBilling, parent: orders, name: 'call lx-billing', kind: 3, startNs: t + ms(3), durMs: 15 }),
    );
    const billErr = BILLING_FAILS.has(i);
    if (billErr) LX.newestStack = stackOf(i);
    spans['lx-billing'].push(
      span({
        traceId,
        spanId: billing,
        parent: callBilling,
        name: 'charge',
        kind: 2,
        startNs: t + ms(4),
        durMs: 12,
        error: billErr,
        message: `card declined for order o-${i}`,
        events: billErr ? [exception(t + ms(10), 'CardDeclinedError', `card declined for order o-${i}`, stackOf(i))] : [],
      }),
    );
    spans['lx-stock'].push(span({ traceId, spanId: stock, parent: callStock, name: 'GET /stock', kind: 2, startNs: t + ms(33), durMs: 8, error: STOCK_FAILS.has(i), message: 'out of stock' }));

    logs['lx-orders'].push({
      timeUnixNano: String(t + ms(5)),
      severityNumber: 9,
      severityText: 'INFO',
      body: { stringValue: `order placed o-${i}` },
      attributes: [str('order.id', `o-${i}`), str('customer.tier', i % 2 === 0 ? 'gold' : 'silver')],
      traceId,
      spanId: orders,
    });
    if (billErr) {
      logs['lx-billing'].push({ timeUnixNano: String(t + ms(11)), severityNumber: 17, severityText: 'ERROR', body: { stringValue: `card declined for order o-${i}` }, traceId, spanId: billing });
    }
  }
  // Untrusted text in a body and an attribute value.
  logs['lx-orders'].push({ timeUnixNano: String(base + ms(31_000)), severityNumber: 13, severityText: 'WARN', body: { stringValue: LX.xssBody }, attributes: [str('note', XSS)] });
  // Known severities.
  let k = 0;
  for (const [level, n] of Object.entries(LX.stockLevels)) {
    const num = { debug: 5, info: 9, warn: 13, error: 17 }[level];
    for (let j = 0; j < n; j++) {
      logs['lx-stock'].push({ timeUnixNano: String(base + ms(1000 + 700 * k++)), severityNumber: num, severityText: level.toUpperCase(), body: { stringValue: `stock check ${level} ${j}` } });
    }
  }
  // The unique token: three records (two services, two levels).
  logs['lx-stock'].push({ timeUnixNano: String(base + ms(40_000)), severityNumber: 9, severityText: 'INFO', body: { stringValue: `restock ${TOKEN} first` } });
  logs['lx-stock'].push({ timeUnixNano: String(base + ms(41_000)), severityNumber: 13, severityText: 'WARN', body: { stringValue: `restock ${TOKEN} second` } });
  logs['lx-billing'].push({ timeUnixNano: String(base + ms(42_000)), severityNumber: 9, severityText: 'INFO', body: { stringValue: `invoice ${TOKEN} third` } });
  // Context: nine records 1 ms apart; the fifth is the hit.
  for (let j = 1; j <= LX.ctx.count; j++) {
    logs['lx-ctx'].push({
      timeUnixNano: String(base + ms(50_000 + j)),
      severityNumber: 9,
      severityText: 'INFO',
      body: { stringValue: `ctx-line-0${j}${j === LX.ctx.hit ? ' ctxhit' : ''}` },
    });
  }
  // A record of the service with an untrusted name.
  logs[XSS].push({ timeUnixNano: String(base + ms(45_000)), severityNumber: 9, severityText: 'INFO', body: { stringValue: `lx record of ${XSS}` } });

  return {
    traces: { resourceSpans: Object.entries(spans).map(([s, list]) => ({ resource: resource(s), scopeSpans: [{ scope: { name: 'lookout-ui-logs-test' }, spans: list }] })) },
    logs: { resourceLogs: Object.entries(logs).map(([s, list]) => ({ resource: resource(s), scopeLogs: [{ scope: { name: 'lookout-ui-logs-test' }, logRecords: list }] })) },
  };
}

async function post(base, path, body) {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${text}`);
  if (text.includes('partialSuccess') && /rejected\w*":\s*"?[1-9]/.test(text)) throw new Error(`POST ${path}: partial success ${text}`);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Sends the set and waits until the logs are searchable and the traces are in the map and errors. */
export async function sendLogData(otlpHttpBase, api) {
  const { traces, logs } = build(Date.now());
  await post(otlpHttpBase, '/v1/traces', traces);
  await post(otlpHttpBase, '/v1/logs', logs);
  const t0 = Date.now();
  for (;;) {
    const tok = await (await fetch(`${api}/lookout/v1/logs?since=15m&query=${TOKEN}`)).json();
    const ctx = await (await fetch(`${api}/lookout/v1/logs?since=15m&service=lx-ctx`)).json();
    const map = await (await fetch(`${api}/lookout/v1/service-map?since=15m`)).json();
    const errs = await (await fetch(`${api}/lookout/v1/errors?since=15m&service=lx-billing`)).json().catch(() => ({}));
    const edges = (map.edges ?? []).filter((e) => e.caller.startsWith('lx-')).length;
    if (tok.logs?.length === LX.tokenCount && ctx.logs?.length === LX.ctx.count && edges === 3 && errs.groups?.length > 0) return;
    if (Date.now() - t0 > 30_000) throw new Error(`logs data set not visible: token ${tok.logs?.length}, ctx ${ctx.logs?.length}, edges ${edges}, billing groups ${errs.groups?.length}`);
    await sleep(300);
  }
}
