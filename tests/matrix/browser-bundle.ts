// Node side of the browser matrix: bundles browser-entry.ts (the core checks and TF.js's webgpu backend) and
// kernel-entry.ts (the fused-kernel checks) with Vite's build() into a temporary folder at test time (one build for
// both, reused while the sources are the same), and answers the page's requests under MATRIX_PATH from that folder and
// from tests/fixtures, so nothing of it is in the product's build. Used by tests/e2e/backend-matrix.spec.ts (page
// index.html) and tests/e2e/fused-kernels.spec.ts (page kernels.html).
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** URL path the page is served under (on the preview server's origin: a secure context, as WebGPU needs). */
export const MATRIX_PATH = '/__matrix/';

const HERE = dirname(fileURLToPath(import.meta.url));
const FIXTURES = join(HERE, '../fixtures');
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.html': 'text/html', '.json': 'application/json' };
/** The pages, by file name: each loads one entry's bundle. */
const ENTRIES: Record<string, { page: string; entry: string; title: string }> = {
  matrix: { page: 'index.html', entry: 'browser-entry.ts', title: 'engine backend matrix' },
  kernels: { page: 'kernels.html', entry: 'kernel-entry.ts', title: 'fused kernel checks' },
  attention: { page: 'attention.html', entry: 'attention-entry.ts', title: 'fused attention checks' },
};
const pageOf = (name: string, title: string) => `<!doctype html><meta charset="utf-8"><title>${title}</title><script type="module" src="./${name}.js"></script>`;

export interface MatrixBundle {
  /** The response to a request for `pathname` (under MATRIX_PATH), or null when there is no such file. */
  respond(pathname: string): { status: number; contentType: string; body: Buffer } | null;
}

/** A file strictly inside `root`, or null (no `..` escapes). */
function inside(root: string, rel: string): string | null {
  const p = normalize(join(root, rel));
  return p.startsWith(root + sep) && existsSync(p) ? p : null;
}

/** Every file the bundle is made of (this folder, the engine, the lockfile), hashed: the cache key. */
function sourceHash(): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) h.update(p).update(readFileSync(p));
    }
  };
  walk(HERE);
  walk(join(HERE, '../../src/engine'));
  h.update(readFileSync(join(HERE, '../../package-lock.json')));
  return h.digest('hex').slice(0, 16);
}

/**
 * Bundles the checks, or reuses the bundle of the same sources: Playwright starts a new worker (and runs beforeAll
 * again) after every failed test, and a failing column should not pay for a build per failure.
 */
export async function buildMatrixBundle(): Promise<MatrixBundle> {
  const outDir = join(tmpdir(), `engine-matrix-${sourceHash()}`);
  if (!Object.keys(ENTRIES).every((name) => existsSync(join(outDir, `${name}.js`)))) {
    const { build } = await import('vite');
    const tmp = mkdtempSync(join(tmpdir(), 'engine-matrix-build-'));
    await build({
      configFile: false,
      root: HERE,
      logLevel: 'warn',
      publicDir: false,
      define: { 'process.env.NODE_ENV': JSON.stringify('production') },
      build: {
        outDir: tmp,
        emptyOutDir: true,
        target: 'es2022',
        minify: false,
        reportCompressedSize: false,
        lib: {
          entry: Object.fromEntries(Object.entries(ENTRIES).map(([name, e]) => [name, join(HERE, e.entry)])),
          formats: ['es'],
          fileName: (_format, name) => `${name}.js`,
        },
      },
    });
    try {
      renameSync(tmp, outDir); // atomic: a parallel run sees a whole bundle or none
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another run got there first
    }
    pruneOldBundles(outDir);
  }
  return {
    respond(pathname) {
      if (!pathname.startsWith(MATRIX_PATH)) return null;
      const rel = decodeURIComponent(pathname.slice(MATRIX_PATH.length));
      const page = Object.entries(ENTRIES).find(([, e]) => e.page === (rel === '' ? 'index.html' : rel));
      if (page) return { status: 200, contentType: TYPES['.html'], body: Buffer.from(pageOf(page[0], page[1].title)) };
      const file = rel.startsWith('fixtures/') ? inside(FIXTURES, rel.slice('fixtures/'.length)) : inside(outDir, rel);
      if (!file) return null;
      return { status: 200, contentType: TYPES[extname(file)] ?? 'application/octet-stream', body: readFileSync(file) };
    },
  };
}

/** Bundles of other sources left by earlier runs, once they are a day old. */
function pruneOldBundles(keep: string): void {
  const dayAgo = Date.now() - 24 * 3600 * 1000;
  for (const name of readdirSync(tmpdir())) {
    const p = join(tmpdir(), name);
    if (!name.startsWith('engine-matrix-') || p === keep) continue;
    try {
      if (statSync(p).mtimeMs < dayAgo) rmSync(p, { recursive: true, force: true });
    } catch {
      /* gone already */
    }
  }
}
