// Dashboards: the list (provisioned Business, filter), the Business dashboard's stat values equal
// what the test sent, a dashboard created in the UI survives a reload, a bad PromQL panel shows
// its error (at save: the API's problem next to the query; at run time: in the panel), save as
// copy, export, delete; untrusted text (a variable value, a title) shown as text.
import { approx, assert, assertNoProblems, canvasHasInk, charts, openPage, screenshot, waitReady } from '../lib.mjs';
import { XSS } from '../data.mjs';
import { expectedStats, sendShop, sent } from '../shopdata.mjs';

export const name = 'dashboards';

/** Sends the shop.* metrics (and the alert evidence logs) after data.mjs's data set. */
export async function sendData({ otlpHttp, api }) {
  await sendShop(otlpHttp);
  const t0 = Date.now();
  for (;;) {
    const r = await (await fetch(`${api}/api/v1/query?query=${encodeURIComponent('count(shop_orders_total)')}`)).json();
    if (Number(r.data?.result?.[0]?.value?.[1] ?? 0) >= 4) break;
    if (Date.now() - t0 > 20_000) throw new Error('shop metrics not visible');
    await new Promise((res) => setTimeout(res, 250));
  }
}

/** Drops problems the check provokes on purpose (an API error it wants to see). */
export function without(problems, ...patterns) {
  const keep = problems.filter((p) => !patterns.some((re) => re.test(p)));
  problems.length = 0;
  problems.push(...keep);
}

export default async function check(ctx) {
  // ---- the list ----
  {
    const { page, problems, tti } = await openPage(ctx, '/ui/dashboards');
    ctx.timings.push({ page: 'dashboards', ms: tti });
    try {
      const row = await page.$('tr[data-id=business]');
      assert(row, 'Business dashboard missing from the list');
      const text = await row.textContent();
      assert(/provisioned/i.test(text) && text.includes('examples/business.yaml'), `Business row: ${text}`);
      assert(text.includes('8'), `panel count missing: ${text}`);
      await page.fill('[data-testid=dashboards-filter]', 'nothing-matches-this');
      await page.waitForSelector('tr[data-id=business]', { state: 'detached' });
      await page.fill('[data-testid=dashboards-filter]', 'business');
      await page.waitForSelector('tr[data-id=business]');
      assert(new URL(page.url()).searchParams.get('q') === 'business', 'filter not in the URL');
      await screenshot(ctx, page, 'dashboards');
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }

  // ---- Business: stat values equal what was sent ----
  const to = sent.lastMs;
  const range = `from=${to - 15 * 60_000}&to=${to}`;
  {
    const { page, problems, tti } = await openPage(ctx, `/ui/dashboards/business?${range}&var-service=shop`);
    ctx.timings.push({ page: 'dashboard (Business)', ms: tti });
    try {
      const stats = await page.$$eval('[data-panel-type=stat] .stat-panel', (els) =>
        els.map((e) => ({ title: e.getAttribute('data-chart'), value: e.getAttribute('data-value'), text: e.querySelector('.stat-big')?.textContent, color: e.getAttribute('data-color') })),
      );
      const want = expectedStats();
      for (const [title, v] of Object.entries(want)) {
        const s = stats.find((x) => x.title === title);
        assert(s, `stat ${title} missing (${JSON.stringify(stats)})`);
        approx(parseFloat(s.value), v, Math.abs(v) * 1e-6 + 1e-9, `stat ${title}`);
      }
      const revenue = stats.find((x) => x.title === 'Revenue in the last hour');
      assert(revenue.text === '€79.96', `revenue shown as ${revenue.text}`);
      const conv = stats.find((x) => x.title === 'Conversion rate');
      assert(conv.text === '50.0%' && conv.color !== '', `conversion shown as ${conv.text}, colour ${conv.color}`);
      // Read-only: a badge, no edit controls but "Save as copy".
      assert(await page.$('[data-testid=read-only]'), 'no read-only badge');
      assert(!(await page.$('[data-testid=edit]')) && !(await page.$('[data-testid=delete]')), 'provisioned dashboard shows edit controls');
      assert(await page.$('[data-testid=save-copy]'), 'no Save as copy');
      // Charts and the table have data.
      const cs = await charts(page);
      const orders = cs.find((c) => c.title === 'Orders per minute by status');
      assert(orders && orders.series === 2 && orders.points > 0 && orders.width > 0, `orders chart: ${JSON.stringify(orders)}`);
      assert(await canvasHasInk(page, '[data-panel-title="Revenue per minute"] [data-chart]'), 'revenue bars not drawn');
      const table = await page.$$eval('[data-panel-title="Orders in the last hour by status"] tbody tr', (trs) => trs.map((t) => t.textContent));
      assert(table.length === 2 && table.some((t) => t.includes('completed') && t.includes('12')), `orders table: ${table}`);
      // The variable's values include the untrusted service name, as text.
      const options = await page.$$eval('select[data-var=service] option', (os) => os.map((o) => o.textContent));
      assert(options.includes('shop') && options.includes(XSS), `variable values: ${options}`);
      // Export: a data: URL of the JSON.
      const href = await page.getAttribute('[data-testid=export]', 'href');
      const exported = JSON.parse(decodeURIComponent(href.slice(href.indexOf(',') + 1)));
      assert(exported.id === 'business' && exported.panels.length === 8 && exported.provisioned === undefined, 'export JSON');
      await screenshot(ctx, page, 'dashboard-business');
      // Switching the variable goes to the URL.
      await page.selectOption('select[data-var=service]', XSS);
      await page.waitForFunction((x) => new URL(location.href).searchParams.get('var-service') === x, XSS);
      await waitReady(page);
      assert((await page.$$('img')).length === 0, 'an <img> element was created from a label value');
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }

  // ---- create in the UI, edit, bad PromQL, reload ----
  const title = `UI test ${XSS}`;
  const id = 'ui-test-img-src-x-onerror-alert-1';
  {
    const { page, problems } = await openPage(ctx, `/ui/dashboards?${range}`);
    try {
      await page.click('[data-testid=new-dashboard]');
      await page.fill('[data-testid=new-dashboard-form] input[name=title]', title);
      await page.click('[data-testid=new-dashboard-form] button[type=submit]');
      await page.waitForSelector('.page[data-page=dashboard][data-editing=true]');
      assert(new URL(page.url()).pathname === `/ui/dashboards/${id}`, `created at ${page.url()}`);
      assert((await page.textContent('.dash-title')) === title, 'title not shown as text');
      // Panel 1: a time series of the RED calls per service.
      await page.click('[data-testid=add-panel]');
      const ed = '[data-testid=panel-editor]';
      await page.fill(`${ed} input[name=title]`, 'Calls per service');
      await page.fill(`${ed} textarea[name=expr-0]`, 'sum by (service_name) (rate(traces_span_metrics_calls_total[$__rate_interval]))');
      await page.fill(`${ed} input[name=legend-0]`, '{{service_name}}');
      await page.fill(`${ed} input[name=unit]`, 'req/s');
      // Panel 2: a stat whose PromQL does not parse: the API's problem shows next to the query.
      await page.click('[data-testid=add-panel]');
      await page.waitForSelector(`${ed}[data-index="1"]`);
      await page.fill(`${ed} input[name=title]`, 'Broken');
      await page.selectOption(`${ed} select[name=type]`, 'stat');
      await page.fill(`${ed} textarea[name=expr-0]`, 'rate(shop_orders_total[5m]');
      await page.click('[data-testid=save]');
      const problem = await page.waitForSelector(`${ed} [data-problem-for="panels[1].queries[0]"]`);
      const ptext = await problem.textContent();
      assert(/unclosed left parenthesis/.test(ptext), `inline problem: ${ptext}`);
      await screenshot(ctx, page, 'dashboard-edit');
      // (the draft panel runs its query while it is edited: the API refuses it too)
      without(problems, /HTTP 400: .*\/lookout\/v1\/dashboards\//, /HTTP 400: .*\/api\/v1\/query\?query=rate%28shop_orders_total/, /status of 400/);
      // A query that parses but fails when run: the panel shows the API's error text.
      await page.fill(`${ed} textarea[name=expr-0]`, 'shop_orders_total + on(job) shop_orders_total');
      await page.click('[data-testid=save]');
      await page.waitForSelector('.page[data-page=dashboard][data-editing=false][data-ready=true]');
      await waitReady(page);
      const err = await page.textContent('[data-panel-title=Broken] .error-box');
      assert(/many-to-many matching not allowed/.test(err), `panel error: ${err}`);
      const cs = await charts(page);
      const calls = cs.find((c) => c.title === 'Calls per service');
      assert(calls && calls.series >= 4 && calls.points > 0, `the other panel still works: ${JSON.stringify(calls)}`);
      without(problems, /HTTP 422: .*\/api\/v1\/query/, /status of 422/);
      // Reload: found, with both panels.
      await page.reload({ waitUntil: 'commit' });
      await waitReady(page);
      const titles = await page.$$eval('[data-panel-title]', (els) => els.map((e) => e.getAttribute('data-panel-title')));
      assert(titles.join('|') === 'Calls per service|Broken', `after reload: ${titles}`);
      without(problems, /HTTP 422: .*\/api\/v1\/query/, /status of 422/);
      await screenshot(ctx, page, 'dashboard-created');
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }
  {
    const { page, problems } = await openPage(ctx, '/ui/dashboards');
    try {
      const t = await page.textContent(`tr[data-id="${id}"] td.name a`);
      assert(t === title, `new dashboard in the list as ${JSON.stringify(t)}`);
      assert((await page.$$('td.name img')).length === 0, 'an <img> element was created from a title');
      // Import JSON (pasted): created, then the same again: the API's 409 shown.
      const doc = JSON.stringify({ id: 'imported', title: 'Imported', tags: ['ui-test'], panels: [{ title: 'Up', type: 'table', queries: [{ expr: 'count by (job) (shop_active_users)' }], grid: { x: 0, y: 0, w: 24, h: 6 } }] });
      await page.click('[data-testid=import-dashboard]');
      await page.fill('[data-testid=import-form] textarea', doc);
      await page.click('[data-testid=import-form] button[type=submit]');
      await page.waitForFunction(() => location.pathname === '/ui/dashboards/imported');
      await waitReady(page);
      const rows = await page.$$eval('[data-panel-title=Up] tbody tr', (trs) => trs.length);
      assert(rows === 2, `imported table rows: ${rows}`);
      await page.goBack();
      await page.waitForSelector('.page[data-page=dashboards][data-ready=true]');
      await page.click('[data-testid=import-dashboard]');
      await page.fill('[data-testid=import-form] textarea', doc);
      await page.click('[data-testid=import-form] button[type=submit]');
      const e409 = await (await page.waitForSelector('[data-testid=import-form] .error-box')).textContent();
      assert(/exists/.test(e409), `409 not shown: ${e409}`);
      without(problems, /HTTP 409: .*\/lookout\/v1\/dashboards$/, /status of 409/);
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }

  // ---- save as copy (of the provisioned one), edit, delete ----
  {
    const { page, problems } = await openPage(ctx, `/ui/dashboards/business?${range}&var-service=shop`);
    try {
      await page.click('[data-testid=save-copy]');
      await page.fill('[data-testid=copy-form] input[name=copy-title]', 'Business copy');
      await page.click('[data-testid=copy-form] button[type=submit]');
      await page.waitForFunction(() => location.pathname === '/ui/dashboards/business-copy');
      await waitReady(page);
      assert(!(await page.$('[data-testid=read-only]')), 'the copy is read-only');
      // Edit: move the last panel first, change its width, save; the order survives a reload.
      await page.click('[data-testid=edit]');
      await page.waitForSelector('.page[data-editing=true]');
      await page.click('[data-testid=panel-tools-7] [data-action=edit]');
      await page.fill('[data-testid=panel-editor] input[name=title]', 'Orders table');
      for (let i = 7; i > 0; i--) await page.click(`[data-testid=panel-tools-${i}] [data-action=up]`);
      await page.click('[data-testid=save]');
      await page.waitForSelector('.page[data-editing=false][data-ready=true]');
      const saved = await (await fetch(`${ctx.api}/lookout/v1/dashboards/business-copy`)).json();
      assert(saved.panels[0].title === 'Orders table' && saved.panels[0].grid.x === 0 && saved.panels[0].grid.y === 0, `saved order: ${saved.panels.map((p) => p.title)}`);
      // Delete.
      await page.click('[data-testid=delete]');
      await page.click('[data-testid=confirm-delete]');
      await page.waitForSelector('.page[data-page=dashboards][data-ready=true]');
      assert(!(await page.$('tr[data-id=business-copy]')), 'deleted dashboard still listed');
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }
}
