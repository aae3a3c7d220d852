import { test } from 'node:test';
import assert from 'node:assert/strict';
import { alignStart, describeRange, parseDuration, parseTime, pickStep, rateWindow, resolveRange } from '../src/lib/time';

const NOW = 1_767_225_600_000;

test('parseDuration', () => {
  assert.equal(parseDuration('15m'), 900_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('7d'), 604_800_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1x'), null);
  assert.equal(parseDuration('h'), null);
  assert.equal(parseDuration(''), null);
});

test('parseTime: now, relative, absolute ms, ISO', () => {
  assert.equal(parseTime('now', NOW), NOW);
  assert.equal(parseTime('now-1h', NOW), NOW - 3_600_000);
  assert.equal(parseTime('now+5m', NOW), NOW + 300_000);
  assert.equal(parseTime('1767225600000', NOW), 1_767_225_600_000);
  assert.equal(parseTime('2026-01-01T00:00:00Z', NOW), Date.parse('2026-01-01T00:00:00Z'));
  assert.equal(parseTime('yesterday', NOW), null);
  assert.equal(parseTime('now-', NOW), null);
});

test('resolveRange falls back to the last hour on bad or reversed values', () => {
  assert.deepEqual(resolveRange(null, null, NOW), { from: 'now-1h', to: 'now', start: NOW - 3_600_000, end: NOW });
  assert.deepEqual(resolveRange('now-15m', 'now', NOW), { from: 'now-15m', to: 'now', start: NOW - 900_000, end: NOW });
  assert.equal(resolveRange('garbage', 'now', NOW).from, 'now-1h');
  assert.equal(resolveRange('now', 'now-1h', NOW).from, 'now-1h');
  const abs = resolveRange('1767225000000', '1767225600000', NOW);
  assert.equal(abs.start, 1_767_225_000_000);
  assert.equal(abs.end, 1_767_225_600_000);
});

test('describeRange', () => {
  assert.equal(describeRange('now-1h', 'now', String), 'Last 1 hour');
  assert.equal(describeRange('now-3h', 'now', String), 'Last 3h');
  assert.equal(describeRange('1767225000000', '1767225600000', (ms) => `@${ms}`), '@1767225000000 → @1767225600000');
});

test('pickStep keeps charts at most ~300 points with nice steps', () => {
  for (const [rangeMs, want] of [
    [15 * 60_000, 5],
    [3_600_000, 15],
    [6 * 3_600_000, 120],
    [24 * 3_600_000, 300],
    [7 * 86_400_000, 3600],
  ] as const) {
    const step = pickStep(NOW - rangeMs, NOW);
    assert.equal(step, want, `range ${rangeMs}`);
    assert.ok(rangeMs / 1000 / step <= 300);
  }
  assert.equal(pickStep(NOW - 3_600_000, NOW, 60), 60);
});

test('rateWindow is at least 4 steps and 1 minute', () => {
  assert.equal(rateWindow(5), 60);
  assert.equal(rateWindow(15), 60);
  assert.equal(rateWindow(60), 240);
  assert.equal(rateWindow(3600), 14_400);
});

test('alignStart ends the grid exactly at the end', () => {
  const s = alignStart(NOW - 3_600_000 + 7, NOW, 15);
  assert.equal((NOW - s) % 15_000, 0);
  assert.ok(s <= NOW - 3_600_000 + 7);
  assert.ok(s > NOW - 3_600_000 - 15_000);
});
