import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  allServicesRequestRate,
  HOST_QUERIES,
  processMemory,
  promRange,
  quote,
  regexEscape,
  selector,
  serviceErrorPercent,
  serviceLatencyQuantile,
  serviceRequestRate,
} from '../src/lib/promql';

test('quote escapes backslashes, quotes and control characters', () => {
  assert.equal(quote('checkout'), '"checkout"');
  assert.equal(quote('a"b'), '"a\\"b"');
  assert.equal(quote('a\\b'), '"a\\\\b"');
  assert.equal(quote('l1\nl2'), '"l1\\nl2"');
  assert.equal(quote('<img src=x onerror=alert(1)>'), '"<img src=x onerror=alert(1)>"');
});

test('regexEscape', () => {
  assert.equal(regexEscape('a.b(c)|d'), 'a\\.b\\(c\\)\\|d');
});

test('selector and promRange', () => {
  assert.equal(selector([]), '');
  assert.equal(selector([['a', '=', 'x'], ['b', '=~', 'y|z']]), '{a="x",b=~"y|z"}');
  assert.equal(promRange(60), '1m');
  assert.equal(promRange(240), '4m');
  assert.equal(promRange(90), '90s');
  assert.equal(promRange(7200), '2h');
  assert.equal(promRange(86400), '1d');
});

test('overview request rate: all services at once, entry spans only', () => {
  assert.equal(
    allServicesRequestRate(240),
    'sum by (service_name) (rate(traces_span_metrics_calls_total{span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[4m]))',
  );
});

test('service RED queries follow the entry-span rule', () => {
  assert.equal(
    serviceRequestRate('checkout', true, 60),
    'sum(rate(traces_span_metrics_calls_total{service_name="checkout",span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[1m]))',
  );
  assert.equal(serviceRequestRate('batch', false, 60), 'sum(rate(traces_span_metrics_calls_total{service_name="batch"}[1m]))');
  const err = serviceErrorPercent('a"b', false, 60);
  assert.ok(err.includes('status_code="STATUS_CODE_ERROR"'));
  assert.ok(err.includes('service_name="a\\"b"'));
  assert.equal(
    serviceLatencyQuantile('x', true, 0.99, 300),
    'histogram_quantile(0.99, sum by (le) (rate(traces_span_metrics_duration_milliseconds_bucket{service_name="x",span_kind=~"SPAN_KIND_SERVER|SPAN_KIND_CONSUMER"}[5m])))',
  );
});

test('process metrics match the job with or without a namespace', () => {
  assert.equal(processMemory('a.b'), 'sum by (instance) (process_memory_usage_bytes{job=~"(.+/)?a\\\\.b"})');
});

test('host queries filter by instance', () => {
  assert.equal(HOST_QUERIES.cpuTotal(null), 'avg by (instance) (system_cpu_utilization_ratio{cpu="total"})');
  assert.equal(HOST_QUERIES.cpuTotal('h1'), 'avg by (instance) (system_cpu_utilization_ratio{instance="h1",cpu="total"})');
  assert.equal(HOST_QUERIES.load('h"1'), '{__name__=~"system_cpu_load_average_(1m|5m|15m)",instance="h\\"1"}');
  assert.ok(HOST_QUERIES.network(null, 60).includes('device!="lo"'));
});
