// generate(): greedy equals step-by-step argmax of full forwards; EOS, stop strings, max tokens, time limit,
// abort, processors, seeded sampling (top-k, top-p), streaming, and no tensors left behind.
import { describe, expect, it, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import { initNodeBackend } from '../../src/engine/backend-node.ts';
import { Qwen3Model, singleSequence } from '../../src/engine/model.ts';
import { generate, sampleToken, type GenerateParams } from '../../src/engine/generate.ts';
import { Rng } from '../../src/engine/rng.ts';
import type { ModelConfig } from '../../src/engine/types.ts';

const V = 26;
const cfg: ModelConfig = {
  modelType: 'qwen3', vocabSize: V, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4,
  numKeyValueHeads: 2, headDim: 4, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false,
  maxPositionEmbeddings: 64, torchDtype: 'float32',
};
const decode = (ids: readonly number[]) => ids.map((i) => String.fromCharCode(97 + i)).join('');
const base = (over: Partial<GenerateParams> = {}): GenerateParams => ({ maxNewTokens: 8, eosTokenIds: [], decode, ...over });

describe('generate', () => {
  let model: Qwen3Model;
  beforeAll(async () => {
    await initNodeBackend(['wasm']);
    model = Qwen3Model.random(cfg, 42);
  });

  it('greedy decoding equals argmax of full forward passes, streams every token, frees every tensor', async () => {
    const prompt = [1, 2, 3];
    const want: number[] = [];
    for (let i = 0; i < 8; i++) {
      const x = singleSequence([...prompt, ...want]);
      const next = tf.tidy(() => tf.argMax(tf.squeeze(tf.slice(model.logits(x), [0, prompt.length + want.length - 1, 0], [1, 1, V]))).dataSync()[0]);
      tf.dispose([x.inputIds, x.positionIds, x.segmentIds]);
      want.push(next);
    }
    const before = tf.memory().numTensors;
    const streamed: string[] = [];
    const r = await generate(model, prompt, base({ onToken: (_id, text) => streamed.push(text) }));
    expect(tf.memory().numTensors).toBe(before);
    expect(r.ids).toEqual(want);
    expect(r.stopReason).toBe('max_tokens');
    expect(r.text).toBe(decode(want));
    expect(streamed).toHaveLength(8);
    expect(streamed[7]).toBe(r.text);
  });

  it('stops on EOS (excluded) and on a stop string (text cut before it)', async () => {
    const force = (step: number, token: number) => (_ids: readonly number[], l: Float32Array, s: number) => {
      if (s === step) l.fill(-Infinity).fill(0, token, token + 1);
      return l;
    };
    const natural = (await generate(model, [4], base({ maxNewTokens: 3 }))).ids;
    const eosId = [...Array(V).keys()].find((i) => !natural.includes(i))!;
    const eos = await generate(model, [4], base({ eosTokenIds: [eosId], processors: [force(2, eosId)] }));
    expect(eos.stopReason).toBe('eos');
    expect(eos.ids).toHaveLength(2);
    const stop = await generate(model, [4], base({ processors: [force(1, 23), force(2, 24)], stopStrings: ['xy'] })); // 'x' then 'y'
    expect(stop.stopReason).toBe('stop_string');
    expect(stop.text).toBe(decode(stop.ids).slice(0, 1));
    const tokenStop = await generate(model, [4], base({ stopTokenIds: [20], processors: [force(0, 20)] }));
    expect([tokenStop.stopReason, tokenStop.ids.length]).toEqual(['eos', 0]);
  });

  it('ends with time_limit and with aborted, freeing tensors', async () => {
    const before = tf.memory().numTensors;
    const slow = (_ids: readonly number[], l: Float32Array) => {
      const until = Date.now() + 15;
      while (Date.now() < until);
      return l;
    };
    const t = await generate(model, [1, 2], base({ maxNewTokens: 50, timeLimitMs: 40, processors: [slow] }));
    expect(t.stopReason).toBe('time_limit');
    expect(t.ids.length).toBeGreaterThan(0);
    expect(t.ids.length).toBeLessThan(10);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 0); // aborts during the first await between tokens
    const a = await generate(model, [1, 2], base({ maxNewTokens: 50, signal: ac.signal }));
    expect(a.stopReason).toBe('aborted');
    expect(a.ids.length).toBeLessThan(50);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('sampling is seeded; top-k 1 and a tiny top-p equal greedy', async () => {
    const greedy = await generate(model, [7], base());
    const s1 = await generate(model, [7], base({ temperature: 1.5, seed: 1 }));
    const s1b = await generate(model, [7], base({ temperature: 1.5, seed: 1 }));
    const s2 = await generate(model, [7], base({ temperature: 1.5, seed: 2 }));
    expect(s1.ids).toEqual(s1b.ids);
    expect(s1.ids).not.toEqual(s2.ids);
    expect((await generate(model, [7], base({ temperature: 1, topK: 1, seed: 3 }))).ids).toEqual(greedy.ids);
    expect((await generate(model, [7], base({ temperature: 1, topP: 1e-6, seed: 3 }))).ids).toEqual(greedy.ids);
  });

  it('sampleToken follows softmax(logits / T) restricted by top-k and top-p', () => {
    const rng = new Rng(5);
    const logits = Float32Array.from([0, Math.log(3), -Infinity, Math.log(6)]);
    const count = (opts: Parameters<typeof sampleToken>[1]) => {
      const c = [0, 0, 0, 0];
      for (let i = 0; i < 4000; i++) c[sampleToken(logits, opts, rng)]++;
      return c.map((n) => n / 4000);
    };
    const p = count({ temperature: 1 });
    expect(p[0]).toBeCloseTo(0.1, 1);
    expect(p[1]).toBeCloseTo(0.3, 1);
    expect(p[2]).toBe(0);
    expect(p[3]).toBeCloseTo(0.6, 1);
    const k2 = count({ temperature: 1, topK: 2 });
    expect(k2[0]).toBe(0);
    expect(k2[1]).toBeCloseTo(1 / 3, 1);
    const top = count({ temperature: 1, topP: 0.5 });
    expect(top[3]).toBe(1);
    expect(sampleToken(logits, { temperature: 0 }, rng)).toBe(3);
  });
});

describe('sampleToken over a full Qwen3 vocabulary', () => {
  it('samples 151936 logits with temperature, with and without top-p (no stack overflow)', () => {
    const logits = new Float32Array(151936).fill(-10);
    logits[4242] = 10;
    const rng = new Rng(1);
    expect(sampleToken(logits, { temperature: 0.7 }, rng)).toBe(4242);
    expect(sampleToken(logits, { temperature: 0.7, topP: 0.9 }, rng)).toBe(4242);
  });
});
