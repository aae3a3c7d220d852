import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAgo, formatBytes, formatDurationMs, formatNumber, formatSI, formatValue, promDuration } from '../src/lib/format';

test('formatNumber keeps 3 significant digits without trailing zeros', () => {
  assert.equal(formatNumber(0), '0');
  assert.equal(formatNumber(1), '1');
  assert.equal(formatNumber(12.345), '12.3');
  assert.equal(formatNumber(0.5), '0.5');
  assert.equal(formatNumber(1234), '1234');
  assert.equal(formatNumber(0.00012), '0.00012');
  assert.equal(formatNumber(-3.14159), '-3.14');
  assert.equal(formatNumber(Infinity), '+Inf');
  assert.equal(formatNumber(NaN), 'NaN');
});

test('formatSI and formatBytes', () => {
  assert.equal(formatSI(999), '999');
  assert.equal(formatSI(1234), '1.23k');
  assert.equal(formatSI(2_500_000), '2.5M');
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.5 KiB');
  assert.equal(formatBytes(3 * 1024 ** 3), '3 GiB');
});

test('durations', () => {
  assert.equal(formatDurationMs(0), '0 ms');
  assert.equal(formatDurationMs(0.25), '250 µs');
  assert.equal(formatDurationMs(12.44), '12.4 ms');
  assert.equal(formatDurationMs(1250), '1.25 s');
  assert.equal(formatDurationMs(200_000), '3m 20s');
  assert.equal(formatDurationMs(3_600_000 * 2 + 300_000), '2h 5m');
  assert.equal(formatDurationMs(86_400_000 * 3 + 3_600_000 * 4), '3d 4h');
  assert.equal(promDuration(90), '1m30s');
  assert.equal(promDuration(3600), '1h');
});

test('formatValue per unit', () => {
  assert.equal(formatValue(null, 'percent'), '–');
  assert.equal(formatValue(8.24, 'percent'), '8.24%');
  assert.equal(formatValue(40, 'percent'), '40%');
  assert.equal(formatValue(0.5, 'percentunit'), '50%');
  assert.equal(formatValue(0.0042, 'percentunit'), '0.42%');
  assert.equal(formatValue(2048, 'bytes'), '2 KiB');
  assert.equal(formatValue(1_572_864, 'bytes/s'), '1.5 MiB/s');
  assert.equal(formatValue(0.0123, 's'), '12.3 ms');
  assert.equal(formatValue(180, 'ms'), '180 ms');
  assert.equal(formatValue(41.3, 'req/s'), '41.3 req/s');
  assert.equal(formatValue(12_000, 'req/s'), '12k req/s');
  assert.equal(formatValue(0.25, 'cores'), '0.25 cores');
  assert.equal(formatValue(1500, 'plain'), '1.5k');
});

test('formatAgo', () => {
  const now = 1_000_000_000;
  assert.equal(formatAgo(now - 500, now), 'just now');
  assert.equal(formatAgo(now - 12_000, now), '12s ago');
  assert.equal(formatAgo(now - 5 * 60_000, now), '5m ago');
  assert.equal(formatAgo(now - 3 * 3_600_000, now), '3h ago');
  assert.equal(formatAgo(now - 2 * 86_400_000, now), '2d ago');
});
