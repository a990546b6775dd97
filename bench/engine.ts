/**
 * `npm run bench:engine [-- --backends wasm,cpu --presets tiny,small --batch 8 --seq 128 --steps 3]`: training
 * and forward throughput of the real-vocabulary presets with random weights and data, one JSON line per
 * backend × preset × mode on stdout: backend, preset, mode, batch, seq, tokens_per_s, ms_per_step,
 * tensor_growth_per_step, peak_bytes (tf.profile's peak over the timed steps), and cpu_ms_per_step /
 * tokens_per_cpu_s (this process's CPU time, which a machine shared with other work inflates less than
 * the wall clock). Defaults: wasm only, batch 8 × 128, 1 warm-up + 3 timed steps.
 */
import * as tf from '@tensorflow/tfjs-core';
import { initNodeBackend } from '../src/engine/backend-node.ts';
import type { BackendName } from '../src/engine/backend.ts';
import { Qwen3Model } from '../src/engine/model.ts';
import { presetConfig } from '../src/engine/config/model-config.ts';
import { parseTrainConfig, type PresetName } from '../src/engine/config/train-config.ts';
import { runJob } from '../src/engine/train.ts';
import { lmHeadLossValue } from '../src/engine/loss.ts';
import { Rng } from '../src/engine/rng.ts';
import { CliError, flag, numberFlag, parseArgs } from '../src/cli/args.ts';
import type { ExampleSource, TokenizedExample } from '../src/engine/types.ts';

const args = parseArgs(process.argv.slice(2), ['backends', 'presets', 'batch', 'seq', 'steps']);
const backends = (flag(args, 'backends') ?? 'wasm').split(',') as BackendName[];
const presetList = (flag(args, 'presets') ?? 'tiny,small').split(',') as PresetName[];
const batch = numberFlag(args, 'batch', { integer: true, min: 1 }) ?? 8;
const seq = numberFlag(args, 'seq', { integer: true, min: 16 }) ?? 128;
const steps = numberFlag(args, 'steps', { integer: true, min: 1 }) ?? 3;

/** `batch` random sequences of `seq` tokens, every token after the first a target. */
function randomSource(vocab: number): ExampleSource {
  const rng = new Rng(1);
  const ex: TokenizedExample[] = Array.from({ length: batch }, () => ({
    ids: Int32Array.from({ length: seq }, () => rng.int(0, vocab - 1)),
    trainMask: new Uint8Array(seq).fill(1),
  }));
  return { size: ex.length, get: (i) => ex[i] };
}

async function benchTrain(backend: string, preset: PresetName): Promise<Record<string, unknown>> {
  const mc = presetConfig(preset);
  const model = Qwen3Model.random(mc, 0);
  const config = parseTrainConfig({ batchSize: batch, maxLength: Math.max(seq, 16), logEvery: 1, saveSteps: 0, evalSteps: 0, warmupSteps: 0 }, preset);
  const source = randomSource(mc.vocabSize);
  const warm = await runJob({ model, source, config, padTokenId: 0, steps: 1 }); // creates the optimizer slots
  const ms: number[] = [];
  const counts: number[] = [];
  let cpu = 0;
  const info = await tf.profile(async () => {
    const c0 = process.cpuUsage();
    await runJob(
      { model, source, config, padTokenId: 0, steps, optimizer: warm.optimizer, startGlobalStep: 1 },
      { onLog: (m) => void ms.push(m.msPerStep), onStep: () => void counts.push(tf.memory().numTensors) },
    );
    const c = process.cpuUsage(c0);
    cpu = (c.user + c.system) / 1000 / steps;
  });
  const msPerStep = ms.reduce((a, b) => a + b, 0) / ms.length;
  warm.optimizer.dispose();
  model.dispose();
  return {
    backend, preset, mode: 'train', batch, seq, tokens_per_s: Math.round((batch * seq * 1000) / msPerStep), ms_per_step: Math.round(msPerStep),
    tensor_growth_per_step: counts.length > 1 ? (counts.at(-1)! - counts[0]) / (counts.length - 1) : 0, peak_bytes: info.peakBytes,
    cpu_ms_per_step: Math.round(cpu), tokens_per_cpu_s: Math.round((batch * seq * 1000) / cpu),
  };
}

async function benchForward(backend: string, preset: PresetName): Promise<Record<string, unknown>> {
  const mc = presetConfig(preset);
  const model = Qwen3Model.random(mc, 0);
  const src = randomSource(mc.vocabSize);
  const ids = new Int32Array(batch * seq), pos = new Int32Array(batch * seq), targets = new Int32Array(batch * seq).fill(-100);
  for (let b = 0; b < batch; b++) {
    const e = src.get(b).ids;
    for (let t = 0; t < seq; t++) {
      ids[b * seq + t] = e[t];
      pos[b * seq + t] = t;
      if (t + 1 < seq) targets[b * seq + t] = e[t + 1];
    }
  }
  const step = async () => {
    const loss = tf.tidy(() => {
      const x = { inputIds: tf.tensor2d(ids, [batch, seq], 'int32'), positionIds: tf.tensor2d(pos, [batch, seq], 'int32'), segmentIds: tf.ones([batch, seq], 'int32') as tf.Tensor2D };
      const h = tf.reshape(model.hidden(x), [batch * seq, mc.hiddenSize]) as tf.Tensor2D;
      return lmHeadLossValue(h, model.headWeight(), targets, { chunkTokens: 256 });
    });
    await loss.data();
    loss.dispose();
  };
  await step();
  const n0 = tf.memory().numTensors;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const info = await tf.profile(async () => {
    for (let i = 0; i < steps; i++) await step();
  });
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1000 / steps;
  const msPerStep = (performance.now() - t0) / steps;
  const growth = (tf.memory().numTensors - n0) / steps;
  model.dispose();
  return {
    backend, preset, mode: 'forward', batch, seq, tokens_per_s: Math.round((batch * seq * 1000) / msPerStep), ms_per_step: Math.round(msPerStep),
    tensor_growth_per_step: growth, peak_bytes: info.peakBytes, cpu_ms_per_step: Math.round(cpu), tokens_per_cpu_s: Math.round((batch * seq * 1000) / cpu),
  };
}

async function main(): Promise<void> {
  for (const b of backends) {
    const choice = await initNodeBackend([b]);
    if (choice.name !== b) throw new CliError(`backend ${b} did not start: ${choice.reason}`);
    for (const p of presetList) {
      presetConfig(p); // unknown presets fail here with the valid names
      for (const run of [benchTrain, benchForward]) process.stdout.write(JSON.stringify(await run(b, p)) + '\n');
    }
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`error: ${(e as Error).message}\n`);
  process.exit(1);
});
