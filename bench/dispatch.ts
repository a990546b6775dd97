/**
 * `npm run bench:dispatch [-- --layers 1,2 --vocab 8192 --batch 1 --seq 16 --warmup 2 --steps 1 --paths composed,fused
 * --checkpointing on|off]`: what one steady-state training step asks of the WebGPU device — compute dispatches, buffers
 * created, queue submits, readbacks and their bytes (src/engine/gpu-counters.ts) — at the Qwen3-0.6B width (hidden
 * 1024, 16/8 heads, head_dim 128, intermediate 3072) with a reduced vocabulary, in Debian's Chromium on WebGPU
 * (SwiftShader here: the counts are the backend's, whatever the adapter; the times are not a GPU's). For each path
 * (composed = fusedKernels off, fused = on) one JSON line on stdout at the largest depth:
 * {"path","layers","dispatches_per_step","dispatches_per_layer","buffers_created_per_step","submits_per_step",
 *  "readback_bytes_per_step","loss", ...} where dispatches_per_layer = count at the largest depth − count at the
 * smallest (divided by the layer difference), and loss is the last measured step's, every path trained from the same
 * seed on the same batch. A step is one micro-batch of batch × seq tokens (gradAccumSteps 1; the 0.6B preset's 16
 * micro-batches per step repeat the forward and backward 16 times before one optimizer update). Totals are over `steps` measured steps after `warmup` steps, with the metrics read once per
 * window (logEvery = steps), so readbacks_per_step = 1/steps. Progress goes to stderr.
 */
import { fileURLToPath } from 'node:url';
import { CliError, flag, numberFlag, parseArgs } from '../src/cli/args.ts';
import { launchChromium } from './browser-harness.ts';
import { servePage } from './page-server.ts';
import type { DispatchApi, DispatchResult, DispatchRun } from './dispatch-page.ts';

declare global {
  var __dispatch: DispatchApi;
}

const args = parseArgs(process.argv.slice(2), ['layers', 'vocab', 'batch', 'seq', 'warmup', 'steps', 'paths', 'checkpointing', 'seed']);
const layers = (flag(args, 'layers') ?? '1,2').split(',').map(Number);
if (layers.length < 1 || layers.some((l) => !Number.isInteger(l) || l < 1)) throw new CliError('--layers: a comma-separated list of depths ≥ 1, e.g. 1,2', 2);
const paths = (flag(args, 'paths') ?? 'composed,fused').split(',');
if (paths.some((p) => p !== 'composed' && p !== 'fused')) throw new CliError('--paths: composed, fused or both (comma-separated)', 2);
const checkpointing = flag(args, 'checkpointing') ?? 'on';
if (checkpointing !== 'on' && checkpointing !== 'off') throw new CliError('--checkpointing: on (the qwen3-0.6b preset\'s default) or off', 2);
const base = {
  vocab: numberFlag(args, 'vocab', { integer: true, min: 16 }) ?? 8192,
  batch: numberFlag(args, 'batch', { integer: true, min: 1 }) ?? 1,
  seq: numberFlag(args, 'seq', { integer: true, min: 2 }) ?? 16,
  // Two warm-up steps: the first compiles every pipeline and makes the Adam moments, the second is the first to find
  // the buffer pool as every later step does (after one, the fused path still created 2 buffers in the measured step;
  // after two, none). The dispatches per step are constant from the second step on. SwiftShader takes minutes a step.
  warmup: numberFlag(args, 'warmup', { integer: true, min: 1 }) ?? 2,
  steps: numberFlag(args, 'steps', { integer: true, min: 1 }) ?? 1,
  gradientCheckpointing: checkpointing === 'on',
  seed: numberFlag(args, 'seed', { integer: true, min: 0 }) ?? 1,
};

const log = (m: string) => process.stderr.write(`[bench:dispatch] ${m}\n`);
const per = (n: number) => Math.round((n / base.steps) * 100) / 100;

async function main(): Promise<void> {
  const t0 = Date.now();
  const server = await servePage(fileURLToPath(new URL('./dispatch-page.ts', import.meta.url)), 'bench:dispatch');
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => m.text().startsWith('[dispatch]') && log(m.text().slice(11)));
    await page.goto(server.url);
    await page.waitForFunction(() => '__dispatch' in globalThis, undefined, { timeout: 60_000 });
    const info = await page.evaluate(() => globalThis.__dispatch.init());
    if (info.backend !== 'webgpu') throw new CliError(`WebGPU did not start in Chromium (backend ${info.backend}, adapter ${info.adapter})`);
    log(`webgpu on ${info.adapter}; ${JSON.stringify(base)}`);
    const depths = [...new Set(layers)].sort((a, b) => a - b);
    for (const path of paths) {
      const byDepth = new Map<number, DispatchResult>();
      for (const l of depths) {
        const run: DispatchRun = { ...base, layers: l, fused: path === 'fused' };
        const t = Date.now();
        const r = await page.evaluate((x) => globalThis.__dispatch.run(x), run);
        log(`${path} ${l} layer(s): ${JSON.stringify(r)} (${Math.round((Date.now() - t) / 1000)} s)`);
        byDepth.set(l, r);
      }
      const lo = byDepth.get(depths[0])!, hi = byDepth.get(depths[depths.length - 1])!;
      const span = depths[depths.length - 1] - depths[0];
      process.stdout.write(
        JSON.stringify({
          path,
          layers: depths[depths.length - 1],
          dispatches_per_step: per(hi.counts.dispatches),
          dispatches_per_layer: span > 0 ? per((hi.counts.dispatches - lo.counts.dispatches) / span) : null,
          buffers_created_per_step: per(hi.counts.buffersCreated),
          submits_per_step: per(hi.counts.submits),
          readback_bytes_per_step: per(hi.counts.readbackBytes),
          loss: hi.lossLast,
          readbacks_per_step: per(hi.counts.readbacks),
          loss_first_step: hi.lossFirst,
          fused_active: hi.fusedActive,
          pipelines_compiled_warmup: hi.pipelinesWarmup,
          pipelines_compiled_window: hi.pipelinesWindow,
          ms_per_step: Math.round(hi.msPerStep),
          per_depth: depths.map((l) => ({ layers: l, dispatches_per_step: per(byDepth.get(l)!.counts.dispatches), buffers_created_per_step: per(byDepth.get(l)!.counts.buffersCreated), submits_per_step: per(byDepth.get(l)!.counts.submits) })),
          vocab: base.vocab, batch: base.batch, seq: base.seq, grad_accum_steps: 1, warmup: base.warmup, steps: base.steps, log_every: base.steps,
          gradient_checkpointing: base.gradientCheckpointing, adapter: info.adapter,
        }) + '\n',
      );
    }
    if (errors.length) log(`page errors: ${errors.join('; ')}`);
    log(`done in ${Math.round((Date.now() - t0) / 1000)} s`);
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(1);
});
