// Logs explorer: a unique token returns exactly its records and the histogram counts them; the
// histogram is stacked by level; a field value click filters; the trace link opens the trace at
// the record's span; context shows the neighbours; order and cursor paging; live tail; untrusted
// text; jumps from the service page and from an alert's evidence.
import { assert, assertNoProblems, openPage, screenshot, waitReady } from '../lib.mjs';
import { XSS } from '../data.mjs';
import { LX, TOKEN, sendLogData } from '../logdata.mjs';

export const name = 'logs';

export async function sendData({ otlpHttp, api }) {
  await sendLogData(otlpHttp, api);
  LX.otlp = otlpHttp;
}

const range = () => `from=${LX.t0 - 120_000}&to=${Date.now() + 60_000}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function rows(page) {
  return page.$$eval('[data-testid=log-row]', (els) =>
    els.map((e) => ({ service: e.getAttribute('data-service'), level: e.getAttribute('data-level'), traceId: e.getAttribute('data-trace-id'), spanId: e.getAttribute('data-span-id'), body: e.querySelector('.log-body')?.textContent ?? '' })),
  );
}

async function volumeTotal(page) {
  return Number(await page.getAttribute('[data-testid=log-volume]', 'data-total'));
}

export default async function check(ctx) {
  try {
    await checks(ctx);
  } catch (e) {
    e.message = `${step}: ${e.message}`;
    throw e;
  }
}

let step = '';

async function checks(ctx) {
  // ---- a unique token: exactly its records, and the histogram's total ----
  step = "a unique token: exactly its records, and the histogram's total";
  {
    const { page, problems, tti } = await openPage(ctx, `/ui/logs?q=${TOKEN}&${range()}`);
    ctx.timings.push({ page: 'logs (token query)', ms: tti });
    try {
      const rs = await rows(page);
      assert(rs.length === LX.tokenCount && rs.every((r) => r.body.includes(TOKEN)), `token query rows: ${JSON.stringify(rs)} ${page.url()} ${(await page.textContent(".content")).slice(0, 400)}`);
      assert(rs[0].body.includes('third') && rs[2].body.includes('first'), `newest first: ${rs.map((r) => r.body)}`);
      assert((await volumeTotal(page)) === LX.tokenCount, `histogram total ${await volumeTotal(page)} ≠ ${LX.tokenCount}`);
      assert((await page.inputValue('input[name=q]')) === TOKEN, 'query box does not show the URL query');
      await screenshot(ctx, page, 'logs');
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }

  // ---- severities: the histogram stacked by level, the severity filter ----
  step = 'severities: the histogram stacked by level, the severity filter';
  {
    const { page, problems, tti } = await openPage(ctx, `/ui/logs?service=lx-stock&${range()}`);
    ctx.timings.push({ page: 'logs (service)', ms: tti });
    try {
      const want = Object.values(LX.stockLevels).reduce((a, b) => a + b, 0) + 2;
      const rs = await rows(page);
      assert(rs.length === want && rs.every((r) => r.service === 'lx-stock'), `lx-stock rows: ${rs.length}`);
      assert((await volumeTotal(page)) === want, `histogram total ${await volumeTotal(page)} ≠ ${want}`);
      const levels = await page.getAttribute('[data-testid=log-volume]', 'data-series-count');
      assert(levels === '4', `histogram levels: ${levels}`);
      const legend = await page.$$eval('[data-testid=log-volume] .u-legend .u-series th', (ths) => ths.map((t) => t.textContent.trim()));
      assert(['error', 'warn', 'info', 'debug'].every((l) => legend.includes(l)), `legend: ${legend}`);
      await page.selectOption('select[name=severity]', 'warn');
      await page.waitForFunction(() => new URL(location.href).searchParams.get('severity') === 'warn');
      await waitReady(page);
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid=log-row]').length === n, LX.stockLevels.warn + 1 + LX.stockLevels.error);
      const ws = await rows(page);
      assert(ws.every((r) => r.level === 'warn' || r.level === 'error'), `≥ warn rows: ${ws.map((r) => r.level)}`);
      // The histogram's request may answer after the rows' (waitReady above can see the
      // previous answer as ready): wait for it, then check.
      await page
        .waitForFunction((n) => Number(document.querySelector('[data-testid=log-volume]')?.getAttribute('data-total')) === n, ws.length, { timeout: 10_000, polling: 50 })
        .catch(() => {});
      assert((await volumeTotal(page)) === ws.length, `histogram total after the severity filter: ${await volumeTotal(page)} ≠ ${ws.length}`);
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }

  // ---- field sidebar: a value click filters; the trace link opens the trace at the span ----
  step = 'field sidebar: a value click filters; the trace link opens the trace at the span';
  {
    const { page, problems, tti } = await openPage(ctx, `/ui/logs?service=lx-orders&${range()}`);
    ctx.timings.push({ page: 'logs (fields)', ms: tti });
    try {
      await page.waitForSelector('[data-testid=fields][data-ready=true]');
      await page.click('[data-field="customer.tier"] .field-key');
      const gold = await page.waitForSelector('[data-testid=field-values] [data-value=gold]');
      assert((await gold.textContent()).includes(String(LX.tiers.gold)), `gold count: ${await gold.textContent()}`);
      await gold.click();
      await page.waitForFunction(() => new URL(location.href).searchParams.get('q') === 'attributes.customer.tier:"gold"');
      await waitReady(page);
      await page.waitForFunction((n) => document.querySelectorAll('[data-testid=log-row]').length === n, LX.tiers.gold);
      const rs = await rows(page);
      assert(rs.every((r) => /^order placed o-[024]$/.test(r.body)), `gold rows: ${rs.map((r) => r.body)}`);
      assert((await volumeTotal(page)) === LX.tiers.gold, 'histogram total after the field filter');
      await screenshot(ctx, page, 'logs-fields');
      // Expand: attributes, resource, trace link at the span.
      await page.click('[data-testid=log-row] .log-line');
      await page.waitForSelector('[data-testid=log-detail]');
      const attrs = await page.$$eval('[data-testid=log-attributes] tr', (trs) => trs.map((t) => t.getAttribute('data-key')));
      assert(attrs.includes('customer.tier') && attrs.includes('order.id'), `attributes: ${attrs}`);
      const res = await page.$$eval('[data-testid=log-resource] tr', (trs) => trs.map((t) => t.getAttribute('data-key')));
      assert(res.includes('service.name') && res.includes('host.name'), `resource: ${res}`);
      const r0 = rs[0];
      const i = Number(r0.body.slice(-1));
      assert(r0.traceId === LX.traceIds[i] && r0.spanId === LX.orderSpans[i], `row ids ${r0.traceId}/${r0.spanId} ≠ sent ${LX.traceIds[i]}/${LX.orderSpans[i]}`);
      const href = await page.getAttribute('[data-testid=log-detail] [data-testid=trace-link]', 'href');
      assert(href === `/ui/traces/${r0.traceId}?span=${r0.spanId}`, `trace link ${href}`);
      assertNoProblems(problems);
      await page.click('[data-testid=log-detail] [data-testid=trace-link]');
      await page.waitForFunction(([id, span]) => location.pathname === `/ui/traces/${id}` && new URL(location.href).searchParams.get('span') === span, [r0.traceId, r0.spanId]);
      await page.waitForSelector('.page[data-page]');
    } finally {
      await page.close();
    }
  }

  // ---- context: the same service's records before and after, the hit highlighted ----
  step = "context: the same service's records before and after, the hit highlighted";
  {
    const { page, problems, tti } = await openPage(ctx, `/ui/logs?q=ctxhit&${range()}`);
    ctx.timings.push({ page: 'logs (context)', ms: tti });
    try {
      const rs = await rows(page);
      assert(rs.length === 1, `ctxhit rows: ${rs.length}`);
      await page.click('[data-testid=log-row] .log-line');
      await page.click('[data-testid=context-toggle]');
      await page.waitForSelector('[data-testid=context][data-ready=true]');
      const lines = await page.$$eval('[data-testid=context] .ctx-line', (els) => els.map((e) => `${e.getAttribute('data-role')}:${e.querySelector('.log-body').textContent}`));
      const want = [];
      for (let j = 1; j <= LX.ctx.count; j++) want.push(j < LX.ctx.hit ? `before:ctx-line-0${j}` : j === LX.ctx.hit ? `hit:ctx-line-0${j} ctxhit` : `after:ctx-line-0${j}`);
      assert(JSON.stringify(lines) === JSON.stringify(want), `context: ${JSON.stringify(lines)}`);
      await screenshot(ctx, page, 'logs-context');
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }

  // ---- order and cursor paging ----
  step = 'order and cursor paging';
  {
    const { page, problems } = await openPage(ctx, `/ui/logs?service=lx-ctx&order=oldest&limit=4&${range()}`);
    try {
      let rs = await rows(page);
      assert(rs.length === 4 && rs[0].body === 'ctx-line-01', `oldest first page: ${rs.map((r) => r.body)}`);
      await page.click('[data-testid=load-more]');
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=log-row]').length === 8);
      await page.click('[data-testid=load-more]');
      await page.waitForFunction(() => document.querySelectorAll('[data-testid=log-row]').length === 9);
      rs = await rows(page);
      const bodies = rs.map((r) => r.body.replace(' ctxhit', ''));
      assert(JSON.stringify(bodies) === JSON.stringify([1, 2, 3, 4, 5, 6, 7, 8, 9].map((j) => `ctx-line-0${j}`)), `paged: ${bodies}`);
      assert(!(await page.$('[data-testid=load-more]')), 'load more shown after the last page');
      await page.selectOption('select[name=order]', 'newest');
      await page.waitForFunction(() => !new URL(location.href).searchParams.has('order'));
      await waitReady(page);
      await page.waitForFunction(() => document.querySelector('[data-testid=log-row] .log-body')?.textContent === 'ctx-line-09');
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }

  // ---- live tail: newer records are prepended; pausing leaves the URL ----
  step = 'live tail: newer records are prepended; pausing leaves the URL';
  {
    const { page, problems, tti } = await openPage(ctx, `/ui/logs?service=lx-ctx&tail=1&from=now-15m`);
    ctx.timings.push({ page: 'logs (live tail)', ms: tti });
    try {
      assert((await page.getAttribute('.page[data-page=logs]', 'data-tail')) === 'live', 'tail not live');
      const body = `tail-new-${Date.now()}`;
      const now = BigInt(Date.now()) * 1_000_000n;
      const res = await fetch(`${LX.otlp}/v1/logs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ resourceLogs: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'lx-ctx' } }] }, scopeLogs: [{ logRecords: [{ timeUnixNano: String(now), severityNumber: 9, severityText: 'INFO', body: { stringValue: body } }] }] }] }),
      });
      assert(res.ok, `tail record: ${res.status}`);
      await page.waitForFunction((b) => document.querySelector('[data-testid=log-row] .log-body')?.textContent === b, body, { timeout: 15_000 });
      const n = (await rows(page)).length;
      assert(n === LX.ctx.count + 1, `rows after tail: ${n}`);
      await screenshot(ctx, page, 'logs-tail');
      await page.click('[data-testid=tail-toggle]');
      await page.waitForFunction(() => !new URL(location.href).searchParams.has('tail'));
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }

  // ---- untrusted text: a body, an attribute value, a service name ----
  step = 'untrusted text: a body, an attribute value, a service name';
  {
    const { page, problems } = await openPage(ctx, `/ui/logs?service=${encodeURIComponent(XSS)}&${range()}`);
    try {
      const rs = await rows(page);
      assert(rs.length > 0 && rs.every((r) => r.service === XSS), `XSS service rows: ${JSON.stringify(rs.slice(0, 2))}`);
      assert(rs.some((r) => r.body === `lx record of ${XSS}`), 'body with markup not shown literally');
      const opts = await page.$$eval('select[name=service] option', (os) => os.map((o) => o.textContent));
      assert(opts.includes(XSS), 'the service with markup is not in the filter');
      await page.goto(`${ctx.baseUrl}/ui/logs?service=lx-orders&q=${encodeURIComponent('"payment note"')}&${range()}`, { waitUntil: 'commit' });
      await waitReady(page);
      const xs = await rows(page);
      assert(xs.length === 1 && xs[0].body === LX.xssBody, `XSS body: ${JSON.stringify(xs)}`);
      await page.click('[data-testid=log-row] .log-line');
      const note = await page.textContent('[data-testid=log-attributes] tr[data-key=note] td.v');
      assert(note === XSS, `attribute shown as ${note}`);
      await page.click('[data-testid=context-toggle]');
      await page.waitForSelector('[data-testid=context][data-ready=true]');
      assert((await page.$$('.content img')).length === 0, 'an <img> element was created from untrusted text');
      await sleep(200);
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }

  // ---- jump: service page → logs of this service ----
  step = 'jump: service page → logs of this service';
  {
    const to = Date.now() + 60_000;
    const from = LX.t0 - 120_000;
    // (the service page runs many PromQL queries: slow on a loaded 2-core machine)
    const { page, problems } = await openPage(ctx, `/ui/services/lx-orders?from=${from}&to=${to}`, { timeout: 60_000 });
    try {
      await page.click('[data-testid=logs-link]');
      await page.waitForURL((u) => u.pathname === '/ui/logs', { timeout: 30_000 });
      await waitReady(page, 30_000).catch(async (e) => {
        await screenshot(ctx, page, 'logs-failure');
        throw new Error(`${e.message} at ${page.url()}: ${(await page.textContent('.content')).slice(0, 300)} ${JSON.stringify(problems)}`);
      });
      const u = new URL(page.url());
      assert(u.searchParams.get('service') === 'lx-orders' && u.searchParams.get('from') === String(from) && u.searchParams.get('to') === String(to), `logs link landed on ${page.url()}`);
      const rs = await rows(page);
      assert(rs.length === TRACES_ORDERS() && rs.every((r) => r.service === 'lx-orders'), `service jump rows: ${rs.length}`);
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }

  // ---- jump: an alert's evidence → traces and logs of its service ----
  step = "jump: an alert's evidence → traces and logs of its service";
  {
    const t0 = Date.now();
    for (;;) {
      const r = await (await fetch(`${ctx.api}/api/v1/alerts`)).json();
      if (r.data.alerts.some((a) => a.labels.alertname === 'HighErrorRate' && a.state === 'firing')) break;
      if (Date.now() - t0 > 30_000) throw new Error('HighErrorRate not firing');
      await sleep(300);
    }
    const { page, problems } = await openPage(ctx, '/ui/alerts?from=now-15m&to=now', { timeout: 60_000 });
    try {
      const row = await page.waitForSelector('[data-testid=active-alerts] tr[data-alert=HighErrorRate][data-state=firing]');
      await row.$('button[data-action=select]').then((b) => b.click());
      await page.waitForSelector('[data-testid=evidence][data-ready=true]');
      const traces = await page.$$eval('[data-testid=evidence-traces] a', (as) => as.map((a) => ({ id: a.textContent, href: a.getAttribute('href') })));
      assert(traces.length > 0 && traces.every((t) => t.href.startsWith(`/ui/traces/${t.id}`)), `evidence traces: ${JSON.stringify(traces)}`);
      await page.click('[data-testid=evidence-logs-link]');
      await page.waitForURL((u) => u.pathname === '/ui/logs', { timeout: 30_000 });
      await waitReady(page, 30_000);
      const u = new URL(page.url());
      assert(u.searchParams.get('service') === 'payments' && /^\d+$/.test(u.searchParams.get('from') ?? '') && /^\d+$/.test(u.searchParams.get('to') ?? ''), `evidence logs link: ${page.url()}`);
      const rs = await rows(page);
      assert(rs.length > 0 && rs.every((r) => r.service === 'payments'), `evidence logs rows: ${rs.length}`);
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }
}

/** lx-orders' records: one "order placed" per trace and the untrusted one. */
function TRACES_ORDERS() {
  return LX.traceIds.length + 1;
}
