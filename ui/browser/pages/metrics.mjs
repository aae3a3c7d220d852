// Metrics explorer: the graph of rate(traces_span_metrics_calls_total[1m]), the table with its
// labels (an untrusted label value as text), completion of metric names, label names and values
// (codemirror-promql), the API's error inline, the metric browser inserting a name.
import { assert, assertNoProblems, canvasHasInk, charts, openPage, screenshot, waitReady } from '../lib.mjs';
import { XSS } from '../data.mjs';
import { without } from './dashboards.mjs';

export const name = 'metrics';

const Q = 'rate(traces_span_metrics_calls_total[1m])';

async function completions(page) {
  await page.waitForSelector('.cm-tooltip-autocomplete li', { timeout: 10_000 });
  return page.$$eval('.cm-tooltip-autocomplete li', (lis) => lis.map((li) => li.querySelector('.cm-completionLabel')?.textContent ?? li.textContent));
}

async function typeQuery(page, text) {
  await page.click('.promql-editor .cm-content');
  await page.keyboard.press('Control+a');
  await page.keyboard.press('Delete');
  await page.keyboard.type(text, { delay: 15 });
}

export default async function check(ctx) {
  const { page, problems, tti } = await openPage(ctx, `/ui/metrics?from=now-15m&to=now&q=${encodeURIComponent(Q)}`);
  ctx.timings.push({ page: 'metrics (graph)', ms: tti });
  try {
    assert((await page.getAttribute('.page[data-page=metrics]', 'data-editor')) === 'ready', 'the CodeMirror editor did not load');
    const text = await page.textContent('.promql-editor .cm-content');
    assert(text === Q, `editor shows ${text}`);
    const c = (await charts(page)).find((x) => x.testId === 'explorer-chart');
    assert(c && c.series >= 4 && c.points > 0 && c.width > 0, `graph: ${JSON.stringify(c)}`);
    assert(await canvasHasInk(page, '[data-testid=explorer-chart]'), 'graph canvas is blank');
    await screenshot(ctx, page, 'metrics');

    // Table tab: labels and values; the tab is in the URL. The table is the instant query at the
    // range's end: a 1m rate needs two samples in the minute before it, and the span metrics stop
    // getting samples once the data set's spans are counted, so the range ends at their last one.
    await page.click('button[data-tab=table]');
    await page.waitForSelector('[data-testid=result-table]');
    assert(new URL(page.url()).searchParams.get('tab') === 'table', 'tab not in the URL');
    const last = await (await fetch(`${ctx.api}/api/v1/query?query=${encodeURIComponent('max(timestamp(traces_span_metrics_calls_total))')}`)).json();
    const endMs = Math.round(parseFloat(last.data.result[0].value[1]) * 1000);
    const at = `/ui/metrics?from=${endMs - 15 * 60_000}&to=${endMs}&tab=table&q=${encodeURIComponent(Q)}`;
    await page.goto(ctx.baseUrl + at);
    await waitReady(page);
    await page.waitForSelector('[data-testid=result-table]');
    const rows = await page.$$eval('[data-testid=result-table] tbody tr', (trs) =>
      trs.map((tr) => ({ labels: [...tr.querySelectorAll('[data-label]')].map((s) => s.textContent), value: tr.querySelector('[data-value]')?.getAttribute('data-value') })),
    );
    const api = await (await fetch(`${ctx.api}/api/v1/query?query=${encodeURIComponent(Q)}&time=${endMs / 1000}`)).json();
    assert(rows.length >= 4 && rows.length === api.data.result.length, `table rows: ${rows.length}, the API answers ${api.data.result.length}`);
    assert(rows.every((r) => r.labels.some((l) => l.startsWith('service_name=')) && r.labels.some((l) => l.startsWith('span_kind=')) && Number.isFinite(parseFloat(r.value))), `table rows: ${JSON.stringify(rows.slice(0, 2))}`);
    assert(rows.some((r) => r.labels.includes(`service_name="${XSS}"`)), 'the untrusted label value is not shown as text');
    assert((await page.$$('img')).length === 0, 'an <img> element was created from a label value');
    await screenshot(ctx, page, 'metrics-table');

    // Completion: metric names, label names, label values.
    await typeQuery(page, 'traces_span_metrics_ca');
    let got = await completions(page);
    assert(got.includes('traces_span_metrics_calls_total'), `metric name completion: ${got.slice(0, 10)}`);
    await typeQuery(page, 'traces_span_metrics_calls_total{serv');
    got = await completions(page);
    assert(got.includes('service_name'), `label name completion: ${got.slice(0, 10)}`);
    await typeQuery(page, 'traces_span_metrics_calls_total{service_name="pay');
    got = await completions(page);
    assert(got.includes('payments'), `label value completion: ${got.slice(0, 10)}`);
    await page.keyboard.press('Escape');

    // A query the API refuses: its error text inline.
    await typeQuery(page, 'rate(traces_span_metrics_calls_total[1m]');
    await page.keyboard.press('Escape');
    // The editor closes brackets as they are typed: remove the ")" it added.
    if ((await page.textContent('.promql-editor .cm-content')).endsWith(')')) {
      await page.keyboard.press('End');
      await page.keyboard.press('Backspace');
    }
    await page.click('[data-testid=run-query]');
    const err = await page.waitForSelector('[data-testid=query-error] .error-message');
    const et = await err.textContent();
    assert(/unclosed left parenthesis/.test(et), `error: ${et}`);
    without(problems, /HTTP 400: .*\/api\/v1\/query/, /status of 400/);

    // The metric browser inserts a name.
    await typeQuery(page, '');
    await page.fill('[data-testid=metric-browser] input', 'shop_active');
    const meta = await page.textContent('[data-metric=shop_active_users] .metric-meta');
    assert(meta.includes('gauge') && meta.includes('{user}'), `metric browser metadata: ${meta}`);
    await page.click('[data-metric=shop_active_users]');
    const after = await page.textContent('.promql-editor .cm-content');
    assert(after === 'shop_active_users', `after a click in the browser: ${after}`);
    await page.click('[data-testid=run-query]');
    await page.waitForFunction(() => new URL(location.href).searchParams.get('q') === 'shop_active_users');
    await waitReady(page);
    // Back: the previous (bad) query returns to the editor.
    await page.goBack();
    await page.waitForFunction(() => document.querySelector('.promql-editor .cm-content')?.textContent?.startsWith('rate('));
    without(problems, /HTTP 400: .*\/api\/v1\/query/, /status of 400/);
    assertNoProblems(problems);
  } finally {
    await page.close();
  }
}
