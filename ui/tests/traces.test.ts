import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ancestors,
  compareTraces,
  criticalPath,
  flatten,
  formFromParams,
  formProblems,
  formToParams,
  isGoDuration,
  parseTags,
  searchQuery,
  searchSpans,
  selfTime,
  timeTicks,
  visibleRows,
  type SpanNode,
} from '../src/lib/traces';
import { matchRoute } from '../src/lib/url';

const T0 = 1_700_000_000_000_000_000n;

/** A span node with times in ms after T0. */
function node(id: string, service: string, name: string, startMs: number, endMs: number, children: SpanNode[] = [], error = false): SpanNode {
  const ns = (ms: number) => String(T0 + BigInt(Math.round(ms * 1e6)));
  return {
    spanId: id,
    parentSpanId: '',
    service,
    name,
    kind: 'server',
    startTimeUnixNano: ns(startMs),
    endTimeUnixNano: ns(endMs),
    durationNs: String(Math.round((endMs - startMs) * 1e6)),
    selfTimeNs: '0',
    depth: 0,
    criticalPath: false,
    logCount: 0,
    status: { code: error ? 'error' : 'ok', message: '' },
    attributes: { 'http.route': `/${name}` },
    resource: {},
    scope: { name: '', version: '' },
    events: [],
    links: [],
    children,
  };
}

function tree(roots: SpanNode[], durMs: number) {
  return { roots, startTimeUnixNano: String(T0), durationNs: String(durMs * 1e6) };
}

// root 0..100: a 0..60 (a1 5..20, a2 30..55), b 10..90 (b1 20..40, b2 45..85), c 92..95
const sample = () =>
  tree(
    [
      node('r', 'gw', 'root', 0, 100, [
        node('a', 'svc-a', 'A', 0, 60, [node('a1', 'db', 'q1', 5, 20), node('a2', 'db', 'q2', 30, 55)]),
        node('b', 'svc-b', 'B', 10, 90, [node('b1', 'db', 'q1', 20, 40), node('b2', 'db', 'q3', 45, 85, [], true)]),
        node('c', 'svc-a', 'C', 92, 95),
      ]),
    ],
    100,
  );

test('flatten: pre-order, levels, sizes, services, depth', () => {
  const f = flatten(sample());
  assert.deepEqual(
    f.spans.map((s) => s.spanId),
    ['r', 'a', 'a1', 'a2', 'b', 'b1', 'b2', 'c'],
  );
  assert.deepEqual(
    f.spans.map((s) => s.level),
    [0, 1, 2, 2, 1, 2, 2, 1],
  );
  assert.deepEqual(
    f.spans.map((s) => s.size),
    [8, 3, 1, 1, 3, 1, 1, 1],
  );
  assert.equal(f.depth, 3);
  assert.deepEqual(f.services, ['gw', 'svc-a', 'db', 'svc-b']);
  assert.equal(f.spans[1]!.start, 0);
  assert.equal(f.spans[4]!.end, 90e6);
  assert.equal(f.spans[6]!.error, true);
  assert.equal(f.byId.get('b2'), 6);
  assert.deepEqual(f.spans[0]!.children, [1, 4, 7]);
  assert.deepEqual(ancestors(f.spans, 6), [4, 0]);
});

test('flatten: deep chains do not recurse', () => {
  let n = node('s5000', 'x', 'leaf', 0, 1);
  for (let i = 4999; i >= 0; i--) n = node(`s${i}`, 'x', `n${i}`, 0, 1, [n]);
  const f = flatten(tree([n], 1));
  assert.equal(f.spans.length, 5001);
  assert.equal(f.depth, 5001);
});

test('visible rows: collapsing hides descendants only', () => {
  const f = flatten(sample());
  assert.deepEqual(visibleRows(f.spans, new Set()), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(visibleRows(f.spans, new Set([1])), [0, 1, 4, 5, 6, 7]);
  assert.deepEqual(visibleRows(f.spans, new Set([1, 4])), [0, 1, 4, 7]);
  assert.deepEqual(visibleRows(f.spans, new Set([0])), [0]);
  assert.deepEqual(visibleRows(f.spans, new Set([2])), [0, 1, 2, 3, 4, 5, 6, 7], 'collapsing a leaf hides nothing');
});

test('critical path: walks back from the end through the last-finishing child', () => {
  const f = flatten(sample());
  const cp = [...criticalPath(f.spans, f.roots)].map((i) => f.spans[i]!.spanId).sort();
  // From root's end (100): c (92..95) finishes last → on; cursor 92. b (..90) → on; cursor 10.
  // a (0..60) ends after 10 and starts before → on; cursor 0. In b: b2 (45..85) on, cursor 45;
  // b1 (20..40) on. In a (cursor 60): a2 (30..55) on, cursor 30; a1 (5..20) on.
  assert.deepEqual(cp, ['a', 'a1', 'a2', 'b', 'b1', 'b2', 'c', 'r']);
});

test('critical path: overlapped children are not on it', () => {
  // root 0..100: long 10..95, short 20..30 (inside long's time), early 2..8
  const f = flatten(tree([node('r', 's', 'root', 0, 100, [node('e', 's', 'early', 2, 8), node('l', 's', 'long', 10, 95), node('x', 's', 'short', 20, 30)])], 100));
  const cp = [...criticalPath(f.spans, f.roots)].map((i) => f.spans[i]!.spanId).sort();
  assert.deepEqual(cp, ['e', 'l', 'r']);
});

test('critical path: the slow trace of the browser data set', () => {
  // root 0..3200; order 10..3150 (stock read 30..2900, stock write 2910..3100); pricing 20..120; audit 50..100
  const f = flatten(
    tree(
      [
        node('root', 'web', 'GET', 0, 3200, [
          node('order', 'orders', 'POST', 10, 3150, [node('read', 'stock', 'SELECT', 30, 2900), node('write', 'stock', 'UPDATE', 2910, 3100)]),
          node('pricing', 'pricing', 'GET', 20, 120),
          node('audit', 'web', 'audit', 50, 100),
        ]),
      ],
      3200,
    ),
  );
  const cp = [...criticalPath(f.spans, f.roots)].map((i) => f.spans[i]!.spanId).sort();
  assert.deepEqual(cp, ['order', 'read', 'root', 'write']);
});

test('critical path: several roots each get a path', () => {
  const f = flatten(tree([node('r1', 's', 'a', 0, 10, [node('c1', 's', 'x', 1, 9)]), node('r2', 's', 'b', 20, 30)], 30));
  assert.deepEqual([...criticalPath(f.spans, f.roots)].sort(), [0, 1, 2]);
});

test('self time: duration less the union of children', () => {
  const f = flatten(sample());
  assert.equal(selfTime(f.spans, 0), 100e6 - 90e6 - 3e6); // root: children cover 0..90 and 92..95
  assert.equal(selfTime(f.spans, 1), 60e6 - 15e6 - 25e6);
  assert.equal(selfTime(f.spans, 2), 15e6);
});

test('in-trace search: name, service, attribute value; case-insensitive', () => {
  const f = flatten(sample());
  assert.deepEqual(searchSpans(f.spans, 'q1'), [2, 5]);
  assert.deepEqual(searchSpans(f.spans, 'SVC-A'), [1, 7]);
  assert.deepEqual(searchSpans(f.spans, '/q3'), [6]);
  assert.deepEqual(searchSpans(f.spans, '  '), []);
});

test('compare: only in A, only in B, duration differences', () => {
  const a = flatten(sample()).spans;
  const b = flatten(tree([node('r', 'gw', 'root', 0, 50, [node('a', 'svc-a', 'A', 0, 30), node('z', 'svc-z', 'Z', 30, 40)])], 50)).spans;
  const r = compareTraces(a, b);
  assert.deepEqual(
    r.onlyA.map((x) => `${x.service} ${x.name}`),
    ['db q1', 'db q2', 'db q3', 'svc-a C', 'svc-b B'],
  );
  assert.equal(r.onlyA[0]!.a!.count, 2);
  assert.equal(r.onlyA[0]!.a!.total, 35e6);
  assert.deepEqual(
    r.onlyB.map((x) => `${x.service} ${x.name}`),
    ['svc-z Z'],
  );
  assert.deepEqual(
    r.both.map((x) => [x.name, x.diff]),
    [
      ['root', -50e6],
      ['A', -30e6],
    ],
  );
});

test('tags: logfmt-like pairs', () => {
  assert.deepEqual(parseTags('a=1 b.c=x'), [
    ['a', '1'],
    ['b.c', 'x'],
  ]);
  assert.deepEqual(parseTags('env="prod eu" k=v=w'), [
    ['env', 'prod eu'],
    ['k', 'v=w'],
  ]);
  assert.deepEqual(parseTags('q="say \\"hi\\""'), [['q', 'say "hi"']]);
  assert.deepEqual(parseTags('  '), []);
  assert.deepEqual(parseTags('note="<img src=x onerror=alert(1)>"'), [['note', '<img src=x onerror=alert(1)>']]);
  assert.equal(parseTags('novalue'), null);
});

test('durations and form problems', () => {
  for (const ok of ['300ms', '1.5s', '2m', '1h30m', '10us', '0']) assert.ok(isGoDuration(ok), ok);
  for (const bad of ['5', 'ms', '1x', '-1s']) assert.ok(!isGoDuration(bad), bad);
  const f = formFromParams(new URLSearchParams('minDuration=fast&tags=x'));
  assert.equal(formProblems(f).length, 2);
});

test('search form ↔ URL ↔ API query', () => {
  const p = new URLSearchParams('service=checkout&operation=GET%20%2Fpay&kind=server&tags=http.status_code%3D500%20env%3D%22a%20b%22&minDuration=100ms&maxDuration=2s&errors=1&limit=50');
  const f = formFromParams(p);
  assert.deepEqual(f, {
    service: 'checkout',
    operation: 'GET /pay',
    kind: 'server',
    tags: 'http.status_code=500 env="a b"',
    minDuration: '100ms',
    maxDuration: '2s',
    errors: true,
    limit: 50,
  });
  assert.deepEqual(formProblems(f), []);
  assert.deepEqual(searchQuery(f, 1_700_000_000_500, 1_700_000_600_200), [
    ['start', '1700000000'],
    ['end', '1700000601'],
    ['limit', '50'],
    ['service', 'checkout'],
    ['operation', 'GET /pay'],
    ['kind', 'server'],
    ['status', 'error'],
    ['minDuration', '100ms'],
    ['maxDuration', '2s'],
    ['attr', 'http.status_code=500'],
    ['attr', 'env=a b'],
  ]);
  const back = formToParams(f);
  assert.equal(back.errors, '1');
  assert.equal(back.limit, '50');
  assert.equal(formToParams(formFromParams(new URLSearchParams(''))).limit, null);
  assert.equal(formFromParams(new URLSearchParams('limit=99999')).limit, 1500);
});

test('time ticks are nice and inside the range', () => {
  const t = timeTicks(0, 900e6, 6);
  assert.deepEqual(t, [0, 200e6, 400e6, 600e6, 800e6]);
  assert.ok(timeTicks(5, 17, 4).every((x) => x >= 5 && x <= 17));
});

test('trace routes', () => {
  assert.deepEqual(matchRoute('/ui/traces'), { page: 'traces' });
  assert.deepEqual(matchRoute('/ui/traces/'), { page: 'traces' });
  assert.deepEqual(matchRoute('/ui/traces/abc123'), { page: 'trace', id: 'abc123' });
  assert.equal(matchRoute('/ui/traces/a/b').page, 'notfound');
});
