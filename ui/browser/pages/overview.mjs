// Overview: services table (status, reasons, error %), untrusted names as text, host strip, sorting in the URL.
import { approx, assert, assertNoProblems, canvasHasInk, charts, openPage, screenshot } from '../lib.mjs';
import { EXPECTED, SERVICES } from '../data.mjs';

export const name = 'overview';

export default async function check(ctx) {
  const { page, problems, tti } = await openPage(ctx, '/ui/?from=now-15m&to=now');
  ctx.timings.push({ page: 'overview', ms: tti });
  try {
    await screenshot(ctx, page, 'overview');
    const rows = await page.$$eval('[data-testid=services-table] tbody tr', (trs) =>
      trs.map((tr) => ({
        service: tr.getAttribute('data-service'),
        status: tr.getAttribute('data-status'),
        name: tr.querySelector('td.name a')?.textContent,
        href: tr.querySelector('td.name a')?.getAttribute('href'),
        reasons: tr.querySelector('td.reasons')?.textContent ?? '',
        errorPercent: parseFloat(tr.querySelector('[data-col=error_percent]')?.getAttribute('data-value') ?? 'NaN'),
        errorText: tr.querySelector('[data-col=error_percent]')?.textContent,
        spark: Number(tr.querySelector('.sparkline')?.getAttribute('data-points') ?? 0),
      })),
    );
    for (const s of SERVICES) assert(rows.some((r) => r.service === s.name), `service ${JSON.stringify(s.name)} missing from the table`);

    const failing = rows.find((r) => r.service === EXPECTED.failing);
    assert(failing.status === 'unhealthy', `${EXPECTED.failing} should be unhealthy, is ${failing.status}`);
    approx(failing.errorPercent, EXPECTED.failingErrorPercent, 3, `${EXPECTED.failing} error %`);
    assert(/error rate/i.test(failing.reasons), `${EXPECTED.failing}'s reason text missing: ${JSON.stringify(failing.reasons)}`);
    assert(failing.errorText.includes('%'), `error % cell shows a unit: ${failing.errorText}`);
    // The table is sorted worst first by default.
    assert(rows[0].status === 'unhealthy', `first row should be the unhealthy service, is ${rows[0].service}`);
    for (const h of EXPECTED.healthy) assert(rows.find((r) => r.service === h)?.status === 'healthy', `${h} should be healthy`);
    assert(rows.some((r) => r.spark > 0), 'no sparkline has data points');

    // Untrusted name: shown as literal text, linked with an encoded path, nothing executed.
    const xss = rows.find((r) => r.service === EXPECTED.xss);
    assert(xss.name === EXPECTED.xss, `XSS service name not shown literally: ${JSON.stringify(xss.name)}`);
    assert(xss.href.startsWith(`/ui/services/${encodeURIComponent(EXPECTED.xss)}`), `XSS link not encoded: ${xss.href}`);
    assert((await page.$$('td.name img')).length === 0, 'an <img> element was created from a service name');
    assert(await page.getByText(EXPECTED.xss, { exact: true }).first().isVisible(), 'XSS name not visible as text');

    // Host strip: four charts with data, drawn.
    const cs = (await charts(page)).filter((c) => c.testId?.startsWith('host-'));
    assert(cs.length === 4, `expected 4 host charts, got ${cs.length}`);
    for (const c of cs) {
      assert(c.width > 0 && c.height > 0, `host chart ${c.title} has no canvas size`);
      assert(c.series > 0 && c.points > 0, `host chart ${c.title} has no data (${c.series} series, ${c.points} points)`);
    }
    assert(await canvasHasInk(page, '[data-testid=host-memory]'), 'memory chart canvas is blank');


    // Sorting goes to the URL and survives a reload.
    await page.click('button[data-sort=name]');
    await page.waitForFunction(() => new URL(location.href).searchParams.get('sort') === 'name');
    await page.reload();
    await page.waitForSelector('.page[data-ready=true]');
    const first = await page.$eval('[data-testid=services-table] tbody tr', (tr) => tr.getAttribute('data-service'));
    const sorted = SERVICES.map((s) => s.name).sort()[0];
    assert(first === sorted, `after sort=name and reload, first row is ${first}, expected ${sorted}`);

    // Clicking a service navigates in-app to its page.
    await page.click(`tr[data-service="${EXPECTED.failing}"] td.name a`);
    await page.waitForSelector('.page[data-page=service][data-ready=true]');
    assert(new URL(page.url()).pathname === `/ui/services/${EXPECTED.failing}`, `navigated to ${page.url()}`);
    assertNoProblems(problems);
  } finally {
    await page.close();
  }
}
