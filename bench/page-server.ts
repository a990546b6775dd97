/**
 * A browser entry bundled with esbuild and served with a one-line page on 127.0.0.1 (a secure context, so WebGPU
 * is there), for benchmarks that run engine code in Debian's Chromium without the product's build or preview server.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';

export interface PageServer {
  /** The page's URL; its module script is the bundle. */
  url: string;
  close(): Promise<void>;
}

/** Bundles `entry` (ES module, browser platform, es2022) and serves it at http://127.0.0.1:<free port>/. */
export async function servePage(entry: string, title: string): Promise<PageServer> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-page-'));
  await build({
    entryPoints: [entry], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', outfile: join(dir, 'page.js'),
    define: { 'process.env.NODE_ENV': '"production"' }, logLevel: 'warning',
  });
  const js = readFileSync(join(dir, 'page.js'));
  const html = `<!doctype html><meta charset="utf-8"><title>${title}</title><script type="module" src="/page.js"></script>`;
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/page.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    else if (path === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(html);
    else res.writeHead(404).end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        rmSync(dir, { recursive: true, force: true });
      }),
  };
}
