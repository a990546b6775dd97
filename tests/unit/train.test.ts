// The trainer on a tiny small-vocabulary Qwen3: overfits a few examples, resumes exactly from a snapshot,
// keeps tf.memory().numTensors flat, skips non-finite steps without touching the weights, honours stop.
import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { Qwen3Model } from '../../src/engine/model.ts';
import { presetConfig } from '../../src/engine/config/model-config.ts';
import { parseTrainConfig, type TrainConfig } from '../../src/engine/config/train-config.ts';
import { readSnapshot, runJob, type SnapshotData } from '../../src/engine/train.ts';
import { AdamW } from '../../src/engine/optimizer.ts';
import { lr } from '../../src/engine/schedule.ts';
import { Rng } from '../../src/engine/rng.ts';
import { TrainingError } from '../../src/engine/errors.ts';
import type { ExampleSource, ModelConfig, TokenizedExample } from '../../src/engine/types.ts';

const V = 512;
const modelConfig: ModelConfig = { ...presetConfig('tiny'), vocabSize: V };
const PAD = 0;

/** n examples: a 4-token "prompt" (not trained) then an answer that is a fixed function of the prompt. */
function source(n: number, seed: number, len = 12): ExampleSource {
  const rng = new Rng(seed);
  const ex: TokenizedExample[] = [];
  for (let i = 0; i < n; i++) {
    const l = len - (i % 3);
    const ids = Int32Array.from({ length: l }, () => rng.int(1, V - 1));
    const trainMask = Uint8Array.from({ length: l }, (_, t) => (t >= 4 ? 1 : 0));
    ex.push({ ids, trainMask });
  }
  return { size: n, get: (i) => ex[i] };
}

const cfg = (over: Record<string, unknown> = {}): TrainConfig =>
  parseTrainConfig({ batchSize: 2, maxLength: 16, learningRate: 3e-3, warmupSteps: 2, lmHeadChunkTokens: 16, logEvery: 1, saveSteps: 0, evalSteps: 0, ...over }, 'tiny');

async function weightsOf(m: Qwen3Model): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [k, v] of m.weights) out.set(k, new Float32Array(await v.data()));
  return out;
}

for (const backend of ['wasm', 'cpu']) {
  describe(`trainer on ${backend}`, () => {
    beforeAll(async () => {
      expect(await tf.setBackend(backend)).toBe(true);
    });

    it('overfits a few examples to near-zero loss; numTensors flat across steps', async () => {
      const model = Qwen3Model.random(modelConfig, 1);
      const losses: number[] = [];
      const counts: number[] = [];
      const steps = backend === 'cpu' ? 40 : 60;
      const r = await runJob(
        { model, source: source(4, 3), config: cfg({ batchSize: 4, learningRate: 1e-2, warmupSteps: 5 }), padTokenId: PAD, steps },
        { onLog: (m) => void losses.push(m.loss), onStep: () => void counts.push(tf.memory().numTensors) },
      );
      expect(r.status).toBe('completed');
      expect(r.state.globalStep).toBe(steps);
      expect(losses[0]).toBeGreaterThan(5); // ≈ ln 512
      expect(losses.at(-1)!).toBeLessThan(backend === 'cpu' ? 0.5 : 0.05);
      // after the first step has created the optimizer slots, the count never changes
      expect(new Set(counts.slice(1)).size).toBe(1);
      r.optimizer.dispose();
      model.dispose();
    });

    it('resumed from a snapshot at step k gives the same losses after k; deterministic for a seed', async () => {
      const data = source(10, 5);
      const config = cfg({ gradAccumSteps: 2, saveSteps: 3, seed: 11, weightDecay: 0.1 });
      const run = async (hooks: Parameters<typeof runJob>[1], model: Qwen3Model, extra: Partial<Parameters<typeof runJob>[0]> = {}) => {
        const losses: number[] = [];
        const r = await runJob({ model, source: data, config, padTokenId: PAD, steps: 7, ...extra }, { ...hooks, onLog: (m) => void losses.push(m.loss) });
        return { r, losses };
      };
      const m1 = Qwen3Model.random(modelConfig, 2);
      const full = await run({}, m1);
      const m2 = Qwen3Model.random(modelConfig, 2);
      let snap: SnapshotData | undefined;
      const first = await run(
        { onCheckpoint: async (s) => void (snap ??= await readSnapshot(s)), beforeStep: (s) => (s.globalStep >= 3 ? 'stop' : 'continue') },
        m2,
      );
      expect(first.r.status).toBe('stopped');
      expect(first.losses).toEqual(full.losses.slice(0, 3));
      expect(snap!.state.globalStep).toBe(3);
      expect(snap!.optimizer.slots.map((s) => s.name)).toContain('model.norm.weight/m');
      // a fresh process: weights from the snapshot, a fresh optimizer with the exported state
      const json = JSON.parse(JSON.stringify(snap!.state));
      const m3 = Qwen3Model.fromTensors(modelConfig, new Map(snap!.weights.map((w) => [w.name, { shape: w.shape, data: w.data }])));
      const opt = new AdamW({ beta1: config.beta1, beta2: config.beta2, eps: config.adamEps, weightDecay: config.weightDecay });
      opt.importState(snap!.optimizer, m3.weights);
      const rest = await run({}, m3, { state: json, optimizer: opt });
      expect(rest.r.state.globalStep).toBe(7);
      expect(rest.losses).toEqual(full.losses.slice(3));
      for (const m of [m1, m2, m3]) m.dispose();
      for (const o of [full.r.optimizer, first.r.optimizer, opt]) o.dispose();
    });
  });
}

describe('trainer edge cases (wasm)', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  it('non-finite steps are skipped without touching weights, then end in a typed error', async () => {
    const model = Qwen3Model.random(modelConfig, 4);
    const norm = model.weights.get('model.layers.1.post_attention_layernorm.weight')!;
    norm.assign(tf.fill(norm.shape.slice(), NaN));
    const before = await weightsOf(model);
    const logs: { skipped: boolean; n: number }[] = [];
    const err = await runJob(
      { model, source: source(4, 1), config: cfg({ maxConsecutiveNonFinite: 3 }), padTokenId: PAD, steps: 10 },
      { onLog: (m) => void logs.push({ skipped: m.skipped, n: m.nonFiniteSkipped }) },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingError);
    expect((err as TrainingError).kind).toBe('non_finite');
    expect(logs).toEqual([{ skipped: true, n: 1 }, { skipped: true, n: 2 }]);
    const after = await weightsOf(model);
    for (const [k, w] of before) expect(after.get(k)).toEqual(w);
    model.dispose();
  });

  it('token ids outside the vocabulary are a data error naming the example', async () => {
    const model = Qwen3Model.random(modelConfig, 5);
    const bad: ExampleSource = { size: 1, get: () => ({ ids: Int32Array.from([1, 2, V + 3, 4]), trainMask: Uint8Array.from([0, 1, 1, 1]) }) };
    const err = await runJob({ model, source: bad, config: cfg(), padTokenId: PAD, steps: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingError);
    expect((err as TrainingError).kind).toBe('data');
    expect((err as Error).message).toMatch(/example 0: token id 515 at position 2/);
    model.dispose();
  });

  it('validation loss every evalSteps, sample hook, checkpoints every saveSteps and at the end', async () => {
    const model = Qwen3Model.random(modelConfig, 5);
    const evals: number[] = [], samples: number[] = [], ckpts: number[] = [];
    const r = await runJob(
      { model, source: source(6, 2), validation: source(3, 9), config: cfg({ evalSteps: 2, saveSteps: 3, sampleEvery: 4 }), padTokenId: PAD, steps: 5 },
      { onEval: (e) => void evals.push(e.step), onSample: (s) => void samples.push(s.globalStep), onCheckpoint: (s) => void ckpts.push(s.step) },
    );
    expect(evals).toEqual([2, 4]);
    expect(samples).toEqual([4]);
    expect(ckpts).toEqual([3, 5]);
    expect(r.state.bestValLoss).toBeGreaterThan(0);
    r.optimizer.dispose();
    model.dispose();
  });

  it('a stop right after a saveSteps checkpoint writes no second checkpoint of the same step', async () => {
    const model = Qwen3Model.random(modelConfig, 6);
    const ckpts: number[] = [];
    const r = await runJob(
      { model, source: source(6, 2), config: cfg({ saveSteps: 2 }), padTokenId: PAD, steps: 5 },
      { onCheckpoint: (s) => void ckpts.push(s.step), beforeStep: (s) => (s.globalStep >= 2 ? 'stop' : 'continue') },
    );
    expect(r.status).toBe('stopped');
    expect(ckpts).toEqual([2]);
    r.optimizer.dispose();
    model.dispose();
  });
});

describe('trainer data order (wasm)', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  it('epochs with packing: every token seen once per epoch, epoch counter advances', async () => {
    const model = Qwen3Model.random(modelConfig, 6);
    const data = source(7, 4);
    const total = Array.from({ length: data.size }, (_, i) => data.get(i).ids.length).reduce((a, b) => a + b, 0);
    const config = cfg({ pack: true, batchSize: 1, gradAccumSteps: 1, maxLength: 32 });
    const r = await runJob({ model, source: data, config, padTokenId: PAD, epochs: 2 });
    // packed rows of ≤ 32 tokens, one row per micro-batch: both epochs consumed whole
    expect(r.state.tokensSeen).toBe(2 * total);
    expect(r.state.epoch).toBe(1);
    expect(r.state.fileSteps).toBe(r.state.globalStep);
    expect(r.state.fileSteps).toBeLessThan(2 * 7); // packing put several examples per row
    r.optimizer.dispose();
    model.dispose();
  });
});

describe('lr schedule', () => {
  it('warms up on the global step, then constant / linear / cosine over the file', () => {
    const c = { learningRate: 1e-3, warmupSteps: 4 };
    expect(lr({ globalStep: 0, fileStep: 0, fileSteps: 10 }, { ...c, schedule: 'constant' })).toBeCloseTo(2e-4);
    expect(lr({ globalStep: 100, fileStep: 5, fileSteps: 10 }, { ...c, schedule: 'constant' })).toBe(1e-3);
    expect(lr({ globalStep: 100, fileStep: 5, fileSteps: 10 }, { ...c, schedule: 'linear' })).toBeCloseTo(5e-4);
    expect(lr({ globalStep: 100, fileStep: 5, fileSteps: 10 }, { ...c, schedule: 'cosine' })).toBeCloseTo(5e-4);
    expect(lr({ globalStep: 100, fileStep: 0, fileSteps: 10 }, { ...c, schedule: 'cosine' })).toBeCloseTo(1e-3);
  });
});

describe('trainer with gradient checkpointing (wasm)', () => {
  beforeAll(async () => {
    expect(await tf.setBackend('wasm')).toBe(true);
  });

  it('gives the same losses as the plain run, full fine-tuning and LoRA', async () => {
    for (const lora of [false, true]) {
      const losses = async (gradientCheckpointing: boolean) => {
        const model = Qwen3Model.random(modelConfig, 4);
        const out: number[] = [];
        const config = cfg({ batchSize: 6, learningRate: 1e-2, gradientCheckpointing, lora: { enabled: lora, rank: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'v_proj'] } });
        const r = await runJob({ model, source: source(6, 9), config, padTokenId: PAD, steps: 4 }, { onLog: (m) => void out.push(m.loss) });
        r.optimizer.dispose();
        model.dispose();
        return out;
      };
      const plain = await losses(false);
      const recomputed = await losses(true);
      expect(recomputed).toHaveLength(4);
      recomputed.forEach((l, i) => expect(l).toBeCloseTo(plain[i], 4));
      expect(plain.at(-1)!).toBeLessThan(plain[0]);
    }
  });
});
