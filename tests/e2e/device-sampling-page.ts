// The page of device-sampling.spec.ts: on TF.js's webgpu backend (SwiftShader here), token selection on the device
// against the host sampler, generate()'s device path against its host path, and sequence-length buckets against exact
// lengths (loss and gradients). Bundled and served by bench/page-server.ts; exposed as `window.__sampling`.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { generate, sampleToken, selectToken, type SamplerOptions } from '../../src/engine/generate.ts';
import { collate } from '../../src/engine/data/collate.ts';
import { Qwen3Model } from '../../src/engine/model.ts';
import { lmHeadLoss } from '../../src/engine/loss.ts';
import { Rng } from '../../src/engine/rng.ts';
import type { ModelConfig, TrainBatch } from '../../src/engine/types.ts';

export interface SamplingApi {
  init(): Promise<string>;
  /** Mismatches of selectToken against sampleToken, as readable lines (empty when they agree). */
  selection(): Promise<string[]>;
  /** Token ids of generate() with and without a (do-nothing) logits processor, per sampler setting. */
  generation(): Promise<{ settings: string; device: number[]; host: number[] }[]>;
  /** Loss and the largest gradient difference (relative to the gradient's scale) of a batch, exact vs bucketed. */
  buckets(): Promise<{ exactLen: number; bucketLen: number; lossExact: number; lossBucketed: number; worstGrad: number }>;
}

const cfg: ModelConfig = {
  modelType: 'qwen3', vocabSize: 300, hiddenSize: 32, intermediateSize: 64, numHiddenLayers: 2, numAttentionHeads: 4,
  numKeyValueHeads: 2, headDim: 8, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: true, maxPositionEmbeddings: 128, torchDtype: 'float32',
};

function logitsFor(kind: string, V: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const l = Float32Array.from({ length: V }, () => (kind === 'flat' ? 0.05 : 3) * rng.normal());
  if (kind === 'peaked') l[rng.int(0, V - 1)] += 60;
  if (kind === 'masked') for (let i = 0; i < V; i += 3) l[i] = -Infinity;
  return l;
}

const SETTINGS: SamplerOptions[] = [{}, { temperature: 0.8 }, { temperature: 1.3, topK: 5 }, { temperature: 0.7, topK: 40, topP: 0.8 }, { temperature: 1, topP: 0.5 }, { temperature: 1, topP: 0.95 }];

const api: SamplingApi = {
  async init() {
    await tf.setBackend('webgpu');
    await tf.ready();
    return tf.getBackend();
  },

  async selection() {
    const bad: string[] = [];
    for (const [kind, V] of [['peaked', 151936], ['flat', 3000], ['masked', 3000], ['peaked', 3000]] as const) {
      for (const opts of SETTINGS) {
        for (let seed = 0; seed < 3; seed++) {
          const host = logitsFor(kind, V, 100 + seed);
          const t = tf.tensor1d(host);
          const a = new Rng(seed), b = new Rng(seed);
          const want = sampleToken(host, opts, a);
          const got = await selectToken(t, opts, b);
          t.dispose();
          if (got !== want || a.state !== b.state) bad.push(`${kind} V=${V} ${JSON.stringify(opts)} seed ${seed}: device ${got}, host ${want}`);
        }
      }
    }
    return bad;
  },

  async generation() {
    const model = Qwen3Model.random(cfg, 9);
    const out = [];
    for (const o of [{}, { temperature: 1.2, seed: 4 }, { temperature: 1, topK: 20, seed: 5 }]) {
      const p = { maxNewTokens: 6, eosTokenIds: [], decode: (ids: readonly number[]) => ids.join(' '), ...o };
      const device = await generate(model, [1, 2, 3], p);
      const host = await generate(model, [1, 2, 3], { ...p, processors: [(_ids, l) => l] });
      out.push({ settings: JSON.stringify(o), device: device.ids, host: host.ids });
    }
    model.dispose();
    return out;
  },

  async buckets() {
    const model = Qwen3Model.random(cfg, 7);
    const rng = new Rng(11);
    const examples = [5, 9, 13, 3].map((l) => ({ ids: Int32Array.from({ length: l }, () => rng.int(1, 299)), trainMask: Uint8Array.from({ length: l }, (_, t) => (t >= 2 ? 1 : 0)) }));
    const names = [...model.weights.keys()];
    const run = async (b: TrainBatch) => {
      const r = tf.variableGrads(() => {
        const shape: [number, number] = [b.batchSize, b.seqLen];
        const h = model.hidden({ inputIds: tf.tensor2d(b.inputIds, shape, 'int32'), positionIds: tf.tensor2d(b.positionIds, shape, 'int32'), segmentIds: tf.tensor2d(b.segmentIds, shape, 'int32') });
        return lmHeadLoss(tf.reshape(h, [b.batchSize * b.seqLen, h.shape[2]]) as tf.Tensor2D, model.headWeight(), b.targets, { chunkTokens: 16, denominator: b.numTargets });
      }, names.map((n) => model.weights.get(n)!));
      const grads = new Map<string, Float32Array>();
      for (const n of names) grads.set(n, (await r.grads[model.weights.get(n)!.name].data()) as Float32Array);
      const loss = (await r.value.data())[0];
      tf.dispose([r.value, ...Object.values(r.grads)]);
      return { loss, grads };
    };
    const exact = collate(examples, { maxLength: 40, padTokenId: 0, lengthBuckets: false });
    const bucketed = collate(examples, { maxLength: 40, padTokenId: 0 });
    const a = await run(exact), b = await run(bucketed);
    let worstGrad = 0;
    for (const [n, ga] of a.grads) {
      const gb = b.grads.get(n)!;
      let scale = 1e-12, diff = 0;
      for (let i = 0; i < ga.length; i++) {
        scale = Math.max(scale, Math.abs(ga[i]));
        diff = Math.max(diff, Math.abs(ga[i] - gb[i]));
      }
      worstGrad = Math.max(worstGrad, diff / scale);
    }
    model.dispose();
    return { exactLen: exact.seqLen, bucketLen: bucketed.seqLen, lossExact: a.loss, lossBucketed: b.loss, worstGrad };
  },
};

(globalThis as unknown as { __sampling: SamplingApi }).__sampling = api;
