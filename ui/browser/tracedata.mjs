// The trace pages' fixed data set, sent over OTLP/HTTP JSON (after data.mjs's): four services,
// normal traces, one known slow trace, two error traces (one with an `exception` event), logs
// tied to spans with known counts, a span named with markup, and one 10 000-span trace (sent in
// requests of 2000 spans, three hours back so that the other pages' windows do not hold it). Every resource carries test.suite=traces-ui so searches can be scoped.

export const XSS = '<img src=x onerror=alert(1)>';
export const SUITE = ['test.suite', 'traces-ui'];
export const SERVICES = ['web-gateway', 'order-svc', 'stock-svc', 'pricing-svc'];

const tid = (n) => `7ace${String(n).padStart(28, '0')}`;
const sid = (t, n) => `${String(t).padStart(4, '0')}${String(n).padStart(12, '0')}`;

export const IDS = {
  normal: [1, 2, 3, 4, 5, 6].map(tid),
  slow: tid(100),
  error: tid(200),
  error2: tid(201),
  big: tid(300),
};

/** The slow trace: root → order (→ stock read, stock write), pricing, audit. */
export const SLOW = {
  root: sid(100, 1),
  order: sid(100, 2),
  stockRead: sid(100, 3),
  stockWrite: sid(100, 4),
  pricing: sid(100, 5),
  audit: sid(100, 6),
  durationMs: 3200,
  spanCount: 6,
  depth: 3,
};
/** Walking back from the root's end through the last-finishing child. */
SLOW.critical = [SLOW.root, SLOW.order, SLOW.stockRead, SLOW.stockWrite];
SLOW.notCritical = [SLOW.pricing, SLOW.audit];

/** The error trace: root → order (error, exception; → stock, → pricing (→ XSS-named span)). */
export const ERR = {
  root: sid(200, 1),
  order: sid(200, 2),
  stock: sid(200, 3),
  pricing: sid(200, 4),
  xss: sid(200, 5),
  spanCount: 5,
  depth: 4,
  exception: {
    type: 'java.lang.IllegalStateException',
    message: `payment declined for order 42 ${XSS}`,
    stacktrace: 'java.lang.IllegalStateException: payment declined\n\tat shop.Orders.place(Orders.java:42)\n\tat shop.Http.handle(Http.java:7)',
  },
};
/** Log records sent per span of the error trace. */
ERR.logs = { [ERR.root]: 1, [ERR.order]: 3, [ERR.stock]: 2 };
ERR.logTotal = 6;

/** The second error trace has a span whose parent is missing (a warning). */
export const ERR2 = { orphan: sid(201, 3), spanCount: 3 };

/**
 * 1 root → 9 batches → 10 groups each → 110 items each: 10 000 spans, 4 levels. Few distinct span
 * names (as real traces have): every name is a span-metrics series, and 10 000 of them would slow
 * every other page's queries.
 */
export const BIG = { spanCount: 10_000, depth: 4, root: sid(300, 0), agoMs: 3 * 3600_000 };

const str = (key, v) => ({ key, value: { stringValue: v } });
const int = (key, v) => ({ key, value: { intValue: String(v) } });

function resource(service) {
  return { attributes: [str('service.name', service), str('service.instance.id', `${service}-1`), str(...SUITE), str('deployment.environment', 'test')] };
}

function span(traceId, spanId, parent, name, kind, startMs, durMs, extra = {}) {
  const ns = (ms) => String(BigInt(Math.round(ms * 1000)) * 1000n);
  return {
    traceId,
    spanId,
    parentSpanId: parent ?? '',
    name,
    kind,
    startTimeUnixNano: ns(startMs),
    endTimeUnixNano: ns(startMs + durMs),
    attributes: extra.attributes ?? [],
    events: extra.events ?? [],
    links: extra.links ?? [],
    status: extra.error ? { code: 2, message: extra.error } : { code: 1 },
  };
}

/** resourceSpans grouped by service from [service, span] pairs. */
function bySvc(pairs) {
  const m = new Map();
  for (const [svc, s] of pairs) {
    if (!m.has(svc)) m.set(svc, []);
    m.get(svc).push(s);
  }
  return { resourceSpans: [...m].map(([svc, spans]) => ({ resource: resource(svc), scopeSpans: [{ scope: { name: 'traces-ui-test', version: '1.0' }, spans }] })) };
}

function normalTrace(traceId, n, t) {
  const root = sid(n, 1);
  const order = sid(n, 2);
  const d = 120 + n * 15;
  return [
    ['web-gateway', span(traceId, root, '', 'GET /checkout', 2, t, d, { attributes: [str('http.route', '/checkout'), int('http.status_code', 200)] })],
    ['order-svc', span(traceId, order, root, 'POST /orders', 2, t + 5, d - 20, { attributes: [str('http.route', '/orders')] })],
    ['stock-svc', span(traceId, sid(n, 3), order, 'SELECT stock', 3, t + 10, d - 60, { attributes: [str('db.system', 'postgresql')] })],
    ['pricing-svc', span(traceId, sid(n, 4), root, 'GET /price', 2, t + 8, 20)],
  ];
}

function slowTrace(t) {
  const id = IDS.slow;
  const s = SLOW;
  return [
    [
      'web-gateway',
      span(id, s.root, '', 'GET /checkout', 2, t, 3200, {
        attributes: [str('http.route', '/checkout'), int('http.status_code', 200)],
        links: [{ traceId: IDS.error, spanId: ERR.root, attributes: [str('link.reason', 'retry of')] }],
      }),
    ],
    ['order-svc', span(id, s.order, s.root, 'POST /orders', 2, t + 10, 3140, { attributes: [str('http.route', '/orders')] })],
    ['stock-svc', span(id, s.stockRead, s.order, 'SELECT stock', 3, t + 30, 2870, { attributes: [str('db.system', 'postgresql'), str('db.statement', 'SELECT * FROM stock WHERE sku = $1')] })],
    ['stock-svc', span(id, s.stockWrite, s.order, 'UPDATE stock', 3, t + 2910, 190, { attributes: [str('db.system', 'postgresql')] })],
    ['pricing-svc', span(id, s.pricing, s.root, 'GET /price', 2, t + 20, 100)],
    ['web-gateway', span(id, s.audit, s.root, 'audit', 1, t + 50, 50)],
  ];
}

function errorTrace(t) {
  const id = IDS.error;
  const e = ERR;
  const ns = (ms) => String(BigInt(Math.round(ms * 1000)) * 1000n);
  return [
    ['web-gateway', span(id, e.root, '', 'GET /checkout', 2, t, 240, { attributes: [str('http.route', '/checkout'), int('http.status_code', 500)], error: 'upstream failed' })],
    [
      'order-svc',
      span(id, e.order, e.root, 'POST /orders', 2, t + 10, 200, {
        attributes: [str('http.route', '/orders'), str('order.note', XSS)],
        error: 'payment declined',
        events: [
          {
            timeUnixNano: ns(t + 150),
            name: 'exception',
            attributes: [str('exception.type', e.exception.type), str('exception.message', e.exception.message), str('exception.stacktrace', e.exception.stacktrace)],
          },
        ],
      }),
    ],
    ['stock-svc', span(id, e.stock, e.order, 'SELECT stock', 3, t + 20, 60, { attributes: [str('db.system', 'postgresql')] })],
    ['pricing-svc', span(id, e.pricing, e.order, 'GET /price', 2, t + 90, 40)],
    ['pricing-svc', span(id, e.xss, e.pricing, XSS, 1, t + 95, 20, { attributes: [str('note', XSS)] })],
  ];
}

function error2Trace(t) {
  const id = IDS.error2;
  const root = sid(201, 1);
  return [
    ['web-gateway', span(id, root, '', 'GET /cart', 2, t, 90)],
    ['stock-svc', span(id, sid(201, 2), root, 'SELECT cart', 3, t + 5, 70, { error: 'timeout' })],
    // Its parent was never sent: the API warns about an orphan.
    ['stock-svc', span(id, ERR2.orphan, sid(201, 99), 'orphan job', 1, t + 20, 10)],
  ];
}

/** The 10 000-span trace in chunks of at most 2000 spans. */
function bigTraceChunks(t) {
  const id = IDS.big;
  const all = [['web-gateway', span(id, BIG.root, '', 'GET /bulk-import', 2, t, 900, { attributes: [str('http.route', '/bulk-import')] })]];
  let n = 1;
  for (let b = 0; b < 9; b++) {
    const bid = sid(300, n++);
    const bs = t + 2 + b * 99;
    all.push(['order-svc', span(id, bid, BIG.root, 'process batch', 1, bs, 97, { attributes: [int('batch', b)] })]);
    for (let g = 0; g < 10; g++) {
      const gid = sid(300, n++);
      const gs = bs + 1 + g * 9.5;
      all.push(['stock-svc', span(id, gid, bid, 'load group', 1, gs, 9, { attributes: [int('batch', b), int('group', g)] })]);
      for (let k = 0; k < 110; k++) {
        all.push(['stock-svc', span(id, sid(300, n++), gid, 'import item', 1, gs + 0.05 + k * 0.08, 0.07, { attributes: [int('item', k), str('sku', `sku-${b}-${g}-${k}`)] })]);
      }
    }
  }
  if (all.length !== BIG.spanCount) throw new Error(`big trace has ${all.length} spans`);
  const chunks = [];
  for (let i = 0; i < all.length; i += 2000) chunks.push(bySvc(all.slice(i, i + 2000)));
  return chunks;
}

function errorLogs(t) {
  const recs = [];
  const ns = (ms) => String(BigInt(Math.round(ms * 1000)) * 1000n);
  let k = 0;
  const svcOf = { [ERR.root]: 'web-gateway', [ERR.order]: 'order-svc', [ERR.stock]: 'stock-svc' };
  for (const [spanId, count] of Object.entries(ERR.logs)) {
    for (let i = 0; i < count; i++) {
      recs.push([
        svcOf[spanId],
        {
          timeUnixNano: ns(t + 12 + k * 20),
          severityNumber: spanId === ERR.order ? 17 : 9,
          severityText: spanId === ERR.order ? 'ERROR' : 'INFO',
          body: { stringValue: `log ${k} of span ${spanId} ${XSS}` },
          traceId: IDS.error,
          spanId,
        },
      ]);
      k++;
    }
  }
  const m = new Map();
  for (const [svc, r] of recs) {
    if (!m.has(svc)) m.set(svc, []);
    m.get(svc).push(r);
  }
  return { resourceLogs: [...m].map(([svc, logRecords]) => ({ resource: resource(svc), scopeLogs: [{ scope: { name: 'traces-ui-test' }, logRecords }] })) };
}

async function post(base, path, body) {
  const res = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${path}: ${res.status} ${text.slice(0, 300)}`);
  if (/rejected\w*":\s*"?[1-9]/.test(text)) throw new Error(`POST ${path}: partial success ${text.slice(0, 300)}`);
}

export async function sendTraceData(otlpHttp) {
  const base = Date.now() - 100_000;
  const pairs = [];
  IDS.normal.forEach((id, i) => pairs.push(...normalTrace(id, i + 1, base + i * 3000)));
  pairs.push(...slowTrace(base + 20_000));
  pairs.push(...errorTrace(base + 30_000));
  pairs.push(...error2Trace(base + 35_000));
  await post(otlpHttp, '/v1/traces', bySvc(pairs));
  await post(otlpHttp, '/v1/logs', errorLogs(base + 30_000));
  // Three hours back: outside the windows the other pages read (their span scans stay small).
  for (const chunk of bigTraceChunks(Date.now() - BIG.agoMs)) await post(otlpHttp, '/v1/traces', chunk);
}
