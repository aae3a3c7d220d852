// Errors: the groups of the logs data set (service, operation, exception type or message) with
// their counts, sorting in the URL, a group's page with the newest stack trace (as text) and its
// sample traces linking to the trace view.
import { assert, assertNoProblems, openPage, screenshot, waitReady } from '../lib.mjs';
import { XSS } from '../data.mjs';
import { LX } from '../logdata.mjs';

export const name = 'errors';

const range = () => `from=${LX.t0 - 120_000}&to=${Date.now() + 60_000}`;

async function groups(page) {
  return page.$$eval('[data-testid=error-group]', (trs) =>
    trs.map((t) => ({ service: t.getAttribute('data-service'), operation: t.getAttribute('data-operation'), kind: t.getAttribute('data-kind'), count: Number(t.getAttribute('data-count')) })),
  );
}

export default async function check(ctx) {
  const r = range();
  {
    const { page, problems, tti } = await openPage(ctx, `/ui/errors?${r}`);
    ctx.timings.push({ page: 'errors', ms: tti });
    try {
      const gs = (await groups(page)).filter((g) => g.service.startsWith('lx-'));
      const got = Object.fromEntries(gs.map((g) => [`${g.service}|${g.operation}|${g.kind}`, g.count]));
      assert(JSON.stringify(got, Object.keys(got).sort()) === JSON.stringify(LX.groups, Object.keys(LX.groups).sort()), `groups: ${JSON.stringify(got)} ≠ ${JSON.stringify(LX.groups)}`);
      // Default sort: count, descending.
      const counts = (await groups(page)).map((g) => g.count);
      assert(counts.every((c, i) => i === 0 || counts[i - 1] >= c), `not sorted by count: ${counts}`);
      // Each sparkline counts exactly the group's occurrences over the range.
      const spark = await page.$$eval('[data-testid=error-group]', (trs) => trs.map((t) => [t.getAttribute('data-count'), t.getAttribute('data-spark-total')]));
      assert(spark.every(([c, s]) => c === s), `sparkline totals ≠ counts: ${JSON.stringify(spark)}`);
      // Sort by service (ascending) goes to the URL.
      await page.click('th button[data-sort=service]');
      await page.waitForFunction(() => new URL(location.href).searchParams.get('sort') === 'service');
      const names = (await groups(page)).map((g) => g.service);
      assert(names.every((n, i) => i === 0 || names[i - 1] <= n), `not sorted by service: ${names}`);
      const stack = await page.$('[data-testid=error-group][data-service=lx-billing]');
      assert(stack && (await stack.textContent()).includes('CardDeclinedError'), 'exception type not shown');
      assert((await page.$$('.content img')).length === 0, 'an <img> element was created from untrusted text');
      await screenshot(ctx, page, 'errors');
      // Into the CardDeclinedError group.
      await page.click('[data-testid=error-group][data-service=lx-billing] [data-testid=group-link]');
      await page.waitForFunction(() => location.pathname === '/ui/errors/lx-billing/charge');
      await waitReady(page);
      assert(new URL(page.url()).searchParams.get('kind') === 'CardDeclinedError', `group URL ${page.url()}`);
      assert((await page.textContent('[data-testid=group-count]')) === '3', 'group count');
      const st = await page.textContent('[data-testid=stacktrace]');
      assert(st === LX.newestStack, `stack trace: ${JSON.stringify(st)} ≠ ${JSON.stringify(LX.newestStack)}`);
      assert(st.includes(XSS) && (await page.$$('.content img')).length === 0, 'stack trace with markup not shown as text');
      const samples = await page.$$eval('[data-testid=sample-traces] tbody tr', (trs) => trs.map((t) => ({ id: t.getAttribute('data-trace-id'), href: t.querySelector('[data-testid=sample-trace-link]').getAttribute('href') })));
      const want = [4, 2, 0].map((i) => LX.traceIds[i]);
      assert(JSON.stringify(samples.map((s) => s.id)) === JSON.stringify(want), `samples ${samples.map((s) => s.id)} ≠ newest first ${want}`);
      assert(samples.every((s) => s.href.startsWith(`/ui/traces/${s.id}?span=`)), `sample links: ${samples.map((s) => s.href)}`);
      await screenshot(ctx, page, 'errors-group');
      assertNoProblems(problems);
      // A sample → its trace (at the failing span).
      await page.click('[data-testid=sample-trace-link]');
      await page.waitForFunction((id) => location.pathname === `/ui/traces/${id}` && new URL(location.href).searchParams.has('span'), want[0]);
      await page.waitForSelector('.page[data-page]');
    } finally {
      await page.close();
    }
  }
  // A group without exception events (grouped by its message) and a service filter.
  {
    const { page, problems, tti } = await openPage(ctx, `/ui/errors/lx-stock/${encodeURIComponent('GET /stock')}?kind=${encodeURIComponent('out of stock')}&${r}`);
    ctx.timings.push({ page: 'error group (message only)', ms: tti });
    try {
      assert((await page.textContent('[data-testid=group-count]')) === '1', 'message group count');
      assert(await page.$('[data-testid=no-stacktrace]'), 'no "no stack trace" note');
      await page.goto(`${ctx.baseUrl}/ui/errors?service=lx-orders&${r}`, { waitUntil: 'commit' });
      await waitReady(page);
      const gs = await groups(page);
      assert(gs.length === 1 && gs[0].kind === 'TimeoutError' && gs[0].count === 2, `service filter: ${JSON.stringify(gs)}`);
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }
}
