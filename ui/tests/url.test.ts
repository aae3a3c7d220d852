import { test } from 'node:test';
import assert from 'node:assert/strict';
import { carrySearch, decodeSort, encodeSort, matchRoute, mergeSearch, servicePath, toggleSort } from '../src/lib/url';

const XSS = '<img src=x onerror=alert(1)>';

test('routes', () => {
  assert.deepEqual(matchRoute('/ui/'), { page: 'overview' });
  assert.deepEqual(matchRoute('/ui'), { page: 'overview' });
  assert.deepEqual(matchRoute('/ui/hosts'), { page: 'hosts' });
  assert.deepEqual(matchRoute('/ui/services/checkout'), { page: 'service', name: 'checkout' });
  assert.deepEqual(matchRoute('/ui/services/a%2Fb%20c'), { page: 'service', name: 'a/b c' });
  assert.deepEqual(matchRoute('/ui/dashboards'), { page: 'dashboards' });
  assert.deepEqual(matchRoute('/ui/dashboards/x1'), { page: 'dashboard', id: 'x1' });
  assert.deepEqual(matchRoute('/ui/metrics'), { page: 'metrics' });
  assert.deepEqual(matchRoute('/ui/alerts'), { page: 'alerts' });
  assert.equal(matchRoute('/ui/services/').page, 'notfound');
  assert.equal(matchRoute('/ui/services/%E0%A4%A').page, 'notfound');
  assert.equal(matchRoute('/ui/nope').page, 'notfound');
  assert.equal(matchRoute('/other').page, 'notfound');
});

test('service paths round-trip any name', () => {
  for (const name of ['checkout', XSS, 'a/b', 'ünïcode svc', '100%', '?#&']) {
    const p = servicePath(name);
    assert.ok(!p.slice('/ui/services/'.length).includes('/'));
    assert.deepEqual(matchRoute(p), { page: 'service', name });
  }
});

test('mergeSearch sets, removes and sorts keys', () => {
  assert.equal(mergeSearch('?to=now&from=now-1h', { sort: '-rps' }), '?from=now-1h&sort=-rps&to=now');
  assert.equal(mergeSearch('?q=x&from=now-1h', { q: '' }), '?from=now-1h');
  assert.equal(mergeSearch('?q=x', { q: null }), '');
  assert.equal(new URLSearchParams(mergeSearch('', { q: XSS })).get('q'), XSS);
});

test('carrySearch keeps only the time range and refresh', () => {
  assert.equal(carrySearch('?from=now-6h&to=now&sort=name&refresh=30s&q=x'), '?from=now-6h&refresh=30s&to=now');
  assert.equal(carrySearch('?sort=name', { instance: 'h1' }), '?instance=h1');
});

test('sort state encode/decode/toggle', () => {
  const def = { key: 'status', dir: 'desc' } as const;
  assert.deepEqual(decodeSort(null, ['name', 'rps'], def), def);
  assert.deepEqual(decodeSort('name', ['name', 'rps'], def), { key: 'name', dir: 'asc' });
  assert.deepEqual(decodeSort('-rps', ['name', 'rps'], def), { key: 'rps', dir: 'desc' });
  assert.deepEqual(decodeSort('-evil', ['name', 'rps'], def), def);
  assert.equal(encodeSort({ key: 'rps', dir: 'desc' }), '-rps');
  assert.equal(encodeSort({ key: 'name', dir: 'asc' }), 'name');
  assert.deepEqual(toggleSort({ key: 'rps', dir: 'desc' }, 'rps'), { key: 'rps', dir: 'asc' });
  assert.deepEqual(toggleSort({ key: 'rps', dir: 'desc' }, 'name', 'asc'), { key: 'name', dir: 'asc' });
});
