// Hugging Face model folders: save → load → identical logits (F32, BF16, sharded, tied/untied, on disk),
// and folders that disagree with their config or lack tensors/shards fail with named CheckpointErrors.
import { describe, expect, it, beforeAll } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initNodeBackend } from '../../src/engine/backend-node.ts';
import { loadModel, saveModel, saveTensorStream, type FolderReader, type FolderWriter } from '../../src/engine/checkpoint.ts';
import { nodeFolder } from '../../src/engine/node-folder.ts';
import { Qwen3Model, singleSequence, type HfTensor } from '../../src/engine/model.ts';
import { readSafetensors, writeSafetensors } from '../../src/engine/safetensors.ts';
import { CheckpointError } from '../../src/engine/errors.ts';
import type { ModelConfig } from '../../src/engine/types.ts';

const cfg = (over: Partial<ModelConfig> = {}): ModelConfig => ({
  modelType: 'qwen3', vocabSize: 40, hiddenSize: 16, intermediateSize: 24, numHiddenLayers: 2, numAttentionHeads: 4,
  numKeyValueHeads: 2, headDim: 4, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: true,
  maxPositionEmbeddings: 128, torchDtype: 'float32', ...over,
});

/** An in-memory folder (what the browser's IndexedDB/OPFS folders look like to the codec). */
function memFolder(): FolderReader & FolderWriter & { files: Map<string, Uint8Array> } {
  const files = new Map<string, Uint8Array>();
  return { files, read: async (n) => files.get(n) ?? null, write: async (n, b) => void files.set(n, b) };
}

async function logits(m: Qwen3Model): Promise<Float32Array> {
  const x = singleSequence([1, 7, 3, 39, 0]);
  const l = m.logits(x);
  const d = (await l.data()) as Float32Array;
  tf.dispose([l, x.inputIds, x.positionIds, x.segmentIds]);
  return d;
}

async function expectError(p: Promise<unknown>, pattern: RegExp) {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(CheckpointError);
  expect((err as Error).message).toMatch(pattern);
}

describe('checkpoint folders', () => {
  beforeAll(async () => void (await initNodeBackend(['cpu'])));

  it('save → load gives identical logits (tied, F32) and writes no lm_head', async () => {
    const m = Qwen3Model.random(cfg(), 1);
    const f = memFolder();
    const written = await saveModel(m, f, { tokenizerJson: new TextEncoder().encode('{"t":1}') });
    expect(written).toEqual(['model.safetensors', 'tokenizer.json', 'generation_config.json', 'config.json']);
    expect(readSafetensors(f.files.get('model.safetensors')!).tensors.has('lm_head.weight')).toBe(false);
    const config = JSON.parse(new TextDecoder().decode(f.files.get('config.json')!));
    expect(config).toMatchObject({ architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', tie_word_embeddings: true, torch_dtype: 'float32', head_dim: 4 });
    const back = await loadModel(f);
    expect(await logits(back)).toEqual(await logits(m));
    m.dispose();
    back.dispose();
  });

  it('untied models write lm_head.weight; BF16 saves load within bf16 precision', async () => {
    const m = Qwen3Model.random(cfg({ tieWordEmbeddings: false }), 2);
    const f = memFolder();
    await saveModel(m, f, { dtype: 'BF16' });
    const st = readSafetensors(f.files.get('model.safetensors')!).tensors;
    expect(st.get('lm_head.weight')!.shape).toEqual([40, 16]);
    expect(JSON.parse(new TextDecoder().decode(f.files.get('config.json')!)).torch_dtype).toBe('bfloat16');
    const back = await loadModel(f);
    const [a, b] = [await logits(m), await logits(back)];
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeLessThan(2e-3);
    m.dispose();
    back.dispose();
  });

  it('shards past maxShardBytes with an index, on disk, and reads them back identically', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ckpt-'));
    try {
      const m = Qwen3Model.random(cfg({ tieWordEmbeddings: false }), 3);
      await saveModel(m, nodeFolder(dir), { maxShardBytes: 4000 });
      const files = readdirSync(dir).sort();
      const shards = files.filter((n) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(n));
      expect(shards.length).toBeGreaterThan(2);
      expect(files).toContain('model.safetensors.index.json');
      expect(files).not.toContain('model.safetensors');
      const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
      expect(Object.keys(index.weight_map)).toHaveLength(1 + 2 * 11 + 2);
      for (const s of shards) expect(readFileSync(join(dir, s)).length).toBeLessThanOrEqual(4000 + 2000); // data ≤ limit, plus header
      const back = await loadModel(nodeFolder(dir));
      expect(await logits(back)).toEqual(await logits(m));
      m.dispose();
      back.dispose();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes tensors as they arrive in the given order; one out of order, misshapen or missing is named', async () => {
    const m = Qwen3Model.random(cfg(), 5);
    const tensors = await m.toTensors();
    const order = [...tensors.keys()].reverse();
    const f = memFolder();
    await saveTensorStream(m.config, order.map((n) => [n, tensors.get(n)!] as [string, HfTensor]), f, { order });
    expect([...readSafetensors(f.files.get('model.safetensors')!).tensors.keys()]).toEqual(order);
    const back = await loadModel(f);
    expect(await logits(back)).toEqual(await logits(m));
    back.dispose();
    const names = [...tensors.keys()];
    await expectError(saveTensorStream(m.config, order.map((n) => [n, tensors.get(n)!] as [string, HfTensor]), memFolder()), /tensor "model.norm.weight" arrived where "model.embed_tokens.weight" was expected/);
    const bent = names.map((n) => [n, n === 'model.norm.weight' ? { shape: [8], data: new Float32Array(8) } : tensors.get(n)!] as [string, HfTensor]);
    await expectError(saveTensorStream(m.config, bent, memFolder()), /tensor "model.norm.weight" has shape \[8\]/);
    await expectError(saveTensorStream(m.config, names.slice(0, 3).map((n) => [n, tensors.get(n)!] as [string, HfTensor]), memFolder()), /the tensors ended before "model.layers.0.self_attn.k_proj.weight"/);
    await expectError(saveTensorStream(m.config, [], memFolder(), { order: names.slice(1) }), /tensor "model.embed_tokens.weight" is missing/);
    m.dispose();
  });

  it('names a missing tensor, a shape disagreeing with config.json, a missing shard and a missing folder', async () => {
    const m = Qwen3Model.random(cfg(), 4);
    const f = memFolder();
    await saveModel(m, f);
    const tensors = readSafetensors(f.files.get('model.safetensors')!).tensors;
    const without = [...tensors].filter(([n]) => n !== 'model.layers.1.self_attn.k_norm.weight');
    f.files.set('model.safetensors', writeSafetensors(without));
    await expectError(loadModel(f), /missing tensor "model.layers.1.self_attn.k_norm.weight"/);
    const reshaped = [...tensors].map(([n, t]) => [n, n === 'model.embed_tokens.weight' ? { shape: [20, 32], data: t.data } : t] as [string, typeof t]);
    f.files.set('model.safetensors', writeSafetensors(reshaped));
    await expectError(loadModel(f), /"model.embed_tokens.weight" has shape \[20,32\] but the config needs \[40,16\]/);
    const sharded = memFolder();
    await saveModel(m, sharded, { maxShardBytes: 3000 });
    sharded.files.delete('model-00002-of-' + [...sharded.files.keys()].find((k) => k.startsWith('model-00001-of-'))!.slice(15));
    await expectError(loadModel(sharded), /shard model-00002-of-\d{5}\.safetensors listed in model.safetensors.index.json is missing/);
    await expectError(loadModel(memFolder()), /no config.json/);
    const noWeights = memFolder();
    noWeights.files.set('config.json', f.files.get('config.json')!);
    await expectError(loadModel(noWeights), /neither model.safetensors nor model.safetensors.index.json/);
    m.dispose();
  });
});
