// Hosts: every host chart has a canvas and data; the instance is in the URL.
import { assert, assertNoProblems, canvasHasInk, charts, openPage, screenshot } from '../lib.mjs';

export const name = 'hosts';

export default async function check(ctx) {
  const { page, problems, tti } = await openPage(ctx, '/ui/hosts?from=now-15m&to=now');
  ctx.timings.push({ page: 'hosts', ms: tti });
  try {
    await screenshot(ctx, page, 'hosts');
    const instance = await page.$eval('.page[data-page=hosts]', (e) => e.getAttribute('data-instance'));
    assert(instance, 'no host instance selected');
    const cs = await charts(page);
    const want = ['hosts-cpu', 'hosts-cpu-cores', 'hosts-load', 'hosts-memory', 'hosts-swap', 'hosts-filesystem', 'hosts-disk-io', 'hosts-network'];
    for (const id of want) {
      const c = cs.find((x) => x.testId === id);
      assert(c, `chart ${id} missing`);
      assert(c.width > 0 && c.height > 0, `chart ${id} has no canvas size`);
      // Swap and disk I/O can be legitimately absent on some machines (no swap, no block devices).
      if (id !== 'hosts-swap' && id !== 'hosts-disk-io') assert(c.series > 0 && c.points > 0, `chart ${id} has no data: ${JSON.stringify(c)}`);
    }
    assert(await canvasHasInk(page, '[data-testid=hosts-cpu-cores]'), 'per-core CPU canvas is blank');
    // Axes are drawn on the canvas; the legend shows the hovered value with its unit.
    const mem = await (await page.$('[data-testid=hosts-memory] .u-over')).boundingBox();
    await page.mouse.move(mem.x + mem.width - 3, mem.y + mem.height / 2);
    const legend = await page.$$eval('[data-testid=hosts-memory] .u-legend .u-series .u-value', (els) => els.map((e) => e.textContent));
    assert(legend.slice(1).some((v) => / [KMGT]?i?B$/.test(v)), `memory legend values have no byte unit: ${legend}`);

    // Selecting the instance writes it to the URL.
    await page.selectOption('[data-testid=instance-select]', instance);
    await page.waitForFunction((i) => new URL(location.href).searchParams.get('instance') === i, instance);

    // Drag on a chart zooms: from/to become absolute times.
    const over = await page.$('[data-testid=hosts-cpu] .u-over');
    const box = await over.boundingBox();
    await page.mouse.move(box.x + box.width * 0.3, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.7, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction(() => /^\d{13}$/.test(new URL(location.href).searchParams.get('from') ?? ''));
    const u = new URL(page.url());
    assert(Number(u.searchParams.get('to')) > Number(u.searchParams.get('from')), `zoom gave ${u.search}`);
    assertNoProblems(problems);
  } finally {
    await page.close();
  }
}
