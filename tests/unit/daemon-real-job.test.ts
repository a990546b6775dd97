// The daemon on the product's real path, as a person would meet it: a model with damaged (non-finite) weights, a
// file that is all non-finite, a config change between pause and resume, LoRA runs resumed from the store and
// LoRA turned off on a LoRA checkpoint, and a heartbeat that does not wait for the log interval.
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import { ControlRepo } from '../../src/store/state.ts';
import { TrainingLoop } from '../../src/daemon/loop.ts';
import { Queue } from '../../src/daemon/queue.ts';
import { updateTrainConfig } from '../../src/daemon/config.ts';
import { validateItem } from '../../src/daemon/validate-item.ts';
import { loadTokenizerFrom } from '../../src/daemon/session.ts';
import { createWorkbenchApi } from '../../src/daemon/api.ts';
import { saveTensors } from '../../src/engine/checkpoint.ts';
import { Qwen3Model } from '../../src/engine/model.ts';
import { peftName } from '../../src/engine/lora.ts';
import { chatJsonl, memFolder, tinyModelFolder, tinyTokenizerConfig, tinyTokenizerJson, TINY_CONFIG, type MemFolder } from './daemon-fixture.ts';
import type { StepMetrics } from '../../src/engine/types.ts';
import type { QueueItemRow } from '../../src/store/db.ts';

const freshDb = scratchDbs('daemon-real-job');
const Z = 90; // the byte-level fixture tokenizer's id of "Z"

let tiny: MemFolder;
let damaged: MemFolder;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tiny = await tinyModelFolder(3);
  // An untied model whose embedding row of "Z" is NaN (with tied embeddings that row is also an LM-head column,
  // and every softmax would be NaN). Examples that contain "Z" give a non-finite loss; the others train.
  const config = { ...TINY_CONFIG, tieWordEmbeddings: false };
  const model = Qwen3Model.random(config, 5);
  const tensors = await model.toTensors();
  model.dispose();
  const H = config.hiddenSize;
  tensors.get('model.embed_tokens.weight')!.data.fill(NaN, Z * H, (Z + 1) * H);
  damaged = memFolder();
  const enc = new TextEncoder();
  await saveTensors(config, tensors, damaged, { tokenizerJson: enc.encode(JSON.stringify(tinyTokenizerJson())), tokenizerConfigJson: enc.encode(JSON.stringify(tinyTokenizerConfig())) });
});

const CONFIG = { profile: 'plain_sft', batchSize: 2, maxLength: 32, saveSteps: 2, logEvery: 1, evalSteps: 0, warmupSteps: 0, valFraction: 0, learningRate: 1e-2, bucketByLength: false };

type LoopOpts = ConstructorParameters<typeof TrainingLoop>[0];
async function setup(folder: MemFolder, extra: Record<string, unknown> = {}, loopExtra: Partial<LoopOpts> = {}) {
  const db = freshDb();
  const make = (onStep?: LoopOpts['onStep']) =>
    new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny', ref: 'mem:' }, chunkBytes: 16 * 1024, pollMs: 10, onStep, ...loopExtra });
  const loop = make();
  await loop.recover();
  expect((await updateTrainConfig(db, { ...CONFIG, ...extra })).errors).toEqual([]);
  const tokenizer = await loadTokenizerFrom(folder);
  const queue = new Queue(db);
  const add = async (name: string, text: string, priority: 'high' | 'normal' = 'normal') => {
    const r = await queue.add(name, new Blob([text]), priority, false);
    expect(await validateItem(db, r.itemId!, { tokenizer, template: 'stock' })).toBe('queued');
    return r.itemId!;
  };
  const api = createWorkbenchApi({ db, validate: () => undefined, folder: () => folder, fallbackTokenizerRef: 'mem:' });
  return { db, loop, make, queue, add, api, controls: new ControlRepo(db) };
}

/** `n` examples; those whose index is in `withZ` carry a "Z" in the prompt. */
function jsonl(n: number, withZ: (i: number) => boolean, tag = 'q'): string {
  return Array.from({ length: n }, (_, i) => JSON.stringify({ messages: [{ role: 'user', content: `${tag}${i % 7}${withZ(i) ? 'Z' : ''}?` }, { role: 'assistant', content: `a${(i * 3) % 5}` }] })).join('\n') + '\n';
}

const lossesOf = async (db: ReturnType<typeof freshDb>) => (await db.metrics.toArray()).map((m) => m.loss!);

/** Pauses the daemon when the given step has run (the pause is taken at the next step boundary). */
function pauseAt(step: number, controls: () => ControlRepo): LoopOpts['onStep'] {
  return async (m: StepMetrics, _item: QueueItemRow) => {
    if (m.step === step) await controls().request('pause', 'test');
  };
}

describe('the daemon on the real path', () => {
  it('non-finite steps: an all-non-finite file fails non_finite and the daemon goes on; a partly non-finite one completes with its skipped steps counted', async () => {
    const { db, loop, queue, add } = await setup(damaged);
    const bad = await add('all-z.jsonl', jsonl(12, () => true), 'high');
    const mixed = await add('quarter-z.jsonl', jsonl(12, (i) => i % 4 === 1));
    expect(await loop.runUntilIdle()).toBe('idle');

    const a = await queue.get(bad);
    expect(a.status).toBe('failed');
    expect(a.failureKind).toBe('non_finite');
    expect(a.attempts).toBe(1); // failed at once: a retry would do the same
    expect(a.lastError).toMatch(/every one of this file's 6 steps .* non-finite/);

    const b = await queue.get(mixed);
    expect(b.status).toBe('completed');
    expect(b.progress.skippedSteps).toBeGreaterThan(0);
    expect(b.progress.skippedSteps).toBeLessThan(6);
    const runs = await db.runs.toArray();
    expect(runs.find((r) => r.itemId === bad)).toMatchObject({ outcome: 'failed', error: { kind: 'non_finite' } });
    expect(runs.find((r) => r.itemId === mixed)).toMatchObject({ outcome: 'completed', skippedSteps: b.progress.skippedSteps });
    expect((await db.metrics.toArray()).some((m) => m.skipped)).toBe(true);
    // the event log says what happened and what to do
    const events = await loop.events.latest();
    expect(events.find((e) => e.kind === 'failure')).toMatchObject({ errorKind: 'non_finite', itemId: bad, action: expect.stringMatching(/Lower the learning rate/) });
    expect(events.some((e) => e.kind === 'warning' && /non-finite values/.test(e.message))).toBe(true);

    // the damaged weights are a warning, not a refusal; checkpoints are written, with the damage as it was and nothing more
    expect((await db.daemon.get('state'))!.warnings!.join(' ')).toMatch(/non-finite values in 1 parameter: model.embed_tokens.weight \(32\)/);
    const [latest] = await loop.checkpoints.list('tiny');
    const { tensors } = await loop.checkpoints.read(latest.id, (n) => n.startsWith('model/'));
    for (const t of tensors) {
      const nonFinite = Array.from(t.data).filter((x) => !Number.isFinite(x)).length;
      expect(nonFinite, t.name).toBe(t.name === 'model/model.embed_tokens.weight' ? 32 : 0);
    }
    loop.dispose();
  });

  it('a file resumed after batchSize changed keeps the data order it started with: no example skipped or repeated, same losses', async () => {
    const data = chatJsonl(12);
    const ref = await setup(tiny);
    await ref.add('f.jsonl', data);
    await ref.loop.runUntilIdle();
    const refLosses = await lossesOf(ref.db);
    expect(refLosses).toHaveLength(6);
    ref.loop.dispose();

    let controls!: ControlRepo;
    const { db, loop, make, queue, add } = await setup(tiny, {}, { onStep: pauseAt(2, () => controls) });
    controls = new ControlRepo(db);
    const id = await add('f.jsonl', data);
    const next = await add('g.jsonl', chatJsonl(12, 'n'));
    expect(await loop.runUntilIdle()).toBe('paused');
    loop.dispose();
    expect((await updateTrainConfig(db, { batchSize: 4 })).errors).toEqual([]);
    const fresh = make(); // a reload: the session comes back from the checkpoint
    await fresh.recover();
    await controls.request('resume', 'test');
    expect(await fresh.runUntilIdle()).toBe('idle');
    expect((await db.daemon.get('state'))!.warnings?.join(' ') ?? '').toBe(''); // the warning went with the file
    const f = await queue.get(id);
    expect(f.progress).toMatchObject({ fileStep: 6, fileSteps: 6, examplesSeen: 12, dataOrder: { batchSize: 2 } });
    const losses = (await db.metrics.toArray()).filter((m) => m.itemId === id).map((m) => m.loss!);
    expect(losses).toHaveLength(6);
    losses.forEach((l, i) => expect(l).toBeCloseTo(refLosses[i], 4));
    expect((await queue.get(next)).progress).toMatchObject({ fileSteps: 3, dataOrder: { batchSize: 4 } }); // the next file uses the new value
    fresh.dispose();
  });

  it('says, while the resumed file trains, that it keeps the data order it started with', async () => {
    let controls!: ControlRepo;
    let seen = '';
    const { db, loop, add } = await setup(tiny, {}, {
      onStep: async (m) => {
        if (m.step === 2) await controls.request('pause', 'test');
        if (m.step === 4) seen = (await db.daemon.get('state'))!.warnings?.join(' ') ?? '';
      },
    });
    controls = new ControlRepo(db);
    await add('f.jsonl', chatJsonl(12));
    expect(await loop.runUntilIdle()).toBe('paused');
    await updateTrainConfig(db, { batchSize: 4, seed: 9 });
    await controls.request('resume', 'test');
    await loop.runUntilIdle();
    expect(seen).toMatch(/f.jsonl continues with the data order it started with \(batchSize 2, seed 0\); the new values apply from the next file/);
    loop.dispose();
  });

  it('LoRA: a run resumed from the store is exact; turning LoRA off is refused until the person confirms the merge, then trains on the merged weights', async () => {
    const lora = { 'lora.enabled': true, 'lora.rank': 4, 'lora.alpha': 8, 'lora.targetModules': ['q_proj', 'v_proj'], learningRate: 1e-2 };
    const data = chatJsonl(12);
    const ref = await setup(tiny, lora);
    await ref.add('f.jsonl', data);
    await ref.loop.runUntilIdle();
    const refLosses = await lossesOf(ref.db);
    ref.loop.dispose();

    let controls!: ControlRepo;
    const { db, loop, make, queue, add, api } = await setup(tiny, lora, { onStep: pauseAt(3, () => controls) });
    controls = new ControlRepo(db);
    await add('f.jsonl', data);
    expect(await loop.runUntilIdle()).toBe('paused');
    loop.dispose();
    const fresh = make();
    await fresh.recover();
    await controls.request('resume', 'test');
    expect(await fresh.runUntilIdle()).toBe('idle');
    const losses = await lossesOf(db);
    expect(losses).toHaveLength(6);
    losses.forEach((l, i) => expect(l).toBeCloseTo(refLosses[i], 5));

    // LoRA off: the adapter is never dropped silently
    const [withAdapter] = await fresh.checkpoints.list('tiny');
    expect(withAdapter.tensors.some((t) => t.name.startsWith('lora/'))).toBe(true);
    expect((await updateTrainConfig(db, { 'lora.enabled': false, learningRate: 1e-6 })).errors).toEqual([]);
    const second = await add('g.jsonl', chatJsonl(4, 'g'));
    await fresh.runUntilIdle();
    const waiting = await queue.get(second);
    expect(waiting.status).toBe('paused');
    expect(waiting.attempts).toBe(0);
    expect(waiting.reason).toMatch(/carries a LoRA adapter \(rank 4, alpha 8 on q_proj, v_proj\) but lora.enabled is off: turn LoRA back on .* or confirm merging it/);

    const asked = await api.resumeAdapter();
    expect(asked).toEqual({ checkpointId: withAdapter.id, step: withAdapter.step, adapter: 'rank 4, alpha 8 on q_proj, v_proj' });
    await api.confirmAdapterMerge(asked!.checkpointId);
    await api.resume('merge');
    expect(await fresh.runUntilIdle()).toBe('idle');
    expect((await queue.get(second)).status).toBe('completed');

    // the next checkpoint holds W + (alpha/r)·B·A (a learning rate of 1e-6 moves it by ~1e-5 at most) and no adapter
    const [merged] = await fresh.checkpoints.list('tiny');
    expect(merged.tensors.some((t) => t.name.startsWith('lora/'))).toBe(false);
    const before = new Map((await fresh.checkpoints.read(withAdapter.id)).tensors.map((t) => [t.name, t]));
    const after = new Map((await fresh.checkpoints.read(merged.id)).tensors.map((t) => [t.name, t]));
    const name = 'model.layers.1.self_attn.q_proj.weight';
    const W = before.get(`model/${name}`)!, A = before.get(`lora/${peftName(name, 'A')}`)!, B = before.get(`lora/${peftName(name, 'B')}`)!;
    const [out, inn] = W.shape, r = A.shape[0];
    let maxDiff = 0, adapterSize = 0;
    for (let o = 0; o < out; o++) {
      for (let i = 0; i < inn; i++) {
        let ba = 0;
        for (let k = 0; k < r; k++) ba += B.data[o * r + k] * A.data[k * inn + i];
        adapterSize = Math.max(adapterSize, Math.abs(2 * ba));
        maxDiff = Math.max(maxDiff, Math.abs(W.data[o * inn + i] + 2 * ba - after.get(`model/${name}`)!.data[o * inn + i]));
      }
    }
    expect(adapterSize).toBeGreaterThan(1e-3); // the adapter had learned something
    expect(maxDiff).toBeLessThan(1e-4);
    fresh.dispose();
  });

  it('an honest start: a run that cannot fit the backend is not started; the daemon pauses with why and what to change, the file is not charged', async () => {
    const { db, loop, queue, add } = await setup(tiny, { batchSize: 8, maxLength: 16384 }, { backend: { name: 'wasm', reason: 'test' } });
    const id = await add('f.jsonl', chatJsonl(12));
    await loop.runUntilIdle();
    const row = await queue.get(id);
    expect(row.status).toBe('paused');
    expect(row.attempts).toBe(0);
    expect(row.reason).toMatch(/Training needs ~[\d.]+ GiB of wasm memory .* wasm heap is 4(\.0)? GiB .*: .*(max length|batch size|gradient checkpointing)/);
    const st = (await db.daemon.get('state'))!;
    expect(st.status).toBe('paused');
    expect(await loop.checkpoints.list('tiny')).toEqual([]); // nothing loaded or trained
    expect((await updateTrainConfig(db, { batchSize: 2, maxLength: 32 })).errors).toEqual([]);
    await new ControlRepo(db).request('resume', 'fits now');
    expect(await loop.runUntilIdle()).toBe('idle');
    expect((await queue.get(id)).status).toBe('completed');
    loop.dispose();
  });

  it('beats the heartbeat between log intervals, and stores one metric row per log interval', async () => {
    let db!: ReturnType<typeof freshDb>;
    const mismatched: string[] = [];
    const s = await setup(tiny, { logEvery: 100 }, {
      heartbeatMs: 0,
      onStep: async (m) => {
        const st = (await db.daemon.get('state'))!;
        if (st.step !== m.step || st.status !== 'training') mismatched.push(`step ${m.step}: state ${st.status} at ${st.step}`);
      },
    });
    db = s.db;
    await s.add('f.jsonl', chatJsonl(12));
    expect(await s.loop.runUntilIdle()).toBe('idle');
    expect(mismatched).toEqual([]);
    // the first step (the kernels ran) and the last: no row for steps whose loss was never read
    expect((await db.metrics.toArray()).map((m) => m.step)).toEqual([1, 6]);
    s.loop.dispose();
  });
});
