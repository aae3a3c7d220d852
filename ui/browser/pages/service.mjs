// Service pages: the failing service (status, reasons, RED charts, operations, callers) and the
// service with an untrusted name (deep link, literal text, span names with markup).
import { assert, assertNoProblems, charts, openPage, screenshot } from '../lib.mjs';
import { EXPECTED } from '../data.mjs';

export const name = 'service';

export default async function check(ctx) {
  {
    const { page, problems, tti } = await openPage(ctx, `/ui/services/${EXPECTED.failing}?from=now-15m&to=now`);
    ctx.timings.push({ page: `service (${EXPECTED.failing})`, ms: tti });
    try {
      const status = await page.$eval('.page-header .badge', (b) => b.getAttribute('data-status'));
      assert(status === 'unhealthy', `status badge ${status}`);
      const reasons = await page.$eval('[data-testid=reasons]', (e) => e.textContent);
      assert(/error rate/i.test(reasons), `reasons: ${reasons}`);
      const cs = await charts(page);
      for (const id of ['chart-rate', 'chart-errors', 'chart-latency']) {
        const c = cs.find((x) => x.testId === id);
        assert(c, `chart ${id} missing`);
        assert(c.width > 0 && c.height > 0 && c.series > 0 && c.points > 0, `chart ${id} empty: ${JSON.stringify(c)}`);
      }
      const lat = cs.find((x) => x.testId === 'chart-latency');
      assert(lat.series === 3, `latency chart should have p50/p95/p99, has ${lat.series} series`);
      const ops = await page.$$eval('[data-testid=operations] tbody tr', (trs) => trs.map((t) => t.getAttribute('data-operation')));
      assert(ops.includes('GET /payments'), `operations: ${ops}`);
      const callers = await page.$$eval('[data-testid=callers] tbody a', (as) => as.map((a) => a.textContent));
      assert(callers.includes('frontend'), `callers: ${callers}`);
      const traces = await page.$eval('[data-testid=traces-link]', (a) => a.getAttribute('href'));
      assert(traces.includes('service=payments'), `traces link ${traces}`);
      await screenshot(ctx, page, 'service-payments');
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }
  {
    // frontend sends process metrics (job="frontend"): the process charts appear.
    const { page, problems, tti } = await openPage(ctx, `/ui/services/frontend?from=now-15m&to=now`);
    ctx.timings.push({ page: 'service (frontend)', ms: tti });
    try {
      // The process charts appear once their own queries answer (not part of the page's data-ready).
      await page.waitForSelector('[data-testid=chart-process-memory][data-ready=true]', { timeout: 10_000 }).catch(() => {});
      const cs = await charts(page);
      const mem = cs.find((x) => x.testId === 'chart-process-memory');
      assert(mem && mem.points > 0, `process memory chart: ${JSON.stringify(mem)}`);
      const callees = await page.$$eval('[data-testid=callees] tbody a', (as) => as.map((a) => a.getAttribute('href')));
      assert(callees.some((h) => h.startsWith('/ui/services/payments')), `callees: ${callees}`);
      await screenshot(ctx, page, 'service-frontend');
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }
  {
    const { page, problems, tti } = await openPage(ctx, `/ui/services/${encodeURIComponent(EXPECTED.xss)}?from=now-15m&to=now`);
    ctx.timings.push({ page: 'service (untrusted name)', ms: tti });
    try {
      const shown = await page.$eval('[data-testid=service-name]', (e) => e.textContent);
      assert(shown === EXPECTED.xss, `name shown as ${JSON.stringify(shown)}`);
      const ops = await page.$$eval('[data-testid=operations] tbody td.name', (tds) => tds.map((t) => t.textContent));
      assert(ops.includes(`GET /items/${EXPECTED.xss}`), `span name with markup not shown literally: ${JSON.stringify(ops)}`);
      assert((await page.$$('.content img')).length === 0, 'an <img> element was created from untrusted text');
      const title = await page.title();
      assert(title.includes(EXPECTED.xss), `document title ${title}`);
      await screenshot(ctx, page, 'service-untrusted-name');
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }
}
