import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignMatrix, seriesName, varyingKeys } from '../src/lib/series';
import { errorFromBody, ApiError } from '../src/lib/api';

test('alignMatrix puts samples on the step grid with null gaps', () => {
  const a = alignMatrix({
    start: 100,
    end: 160,
    step: 15,
    series: [
      { metric: { a: '1' }, values: [[100, '1'], [130, '3'], [145, 'NaN']] },
      { metric: { a: '2' }, values: [[115, '2']] },
    ],
  });
  assert.deepEqual(a.xs, [100, 115, 130, 145, 160]);
  assert.deepEqual(a.ys[0], [1, null, 3, null, null]);
  assert.deepEqual(a.ys[1], [null, 2, null, null, null]);
  assert.equal(a.points, 3);
  assert.equal(a.exemplarColumn, -1);
});

test('alignMatrix adds exemplars as their own column without breaking lines', () => {
  const a = alignMatrix(
    { start: 0, end: 30, step: 15, series: [{ metric: {}, values: [[0, '1'], [15, '2'], [30, '3']] }] },
    [{ t: 20, v: 99, traceId: 'abc', labels: { trace_id: 'abc' } }],
  );
  assert.deepEqual(a.xs, [0, 15, 20, 30]);
  assert.deepEqual(a.ys[0], [1, 2, undefined, 3]);
  assert.deepEqual(a.ys[1], [undefined, undefined, 99, undefined]);
  assert.equal(a.exemplarColumn, 1);
});

test('legend names use the labels that differ', () => {
  const ls = [
    { __name__: 'm', instance: 'a', job: 'j' },
    { __name__: 'm', instance: 'b', job: 'j' },
  ];
  assert.deepEqual(varyingKeys(ls), ['instance']);
  assert.equal(seriesName(ls[0]!, ['instance']), 'a');
  assert.equal(seriesName({ __name__: 'up' }), 'up');
  assert.equal(seriesName({}), 'value');
});

test('API errors: Prometheus envelope and Lookout error body', () => {
  const p = errorFromBody({ status: 'error', errorType: 'bad_data', error: 'parse error at char 3' }, 400, '/api/v1/query');
  assert.ok(p instanceof ApiError);
  assert.equal(p.errorType, 'bad_data');
  assert.equal(p.message, 'parse error at char 3');
  assert.equal(p.status, 400);
  const l = errorFromBody({ error: 'service not found' }, 404, '/lookout/v1/services/x');
  assert.equal(l.errorType, null);
  assert.equal(l.message, 'service not found');
  assert.equal(errorFromBody('oops', 502, '/x').message, 'HTTP 502');
});
