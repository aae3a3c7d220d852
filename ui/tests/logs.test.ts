import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  addClause,
  addNs,
  attributeClause,
  errorColor,
  exceptionsOf,
  groupKind,
  hasId,
  levelOf,
  nodeSize,
  nsToRfc3339,
  quoteTerm,
  recordKey,
  sameGroup,
  stackVolume,
  type ErrorGroup,
  type LogRecord,
  type TraceTree,
} from '../src/lib/logs';
import { errorGroupPath, matchRoute } from '../src/lib/url';
import { logsLink, serviceLogsLink } from '../src/lib/links';

const XSS = '<img src=x onerror=alert(1)>';

test('nanosecond times', () => {
  assert.equal(nsToRfc3339('1796107919866000001'), '2026-12-01T06:51:59.866000001Z');
  assert.equal(nsToRfc3339(0n), '1970-01-01T00:00:00.000000000Z');
  assert.equal(addNs('1796107919866000000', 1), '1796107919866000001');
  assert.equal(addNs('1796107919866000000', -3_600_000_000_000), '1796104319866000000');
});

test('query clauses: quoted, escaped, added once', () => {
  assert.equal(quoteTerm('a "b" \\c'), '"a \\"b\\" \\\\c"');
  assert.equal(attributeClause('customer.tier', 'gold'), 'attributes.customer.tier:"gold"');
  assert.equal(attributeClause('odd key', XSS), `attributes.odd\\ key:"${XSS}"`);
  assert.equal(addClause('', 'x:"1"'), 'x:"1"');
  assert.equal(addClause('timeout', 'x:"1"'), 'timeout AND x:"1"');
  assert.equal(addClause('a OR b', 'x:"1"'), '(a OR b) AND x:"1"');
  assert.equal(addClause('timeout AND x:"1"', 'x:"1"'), 'timeout AND x:"1"');
});

test('levels', () => {
  assert.equal(levelOf('WARNING', 0), 'warn');
  assert.equal(levelOf('', 17), 'error');
  assert.equal(levelOf('Info', 3), 'info');
  assert.equal(levelOf('', 0), 'unknown');
  assert.equal(levelOf('critical', 0), 'fatal');
});

test('volume stacking: most severe first, cumulative, total', () => {
  const st = stackVolume({
    stepSeconds: 60,
    buckets: [
      { start: '', startUnixNano: '60000000000', count: 3, by: { info: 2, error: 1 } },
      { start: '', startUnixNano: '120000000000', count: 4, by: { debug: 4 } },
    ],
  });
  assert.deepEqual(st.levels, ['error', 'info', 'debug']);
  assert.deepEqual(st.xs, [60, 120]);
  assert.deepEqual(st.raw, [[1, 0], [2, 0], [0, 4]]);
  assert.deepEqual(st.stacked, [[1, 0], [3, 0], [3, 4]]);
  assert.equal(st.total, 7);
});

test('record identity and ids', () => {
  const r: LogRecord = { time: '', timeUnixNano: '1', severity: 'INFO', severityNumber: 9, service: 's', body: 'b', attributes: {}, resource: {}, scope: {}, traceId: '', spanId: '' };
  assert.equal(recordKey(r), recordKey({ ...r }));
  assert.notEqual(recordKey(r), recordKey({ ...r, body: 'c' }));
  assert.equal(hasId(''), false);
  assert.equal(hasId('00000000'), false);
  assert.equal(hasId('0af7651916cd43dd'), true);
});

test('error groups: kind, matching, stack traces of a trace newest first', () => {
  const g: ErrorGroup = { service: 's', operation: 'op', exceptionType: '', message: 'boom', count: 1, firstSeen: '', lastSeen: '', traceIds: [], spanIds: [] };
  assert.equal(groupKind(g), 'boom');
  assert.equal(groupKind({ ...g, exceptionType: 'E' }), 'E');
  assert.ok(sameGroup(g, 's', 'op', 'boom'));
  assert.ok(!sameGroup(g, 's', 'op', 'E'));
  const ev = (t: string, type: string, stack: string) => ({ timeUnixNano: t, name: 'exception', attributes: { 'exception.type': type, 'exception.message': 'm', 'exception.stacktrace': stack } });
  const tree: TraceTree = {
    traceId: 't1',
    roots: [
      {
        spanId: 'a', service: 'gw', name: 'root', startTimeUnixNano: '1', status: { code: 'ok', message: '' }, events: [],
        children: [
          { spanId: 'b', service: 's', name: 'op', startTimeUnixNano: '2', status: { code: 'error', message: 'x' }, events: [ev('5', 'E', 'old'), ev('9', 'F', 'other')], children: [] },
          { spanId: 'c', service: 's', name: 'op', startTimeUnixNano: '3', status: { code: 'error', message: 'x' }, events: [ev('7', 'E', 'new')], children: [] },
          { spanId: 'd', service: 's', name: 'op', startTimeUnixNano: '4', status: { code: 'ok', message: '' }, events: [ev('8', 'E', 'not an error span')], children: [] },
        ],
      },
    ],
  };
  const ex = exceptionsOf(tree, 's', 'op', 'E');
  assert.deepEqual(ex.map((e) => [e.spanId, e.stacktrace]), [['c', 'new'], ['b', 'old']]);
  const byMsg = exceptionsOf({ traceId: 't', roots: [{ ...tree.roots[0]!.children[0]!, events: [], status: { code: 'error', message: 'boom' } }] }, 's', 'op', 'boom');
  assert.equal(byMsg.length, 1);
  assert.equal(byMsg[0]!.stacktrace, '');
});

test('service map scales', () => {
  assert.equal(errorColor(0), '#1a7f37');
  assert.equal(errorColor(0.02), '#d39e00');
  assert.equal(errorColor(0.5), '#c62828');
  assert.equal(nodeSize(0, 10), 28);
  assert.equal(nodeSize(10, 10), 72);
  assert.ok(nodeSize(1, 10) > 28 && nodeSize(1, 10) < 72);
});

test('routes and links of the logs, errors and service map pages', () => {
  assert.deepEqual(matchRoute('/ui/logs'), { page: 'logs' });
  assert.deepEqual(matchRoute('/ui/errors'), { page: 'errors' });
  assert.deepEqual(matchRoute('/ui/service-map'), { page: 'servicemap' });
  const p = errorGroupPath(XSS, 'GET /a/b', 'E: x');
  const [path, query] = p.split('?');
  assert.deepEqual(matchRoute(path!), { page: 'error', service: XSS, operation: 'GET /a/b' });
  assert.equal(new URLSearchParams(query).get('kind'), 'E: x');
  assert.equal(matchRoute('/ui/errors/only-service').page, 'notfound');
  const u = new URL(serviceLogsLink(XSS, 1000.4, 2000.2), 'http://x');
  assert.equal(u.pathname, '/ui/logs');
  assert.deepEqual([...u.searchParams], [['from', '1000'], ['service', XSS], ['to', '2001']]);
  assert.equal(logsLink({ traceId: 'abc' }), '/ui/logs?trace_id=abc');
});
