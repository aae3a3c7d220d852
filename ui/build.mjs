// Builds the dashboard with esbuild.
//
//   node build.mjs              production build: dist/ (index.html + assets/), build/meta.json
//   node build.mjs --watch      rebuild on change (use with dev-server.mjs)
//   node build.mjs --tests      bundle tests/*.test.ts to build/tests/*.mjs (and copy *.test.mjs)
//   node build.mjs --tests --run  ... then run them with `node --test`

import * as esbuild from 'esbuild';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const dist = join(root, 'dist');
const assets = join(dist, 'assets');
const buildDir = join(root, 'build');
const PUBLIC = '/ui/assets/';
const args = new Set(process.argv.slice(2));

const common = {
  bundle: true,
  jsx: 'automatic',
  jsxImportSource: 'preact',
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  logLevel: 'warning',
};

function indexHtml(meta) {
  const outputs = meta.outputs;
  const entry = Object.keys(outputs).find((o) => outputs[o].entryPoint === 'src/main.tsx' && o.endsWith('.js'));
  if (!entry) throw new Error('no entry chunk in the metafile');
  const css = outputs[entry].cssBundle;
  const url = (o) => PUBLIC + relative(assets, join(root, o)).split('\\').join('/');
  const preloads = outputs[entry].imports.filter((i) => i.kind === 'import-statement').map((i) => i.path);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Lookout</title>
<link rel="icon" href="data:,">
${css ? `<link rel="stylesheet" href="${url(css)}">\n` : ''}${preloads.map((p) => `<link rel="modulepreload" href="${url(p)}">\n`).join('')}<script type="module" src="${url(entry)}"></script>
</head>
<body>
<div id="app"></div>
<noscript>Lookout's dashboard needs JavaScript.</noscript>
</body>
</html>
`;
}

const appOptions = {
  ...common,
  entryPoints: [join(root, 'src/main.tsx')],
  outdir: assets,
  splitting: true,
  format: 'esm',
  minify: true,
  metafile: true,
  entryNames: '[name]-[hash]',
  chunkNames: 'chunk-[hash]',
  assetNames: '[name]-[hash]',
  publicPath: PUBLIC,
  legalComments: 'none',
  define: { 'process.env.NODE_ENV': '"production"' },
  absWorkingDir: root,
};

function writeOutputs(meta) {
  writeFileSync(join(dist, 'index.html'), indexHtml(meta));
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(join(buildDir, 'meta.json'), JSON.stringify(meta, null, 1));
}

async function buildApp() {
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(assets, { recursive: true });
  const t0 = Date.now();
  const result = await esbuild.build(appOptions);
  writeOutputs(result.metafile);
  console.log(`built dist/ in ${Date.now() - t0} ms`);
}

async function watchApp() {
  rmSync(dist, { recursive: true, force: true });
  mkdirSync(assets, { recursive: true });
  const ctx = await esbuild.context({
    ...appOptions,
    plugins: [
      {
        name: 'index-html',
        setup(b) {
          b.onEnd((r) => {
            if (r.metafile) {
              writeOutputs(r.metafile);
              console.log(`rebuilt ${new Date().toLocaleTimeString()}${r.errors.length ? ' with errors' : ''}`);
            }
          });
        },
      },
    ],
  });
  await ctx.watch();
  console.log('watching src/ (Ctrl-C to stop)');
}

async function buildTests() {
  const src = join(root, 'tests');
  const out = join(buildDir, 'tests');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const files = readdirSync(src);
  const ts = files.filter((f) => /\.test\.tsx?$/.test(f)).map((f) => join(src, f));
  if (ts.length) {
    await esbuild.build({
      ...common,
      entryPoints: ts,
      outdir: out,
      outExtension: { '.js': '.mjs' },
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      sourcemap: 'inline',
    });
  }
  for (const f of files.filter((f) => f.endsWith('.test.mjs'))) copyFileSync(join(src, f), join(out, f));
  const built = readdirSync(out).filter((f) => f.endsWith('.test.mjs')).sort();
  console.log(`bundled ${built.length} test files to build/tests/`);
  return built.map((f) => join(out, f));
}

if (args.has('--tests')) {
  const tests = await buildTests();
  if (args.has('--run')) {
    const r = spawnSync(process.execPath, ['--test', ...tests], { stdio: 'inherit', cwd: root });
    process.exit(r.status ?? 1);
  }
} else if (args.has('--watch')) {
  await watchApp();
} else {
  await buildApp();
}
