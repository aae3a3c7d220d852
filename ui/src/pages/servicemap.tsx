// Service map (/ui/service-map): services (node size: request rate; colour: error rate) and
// calls (edge label: calls/s and error %) of the range from /lookout/v1/service-map, laid out by
// cytoscape (breadthfirst, directed: callers above callees), loaded on first use (its own chunk).
// Clicking a node opens its service page. The nodes and edges are also listed in a table
// (`data-testid=map-nodes`, `map-edges`) for keyboard users and tests; the graph's container has
// data-graph-nodes/-edges and data-node-positions (rendered px, JSON) for tests. Labels are drawn on
// the canvas by cytoscape (text only).

import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { carrySearch, servicePath, type Route } from '../lib/url';
import { useAsync, useTitle } from '../lib/hooks';
import { navigate, useSearch, useTime } from '../lib/store';
import { formatValue } from '../lib/format';
import { errorColor, nodeSize, serviceMap, type ServiceMap } from '../lib/logs';
import { ErrorBox, Link, Loading, PageHeader } from '../components/common';

type Cy = typeof import('cytoscape');
let cyLib: Promise<Cy> | null = null;
const loadCytoscape = () => (cyLib ??= import('cytoscape').then((m) => ((m as unknown as { default?: Cy }).default ?? (m as unknown as Cy))));

function windowSeconds(m: ServiceMap): number {
  return Math.max(1, (Date.parse(m.end) - Date.parse(m.start)) / 1000);
}

export default function ServiceMapPage(_props: { route: Route }) {
  useTitle('Service map');
  const time = useTime();
  const search = useSearch();
  const map = useAsync((s) => serviceMap(time.start, time.end, s), [time.start, time.end, time.tick]);
  const [drawn, setDrawn] = useState(false);
  const [libError, setLibError] = useState<Error | undefined>(undefined);
  const ready = !!map.error || (!!map.data && (drawn || !!libError || map.data.nodes.length === 0));
  const secs = map.data ? windowSeconds(map.data) : 1;
  const nodes = useMemo(() => [...(map.data?.nodes ?? [])].sort((a, b) => (a.service < b.service ? -1 : 1)), [map.data]);
  const edges = useMemo(() => [...(map.data?.edges ?? [])].sort((a, b) => (a.caller + a.callee < b.caller + b.callee ? -1 : 1)), [map.data]);
  return (
    <div class="page" data-page="servicemap" data-ready={ready ? 'true' : 'false'}>
      <PageHeader title="Service map">
        <span class="small muted map-legend">
          node size: requests/s · colour: error rate <span class="dot" style={{ background: errorColor(0) }} /> &lt; 1%{' '}
          <span class="dot" style={{ background: errorColor(0.02) }} /> &lt; 5% <span class="dot" style={{ background: errorColor(0.5) }} /> ≥ 5%
        </span>
      </PageHeader>
      {map.error ? (
        <ErrorBox error={map.error} />
      ) : !map.data ? (
        <Loading />
      ) : map.data.nodes.length === 0 ? (
        <div class="panel empty-state">No calls between services in this time range (send traces whose spans cross services).</div>
      ) : (
        <>
          <section class="panel map-panel">
            {libError ? <ErrorBox error={libError} /> : <Graph data={map.data} search={search} onDrawn={() => setDrawn(true)} onError={setLibError} />}
          </section>
          <div class="grid grid-2">
            <section class="panel">
              <div class="panel-title">Services</div>
              <table class="table" data-testid="map-nodes">
                <thead>
                  <tr>
                    <th>Service</th>
                    <th class="num">Requests/s</th>
                    <th class="num">Errors</th>
                    <th class="num">p50</th>
                    <th class="num">p99</th>
                  </tr>
                </thead>
                <tbody>
                  {nodes.map((n) => (
                    <tr data-node={n.service} data-requests={String(n.requests)} data-errors={String(n.errors)}>
                      <td class="name">
                        <Link href={`${servicePath(n.service)}${carrySearch(search)}`}>{n.service}</Link>
                      </td>
                      <td class="num">{formatValue(n.requestRate, 'req/s')}</td>
                      <td class={`num${n.errorRate >= 0.05 ? ' bad' : ''}`}>{formatValue(n.errorRate, 'percentunit')}</td>
                      <td class="num">{formatValue(n.p50Ms, 'ms')}</td>
                      <td class="num">{formatValue(n.p99Ms, 'ms')}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
            <section class="panel">
              <div class="panel-title">Calls</div>
              <table class="table" data-testid="map-edges">
                <thead>
                  <tr>
                    <th>Caller</th>
                    <th>Callee</th>
                    <th class="num">Calls/s</th>
                    <th class="num">Errors</th>
                  </tr>
                </thead>
                <tbody>
                  {edges.map((e) => (
                    <tr data-edge={`${e.caller}→${e.callee}`} data-caller={e.caller} data-callee={e.callee} data-calls={String(e.calls)} data-errors={String(e.errors)}>
                      <td class="name">{e.caller}</td>
                      <td class="name">{e.callee}</td>
                      <td class="num">{formatValue(e.calls / secs, 'ops/s')}</td>
                      <td class={`num${e.calls && e.errors / e.calls >= 0.05 ? ' bad' : ''}`}>{formatValue(e.calls ? e.errors / e.calls : 0, 'percentunit')}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </section>
          </div>
        </>
      )}
    </div>
  );
}

function Graph({ data, search, onDrawn, onError }: { data: ServiceMap; search: string; onDrawn: () => void; onError: (e: Error) => void }) {
  const el = useRef<HTMLDivElement>(null);
  const searchRef = useRef(search);
  searchRef.current = search;
  const [count, setCount] = useState({ nodes: 0, edges: 0 });
  useEffect(() => {
    let cy: import('cytoscape').Core | null = null;
    let dead = false;
    loadCytoscape().then(
      (cytoscape) => {
        if (dead || !el.current) return;
        const secs = windowSeconds(data);
        const maxRate = Math.max(0, ...data.nodes.map((n) => n.requestRate));
        const known = new Set(data.nodes.map((n) => n.service));
        const elements: import('cytoscape').ElementDefinition[] = [];
        // Callers that receive no requests themselves (e.g. a client) still get a node.
        const all = [...data.nodes];
        for (const e of data.edges) {
          for (const s of [e.caller, e.callee]) {
            if (known.has(s)) continue;
            known.add(s);
            all.push({ service: s, requests: 0, errors: 0, requestRate: 0, errorRate: 0, p50Ms: null, p99Ms: null });
          }
        }
        for (const n of all) {
          elements.push({
            group: 'nodes',
            data: {
              id: `n:${n.service}`,
              service: n.service,
              label: `${n.service}\n${formatValue(n.requestRate, 'req/s')} · ${formatValue(n.errorRate, 'percentunit')} err`,
              size: nodeSize(n.requestRate, maxRate),
              color: errorColor(n.errorRate),
            },
          });
        }
        for (const e of data.edges) {
          const ratio = e.calls ? e.errors / e.calls : 0;
          elements.push({
            group: 'edges',
            data: {
              id: `e:${e.caller}\u0000${e.callee}`,
              source: `n:${e.caller}`,
              target: `n:${e.callee}`,
              label: `${formatValue(e.calls / secs, 'ops/s')} · ${formatValue(ratio, 'percentunit')}`,
              color: ratio >= 0.05 ? '#c62828' : '#8a94a6',
            },
          });
        }
        cy = cytoscape({
          container: el.current,
          elements,
          wheelSensitivity: 0.3,
          minZoom: 0.3,
          maxZoom: 2.5,
          style: [
            {
              selector: 'node',
              style: {
                width: 'data(size)',
                height: 'data(size)',
                'background-color': 'data(color)',
                label: 'data(label)',
                'text-wrap': 'wrap',
                'text-valign': 'bottom',
                'text-margin-y': 4,
                'font-size': 11,
                color: '#1f2329',
                'text-background-color': '#ffffff',
                'text-background-opacity': 0.8,
                'text-background-padding': '2px',
                'border-width': 2,
                'border-color': '#ffffff',
              },
            },
            {
              selector: 'edge',
              style: {
                width: 2,
                'line-color': 'data(color)',
                'target-arrow-color': 'data(color)',
                'target-arrow-shape': 'triangle',
                'curve-style': 'bezier',
                label: 'data(label)',
                'font-size': 10,
                color: '#4b5563',
                'text-rotation': 'autorotate',
                'text-background-color': '#ffffff',
                'text-background-opacity': 0.85,
                'text-background-padding': '1px',
              },
            },
            { selector: 'node:active, node:selected', style: { 'overlay-opacity': 0.1 } },
          ],
          layout: { name: 'breadthfirst', directed: true, spacingFactor: 1.3, padding: 30, avoidOverlap: true },
        });
        cy.on('tap', 'node', (ev) => navigate(`${servicePath(String(ev.target.data('service')))}${carrySearch(searchRef.current)}`));
        cy.on('mouseover', 'node', () => el.current && (el.current.style.cursor = 'pointer'));
        cy.on('mouseout', 'node', () => el.current && (el.current.style.cursor = ''));
        const positions = () => {
          const out: Record<string, { x: number; y: number }> = {};
          cy!.nodes().forEach((n) => {
            const p = n.renderedPosition();
            out[String(n.data('service'))] = { x: Math.round(p.x), y: Math.round(p.y) };
          });
          el.current?.setAttribute('data-node-positions', JSON.stringify(out));
        };
        positions();
        cy.on('viewport position', positions);
        setCount({ nodes: cy.nodes().length, edges: cy.edges().length });
        onDrawn();
      },
      (e: unknown) => onError(e instanceof Error ? e : new Error(String(e))),
    );
    return () => {
      dead = true;
      cy?.destroy();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [data]);
  return <div class="map-canvas" ref={el} data-testid="service-map" data-graph-nodes={String(count.nodes)} data-graph-edges={String(count.edges)} />;
}
