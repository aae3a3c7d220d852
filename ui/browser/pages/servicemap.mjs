// Service map: nodes and edges of the logs data set's topology with their counts, drawn by
// cytoscape (a lazily loaded chunk); clicking a node opens its service page.
import { assert, assertNoProblems, openPage, screenshot } from '../lib.mjs';
import { LX } from '../logdata.mjs';

export const name = 'servicemap';

export default async function check(ctx) {
  const { page, problems, tti } = await openPage(ctx, `/ui/service-map?from=${LX.t0 - 120_000}&to=${Date.now() + 60_000}`);
  ctx.timings.push({ page: 'service map', ms: tti });
  try {
    const nodes = await page.$$eval('[data-testid=map-nodes] tbody tr', (trs) => trs.map((t) => ({ s: t.getAttribute('data-node'), requests: Number(t.getAttribute('data-requests')), errors: Number(t.getAttribute('data-errors')) })));
    const lxNodes = Object.fromEntries(nodes.filter((n) => n.s.startsWith('lx-')).map((n) => [n.s, { requests: n.requests, errors: n.errors }]));
    const sortKeys = (o) => JSON.stringify(o, Object.keys(o).sort().concat(['requests', 'errors', 'calls']));
    assert(sortKeys(lxNodes) === sortKeys(LX.nodes), `nodes ${JSON.stringify(lxNodes)} ≠ ${JSON.stringify(LX.nodes)}`);
    const edges = await page.$$eval('[data-testid=map-edges] tbody tr', (trs) => trs.map((t) => ({ e: t.getAttribute('data-edge'), calls: Number(t.getAttribute('data-calls')), errors: Number(t.getAttribute('data-errors')) })));
    const lxEdges = Object.fromEntries(edges.filter((e) => e.e.startsWith('lx-')).map((e) => [e.e, { calls: e.calls, errors: e.errors }]));
    assert(sortKeys(lxEdges) === sortKeys(LX.edges), `edges ${JSON.stringify(lxEdges)} ≠ ${JSON.stringify(LX.edges)}`);
    // The graph is drawn with every node and edge of the answer.
    const g = await page.$eval('[data-testid=service-map]', (e) => ({ n: Number(e.getAttribute('data-graph-nodes')), e: Number(e.getAttribute('data-graph-edges')), canvas: e.querySelectorAll('canvas').length }));
    assert(g.n >= nodes.length && g.e === edges.length && g.canvas > 0, `graph: ${JSON.stringify(g)} (answer ${nodes.length} nodes, ${edges.length} edges)`);
    await screenshot(ctx, page, 'service-map');
    assertNoProblems(problems);
    // Clicking a node opens its service page (positions: rendered px in the container).
    const box = await page.$eval('[data-testid=service-map]', (e) => {
      const r = e.getBoundingClientRect();
      return { x: r.left, y: r.top };
    });
    const pos = JSON.parse((await page.getAttribute('[data-testid=service-map]', 'data-node-positions')) ?? '{}')['lx-orders'];
    assert(pos, 'node positions not exposed');
    await page.mouse.click(box.x + pos.x, box.y + pos.y);
    await page.waitForFunction(() => location.pathname === '/ui/services/lx-orders');
    assertNoProblems(problems);
  } finally {
    await page.close();
  }
}
