// Size budget, from esbuild's metafile (build/meta.json, written by `node build.mjs`):
// the initial JavaScript (entry chunk + its static imports, recursively) ≤ 150 KB gzip,
// the whole dist/ ≤ 2 MB.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ui = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const INITIAL_GZIP_BUDGET = 150 * 1024;
const DIST_BUDGET = 2 * 1024 * 1024;

function walk(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}

test('bundle size budget', () => {
  const meta = JSON.parse(readFileSync(join(ui, 'build', 'meta.json'), 'utf8'));
  const outs = meta.outputs;
  const entry = Object.keys(outs).find((o) => outs[o].entryPoint === 'src/main.tsx' && o.endsWith('.js'));
  assert.ok(entry, 'entry chunk in the metafile');
  const initial = new Set();
  const visit = (o) => {
    if (initial.has(o)) return;
    initial.add(o);
    for (const i of outs[o].imports) if (i.kind === 'import-statement') visit(i.path);
  };
  visit(entry);
  if (outs[entry].cssBundle) initial.add(outs[entry].cssBundle);
  let jsGzip = 0;
  let jsRaw = 0;
  let cssGzip = 0;
  for (const o of initial) {
    const buf = readFileSync(join(ui, o));
    const gz = gzipSync(buf, { level: 9 }).length;
    if (o.endsWith('.js')) {
      jsGzip += gz;
      jsRaw += buf.length;
    } else cssGzip += gz;
  }
  const files = walk(join(ui, 'dist'));
  const total = files.reduce((n, f) => n + statSync(f).size, 0);
  const lazy = Object.keys(outs).filter((o) => o.endsWith('.js') && !initial.has(o));
  console.log(
    `initial JS: ${(jsGzip / 1024).toFixed(1)} KB gzip (${(jsRaw / 1024).toFixed(1)} KB raw, ${[...initial].filter((o) => o.endsWith('.js')).length} files); ` +
      `initial CSS: ${(cssGzip / 1024).toFixed(1)} KB gzip; lazy chunks: ${lazy.length}; dist/: ${(total / 1024).toFixed(1)} KB in ${files.length} files`,
  );
  assert.ok(jsGzip <= INITIAL_GZIP_BUDGET, `initial JS ${jsGzip} B gzip > ${INITIAL_GZIP_BUDGET}`);
  assert.ok(total <= DIST_BUDGET, `dist/ ${total} B > ${DIST_BUDGET}`);
});
