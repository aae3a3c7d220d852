// Development only: serves ui/dist at /ui/ as the Lookout binary does (same CSP, index.html for
// every other /ui/* path) and proxies everything else (/api, /lookout, ...) to a running Lookout.
//
//   LOOKOUT_URL=http://127.0.0.1:8080 PORT=5173 node dev-server.mjs     (with `node build.mjs --watch`)

import { createServer, request } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, join, normalize, extname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

// The same policy as query-api/src/ui.rs.
export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; " +
  "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const TYPES = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

/** Starts the server; resolves to { server, url }. */
export function startDevServer({ port = 0, host = '127.0.0.1', target = 'http://127.0.0.1:8080', distDir = join(here, 'dist') } = {}) {
  const upstream = new URL(target);
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    if (path === '/' || path === '/ui') {
      res.writeHead(302, { Location: '/ui/' });
      res.end();
      return;
    }
    if (path.startsWith('/ui/')) {
      res.setHeader('Content-Security-Policy', CSP);
      res.setHeader('X-Content-Type-Options', 'nosniff');
      if (path.startsWith('/ui/assets/')) {
        const rel = normalize(decodeURIComponent(path.slice('/ui/'.length)));
        if (rel.startsWith('..')) {
          res.writeHead(400).end();
          return;
        }
        try {
          const body = await readFile(join(distDir, rel));
          res.writeHead(200, { 'Content-Type': TYPES[extname(rel)] ?? 'application/octet-stream', 'Cache-Control': 'no-cache' });
          res.end(body);
        } catch {
          res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
        }
        return;
      }
      try {
        const body = await readFile(join(distDir, 'index.html'));
        res.writeHead(200, { 'Content-Type': TYPES['.html'], 'Cache-Control': 'no-cache' });
        res.end(body);
      } catch {
        res.writeHead(503, { 'Content-Type': 'text/plain' }).end('ui/dist is not built: run `npm run build`');
      }
      return;
    }
    const proxied = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    proxied.on('error', (e) => {
      res.writeHead(502, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: `dev proxy: ${e.message}` }));
    });
    req.pipe(proxied);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address();
      resolve({ server, url: `http://${host}:${a.port}` });
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === normalize(process.argv[1])) {
  const { url } = await startDevServer({
    port: Number(process.env.PORT ?? 5173),
    target: process.env.LOOKOUT_URL ?? 'http://127.0.0.1:8080',
  });
  console.log(`dashboard at ${url}/ui/ (API proxied to ${process.env.LOOKOUT_URL ?? 'http://127.0.0.1:8080'})`);
}
