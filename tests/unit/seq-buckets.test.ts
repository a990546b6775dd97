// Sequence-length buckets (collate's lengthBuckets): which lengths map to which bucket, and that padding a batch up
// to its bucket changes neither the loss nor any gradient (padding is segment 0 with no targets), on cpu and wasm.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initNodeBackend } from '../../src/engine/backend-node.ts';
import { collate, seqLenBucket } from '../../src/engine/data/collate.ts';
import { Qwen3Model } from '../../src/engine/model.ts';
import { presetConfig } from '../../src/engine/config/model-config.ts';
import { lmHeadLoss } from '../../src/engine/loss.ts';
import { Rng } from '../../src/engine/rng.ts';
import type { ModelConfig, TokenizedExample, TrainBatch } from '../../src/engine/types.ts';

describe('seqLenBucket', () => {
  it('rounds up to 16, 24, 32, 48, 64, 96, … and caps at maxLength', () => {
    const at = (n: number, max = 4096) => seqLenBucket(n, max);
    expect([1, 16, 17, 24, 25, 33, 49, 65, 97, 129, 1025, 1537].map((n) => at(n))).toEqual([16, 16, 24, 24, 32, 48, 64, 96, 128, 192, 1536, 2048]);
    expect(at(2000, 2048)).toBe(2048);
    expect(at(1600, 1600)).toBe(1600); // maxLength itself is a bucket
    expect(at(1537, 1600)).toBe(1600);
    expect(at(5, 8)).toBe(8);
    expect(() => at(0)).toThrow(/positive integer/);
  });

  it('gives 15 shapes for every length up to 2048, and at most a third of padding past 16', () => {
    const buckets = new Set<number>();
    for (let n = 1; n <= 2048; n++) {
      const b = seqLenBucket(n, 2048);
      buckets.add(b);
      expect(b).toBeGreaterThanOrEqual(n);
      if (n > 16) expect(b / n).toBeLessThanOrEqual(1.5);
      if (n > 16) expect((b - n) / b).toBeLessThan(1 / 3 + 1e-9);
    }
    expect(buckets.size).toBe(15);
  });
});

const ex = (ids: number[], mask: number[]): TokenizedExample => ({ ids: Int32Array.from(ids), trainMask: Uint8Array.from(mask) });

describe('collate with length buckets', () => {
  it('pads to the bucket with masked padding and keeps every real token, target and position', () => {
    const examples = [ex([5, 6, 7, 8, 9], [0, 0, 1, 1, 1]), ex([1, 2, 3], [0, 1, 1])];
    const exact = collate(examples, { maxLength: 64, padTokenId: 0, lengthBuckets: false });
    const bucketed = collate(examples, { maxLength: 64, padTokenId: 0 });
    expect([exact.seqLen, bucketed.seqLen]).toEqual([5, 16]);
    expect(bucketed.numTargets).toBe(exact.numTargets);
    for (let b = 0; b < 2; b++) {
      const row = (x: Int32Array, T: number) => [...x.subarray(b * T, b * T + exact.seqLen)];
      for (const k of ['inputIds', 'targets', 'positionIds', 'segmentIds'] as const) expect(row(bucketed[k], 16)).toEqual(row(exact[k], 5));
      const pad = (x: Int32Array) => [...new Set(x.subarray(b * 16 + 5, (b + 1) * 16))];
      expect([pad(bucketed.segmentIds), pad(bucketed.targets)]).toEqual([[0], [-100]]);
    }
  });
});

const V = 512;
const modelConfig: ModelConfig = { ...presetConfig('tiny'), vocabSize: V };

/** Loss (Σ / targets, as the trainer divides) and every weight gradient of one batch. */
function lossAndGrads(model: Qwen3Model, b: TrainBatch): { loss: number; grads: Map<string, Float32Array> } {
  const names = [...model.weights.keys()];
  const r = tf.variableGrads(() => {
    const shape: [number, number] = [b.batchSize, b.seqLen];
    const x = { inputIds: tf.tensor2d(b.inputIds, shape, 'int32'), positionIds: tf.tensor2d(b.positionIds, shape, 'int32'), segmentIds: tf.tensor2d(b.segmentIds, shape, 'int32') };
    const h = model.hidden(x);
    const flat = tf.reshape(h, [b.batchSize * b.seqLen, h.shape[2]]) as tf.Tensor2D;
    return lmHeadLoss(flat, model.headWeight(), b.targets, { chunkTokens: 16, denominator: b.numTargets });
  }, names.map((n) => model.weights.get(n)!));
  const byVar = new Map(names.map((n) => [model.weights.get(n)!.name, n]));
  const grads = new Map(Object.entries(r.grads).map(([vn, g]) => [byVar.get(vn)!, g.dataSync() as Float32Array]));
  const loss = r.value.dataSync()[0];
  tf.dispose([r.value, ...Object.values(r.grads)]);
  return { loss, grads };
}

function examples(lengths: number[], seed: number): TokenizedExample[] {
  const rng = new Rng(seed);
  return lengths.map((l) => ({ ids: Int32Array.from({ length: l }, () => rng.int(1, V - 1)), trainMask: Uint8Array.from({ length: l }, (_, t) => (t >= 2 ? 1 : 0)) }));
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`bucketing changes no loss or gradient on ${backend}`, () => {
    let model: Qwen3Model;
    beforeAll(async () => {
      await initNodeBackend([backend]);
      model = Qwen3Model.random(modelConfig, 7);
      return () => model.dispose();
    });

    for (const pack of [false, true]) {
      it(pack ? 'packed rows' : 'one example per row', () => {
        const batch = examples([5, 9, 13, 3], 11);
        const opts = { maxLength: 40, padTokenId: 0, pack };
        const exact = collate(batch, { ...opts, lengthBuckets: false });
        const bucketed = collate(batch, opts);
        expect(bucketed.seqLen).toBeGreaterThan(exact.seqLen); // the test pads for real
        const n0 = tf.memory().numTensors;
        const a = lossAndGrads(model, exact);
        const b = lossAndGrads(model, bucketed);
        expect(tf.memory().numTensors).toBe(n0);
        expect(Number.isFinite(a.loss) && a.loss > 1).toBe(true);
        // Real tokens never attend to padding (segment 0) and padding has no targets: the same sums, up to the
        // order float32 accumulates them in (chunk boundaries and the rows of X^T·dY move with the padding).
        expect(Math.abs(b.loss - a.loss)).toBeLessThanOrEqual(1e-6 * a.loss);
        expect([...b.grads.keys()].sort()).toEqual([...a.grads.keys()].sort());
        for (const [name, ga] of a.grads) {
          const gb = b.grads.get(name)!;
          let scale = 0, diff = 0;
          for (let i = 0; i < ga.length; i++) {
            scale = Math.max(scale, Math.abs(ga[i]));
            diff = Math.max(diff, Math.abs(ga[i] - gb[i]));
          }
          expect(diff, name).toBeLessThanOrEqual(1e-5 * scale + 1e-9);
        }
      });
    }
  });
}
