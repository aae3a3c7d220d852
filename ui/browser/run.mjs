// Browser test: starts Lookout on free loopback ports with a temp data dir, sends a fixed data
// set over OTLP/HTTP JSON, then runs every check in browser/pages/*.mjs in Debian's Chromium
// (playwright-core). Exits non-zero on any failure, including a missing Chromium or binary.
//
//   LOOKOUT_BIN=/path/to/lookout npm run test:browser
//   CHROMIUM=/usr/bin/chromium   ONLY=overview,hosts   (optional)
//   LOOKOUT_REQUIRE_UI=1   fail instead of falling back to dev-server.mjs when the binary does not serve /ui/ (CI)
//
// Each page check is a module in browser/pages/ exporting `name` and a default
// `async function (ctx)`; see browser/pages/overview.mjs. Screenshots go to <repo>/target/ui-screenshots/.

import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { sendDataSet, SERVICES } from './data.mjs';
import { startDevServer } from '../dev-server.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const uiDir = resolve(here, '..');
const repo = resolve(uiDir, '..');
const bin = resolve(uiDir, process.env.LOOKOUT_BIN ?? '../target/debug/lookout');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const screenshotDir = join(repo, 'target', 'ui-screenshots');
const only = process.env.ONLY ? new Set(process.env.ONLY.split(',')) : null;

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, timeoutMs) {
  const t0 = Date.now();
  let last;
  while (Date.now() - t0 < timeoutMs) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
}

async function main() {
  const failures = [];
  if (!existsSync(chromiumPath)) throw new Error(`Chromium not found at ${chromiumPath} (install Debian's chromium package)`);
  if (!existsSync(bin)) throw new Error(`Lookout binary not found at ${bin} (set LOOKOUT_BIN)`);
  if (!existsSync(join(uiDir, 'dist', 'index.html'))) throw new Error('ui/dist is not built: run `npm run build` first');
  mkdirSync(screenshotDir, { recursive: true });

  const tmp = mkdtempSync(join(tmpdir(), 'lookout-ui-test-'));
  const [grpc, otlpHttp, http] = [await freePort(), await freePort(), await freePort()];
  const config = join(tmp, 'lookout.yaml');
  // Page modules may also export `config({ tmp })` (YAML lines for the config; they may write
  // files into tmp) and `sendData({ otlpHttp, api })` (more data, sent after data.mjs's).
  const pagesDir = join(here, 'pages');
  const modules = [];
  for (const f of readdirSync(pagesDir).filter((f) => f.endsWith('.mjs')).sort()) {
    modules.push({ f, mod: await import(pathToFileURL(join(pagesDir, f)).href) });
  }
  const extraConfig = modules.flatMap(({ mod }) => (mod.config ? mod.config({ tmp }) : []));
  writeFileSync(
    config,
    [
      'span_metrics: {flush_interval: 1s}',
      'service_activity: {flush_interval: 1s}',
      'service_health: {evaluation_interval: 1s}',
      'host_metrics: {interval: 1s}',
      ...extraConfig,
      '',
    ].join('\n'),
  );
  const api = `http://127.0.0.1:${http}`;
  console.log(`lookout: ${bin}\n  api ${api}, otlp http :${otlpHttp}, grpc :${grpc}, data ${tmp}`);
  const logs = [];
  const server = spawn(
    bin,
    ['serve', '--config', config, '--data-dir', join(tmp, 'data'), '--otlp-grpc-addr', `127.0.0.1:${grpc}`, '--otlp-http-addr', `127.0.0.1:${otlpHttp}`, '--http-addr', `127.0.0.1:${http}`, '--log-format', 'json'],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' } },
  );
  server.stdout.on('data', (d) => logs.push(String(d)));
  server.stderr.on('data', (d) => logs.push(String(d)));
  let exited = null;
  server.on('exit', (code, sig) => (exited = `${code ?? sig}`));
  let browser;
  let dev;
  try {
    await waitFor('lookout /health', async () => {
      if (exited !== null) throw new Error(`lookout exited (${exited}):\n${logs.join('')}`);
      return (await fetch(`${api}/health`)).ok;
    }, 60_000);

    const t0 = Date.now();
    await sendDataSet(`http://127.0.0.1:${otlpHttp}`);
    for (const { mod } of modules) if (mod.sendData) await mod.sendData({ otlpHttp: `http://127.0.0.1:${otlpHttp}`, api });
    await waitFor(
      'every service in /lookout/v1/services with requests',
      async () => {
        const r = await (await fetch(`${api}/lookout/v1/services?since=15m`)).json();
        const byName = new Map(r.services.map((s) => [s.name, s]));
        return SERVICES.every((s) => (byName.get(s.name)?.requests ?? 0) > 0 && byName.get(s.name)?.error_percent !== null);
      },
      60_000,
    );
    // Host charts need two host-metric samples (CPU is measured between readings).
    await waitFor('host metrics', async () => {
      const r = await (await fetch(`${api}/api/v1/query?query=${encodeURIComponent('count_over_time(system_cpu_utilization_ratio{cpu="total"}[5m])')}`)).json();
      return Number(r.data?.result?.[0]?.value?.[1] ?? 0) >= 2;
    }, 30_000);
    console.log(`data set ingested and visible in ${Date.now() - t0} ms`);

    // The binary serves ui/dist at /ui/ (debug builds read it from disk); older binaries do not:
    // then a dev server with the same CSP serves dist/ and proxies the API.
    let baseUrl = api;
    const probe = await fetch(`${api}/ui/`);
    const body = await probe.text();
    // LOOKOUT_UI_DEV=1: serve this checkout's dist/ even when the binary serves a UI (a debug
    // binary reads ui/dist from the checkout it was built in, which may not be this one).
    if (process.env.LOOKOUT_UI_DEV === '1' || !probe.ok || !body.includes('/ui/assets/')) {
      if (process.env.LOOKOUT_REQUIRE_UI === '1' && process.env.LOOKOUT_UI_DEV !== '1') throw new Error(`${api}/ui/ does not serve the dashboard (HTTP ${probe.status}) and LOOKOUT_REQUIRE_UI=1`);
      dev = await startDevServer({ target: api });
      baseUrl = dev.url;
      console.log(`note: ${api}/ui/ does not serve the dashboard (HTTP ${probe.status}); using dev-server.mjs at ${baseUrl}`);
    } else {
      console.log(`dashboard served by lookout at ${api}/ui/`);
    }

    browser = await chromium.launch({
      executablePath: chromiumPath,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    });

    const timings = [];
    for (const { f, mod } of modules) {
      const name = mod.name ?? f.replace(/\.mjs$/, '');
      if (only && !only.has(name)) continue;
      const ctx = { browser, baseUrl, api, screenshotDir, timings, name };
      const t = Date.now();
      try {
        await mod.default(ctx);
        console.log(`ok   ${name} (${Date.now() - t} ms)`);
      } catch (e) {
        failures.push(`${name}: ${e.message}`);
        console.log(`FAIL ${name}: ${e.message}`);
      }
    }
    console.log('\ntime to interactive (navigation start → data-ready):');
    for (const { page, ms } of timings) console.log(`  ${page.padEnd(28)} ${ms} ms`);
    console.log(`screenshots: ${screenshotDir}`);
  } finally {
    await browser?.close().catch(() => {});
    dev?.server.close();
    server.kill('SIGTERM');
    await Promise.race([new Promise((r) => server.once('exit', r)), sleep(5000)]);
    if (exited === null) server.kill('SIGKILL');
    rmSync(tmp, { recursive: true, force: true });
  }
  if (failures.length) {
    console.error(`\n${failures.length} failure(s):\n  ${failures.join('\n  ')}`);
    process.exit(1);
  }
  console.log('\nall browser checks passed');
}

main().catch((e) => {
  console.error(`browser test failed: ${e.stack ?? e.message}`);
  process.exit(1);
});
