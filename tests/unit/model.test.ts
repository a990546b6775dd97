// Qwen3Model: golden logits of the reference fixtures (cpu and wasm), packing/padding masks, KV cache,
// gradients against finite differences (embedding gradient on wasm included), resizeVocab, hooks, memory.
import { describe, expect, it, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initNodeBackend } from '../../src/engine/backend-node.ts';
import { loadModel } from '../../src/engine/checkpoint.ts';
import { nodeFolder } from '../../src/engine/node-folder.ts';
import { readNpy } from '../../src/engine/npy.ts';
import { Qwen3Model, singleSequence, EMBED, parameterShapes, embed } from '../../src/engine/model.ts';
import type { ForwardInputs } from '../../src/engine/types.ts';
import { parseModelConfig } from '../../src/engine/config/model-config.ts';
import { testConfig } from '../matrix/tiny-engine.ts';

/** The reference models and their PyTorch logits (tests/fixtures/qwen3-reference/README.md); part of the repository. */
const FIXTURES = join(import.meta.dirname, '../fixtures/qwen3-reference');

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function batch(rows: number[][], pos: number[][], seg: number[][]): ForwardInputs {
  const B = rows.length, T = rows[0].length;
  return {
    inputIds: tf.tensor2d(rows.flat(), [B, T], 'int32'),
    positionIds: tf.tensor2d(pos.flat(), [B, T], 'int32'),
    segmentIds: tf.tensor2d(seg.flat(), [B, T], 'int32'),
  };
}
const disposeInputs = (x: ForwardInputs) => tf.dispose([x.inputIds, x.positionIds, x.segmentIds]);

async function logitsOf(model: Qwen3Model, x: ForwardInputs): Promise<Float32Array> {
  const l = model.logits(x);
  const d = (await l.data()) as Float32Array;
  l.dispose();
  return d;
}

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`Qwen3Model on ${backend}`, () => {
    beforeAll(async () => {
      const got = await initNodeBackend([backend]);
      expect(got.name).toBe(backend);
    });

    for (const name of ['tied-f32', 'untied-bf16']) {
      it(`matches the reference logits of ${name}`, async () => {
        const dir = join(FIXTURES, name);
        const model = await loadModel(nodeFolder(dir));
        const ids = JSON.parse(readFileSync(join(dir, 'ids.json'), 'utf8')) as number[];
        const expected = readNpy(readFileSync(join(dir, 'expected_logits.npy')));
        expect(expected.shape).toEqual([ids.length, model.config.vocabSize]);
        const x = singleSequence(ids);
        const got = await logitsOf(model, x);
        disposeInputs(x);
        const diff = maxAbsDiff(got, expected.data);
        console.log(`${backend} ${name}: max |diff| = ${diff.toExponential(2)}`);
        expect(diff).toBeLessThan(1e-4);
        model.dispose();
      });
    }

    it('packed sequences equal separate ones; padding does not change real positions', async () => {
      const model = Qwen3Model.random(testConfig(), 1);
      const a = [3, 9, 4, 1], b = [7, 2, 30];
      const sa = singleSequence(a), sb = singleSequence(b);
      const la = await logitsOf(model, sa), lb = await logitsOf(model, sb);
      const packed = batch([[...a, ...b, 0]], [[0, 1, 2, 3, 0, 1, 2, 0]], [[1, 1, 1, 1, 2, 2, 2, 0]]);
      const lp = await logitsOf(model, packed);
      const V = 40;
      expect(maxAbsDiff(lp.subarray(0, 4 * V), la)).toBeLessThan(1e-5);
      expect(maxAbsDiff(lp.subarray(4 * V, 7 * V), lb)).toBeLessThan(1e-5);
      expect(lp.every(Number.isFinite)).toBe(true); // the padding row stays finite
      // batch of two rows with right padding
      const padded = batch([a, [...b, 0]], [[0, 1, 2, 3], [0, 1, 2, 0]], [[1, 1, 1, 1], [1, 1, 1, 0]]);
      const l2 = await logitsOf(model, padded);
      expect(maxAbsDiff(l2.subarray(0, 4 * V), la)).toBeLessThan(1e-5);
      expect(maxAbsDiff(l2.subarray(4 * V, 7 * V), lb)).toBeLessThan(1e-5);
      [sa, sb, packed, padded].forEach(disposeInputs);
      model.dispose();
    });

    it('KV-cache decoding gives the full forward pass logits at every position', async () => {
      const model = Qwen3Model.random(testConfig({ tieWordEmbeddings: false }), 2);
      const ids = [5, 6, 7, 8, 9, 10];
      const x = singleSequence(ids);
      const full = await logitsOf(model, x);
      disposeInputs(x);
      const before = tf.memory().numTensors;
      const cache = model.createKvCache();
      const first = model.decode(ids.slice(0, 3), cache);
      expect(maxAbsDiff((await first.data()) as Float32Array, full.subarray(2 * 40, 3 * 40))).toBeLessThan(1e-5);
      first.dispose();
      for (let t = 3; t < ids.length; t++) {
        const l = model.decode([ids[t]], cache);
        expect(maxAbsDiff((await l.data()) as Float32Array, full.subarray(t * 40, (t + 1) * 40))).toBeLessThan(1e-5);
        l.dispose();
      }
      expect(cache.length).toBe(6);
      expect(cache.k[0].shape).toEqual([1, 2, 6, 4]);
      const { disposeKvCache } = await import('../../src/engine/model.ts');
      disposeKvCache(cache);
      expect(tf.memory().numTensors).toBe(before);
      model.dispose();
    });

    it('head_dim ≠ hidden/heads, MHA (nkv = nh) and MQA (nkv = 1): KV cache agrees with the full pass', async () => {
      for (const over of [{ headDim: 8 }, { numKeyValueHeads: 4 }, { numKeyValueHeads: 1, headDim: 6 }]) {
        const model = Qwen3Model.random(testConfig(over), 6);
        const ids = [3, 1, 4, 1, 5];
        const x = singleSequence(ids);
        const full = await logitsOf(model, x);
        disposeInputs(x);
        const cache = model.createKvCache();
        const a = model.decode(ids.slice(0, 4), cache), b = model.decode(ids.slice(4), cache);
        expect(maxAbsDiff((await a.data()) as Float32Array, full.subarray(3 * 40, 4 * 40))).toBeLessThan(1e-5);
        expect(maxAbsDiff((await b.data()) as Float32Array, full.subarray(4 * 40, 5 * 40))).toBeLessThan(1e-5);
        tf.dispose([a, b, ...cache.k, ...cache.v]);
        model.dispose();
      }
    });

    it('gradients agree with finite differences (embedding included)', async () => {
      const model = Qwen3Model.random(testConfig({ tieWordEmbeddings: backend === 'cpu' }), 3);
      // make norms non-trivial so their gradients matter
      for (const [n, v] of model.weights) if (v.rank === 1) v.assign(tf.tidy(() => tf.add(1, tf.mul(0.3, tf.randomNormal(v.shape, 0, 1, 'float32', 7)))));
      const x = batch([[1, 5, 5, 9, 1, 2]], [[0, 1, 2, 0, 1, 2]], [[1, 1, 1, 2, 2, 2]]);
      const proj = tf.randomNormal([1, 6, 40], 0, 1, 'float32', 11);
      const loss = () => tf.tidy(() => tf.sum(tf.mul(model.logits(x), proj)) as tf.Scalar);
      const { grads } = tf.variableGrads(loss, [...model.weights.values()]);
      const names = [EMBED, 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.self_attn.k_norm.weight', 'model.layers.1.mlp.down_proj.weight', 'model.layers.1.input_layernorm.weight', 'model.norm.weight'];
      if (backend !== 'cpu') names.push('lm_head.weight');
      const byId = new Map([...model.weights].map(([n, v]) => [v.name, n]));
      const gradOf = new Map(Object.entries(grads).map(([id, g]) => [byId.get(id)!, g]));
      const eps = 1e-3;
      for (const name of names) {
        const v = model.weights.get(name)!;
        const g = (await gradOf.get(name)!.data()) as Float32Array;
        const base = (await v.data()) as Float32Array;
        // probe the largest-gradient entries plus embedding columns of repeated ids (5 appears twice)
        const probes = [...g.keys()].sort((i, j) => Math.abs(g[j]) - Math.abs(g[i])).slice(0, 3);
        for (const i of probes) {
          const at = (delta: number) => {
            const w = base.slice();
            w[i] += delta;
            v.assign(tf.tensor(w, v.shape));
            const l = loss();
            const r = l.dataSync()[0];
            l.dispose();
            return r;
          };
          const fd = (at(eps) - at(-eps)) / (2 * eps);
          v.assign(tf.tensor(base, v.shape));
          expect(Math.abs(fd - g[i]), `${name}[${i}] fd ${fd} vs grad ${g[i]}`).toBeLessThan(2e-2 * Math.max(1, Math.abs(g[i])));
        }
      }
      tf.dispose(Object.values(grads));
      proj.dispose();
      disposeInputs(x);
      model.dispose();
    });

    it('recompute (gradient checkpointing) gives the same gradients with a hook, leaks nothing, peaks lower', async () => {
      const model = Qwen3Model.random(testConfig({ numHiddenLayers: 3 }), 8);
      // a LoRA-like hook with its own variables on q_proj of every layer
      const extra = new Map<string, tf.Variable>();
      for (let i = 0; i < 3; i++) extra.set(`model.layers.${i}.self_attn.q_proj.weight/lora_A`, tf.variable(tf.randomNormal([16, 2], 0, 0.3, 'float32', i)));
      const hook = (name: string, x: tf.Tensor, base: tf.Tensor) => {
        const a = extra.get(`${name}/lora_A`);
        return a ? tf.add(base, tf.tile(tf.sum(tf.matMul(x as tf.Tensor2D, a), 1, true), [1, base.shape[1]!])) : base;
      };
      const x = batch([[1, 5, 5, 9, 1, 2, 7, 8]], [[0, 1, 2, 3, 0, 1, 2, 3]], [[1, 1, 1, 1, 2, 2, 2, 2]]);
      const params = new Map([...model.weights, ...extra]);
      const vars = [...params.values()];
      const run = (recompute: boolean) =>
        tf.variableGrads(() => tf.tidy(() => tf.sum(tf.square(model.logits(x, { linearHook: hook, ...(recompute ? { recompute: { params } } : {}) }))) as tf.Scalar), vars);
      const plain = run(false);
      const before = tf.memory().numTensors;
      const ck = run(true);
      expect(Math.abs(plain.value.dataSync()[0] - ck.value.dataSync()[0])).toBeLessThan(1e-5);
      for (const v of vars) {
        const d = tf.tidy(() => tf.max(tf.abs(tf.sub(plain.grads[v.name], ck.grads[v.name]))).dataSync()[0]);
        expect(d, v.name).toBeLessThan(1e-5);
      }
      tf.dispose([ck.value, ...Object.values(ck.grads)]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([plain.value, ...Object.values(plain.grads)]);
      const peak = async (recompute: boolean) => (await tf.profile(() => { const r = run(recompute); tf.dispose([r.value, ...Object.values(r.grads)]); })).peakBytes;
      const [pk, pp] = [await peak(true), await peak(false)];
      console.log(`${backend} peak bytes: recompute ${pk}, plain ${pp}`);
      expect(pk).toBeLessThan(pp);
      disposeInputs(x);
      tf.dispose([...extra.values()]);
      model.dispose();
    });

    it('embedding gradient sums repeated ids (ScatterNd path) exactly', async () => {
      const H = 3, V = 6, ids = [2, 2, 4, 2, 0];
      const E = tf.variable(tf.randomNormal([H, V], 0, 1, 'float32', 1));
      const P = Float32Array.from({ length: ids.length * H }, (_, i) => (i % 7) - 3);
      const idsT = tf.tensor1d(ids, 'int32'), PT = tf.tensor2d(P, [ids.length, H]);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(embed(E as tf.Tensor2D, idsT), PT)) as tf.Scalar, [E]);
      const g = (await grads[E.name].data()) as Float32Array;
      const want = new Float32Array(H * V);
      ids.forEach((id, n) => { for (let h = 0; h < H; h++) want[h * V + id] += P[n * H + h]; });
      expect(maxAbsDiff(g, want)).toBeLessThan(1e-6);
      tf.dispose([E, idsT, PT, value, ...Object.values(grads)]);
    });

    it('calls the linear hook for every linear and its output is used', () => {
      const cfg = testConfig();
      const model = Qwen3Model.random(cfg, 4);
      const seen = new Set<string>();
      const x = singleSequence([1, 2, 3]);
      const plain = tf.tidy(() => model.logits(x));
      const hooked = tf.tidy(() => model.logits(x, { linearHook: (name, inp, base) => { seen.add(name); expect(inp.shape[0]).toBe(3); return tf.mul(base, 1.5); } }));
      expect(seen.size).toBe(cfg.numHiddenLayers * 7);
      expect(tf.tidy(() => tf.max(tf.abs(tf.sub(plain, hooked))).dataSync()[0])).toBeGreaterThan(1e-3);
      tf.dispose([plain, hooked]);
      disposeInputs(x);
      model.dispose();
    });

    it('random() is deterministic per seed; logits() leaks no tensors', async () => {
      const a = Qwen3Model.random(testConfig(), 9), b = Qwen3Model.random(testConfig(), 9), c = Qwen3Model.random(testConfig(), 10);
      const x = singleSequence([1, 2, 3]);
      const la = await logitsOf(a, x);
      const before = tf.memory().numTensors;
      const lb = await logitsOf(b, x);
      expect(tf.memory().numTensors).toBe(before);
      expect(maxAbsDiff(la, lb)).toBe(0);
      expect(maxAbsDiff(la, await logitsOf(c, x))).toBeGreaterThan(0);
      disposeInputs(x);
      [a, b, c].forEach((m) => m.dispose());
    });

    it('resizeVocab adds mean rows to embedding and untied head, keeps old logits', async () => {
      const model = Qwen3Model.random(testConfig({ tieWordEmbeddings: false }), 5);
      const x = singleSequence([1, 2, 3]);
      const before = await logitsOf(model, x);
      const meanCol = (await tf.tidy(() => tf.mean(model.weights.get(EMBED)!, 1)).data()) as Float32Array;
      model.resizeVocab(43);
      expect(model.config.vocabSize).toBe(43);
      expect(model.weights.get(EMBED)!.shape).toEqual([16, 43]);
      expect(model.weights.get('lm_head.weight')!.shape).toEqual([16, 43]);
      const newCol = (await tf.tidy(() => tf.squeeze(tf.slice(model.weights.get(EMBED)!, [0, 41], [16, 1]))).data()) as Float32Array;
      expect(maxAbsDiff(newCol, meanCol)).toBeLessThan(1e-7);
      const after = await logitsOf(model, x);
      for (let t = 0; t < 3; t++) expect(maxAbsDiff(after.subarray(t * 43, t * 43 + 40), before.subarray(t * 40, (t + 1) * 40))).toBeLessThan(1e-6);
      expect(() => model.resizeVocab(10)).toThrow(/must be an integer/);
      disposeInputs(x);
      model.dispose();
    });
  });
}

describe('Qwen3Model.fromTensors', () => {
  it('names the missing tensor and the mismatched shape', async () => {
    const cfg = testConfig();
    const src = Qwen3Model.random(cfg, 1);
    const t = await src.toTensors();
    src.dispose();
    const missing = new Map(t);
    missing.delete('model.layers.1.mlp.up_proj.weight');
    expect(() => Qwen3Model.fromTensors(cfg, missing)).toThrow(/missing tensor "model.layers.1.mlp.up_proj.weight"/);
    const bad = new Map(t);
    bad.set('model.norm.weight', { shape: [15], data: new Float32Array(15) });
    expect(() => Qwen3Model.fromTensors(cfg, bad)).toThrow(/"model.norm.weight" has shape \[15\] but the config needs \[16\]/);
    expect([...parameterShapes(cfg).keys()].length).toBe(1 + 2 * 11 + 1);
    expect(parseModelConfig({ model_type: 'qwen3', vocab_size: 8, hidden_size: 8, intermediate_size: 8, num_hidden_layers: 1, num_attention_heads: 2 }).headDim).toBe(128); // transformers' default
  });
});
