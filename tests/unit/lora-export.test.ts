// LoRA work kept: a LoRA run trained by the daemon's TrainingLoop into a (fake) IndexedDB store exports as the merged
// model — loaded back by the engine it gives the trained model's logits (base + adapter), not the base model's — or,
// on request, as a PEFT adapter folder (names, shapes, adapter_config.json); merged exports also stream into shards.
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { unzipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import type { CheckpointRow, WorkbenchDb } from '../../src/store/db.ts';
import { CheckpointStore } from '../../src/store/checkpoints.ts';
import { createWorkbenchApi, type WorkbenchApi } from '../../src/daemon/api.ts';
import { TrainingLoop } from '../../src/daemon/loop.ts';
import { Queue } from '../../src/daemon/queue.ts';
import { updateTrainConfig } from '../../src/daemon/config.ts';
import { validateItem } from '../../src/daemon/validate-item.ts';
import { loadTokenizerFrom } from '../../src/daemon/session.ts';
import { exportCheckpoint, zipTarget } from '../../src/daemon/transfer.ts';
import { loadModel } from '../../src/engine/checkpoint.ts';
import { Qwen3Model, singleSequence, type HfTensor } from '../../src/engine/model.ts';
import { LoraAdapter, peftName } from '../../src/engine/lora.ts';
import { readSafetensors } from '../../src/engine/safetensors.ts';
import { CheckpointError } from '../../src/engine/errors.ts';
import type { LinearHook } from '../../src/engine/types.ts';
import { chatJsonl, memFolder, tinyModelFolder, TINY_CONFIG, type MemFolder } from './daemon-fixture.ts';

const freshDb = scratchDbs('lora-export');
const LORA = { rank: 4, alpha: 8, targetModules: ['q_proj', 'v_proj'] as const };
const IDS = [256, 257, 72, 105, 33, 10, 258, 97, 49];

let folder: MemFolder;
beforeAll(async () => {
  await tf.setBackend('cpu');
  folder = await tinyModelFolder(7);
});

/** Trains one file with LoRA through the daemon's loop; returns the store, the api and the latest checkpoint. */
async function trainLora(): Promise<{ db: WorkbenchDb; api: WorkbenchApi; ckpt: CheckpointRow }> {
  const db = freshDb();
  const loop = new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny', ref: 'mem:' }, chunkBytes: 16 * 1024, pollMs: 5 });
  await loop.recover();
  const cfg = await updateTrainConfig(db, {
    profile: 'plain_sft', batchSize: 2, maxLength: 32, saveSteps: 2, logEvery: 1, evalSteps: 0, warmupSteps: 0, valFraction: 0,
    learningRate: 1e-2, bucketByLength: false,
    'lora.enabled': true, 'lora.rank': LORA.rank, 'lora.alpha': LORA.alpha, 'lora.targetModules': [...LORA.targetModules],
  });
  expect(cfg.errors).toEqual([]);
  const tokenizer = await loadTokenizerFrom(folder);
  const r = await new Queue(db).add('f.jsonl', new Blob([chatJsonl(12)]), 'normal', false);
  expect(await validateItem(db, r.itemId!, { tokenizer, template: 'stock' })).toBe('queued');
  expect(await loop.runUntilIdle()).toBe('idle');
  loop.dispose();
  const [ckpt] = await new CheckpointStore(db).list('tiny');
  expect(ckpt.tensors.some((t) => t.name.startsWith('lora/'))).toBe(true);
  const api = createWorkbenchApi({ db, validate: () => undefined, folder: () => folder });
  return { db, api, ckpt };
}

async function logitsOf(model: Qwen3Model, hook?: LinearHook): Promise<Float32Array> {
  const x = singleSequence(IDS);
  const l = model.logits(x, { linearHook: hook });
  const d = (await l.data()) as Float32Array;
  tf.dispose([l, x.inputIds, x.positionIds, x.segmentIds]);
  return d;
}

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

async function unzipToFolder(zip: Blob): Promise<MemFolder> {
  const f = memFolder();
  for (const [name, bytes] of Object.entries(unzipSync(new Uint8Array(await zip.arrayBuffer())))) f.files.set(name.split('/').pop()!, bytes);
  return f;
}

/** The trained model as the trainer runs it: the checkpoint's base weights with its adapter through LoRA's hook. */
async function trainedModel(db: WorkbenchDb, ckpt: CheckpointRow): Promise<{ base: Qwen3Model; lora: LoraAdapter; adapter: Map<string, HfTensor> }> {
  const { tensors } = await new CheckpointStore(db).read(ckpt.id, (n) => n.startsWith('model/') || n.startsWith('lora/'));
  const weights = new Map<string, HfTensor>(), adapter = new Map<string, HfTensor>();
  for (const t of tensors) (t.name.startsWith('model/') ? weights : adapter).set(t.name.replace(/^(model|lora)\//, ''), { shape: t.shape, data: t.data as Float32Array });
  const base = Qwen3Model.fromTensors(TINY_CONFIG, weights);
  const lora = new LoraAdapter(base, { enabled: true, dropout: 0, rank: LORA.rank, alpha: LORA.alpha, targetModules: [...LORA.targetModules] }, 1);
  lora.loadPeftTensors([...adapter].map(([name, t]) => ({ name, ...t })));
  return { base, lora, adapter };
}

describe('LoRA export', () => {
  it('exports the merged model by default: loaded back, its logits are the trained (base + adapter) ones, not the base ones', async () => {
    const { db, api, ckpt } = await trainLora();
    const { base, lora } = await trainedModel(db, ckpt);
    const withAdapter = await logitsOf(base, lora.hook());
    const baseOnly = await logitsOf(base);
    expect(maxDiff(withAdapter, baseOnly)).toBeGreaterThan(1e-2); // the adapter learned something

    const exp = await api.exportCheckpoint(ckpt.id);
    expect(exp.files).toContain('model.safetensors');
    const exported = await loadModel(await unzipToFolder(exp.zip!));
    const got = await logitsOf(exported);
    expect(maxDiff(got, withAdapter)).toBeLessThan(1e-4);
    expect(maxDiff(got, baseOnly)).toBeGreaterThan(1e-2);

    // Sharded (a shard per few tensors), written tensor by tensor: the same model.
    const t = zipTarget({ foldBytes: 4096 });
    const sharded = await exportCheckpoint(db, ckpt.id, t, { maxShardBytes: 20_000, folder: () => folder });
    expect(sharded.files).toContain('model.safetensors.index.json');
    expect(sharded.files.filter((n) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(n)).length).toBeGreaterThan(2);
    const fromShards = await loadModel(await unzipToFolder(await t.result()));
    expect(maxDiff(await logitsOf(fromShards), withAdapter)).toBeLessThan(1e-4);

    // BF16: converted per tensor after the merge
    const bf = await loadModel(await unzipToFolder((await api.exportCheckpoint(ckpt.id, { dtype: 'bfloat16' })).zip!));
    expect(maxDiff(await logitsOf(bf), withAdapter)).toBeLessThan(5e-2);
    expect(maxDiff(await logitsOf(bf), withAdapter)).toBeLessThan(maxDiff(withAdapter, baseOnly) / 4);
    for (const m of [exported, fromShards, bf]) m.dispose();
    lora.dispose();
    base.dispose();
  });

  it('exports the PEFT adapter on request: adapter_config.json and adapter_model.safetensors with PEFT names and shapes', async () => {
    const { db, api, ckpt } = await trainLora();
    const exp = await api.exportCheckpoint(ckpt.id, { format: 'adapter' });
    expect(exp.fileName).toBe(`tiny-step${ckpt.step}-lora.zip`);
    const files = unzipSync(new Uint8Array(await exp.zip!.arrayBuffer()));
    expect(Object.keys(files).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const config = JSON.parse(new TextDecoder().decode(files['adapter_config.json']));
    expect(config).toMatchObject({
      peft_type: 'LORA', task_type: 'CAUSAL_LM', base_model_name_or_path: 'tiny', r: 4, lora_alpha: 8,
      target_modules: ['q_proj', 'v_proj'], bias: 'none', fan_in_fan_out: false, inference_mode: true,
    });
    const st = readSafetensors(files['adapter_model.safetensors']).tensors;
    const H = TINY_CONFIG.hiddenSize, hd = TINY_CONFIG.headDim;
    const want = new Map<string, number[]>();
    for (let i = 0; i < TINY_CONFIG.numHiddenLayers; i++) {
      for (const [m, out] of [['q_proj', TINY_CONFIG.numAttentionHeads * hd], ['v_proj', TINY_CONFIG.numKeyValueHeads * hd]] as const) {
        want.set(`base_model.model.model.layers.${i}.self_attn.${m}.lora_A.weight`, [4, H]);
        want.set(`base_model.model.model.layers.${i}.self_attn.${m}.lora_B.weight`, [out, 4]);
      }
    }
    expect(new Map([...st].map(([n, t]) => [n, t.shape]))).toEqual(want);
    const { base, lora, adapter } = await trainedModel(db, ckpt);
    const name = 'model.layers.1.self_attn.v_proj.weight';
    expect(st.get(peftName(name, 'B'))!.data).toEqual(adapter.get(peftName(name, 'B'))!.data);
    expect(st.get(peftName(name, 'A'))!.data).toEqual(adapter.get(peftName(name, 'A'))!.data);
    expect(adapter.get(peftName(name, 'B'))!.data.some((v) => v !== 0)).toBe(true);
    lora.dispose();
    base.dispose();
  });

  it('refuses the adapter export of a checkpoint without one, naming why', async () => {
    const db = freshDb();
    const loop = new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny', ref: 'mem:' }, chunkBytes: 16 * 1024, pollMs: 5 });
    await loop.recover();
    expect((await updateTrainConfig(db, { profile: 'plain_sft', batchSize: 2, maxLength: 32, saveSteps: 2, logEvery: 1, evalSteps: 0, warmupSteps: 0, valFraction: 0 })).errors).toEqual([]);
    const r = await new Queue(db).add('f.jsonl', new Blob([chatJsonl(4)]), 'normal', false);
    expect(await validateItem(db, r.itemId!, { tokenizer: await loadTokenizerFrom(folder), template: 'stock' })).toBe('queued');
    await loop.runUntilIdle();
    loop.dispose();
    const [ckpt] = await new CheckpointStore(db).list('tiny');
    const api = createWorkbenchApi({ db, validate: () => undefined, folder: () => folder });
    const err = await api.exportCheckpoint(ckpt.id, { format: 'adapter' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(/has no LoRA adapter/);
  });
});
