import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import { TrainingLoop } from '../../src/daemon/loop.ts';
import { Queue } from '../../src/daemon/queue.ts';
import { updateTrainConfig } from '../../src/daemon/config.ts';
import { validateItem } from '../../src/daemon/validate-item.ts';
import { loadTokenizerFrom } from '../../src/daemon/session.ts';
import { chatJsonl, tinyModelFolder, type MemFolder } from './daemon-fixture.ts';
import { drawEvalSet, drawIndices } from '../../src/daemon/draw-eval.ts';
import { createWorkbenchApi } from '../../src/daemon/api.ts';

let folder: MemFolder;
beforeAll(async () => {
  await tf.setBackend('cpu');
  folder = await tinyModelFolder(3);
});

const freshDb = scratchDbs('daemon-evalsets');

/** 12 training examples at batch 2 → 6 steps; checkpoints at 2, 4 and 6 (the file's end). */
const CONFIG = { profile: 'plain_sft', batchSize: 2, maxLength: 32, saveSteps: 2, logEvery: 1, evalSteps: 0, warmupSteps: 0, valFraction: 0, learningRate: 1e-2, bucketByLength: false };

const evalJsonl = (n: number) =>
  Array.from({ length: n }, (_, i) => JSON.stringify({ messages: [{ role: 'user', content: `e${i}?` }, { role: 'assistant', content: `a${i % 3}` }], metadata: { skill: i % 2 ? 'odd' : 'even', difficulty: 1 + (i % 3) } })).join('\n') + '\n';

async function setup(extra: Record<string, unknown> = {}) {
  const db = freshDb();
  const loop = new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny test model', ref: 'mem:' }, chunkBytes: 16 * 1024, pollMs: 10 });
  await loop.recover();
  expect((await updateTrainConfig(db, { ...CONFIG, ...extra })).errors).toEqual([]);
  const tokenizer = await loadTokenizerFrom(folder);
  const queue = new Queue(db);
  const addFile = async (name: string, text: string) => {
    const r = await queue.add(name, new Blob([text]), 'normal', false);
    expect(await validateItem(db, r.itemId!, { tokenizer, template: 'stock' })).toBe('queued');
    return r.itemId!;
  };
  const addEvalSet = async (name: string, text: string) => (await db.evalSets.add({ modelId: 'tiny', name, blob: new Blob([text]), addedAt: Date.now(), status: 'pending' })) as number;
  return { db, loop, addFile, addEvalSet };
}

describe('fixed eval sets in the trainer', () => {
  it('scores the base model before the first step and every checkpoint, with per-skill accuracy and every answer kept', async () => {
    const { db, loop, addFile, addEvalSet } = await setup();
    const set = await addEvalSet('held.jsonl', evalJsonl(5));
    await addFile('train.jsonl', chatJsonl(12));
    expect(await loop.runUntilIdle()).toBe('idle');
    const results = await db.evalResults.where('evalSetId').equals(set).sortBy('step');
    expect(results.map((r) => r.step)).toEqual([0, 2, 4, 6]);
    for (const r of results) {
      expect(r.em).toBeGreaterThanOrEqual(0);
      expect(r.em).toBeLessThanOrEqual(1);
      expect(Number.isFinite(r.loss) && r.loss > 0).toBe(true);
      expect(r.ece).toBeGreaterThanOrEqual(0);
      expect(r.ece).toBeLessThanOrEqual(1);
      expect(r.answers).toHaveLength(5);
      expect(r.bySkill.even.n + r.bySkill.odd.n).toBe(5);
      expect(Object.keys(r.byDifficulty).sort()).toEqual(['1', '2', '3']);
      expect(r.timeShare).toBeGreaterThan(0);
    }
    expect(results[3].loss).toBeLessThan(results[0].loss); // trained on the same answers a0..a4: the tuned model is better
    expect(await db.evalSets.get(set)).toMatchObject({ status: 'ready', examples: 5 });
    // never trained on: the training file's 6 steps saw only its own 12 examples
    expect((await db.metrics.where('modelId').equals('tiny').toArray()).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('records the profile\'s outcome of every answer and counts them (emoji_think: the contract followed or broken)', async () => {
    const { db, loop, addFile, addEvalSet } = await setup({ profile: 'emoji_think', maxLength: 256, saveSteps: 0 });
    const set = await addEvalSet('held.jsonl', evalJsonl(3));
    await addFile('train.jsonl', chatJsonl(4));
    expect(await loop.runUntilIdle()).toBe('idle');
    const results = await db.evalResults.where('evalSetId').equals(set).sortBy('step');
    expect(results.map((r) => r.step)).toEqual([0, 2]);
    for (const r of results) {
      for (const a of r.answers) expect(a.outcome).toMatchObject({ kind: 'emoji_contract', thinkCount: expect.any(Number), followed: expect.any(Boolean) });
      const followed = r.answers.filter((a) => a.outcome?.kind === 'emoji_contract' && a.outcome.followed).length;
      expect(r.outcomes).toEqual({ ...(followed ? { 'contract followed': followed } : {}), ...(followed < 3 ? { 'contract broken': 3 - followed } : {}) });
    }
  });

  it('a set with a bad line fails with the line named, and training goes on; one added while idle is scored at once', async () => {
    const { db, loop, addFile, addEvalSet } = await setup();
    const bad = await addEvalSet('bad.jsonl', evalJsonl(2) + '{"messages": 3}\n');
    const item = await addFile('train.jsonl', chatJsonl(12));
    expect(await loop.runUntilIdle()).toBe('idle');
    expect((await db.queue.get(item))?.status).toBe('completed');
    const row = await db.evalSets.get(bad);
    expect(row?.status).toBe('failed');
    expect(row?.reason).toMatch(/line 3/);
    expect(await db.evalResults.count()).toBe(0);
    // a set added while idle after training is scored at once, at the current step
    const late = await addEvalSet('late.jsonl', evalJsonl(2));
    expect(await loop.runUntilIdle()).toBe('idle');
    expect((await db.evalResults.where('evalSetId').equals(late).toArray()).map((r) => r.step)).toEqual([6]);
  });

  it('evalEverySteps evals over the time budget are deferred; those at checkpoints always run', async () => {
    const tight = await setup({ evalEverySteps: 1, evalTimeShare: 0.01 });
    const a = await tight.addEvalSet('held.jsonl', evalJsonl(3));
    await tight.addFile('train.jsonl', chatJsonl(12));
    await tight.loop.runUntilIdle();
    expect((await tight.db.evalResults.where('evalSetId').equals(a).sortBy('step')).map((r) => r.step)).toEqual([0, 2, 4, 6]);

    const free = await setup({ evalEverySteps: 1, evalTimeShare: 1 });
    const b = await free.addEvalSet('held.jsonl', evalJsonl(3));
    await free.addFile('train.jsonl', chatJsonl(12));
    await free.loop.runUntilIdle();
    expect((await free.db.evalResults.where('evalSetId').equals(b).sortBy('step')).map((r) => r.step)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('draws an eval set once from a queued file: 100 seeded examples, never its held-out ones, excluded from its training', async () => {
    const picked = drawIndices(300, [5, 7]);
    expect(picked).toHaveLength(100);
    expect(picked).toEqual(drawIndices(300, [5, 7])); // seed 42: the same draw every time
    expect(picked.includes(5) || picked.includes(7)).toBe(false);
    expect(drawIndices(30, [])).toHaveLength(29); // one is always left to train on

    const { db, loop, addFile } = await setup();
    const text = evalJsonl(30);
    const item = await addFile('drawn.jsonl', text);
    const r = await drawEvalSet(db, item, 'tiny');
    const drawn = (await db.queue.get(item))!.evalDrawn!;
    expect(drawn.evalSetId).toBe(r.evalSetId);
    expect(drawn.indices).toEqual(drawIndices(30, []));
    expect(await drawEvalSet(db, item, 'tiny')).toMatchObject({ refused: expect.stringMatching(/already/) });
    expect(await loop.runUntilIdle()).toBe('idle');
    expect((await db.queue.get(item))?.progress).toMatchObject({ fileStep: 1, fileSteps: 1 }); // 1 example left at batch 2
    const results = await db.evalResults.where('evalSetId').equals(r.evalSetId!).sortBy('step');
    expect(results.map((x) => x.step)).toEqual([0, 1]);
    const lines = text.trim().split('\n');
    expect(results[0].answers.map((a) => a.prompt)).toEqual(drawn.indices.map((i) => JSON.parse(lines[i]).messages[0].content));
    expect(await drawEvalSet(db, item, 'tiny')).toHaveProperty('refused');

    // Removing it deletes its results, is recorded, and its rows stay out of the file that has trained on the rest.
    const api = createWorkbenchApi({ db, validate: () => {} });
    expect(await api.removeEvalSet(r.evalSetId!)).toEqual({ results: 2, returnedTo: undefined });
    expect(await db.evalResults.where('evalSetId').equals(r.evalSetId!).count()).toBe(0);
    expect((await db.queue.get(item))?.evalDrawn).toEqual(drawn);
    expect((await db.events.toArray()).at(-1)).toMatchObject({ kind: 'deletion', message: expect.stringMatching(/drawn\.eval\.jsonl removed with its 2 results; its 29 drawn examples stay out of drawn\.jsonl's training/) });
  });

  it('removing a drawn eval set before its file starts gives the rows back to its training, and is recorded', async () => {
    const { db, addFile } = await setup();
    const item = await addFile('drawn.jsonl', evalJsonl(30));
    const r = await drawEvalSet(db, item, 'tiny');
    const api = createWorkbenchApi({ db, validate: () => {} });
    expect(await api.removeEvalSet(r.evalSetId!)).toEqual({ results: 0, returnedTo: 'drawn.jsonl' });
    expect((await db.queue.get(item))?.evalDrawn).toBeUndefined();
    expect(await db.evalSets.count()).toBe(0);
    expect((await db.events.toArray()).at(-1)?.message).toMatch(/its 29 drawn examples are trained on again with drawn\.jsonl/);
    expect(await api.removeEvalSet(r.evalSetId!)).toHaveProperty('refused');
  });
});
