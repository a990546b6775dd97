/**
 * `npx tsx bench/wasm-capacity.ts [--layers 20,22,24] [--tokens 8] [--width qwen3-0.6b]`: where the wasm backend
 * stops computing correct logits. For each layer count, a random model with the preset's vocabulary and width
 * (seed 0) runs one forward pass in a child process on wasm and on cpu; one JSON line per size on stdout:
 * layers, tokens, params, rule_need_bytes and rule_ok (src/engine/capacity.ts), wasm_heap_bytes (the wasm
 * memory's size at the end), xnn_failed (XNNPACK's "Got status" line on stderr), wasm_max_abs, cpu_max_abs,
 * max_abs_diff, correct (diff ≤ 1e-3 · max(1, cpu max |x|)). Each size takes about a minute per backend here.
 *
 * `… --train full|gc|lora|lora-gc:TOKENS:VOCAB[,…] [--layers 2]`: what training needs on wasm. A random model
 * with the preset's width, `--layers` layers and VOCAB tokens trains 2 steps (batch 1, TOKENS tokens) in a child
 * process; one JSON line each: variant, tokens, vocab, layers, weights_bytes, peak_live_bytes (tf.profile's peak
 * of tensor bytes above the weights), est (memory-estimate.ts parts), rule_need_bytes (capacity.ts, wasm) and
 * wasm_heap_bytes (the heap's size after the steps: live tensors, XNNPACK's packed copies and fragmentation).
 */
import * as tf from '@tensorflow/tfjs-core';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initNodeBackend } from '../src/engine/backend-node.ts';
import { Qwen3Model, singleSequence } from '../src/engine/model.ts';
import { presetConfig } from '../src/engine/config/model-config.ts';
import { capacityNeed, checkCapacity } from '../src/engine/capacity.ts';
import { countParameters, estimateTrainingMemory } from '../src/engine/memory-estimate.ts';
import { parseTrainConfig } from '../src/engine/config/train-config.ts';
import { runJob } from '../src/engine/train.ts';
import { flag, numberFlag, parseArgs } from '../src/cli/args.ts';
import type { ModelConfig } from '../src/engine/types.ts';

const ids = (T: number, V: number) => Array.from({ length: T }, (_, i) => (i * 7919 + 13) % V);

/** Child: logits of one model on one backend → raw float32 file; prints {max_abs, heap}. */
async function child(backend: 'wasm' | 'cpu', cfg: ModelConfig, T: number, out: string): Promise<void> {
  await initNodeBackend([backend]);
  const model = Qwen3Model.random(cfg, 0);
  const x = singleSequence(ids(T, cfg.vocabSize));
  const logits = tf.tidy(() => tf.matMul(tf.reshape(model.hidden(x), [T, cfg.hiddenSize]), model.headWeight()));
  const data = (await logits.data()) as Float32Array;
  let maxAbs = 0;
  for (const v of data) maxAbs = Math.max(maxAbs, Math.abs(v));
  writeFileSync(out, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm;
  process.stdout.write(JSON.stringify({ max_abs: maxAbs, heap: wasm ? wasm.HEAPU8.buffer.byteLength : null }) + '\n');
}

/** Child: two training steps on wasm; prints the peak live bytes, the wasm heap and what the rule says. */
async function trainChild(variant: string, cfg: ModelConfig, T: number): Promise<void> {
  await initNodeBackend(['wasm']);
  const model = Qwen3Model.random(cfg, 0);
  const ex = { ids: Int32Array.from({ length: T }, (_, i) => (i * 31) % cfg.vocabSize), trainMask: new Uint8Array(T).fill(1) };
  const train = parseTrainConfig(
    { logEvery: 1, batchSize: 1, gradAccumSteps: 1, maxLength: T, lmHeadChunkTokens: 256, gradientCheckpointing: variant.endsWith('gc'), lora: { enabled: variant.startsWith('lora') } },
    'qwen3-0.6b',
  );
  const before = tf.memory().numBytes;
  const p = await tf.profile(async () => {
    await runJob({ model, source: { size: 1, get: () => ex }, config: train, padTokenId: 0, steps: 2 });
  });
  const e = estimateTrainingMemory(cfg, train);
  const wasm = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm;
  process.stdout.write(JSON.stringify({
    variant, tokens: T, vocab: cfg.vocabSize, layers: cfg.numHiddenLayers, weights_bytes: before, peak_live_bytes: p.peakBytes - before,
    est: { gradients: e.gradientsBytes, optimizer: e.optimizerBytes, activations: e.activationsBytes, lm_head_chunk: e.lmHeadChunkBytes },
    rule_need_bytes: capacityNeed(cfg, { kind: 'training', train }, 'wasm').totalBytes, wasm_heap_bytes: wasm.HEAPU8.buffer.byteLength,
  }) + '\n');
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    const [, backend, width, layers, tokens, out] = argv;
    await child(backend as 'wasm' | 'cpu', { ...presetConfig(width), numHiddenLayers: Number(layers) }, Number(tokens), out);
    return;
  }
  if (argv[0] === '--train-child') {
    const [, variant, width, layers, tokens, vocab] = argv;
    await trainChild(variant, { ...presetConfig(width), numHiddenLayers: Number(layers), vocabSize: Number(vocab) }, Number(tokens));
    return;
  }
  const args = parseArgs(argv, ['layers', 'tokens', 'width', 'train']);
  const train = flag(args, 'train');
  if (train) {
    const width = flag(args, 'width') ?? 'qwen3-0.6b';
    const L = flag(args, 'layers') ?? '2';
    for (const spec of train.split(',')) {
      const [variant, tokens, vocab] = spec.split(':');
      const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--train-child', variant, width, L, tokens, vocab], { encoding: 'utf8' });
      const line = r.stdout.trim().split('\n').pop() ?? '';
      process.stdout.write(line.startsWith('{') ? `${line}\n` : `${JSON.stringify({ variant, tokens: Number(tokens), vocab: Number(vocab), exit: r.status, stderr: r.stderr.slice(-300) })}\n`);
    }
    return;
  }
  const layerList = (flag(args, 'layers') ?? '20,22,24').split(',').map(Number);
  const T = numberFlag(args, 'tokens', { integer: true, min: 1 }) ?? 8;
  const width = flag(args, 'width') ?? 'qwen3-0.6b';
  const dir = mkdtempSync(join(tmpdir(), 'wasm-capacity-'));
  const self = fileURLToPath(import.meta.url);
  try {
    for (const L of layerList) {
      const cfg = { ...presetConfig(width), numHiddenLayers: L };
      const rule = checkCapacity(cfg, { kind: 'inference', tokens: T }, 'wasm');
      const runs = (['wasm', 'cpu'] as const).map((b) => {
        const out = join(dir, `${b}-${L}.f32`);
        const r = spawnSync(process.execPath, ['--import', 'tsx', self, '--child', b, width, String(L), String(T), out], { encoding: 'utf8', maxBuffer: 1 << 24 });
        const line = r.stdout.trim().split('\n').pop() ?? '{}';
        return { ...(JSON.parse(line.startsWith('{') ? line : '{}') as { max_abs?: number; heap?: number }), stderr: r.stderr, status: r.status, out };
      });
      const [w, c] = runs;
      let diff = NaN;
      if (w.status === 0 && c.status === 0) {
        const a = new Float32Array(readFileSync(w.out).buffer.slice(0));
        const b = new Float32Array(readFileSync(c.out).buffer.slice(0));
        diff = 0;
        for (let i = 0; i < a.length; i++) diff = Math.max(diff, Number.isNaN(a[i] - b[i]) ? Infinity : Math.abs(a[i] - b[i]));
      }
      const line = {
        layers: L, tokens: T, params: countParameters(cfg), rule_need_bytes: rule.need.totalBytes, rule_ok: rule.ok,
        wasm_heap_bytes: w.heap ?? null, xnn_failed: /Got status/.test(w.stderr), wasm_max_abs: w.max_abs ?? null, cpu_max_abs: c.max_abs ?? null,
        max_abs_diff: diff, correct: diff <= 1e-3 * Math.max(1, c.max_abs ?? 0), exit: [w.status, c.status],
      };
      process.stdout.write(JSON.stringify(line) + '\n');
      for (const r of runs) rmSync(r.out, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
