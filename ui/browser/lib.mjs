// Helpers shared by the page checks in browser/pages/*.mjs.

import { join } from 'node:path';

export class CheckError extends Error {}

export function assert(cond, message) {
  if (!cond) throw new CheckError(message);
}

export function approx(actual, expected, tolerance, what) {
  assert(
    Number.isFinite(actual) && Math.abs(actual - expected) <= tolerance,
    `${what}: expected ≈ ${expected} (± ${tolerance}), got ${actual}`,
  );
}

/**
 * Opens `path` in a fresh page with the guards every page needs: console errors, page errors,
 * requests leaving 127.0.0.1 and dialogs (an XSS would open one) are recorded as problems.
 * Returns { page, problems, tti } once the page root has data-ready="true" and every chart on it too;
 * tti is ms from navigation start to that moment.
 */
export async function openPage(ctx, path, { timeout = 20_000 } = {}) {
  const page = await ctx.browser.newPage({ viewport: { width: 1440, height: 900 } });
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', async (d) => {
    problems.push(`dialog opened (${d.type()}: ${d.message()}): untrusted text was executed`);
    await d.dismiss().catch(() => {});
  });
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (u.protocol === 'data:') return;
    if (u.hostname !== '127.0.0.1') problems.push(`request leaving 127.0.0.1: ${r.url()}`);
  });
  page.on('requestfailed', (r) => {
    const f = r.failure()?.errorText ?? '';
    if (!f.includes('ERR_ABORTED')) problems.push(`request failed: ${r.url()} ${f}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  await page.goto(ctx.baseUrl + path, { waitUntil: 'commit' });
  const tti = await waitReady(page, timeout);
  return { page, problems, tti };
}

/** Waits for the page root and every chart to be ready; returns ms since navigation start. */
export async function waitReady(page, timeout = 20_000) {
  const h = await page.waitForFunction(
    () => {
      const root = document.querySelector('.page[data-page]');
      if (!root || root.getAttribute('data-ready') !== 'true') return false;
      const charts = [...document.querySelectorAll('[data-chart]')];
      if (charts.some((c) => c.getAttribute('data-ready') !== 'true')) return false;
      return performance.now();
    },
    null,
    { timeout, polling: 50 },
  );
  return Math.round(await h.jsonValue());
}

export async function screenshot(ctx, page, name) {
  const file = join(ctx.screenshotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Every chart on the page: title, series count, points, canvas size. */
export async function charts(page) {
  return page.$$eval('[data-chart]', (els) =>
    els.map((el) => {
      const c = el.querySelector('canvas');
      return {
        title: el.getAttribute('data-chart'),
        testId: el.getAttribute('data-testid'),
        series: Number(el.getAttribute('data-series-count')),
        points: Number(el.getAttribute('data-points')),
        width: c ? c.getBoundingClientRect().width : 0,
        height: c ? c.getBoundingClientRect().height : 0,
      };
    }),
  );
}

/** Whether a canvas has pixels other than its most common (background) colour. */
export async function canvasHasInk(page, selector) {
  return page.$eval(selector, (el) => {
    const c = el.querySelector('canvas');
    if (!c || !c.width || !c.height) return false;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    for (let i = 0; i < d.length; i += 16) if (d[i + 3] > 0 && (d[i] < 230 || d[i + 1] < 230 || d[i + 2] < 230)) ink++;
    return ink > 10;
  });
}

export function assertNoProblems(problems) {
  assert(problems.length === 0, `problems on the page:\n    ${problems.join('\n    ')}`);
}
