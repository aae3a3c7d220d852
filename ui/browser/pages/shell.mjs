// App shell: placeholder routes, deep links, unknown paths, time picker and refresh in the URL.
import { assert, assertNoProblems, openPage, screenshot } from '../lib.mjs';

export const name = 'shell';

export default async function check(ctx) {
  for (const [path, shot] of [
    ['/ui/dashboards', 'dashboards'],
    ['/ui/dashboards/abc%2F1', 'dashboard'],
    ['/ui/metrics', 'metrics'],
    ['/ui/alerts', 'alerts'],
    ['/ui/nothing/here', 'notfound'],
  ]) {
    const { page, problems, tti } = await openPage(ctx, path);
    ctx.timings.push({ page: path, ms: tti });
    try {
      if (shot === 'dashboard') {
        assert((await page.textContent('h1')).includes('abc/1'), 'dashboard id not decoded');
        // No such dashboard: the API's 404 is expected (and shown on the page).
        assert((await page.textContent('.error-box')).includes('no dashboard "abc/1"'), 'missing dashboard error not shown');
        const expected = (p) => /HTTP 404: .*\/lookout\/v1\/dashboards\/abc%2F1$/.test(p) || /status of 404/.test(p);
        problems.splice(0, problems.length, ...problems.filter((p) => !expected(p)));
      }
      // The dashboards, metrics and alerts pages take their own screenshots (pages/dashboards.mjs...).
      assertNoProblems(problems);
    } finally {
      await page.close();
    }
  }

  const { page, problems } = await openPage(ctx, '/ui/');
  try {
    // Preset time range → URL.
    await page.click('[data-testid=time-range]');
    await page.click('button[data-from="now-6h"]');
    await page.waitForFunction(() => new URL(location.href).searchParams.get('from') === 'now-6h');
    // Auto refresh → URL.
    await page.selectOption('[data-testid=auto-refresh]', '30s');
    await page.waitForFunction(() => new URL(location.href).searchParams.get('refresh') === '30s');
    // The nav keeps the time range.
    await page.click('nav.mainnav a:has-text("Hosts")');
    await page.waitForSelector('.page[data-page=hosts]');
    const u = new URL(page.url());
    assert(u.searchParams.get('from') === 'now-6h' && u.searchParams.get('refresh') === '30s', `nav lost the time range: ${u.search}`);
    // Back button returns to the overview.
    await page.goBack();
    await page.waitForSelector('.page[data-page=overview]');
    const label = await page.textContent('[data-testid=time-range]');
    assert(label.includes('6 hours'), `time picker shows ${label}`);
    assertNoProblems(problems);
  } finally {
    await page.close();
  }
}
