// Alerts: the firing alert on the failing service (from the rule file this module adds to the
// config, evaluated every second), rules by group, history, and the selected alert's chart
// (its expression's left side and the threshold) and evidence (error trace links, error log
// lines as text).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assert, assertNoProblems, canvasHasInk, charts, openPage, screenshot, waitReady } from '../lib.mjs';
import { EXPECTED, XSS } from '../data.mjs';
import { ERROR_LOG, RULES } from '../shopdata.mjs';

export const name = 'alerts';

export function config({ tmp }) {
  const file = join(tmp, 'ui-test-rules.yaml');
  writeFileSync(file, RULES);
  return [`alerting: {rule_files: [${JSON.stringify(file)}]}`];
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(what, fn, ms = 30_000) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn().catch(() => null);
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(300);
  }
}

export default async function check(ctx) {
  const alert = await until('HighErrorRate firing', async () => {
    const r = await (await fetch(`${ctx.api}/api/v1/alerts`)).json();
    return r.data.alerts.find((a) => a.labels.alertname === 'HighErrorRate' && a.state === 'firing');
  });
  assert(alert.labels.service_name === EXPECTED.failing, `HighErrorRate fires for ${alert.labels.service_name}`);
  // The evidence logs are searchable a moment after ingest.
  await until('evidence log lines', async () => {
    const r = await (await fetch(`${ctx.api}/lookout/v1/alerts/evidence?service=${EXPECTED.failing}&since=1h`)).json();
    return r.logLines?.length > 0;
  });

  const { page, problems, tti } = await openPage(ctx, '/ui/alerts?from=now-15m&to=now');
  ctx.timings.push({ page: 'alerts', ms: tti });
  try {
    const row = await page.$(`[data-testid=active-alerts] tr[data-alert=HighErrorRate][data-state=firing]`);
    assert(row, 'the firing HighErrorRate alert is not listed');
    const rt = await row.textContent();
    assert(rt.includes(`service_name=${EXPECTED.failing}`) && rt.includes('0.4'), `alert row: ${rt}`);
    // Rules by group, with health and the file.
    const group = await page.textContent('[data-group=ui-test]');
    assert(group.includes('ui-test-rules.yaml') && group.includes('HighErrorRate') && group.includes('every 1 s'), `rule group: ${group.slice(0, 200)}`);
    // History has the change to firing.
    const hist = await page.$$eval('[data-testid=alert-history] tbody tr', (trs) => trs.map((t) => `${t.getAttribute('data-rule')} ${t.getAttribute('data-to')}`));
    assert(hist.includes('HighErrorRate firing'), `history: ${hist.slice(0, 5)}`);
    // The untrusted service name (ServiceTraffic fires for every service) is text.
    assert(await page.$(`[data-testid=active-alerts] .chip:text-is("service_name=${XSS}")`), 'XSS label value not shown as text');
    assert((await page.$$('img')).length === 0, 'an <img> element was created from a label value');

    // Select it: chart of the left side with the threshold, evidence.
    await row.$('button[data-action=select]').then((b) => b.click());
    await page.waitForFunction(() => new URL(location.href).searchParams.get('alert') === 'HighErrorRate');
    await page.waitForSelector('[data-testid=evidence][data-ready=true]');
    await waitReady(page);
    const c = (await charts(page)).find((x) => x.testId === 'alert-chart');
    assert(c && c.series === 2 && c.points > 0 && c.width > 0, `alert chart: ${JSON.stringify(c)}`);
    assert(await canvasHasInk(page, '[data-testid=alert-chart]'), 'alert chart is blank');
    const charted = await page.textContent('[data-testid=charted-expr]');
    assert(charted.includes('(threshold > 0.2)') && !charted.startsWith('sum by (service_name) (rate(traces_span_metrics_calls_total{status_code="STATUS_CODE_ERROR"}[5m])) / sum by (service_name) (rate(traces_span_metrics_calls_total[5m])) >'), `charted: ${charted}`);
    const traces = await page.$$eval('[data-testid=evidence-traces] a', (as) => as.map((a) => ({ id: a.textContent, href: a.getAttribute('href') })));
    assert(traces.length > 0 && traces.every((t) => t.href === `/ui/traces/${t.id}`), `evidence traces: ${JSON.stringify(traces)}`);
    const tr = await (await fetch(`${ctx.api}/lookout/v1/traces/${traces[0].id}`)).json();
    assert(JSON.stringify(tr).includes(EXPECTED.failing), 'the evidence trace link does not open a trace of the service');
    const logs = await page.$$eval('[data-testid=evidence-logs] li', (lis) => lis.map((l) => l.textContent));
    assert(logs.includes(ERROR_LOG), `evidence logs: ${JSON.stringify(logs)}`);
    assert((await page.$$('img')).length === 0, 'an <img> element was created from a log line');
    await screenshot(ctx, page, 'alerts');
    // The selection survives a reload.
    await page.reload({ waitUntil: 'commit' });
    await page.waitForSelector('[data-testid=evidence][data-ready=true]');
    await waitReady(page);
    assertNoProblems(problems);
  } finally {
    await page.close();
  }
}
