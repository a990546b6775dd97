// Streaming checkpoints: the store is handed tensors one at a time and stores a chunk as soon as it is full, so
// it never holds more than one chunk plus the tensor being copied; a crash mid-stream leaves chunks but no
// manifest; a full disk is a value; the trainer's snapshot streams exactly what toTensors/exportState give.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { WorkbenchDb } from '../../src/store/db.ts';
import { CheckpointStore, type CheckpointMeta, type CheckpointTensor } from '../../src/store/checkpoints.ts';
import { Qwen3Model } from '../../src/engine/model.ts';
import { presetConfig } from '../../src/engine/config/model-config.ts';
import { parseTrainConfig } from '../../src/engine/config/train-config.ts';
import { runJob } from '../../src/engine/train.ts';
import { snapshotTensors } from '../../src/daemon/session.ts';
import type { ExampleSource } from '../../src/engine/types.ts';

const freshDb = scratchDbs('ckpt-stream');

const meta: CheckpointMeta = { modelId: 'm1', step: 7, trainerState: { step: 7 }, trainConfig: {}, profile: 'sft', tokenizerRef: 't', reason: 'interval' };

/** Tensors of 10..130 floats (some larger than a chunk), values a function of (tensor, index). */
const sizes = [10, 130, 3, 64, 25, 100, 1, 47];
const tensorAt = (k: number): CheckpointTensor => ({ name: `t${k}`, dtype: 'float32', shape: [sizes[k]], data: Float32Array.from({ length: sizes[k] }, (_, i) => k * 1000 + i) });

/** Counts the bytes the store has put into chunk rows (the real table, wrapped). */
function countPuts(db: WorkbenchDb): { bytes: number; chunks: number } {
  const count = { bytes: 0, chunks: 0 };
  const table = db.checkpointChunks;
  const put = table.put.bind(table);
  table.put = ((row: { data: ArrayBuffer }, key?: unknown) => {
    count.bytes += row.data.byteLength;
    count.chunks++;
    return put(row as never, key as never);
  }) as typeof table.put;
  return count;
}

describe('streaming checkpoint writer', () => {
  it('is handed tensors one at a time and never holds more than one chunk plus one tensor', async () => {
    const db = freshDb();
    const chunkBytes = 96;
    const store = new CheckpointStore(db, chunkBytes);
    const puts = countPuts(db);
    let yielded = 0;
    const held: number[] = [];
    async function* source() {
      for (let k = 0; k < sizes.length; k++) {
        held.push(yielded - puts.bytes); // bytes handed over but not yet stored, before the next tensor is read
        const t = tensorAt(k);
        yielded += t.data.byteLength;
        yield t;
      }
    }
    const res = await store.writeStream(meta, source());
    expect(res.saved).toBe(true);
    if (!res.saved) return;
    expect(held.length).toBe(sizes.length);
    for (const h of held) expect(h).toBeLessThan(chunkBytes); // the rest of one chunk at most; never the whole checkpoint
    const total = sizes.reduce((a, b) => a + b, 0) * 4;
    expect(puts.bytes).toBe(total);
    expect(puts.chunks).toBe(Math.ceil(total / chunkBytes));
    const { manifest, tensors } = await store.read(res.id);
    expect(manifest.bytes).toBe(total);
    tensors.forEach((t, k) => {
      expect(t.name).toBe(`t${k}`);
      expect(Array.from(t.data)).toEqual(Array.from(tensorAt(k).data));
    });
  });

  it('a crash mid-stream leaves chunks but no manifest; the sweep removes them, a source error is thrown', async () => {
    const db = freshDb();
    const store = new CheckpointStore(db, 64);
    let die!: (e: Error) => void;
    const dead = new Promise<never>((_, reject) => (die = reject));
    let reached!: () => void;
    const midway = new Promise<void>((r) => (reached = r));
    async function* source() {
      for (let k = 0; k < 4; k++) yield tensorAt(k);
      reached();
      await dead; // the tab dies here, while reading the next tensor
    }
    const writing = store.writeStream(meta, source());
    await midway;
    expect(await db.checkpointChunks.count()).toBeGreaterThan(2);
    expect(await db.checkpoints.count()).toBe(0);
    expect(await store.latest('m1')).toBeUndefined();
    expect(await store.sweepOrphans()).toBeGreaterThan(2); // what start-up after a real crash does
    die(new Error('device lost'));
    await expect(writing).rejects.toThrow(/device lost/);
    expect(await db.checkpointChunks.count()).toBe(0);
    expect(await db.checkpoints.count()).toBe(0);
  });

  it('a full disk mid-stream is a quota value; the source is closed and the chunks removed', async () => {
    const db = freshDb();
    const store = new CheckpointStore(db, 64);
    const puts = countPuts(db);
    const table = db.checkpointChunks;
    const put = table.put.bind(table);
    table.put = ((row: never, key?: never) => {
      if (puts.chunks >= 3) throw new DOMException('full', 'QuotaExceededError');
      return put(row, key);
    }) as typeof table.put;
    let closed = false;
    async function* source() {
      try {
        for (let k = 0; k < sizes.length; k++) yield tensorAt(k);
      } finally {
        closed = true;
      }
    }
    const res = await store.writeStream(meta, source());
    expect(res).toMatchObject({ saved: false, failed: 'quota' });
    expect(closed).toBe(true);
    expect(await db.checkpointChunks.count()).toBe(0);
    expect(await db.checkpoints.count()).toBe(0);
  });

  it("the trainer's snapshot streams the model's HF tensors and the optimizer's state, stored under their prefixes", async () => {
    await tf.setBackend('cpu');
    const V = 64;
    const model = Qwen3Model.random({ ...presetConfig('tiny'), vocabSize: V }, 3);
    const ex = { ids: Int32Array.from({ length: 8 }, (_, i) => 1 + i), trainMask: Uint8Array.from({ length: 8 }, (_, i) => (i >= 2 ? 1 : 0)) };
    const source: ExampleSource = { size: 2, get: () => ex };
    const config = parseTrainConfig({ batchSize: 1, maxLength: 16, learningRate: 1e-3, warmupSteps: 0, lmHeadChunkTokens: 16, logEvery: 1, saveSteps: 0, evalSteps: 0 }, 'tiny');
    const db = freshDb();
    const store = new CheckpointStore(db, 4096);
    const saved: { id?: string } = {};
    const r = await runJob({ model, source, config, padTokenId: 0, steps: 2 }, {
      onCheckpoint: async (snap) => {
        const res = await store.writeStream({ ...meta, step: snap.step, trainerState: { optimizerStep: snap.optimizerStep } }, snapshotTensors(snap));
        if (res.saved) saved.id = res.id;
      },
    });
    expect(saved.id).toBeDefined();
    const { manifest, tensors } = await store.read(saved.id!);
    expect(manifest.trainerState).toEqual({ optimizerStep: 2 });
    const hf = await model.toTensors();
    const opt = await r.optimizer.exportState();
    const byName = new Map(tensors.map((t) => [t.name, t]));
    expect(tensors.length).toBe(hf.size + opt.slots.length);
    for (const [name, t] of hf) {
      expect(byName.get(`model/${name}`)!.shape).toEqual(t.shape);
      expect(byName.get(`model/${name}`)!.data).toEqual(t.data);
    }
    for (const s of opt.slots) expect(byName.get(`optim/${s.name}`)!.data).toEqual(s.data);
    r.optimizer.dispose();
    model.dispose();
  });
});

describe('streaming checkpoint reader', () => {
  it('yields each tensor once its bytes are read, one chunk at a time, equal to what was written; `only` filters', async () => {
    const db = freshDb();
    const chunkBytes = 96;
    const store = new CheckpointStore(db, chunkBytes);
    const res = await store.write({ ...meta, tensors: sizes.map((_, k) => tensorAt(k)) });
    if (!res.saved) throw new Error(res.message);
    const table = db.checkpointChunks;
    const get = table.get.bind(table);
    let reads = 0;
    table.get = ((key: never) => {
      reads++;
      return get(key);
    }) as typeof table.get;
    const seen: string[] = [];
    const readsBefore: number[] = [];
    for await (const t of store.readStream(res.id)) {
      readsBefore.push(reads);
      seen.push(t.name);
      expect(t.data).toEqual(tensorAt(Number(t.name.slice(1))).data);
    }
    expect(seen).toEqual(sizes.map((_, k) => `t${k}`));
    const total = sizes.reduce((a, b) => a + b, 0) * 4;
    expect(reads).toBe(Math.ceil(total / chunkBytes)); // every chunk read exactly once
    expect(readsBefore[0]).toBe(1); // the first tensor comes after the first chunk, not after the whole checkpoint
    const some = [];
    for await (const t of store.readStream(res.id, (n) => n === 't3' || n === 't6')) some.push(t.name);
    expect(some).toEqual(['t3', 't6']);
    await expect(async () => {
      for await (const t of store.readStream('nope')) void t;
    }).rejects.toThrow(/does not exist/);
  });
});
