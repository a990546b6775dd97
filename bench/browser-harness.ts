/**
 * What the browser benchmarks share: the production build served by `vite preview` on a free port (in its own
 * process group, so stopping it stops what npx spawned) and Debian's Chromium with the flags the tests use.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser } from 'playwright-core';
import { CliError } from '../src/cli/args.ts';

export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage', '--enable-unsafe-webgpu'];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function run(cmd: string, argv: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'inherit'] });
    p.once('error', reject);
    p.once('exit', (code) => (code === 0 ? resolve() : reject(new CliError(`${cmd} ${argv.join(' ')} exited with ${code}`))));
  });
}

async function waitForHttp(url: string, server: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (server.exitCode !== null) throw new CliError(`vite preview exited with ${server.exitCode} before serving ${url}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not up yet */
    }
    await sleep(200);
  }
  throw new CliError(`vite preview did not answer at ${url} within ${timeoutMs / 1000} s`);
}

export interface PreviewServer {
  base: string;
  stop(): void;
}

/** Builds into `outDir` when it has no build (or `rebuild`), serves it and waits until it answers. */
export async function servePreview(outDir: string, opts: { rebuild?: boolean; verbose?: boolean; log?: (m: string) => void } = {}): Promise<PreviewServer> {
  if (opts.rebuild || !existsSync(`${outDir}/index.html`)) {
    opts.log?.(`vite build --outDir ${outDir}`);
    await run('npx', ['vite', 'build', '--logLevel', 'warn', '--outDir', outDir, '--emptyOutDir']);
  }
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn('npx', ['vite', 'preview', '--outDir', outDir, '--port', String(port), '--strictPort', '--host', '127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  server.stderr?.on('data', (d: Buffer) => opts.verbose && process.stderr.write(d));
  const stop = () => {
    if (server.pid && server.exitCode === null) {
      try {
        process.kill(-server.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
  };
  process.once('SIGINT', () => {
    stop();
    process.exit(130);
  });
  try {
    await waitForHttp(`${base}/`, server, 60_000);
  } catch (e) {
    stop();
    throw e;
  }
  return { base, stop };
}
