/**
 * `npm run bench:wasm-threads [-- --threads 1,2 --batch 2 --seq 48 --warmup 2 --steps 8 --repeat 2]`: training
 * tokens per second of the tiny preset on TF.js's wasm backend in Debian's Chromium, in a module worker of a
 * cross-origin isolated page (as the trainer runs): the non-threaded SIMD build (what a page without isolation
 * gets) and the threaded SIMD build at each thread count. One JSON line per run on stdout
 * {"build","threads","tokens_per_second","ms_per_step","same_losses_as_simd"}, the best of `repeat` runs, then
 * {"summary":…,"speedup_vs_simd":{threads: x}}. Progress on stderr.
 */
import { createServer, type Server } from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { CliError, flag, numberFlag, parseArgs } from '../src/cli/args.ts';
import { launchChromium } from './browser-harness.ts';
import type { WasmThreadsResult, WasmThreadsRun } from './wasm-threads-worker.ts';

const args = parseArgs(process.argv.slice(2), ['threads', 'batch', 'seq', 'warmup', 'steps', 'repeat']);
const threadCounts = (flag(args, 'threads') ?? '1,2').split(',').map(Number);
if (threadCounts.some((t) => !Number.isInteger(t) || t < 1 || t > 8)) throw new CliError('--threads: comma-separated thread counts from 1 to 8 (TF.js keeps a pool of 8 workers), e.g. 1,2', 2);
const shape = {
  batch: numberFlag(args, 'batch', { integer: true, min: 1 }) ?? 2,
  seq: numberFlag(args, 'seq', { integer: true, min: 2 }) ?? 48,
  warmup: numberFlag(args, 'warmup', { integer: true, min: 1 }) ?? 2,
  steps: numberFlag(args, 'steps', { integer: true, min: 1 }) ?? 8,
};
const repeat = numberFlag(args, 'repeat', { integer: true, min: 1 }) ?? 2;
const log = (m: string) => process.stderr.write(`[bench:wasm-threads] ${m}\n`);

const ISOLATION = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin' };

/** The worker bundle and TF.js's wasm binaries on 127.0.0.1 with the page's cross-origin isolation headers. */
async function serve(): Promise<{ url: string; close(): Promise<void> }> {
  const out = await build({
    entryPoints: [fileURLToPath(new URL('./wasm-threads-worker.ts', import.meta.url))], bundle: true, format: 'esm', platform: 'browser',
    target: 'es2022', write: false, define: { 'process.env.NODE_ENV': '"production"' }, logLevel: 'warning',
  });
  const js = out.outputFiles[0].contents;
  const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  const wasm = new Map(readdirSync(wasmDir).filter((f) => f.endsWith('.wasm')).map((f) => [`/tfjs-wasm/${f}`, readFileSync(join(wasmDir, f))]));
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    if (path === '/') res.writeHead(200, { ...ISOLATION, 'content-type': 'text/html' }).end('<!doctype html><meta charset="utf-8"><title>bench:wasm-threads</title>');
    else if (path === '/worker.js') res.writeHead(200, { ...ISOLATION, 'content-type': 'text/javascript' }).end(js);
    else if (wasm.has(path)) res.writeHead(200, { ...ISOLATION, 'content-type': 'application/wasm' }).end(wasm.get(path));
    else res.writeHead(404).end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/`, close: () => new Promise((r) => server.close(() => r())) };
}

async function main(): Promise<void> {
  const server = await serve();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(server.url);
    if (!(await page.evaluate(() => crossOriginIsolated))) throw new CliError('the bench page is not cross-origin isolated; threads need it');
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    const runOnce = (run: WasmThreadsRun) =>
      page.evaluate(
        (r) =>
          new Promise<WasmThreadsResult>((resolve, reject) => {
            const w = new Worker('/worker.js', { type: 'module' });
            w.onmessage = (e: MessageEvent<{ ok: boolean; result?: WasmThreadsResult; error?: string }>) => {
              w.terminate();
              if (e.data.ok) resolve(e.data.result!);
              else reject(new Error(e.data.error));
            };
            w.onerror = (e) => (w.terminate(), reject(new Error(e.message || 'the bench worker failed')));
            w.postMessage(r);
          }),
        run,
      );
    const configs: { threaded: boolean; threads: number }[] = [{ threaded: false, threads: 1 }, ...threadCounts.map((threads) => ({ threaded: true, threads }))];
    const best = new Map<string, WasmThreadsResult>();
    for (let i = 0; i < repeat; i++) {
      for (const c of configs) {
        const key = `${c.threaded}:${c.threads}`;
        const r = await runOnce({ ...shape, ...c });
        log(`${r.build} · ${r.threads} thread(s), run ${i + 1}/${repeat}: ${r.tokensPerSecond.toFixed(0)} tokens/s (${r.msPerStep.toFixed(0)} ms/step)`);
        if (c.threaded && r.build !== 'threaded-simd') throw new CliError(`asked for the threaded build and got ${r.build}`);
        if (!best.has(key) || best.get(key)!.tokensPerSecond < r.tokensPerSecond) best.set(key, r);
      }
    }
    const simd = best.get('false:1')!;
    const speedup: Record<string, number> = {};
    for (const c of configs) {
      const r = best.get(`${c.threaded}:${c.threads}`)!;
      const same = r.losses.length === simd.losses.length && r.losses.every((l, i) => l === simd.losses[i]);
      const maxDiff = Math.max(...r.losses.map((l, i) => Math.abs(l - simd.losses[i])));
      process.stdout.write(JSON.stringify({ build: r.build, threads: r.threads, tokens_per_second: Math.round(r.tokensPerSecond), ms_per_step: Math.round(r.msPerStep), same_losses_as_simd: same, max_loss_diff: maxDiff, cross_origin_isolated: r.crossOriginIsolated }) + '\n');
      if (c.threaded) speedup[String(r.threads)] = Math.round((r.tokensPerSecond / simd.tokensPerSecond) * 100) / 100;
    }
    process.stdout.write(JSON.stringify({ summary: 'tiny preset, training tokens/s on wasm in a module worker', cores, ...shape, repeat, speedup_vs_simd: speedup }) + '\n');
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:wasm-threads: ${(e as Error).message}\n`);
  process.exit(e instanceof CliError ? e.exitCode : 1);
});
