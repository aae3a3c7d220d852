// Pure helpers of the dashboards, metrics explorer and alerts pages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chooseValue,
  formatPanelValue,
  legendText,
  problemsAt,
  reflow,
  slug,
  splitProblems,
  substitute,
  thresholdColor,
  newPanel,
} from '../src/lib/dashboards';
import { alertService, labelsKey, seriesOfAlert, splitComparison } from '../src/lib/alerts';

test('variables and Grafana interval variables are substituted', () => {
  const iv = { stepS: 5, rangeS: 3600 };
  assert.equal(
    substitute('sum(rate(x{job="$service"}[$__rate_interval])) by (${label})', { service: 'shop', label: 'status' }, iv),
    'sum(rate(x{job="shop"}[1m])) by (status)',
  );
  assert.equal(substitute('rate(x[$__interval]) + increase(x[$__range])', {}, { stepS: 30, rangeS: 21600 }), 'rate(x[30s]) + increase(x[6h])');
  assert.equal(substitute('x[$__rate_interval]', {}, { stepS: 60, rangeS: 86400 }), 'x[4m]');
  // unknown names stay (the API names them); quotes and backslashes in values are escaped
  assert.equal(substitute('x{a="$nope"}', {}, iv), 'x{a="$nope"}');
  assert.equal(substitute('x{a="$v"}', { v: 'a"b\\c' }, iv), 'x{a="a\\"b\\\\c"}');
  // $service does not eat $serviceName
  assert.equal(substitute('$service $serviceName', { service: 'a', serviceName: 'b' }, iv), 'a b');
});

test('variable values: URL, default, first', () => {
  assert.equal(chooseValue('b', 'a', ['a', 'b']), 'b');
  assert.equal(chooseValue('zz', 'a', ['a', 'b']), 'a');
  assert.equal(chooseValue(null, '', ['x', 'y']), 'x');
  assert.equal(chooseValue(null, 'd', []), 'd');
});

test('legend templates', () => {
  assert.equal(legendText('{{status}} on {{ job }}', { status: 'ok', job: 'shop' }), 'ok on shop');
  assert.equal(legendText('{{missing}}x', {}), 'x');
  assert.equal(legendText('', { a: '1' }), null);
});

test('units and decimals', () => {
  assert.equal(formatPanelValue(79.96, 'currency:EUR', 2), '€79.96');
  assert.equal(formatPanelValue(0.5, 'percentunit', 1), '50.0%');
  assert.equal(formatPanelValue(12, 'short', 1), '12.0');
  assert.equal(formatPanelValue(1234, 'short'), '1.23k');
  assert.equal(formatPanelValue(42, ''), '42');
  assert.equal(formatPanelValue(1536, 'bytes'), '1.5 KiB');
  assert.equal(formatPanelValue(0.25, 's'), '250 ms');
  assert.equal(formatPanelValue(12.345, 'none', 2), '12.35');
  assert.equal(formatPanelValue(null, 'short'), '–');
  assert.equal(formatPanelValue(3, 'req/s'), '3 req/s');
});

test('thresholds pick the highest at or below the value', () => {
  const t = [
    { value: 0.6, color: 'green' },
    { value: 0, color: 'red' },
    { value: 0.3, color: '#aabbcc' },
  ];
  assert.equal(thresholdColor(0.5, t), '#aabbcc');
  assert.equal(thresholdColor(0.6, t), '#1a7f37');
  assert.equal(thresholdColor(-1, t), null);
  assert.equal(thresholdColor(1, []), null);
});

test('reflow packs panels into 24 columns in order', () => {
  const ps = [newPanel('stat'), newPanel('stat'), newPanel('timeseries'), newPanel('timeseries'), newPanel('table')];
  const g = reflow(ps).map((p) => p.grid);
  assert.deepEqual(g, [
    { x: 0, y: 0, w: 6, h: 4 },
    { x: 6, y: 0, w: 6, h: 4 },
    { x: 12, y: 0, w: 12, h: 8 },
    { x: 0, y: 8, w: 12, h: 8 },
    { x: 12, y: 8, w: 12, h: 8 },
  ]);
});

test('ids like the API makes them', () => {
  assert.equal(slug('Shop KPIs (EU)'), 'shop-kpis-eu');
  assert.equal(slug('  --  '), '');
});

test('400 problems are split by the path they name', () => {
  const ps = splitProblems(
    'panels[1].queries[0].expr: uses $nope, which is not a variable of this dashboard; panels[1].queries[1].expr: unclosed left parenthesis in "rate(x[5m]"; title: must not be empty; panels[0].grid: x + w must be within 24 columns; a; b',
  );
  assert.deepEqual(
    ps.map((p) => p.path),
    ['panels[1].queries[0].expr', 'panels[1].queries[1].expr', 'title', 'panels[0].grid'],
  );
  assert.equal(ps[3]!.text, 'x + w must be within 24 columns; a; b');
  assert.deepEqual(problemsAt(ps, 'panels[1].queries[1]'), ['expr: unclosed left parenthesis in "rate(x[5m]"']);
  assert.deepEqual(problemsAt(ps, 'title'), ['must not be empty']);
  assert.deepEqual(splitProblems('invalid dashboard JSON: panels[0].type: unknown variant `pie`'), [
    { path: 'panels[0].type', text: 'unknown variant `pie`' },
  ]);
  assert.deepEqual(splitProblems('invalid dashboard JSON at line 1 column 2: EOF'), [{ path: '', text: 'invalid dashboard JSON at line 1 column 2: EOF' }]);
});

test('alert expressions: the side to chart and the threshold', () => {
  assert.deepEqual(splitComparison('sum by (s) (rate(x{a=">"}[5m])) / sum(y) > 0.2'), {
    expr: 'sum by (s) (rate(x{a=">"}[5m])) / sum(y)',
    op: '>',
    threshold: 0.2,
  });
  assert.deepEqual(splitComparison('5 <= foo'), { expr: 'foo', op: '>=', threshold: 5 });
  assert.deepEqual(splitComparison('x > bool 1e3'), { expr: 'x', op: '>', threshold: 1000 });
  assert.equal(splitComparison('a > b'), null);
  assert.equal(splitComparison('a > 1 and b > 2'), null);
  assert.equal(splitComparison('a unless b > 0'), null);
  assert.equal(splitComparison('up'), null);
  assert.deepEqual(splitComparison('probe_success == 0'), { expr: 'probe_success', op: '==', threshold: 0 });
});

test('alert fingerprints, services and series', () => {
  assert.equal(labelsKey({ b: 'x"y', a: '1' }), 'a="1",b="x\\"y"');
  assert.equal(alertService({ job: 'j', service_name: 's' }), 's');
  assert.equal(alertService({ job: 'j' }), 'j');
  assert.equal(alertService({}), null);
  assert.ok(seriesOfAlert({ service_name: 'p' }, { alertname: 'A', service_name: 'p', severity: 'page' }));
  assert.ok(!seriesOfAlert({ service_name: 'q' }, { alertname: 'A', service_name: 'p' }));
});
