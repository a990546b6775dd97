// Rollback in the daemon: training resumed from an older checkpoint sets the later history aside as a branch (its
// metrics, evals and checkpoints all kept) and trains on from that step; a crash afterwards still drops only the rows
// the crash left after the current line's last checkpoint.
import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import type { WorkbenchDb } from '../../src/store/db.ts';
import { createWorkbenchApi } from '../../src/daemon/api.ts';
import { TrainingLoop } from '../../src/daemon/loop.ts';
import { Queue } from '../../src/daemon/queue.ts';
import { updateTrainConfig } from '../../src/daemon/config.ts';
import { validateItem } from '../../src/daemon/validate-item.ts';
import { loadTokenizerFrom } from '../../src/daemon/session.ts';
import { chatJsonl, tinyModelFolder, type MemFolder } from './daemon-fixture.ts';

let folder: MemFolder;
beforeAll(async () => {
  await tf.setBackend('cpu');
  folder = await tinyModelFolder(3);
});

const freshDb = scratchDbs('rollback-test');

/** 15 examples, 3 held out → 12 trained at batch 2: 6 steps per file, a checkpoint and a validation loss every 2. */
const CONFIG = { profile: 'plain_sft', batchSize: 2, maxLength: 32, saveSteps: 2, logEvery: 1, evalSteps: 2, valFraction: 0.2, valMax: 3, warmupSteps: 0, learningRate: 1e-2, bucketByLength: false };

type LoopOpts = ConstructorParameters<typeof TrainingLoop>[0];
async function setup() {
  const db: WorkbenchDb = freshDb();
  const make = (onStep?: LoopOpts['onStep']) => new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny', ref: 'mem:' }, chunkBytes: 16 * 1024, pollMs: 10, onStep });
  const loop = make();
  await loop.recover();
  expect((await updateTrainConfig(db, CONFIG)).errors).toEqual([]);
  const tokenizer = await loadTokenizerFrom(folder);
  const queue = new Queue(db);
  const add = async (name: string, text: string) => {
    const r = await queue.add(name, new Blob([text]), 'normal', false);
    expect(await validateItem(db, r.itemId!, { tokenizer, template: 'stock' })).toBe('queued');
    return r.itemId!;
  };
  const api = createWorkbenchApi({ db, folder: () => folder, validate: () => undefined });
  return { db, loop, make, queue, add, api };
}

const strip = <T extends { branch?: string }>({ branch: _b, ...r }: T) => r;

describe('rollback', () => {
  it('keeps the abandoned branch (metrics, evals, checkpoints) and trains the new branch from the chosen step', async () => {
    const { db, loop, add, api } = await setup();
    await add('a.jsonl', chatJsonl(15, 'a'));
    await loop.runUntilIdle();
    const oldMetrics = await db.metrics.toArray();
    const oldEvals = await db.evals.toArray();
    const oldCkpts = await db.checkpoints.toArray();
    expect(oldMetrics.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(oldEvals.map((e) => e.step)).toEqual([2, 4, 6]);
    expect(oldCkpts.map((c) => c.step).sort()).toEqual([2, 4, 6]);

    const four = oldCkpts.find((c) => c.step === 4)!;
    const plan = await api.planRollback(four.id);
    expect(plan.message).toBe("Training continues from step 4 of Tiny. The 1 newer checkpoint (step 6) and the loss history after step 4 become the side branch 'main': kept (not deleted automatically for 36 hours) and shown beside the new run, branch 'branch 2'.");
    await api.setActiveCheckpoint(four.id);
    expect(await db.metrics.count()).toBe(6); // nothing moves until training starts from it

    await add('b.jsonl', chatJsonl(15, 'b'));
    await loop.runUntilIdle();
    // The current line: steps 1–4 as they were, then the new branch's 5–10.
    const live = await db.metrics.toArray();
    expect(live.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(live.slice(0, 4)).toEqual(oldMetrics.slice(0, 4));
    expect(live[4].itemId).not.toBe(oldMetrics[4].itemId); // step 5 is b.jsonl's now
    // The abandoned branch: its rows after step 4, exactly as written, under 'main'.
    const aside = await db.metricsArchive.toArray();
    expect(aside.map((r) => r.branch)).toEqual(['main', 'main']);
    expect(aside.map(strip)).toEqual(oldMetrics.slice(4));
    expect((await db.evalsArchive.toArray()).map(strip)).toEqual(oldEvals.filter((e) => e.step > 4));
    expect((await db.evals.toArray()).map((e) => e.step)).toEqual([2, 4, 6, 8, 10]);
    // Every old checkpoint is still there; the one after step 4 is abandoned on 'main'; the new ones are on 'b2'.
    const ckpts = await db.checkpoints.toArray();
    for (const c of oldCkpts) expect(ckpts.some((x) => x.id === c.id)).toBe(true);
    const abandoned = ckpts.filter((c) => c.abandonedAt !== undefined);
    expect(abandoned.map((c) => [c.step, c.branch])).toEqual([[6, 'main']]);
    expect(ckpts.filter((c) => c.branch === 'b2').map((c) => c.step).sort((a, b) => a - b)).toEqual([6, 8, 10]);
    expect((await loop.checkpoints.latest('tiny'))?.step).toBe(10);
    // The new branch started at step 4: its run, the model's step and lineage say so.
    const runB = (await db.runs.toArray()).find((r) => r.fileName === 'b.jsonl')!;
    expect([runB.startStep, runB.endStep]).toEqual([4, 10]);
    const model = (await db.models.get('tiny'))!;
    expect([model.step, model.branch, model.resumeFrom]).toEqual([10, 'b2', undefined]);
    expect(model.lineage.map((l) => (l.rollback ? `rollback@${l.fromStep}→${l.rollback.branch}` : `${l.fileName} ${l.fromStep}-${l.toStep}`))).toEqual(['a.jsonl 0-6', 'rollback@4→b2', 'b.jsonl 4-10']);
    expect((await db.events.where('kind').equals('rollback').toArray()).map((e) => e.message)).toEqual([
      "Training went back to step 4 of Tiny as branch 'branch 2'. Set aside, kept (not deleted automatically for 36 hours): 1 checkpoint (step 6); 2 loss rows and 1 validation row (steps 5–6) of 'main'.",
    ]);
    loop.dispose();
  });

  it('a crash after a rollback drops only the rows after the current line\'s last checkpoint; the set-aside branch stays whole', async () => {
    const { db, loop, make, queue, add, api } = await setup();
    await add('a.jsonl', chatJsonl(15, 'a'));
    await loop.runUntilIdle();
    loop.dispose();
    const four = (await db.checkpoints.toArray()).find((c) => c.step === 4)!;
    await api.setActiveCheckpoint(four.id);
    const b = await add('b.jsonl', chatJsonl(15, 'b'));
    const hang = new Promise<void>(() => undefined);
    /** The worker dies once step `step`'s row is stored (it hangs in the next step, before that one's row). */
    const crashAfter = async (step: number) => {
      const crashing = make(async (m) => {
        if (m.step === step + 1) await hang;
      });
      void crashing.tick();
      const logged = async () => (await db.metrics.get(['tiny', step]))?.itemId === b;
      for (let i = 0; i < 800 && !(await logged()); i++) await new Promise((r) => setTimeout(r, 25));
      expect(await logged()).toBe(true);
    };
    const archived = async () => (await db.metricsArchive.toArray()).map((r) => `${r.branch}@${r.step}`);

    // Dies after step 5, the new branch's first, before any checkpoint of it: the chosen checkpoint is still the resume point.
    await crashAfter(5);
    expect((await db.models.get('tiny'))?.branch).toBe('b2'); // the rollback took effect when training started
    let fresh = make();
    await fresh.recover();
    expect((await db.metrics.toArray()).map((m) => m.step)).toEqual([1, 2, 3, 4]);
    expect(await archived()).toEqual(['main@5', 'main@6']);
    expect((await fresh.checkpoints.latest('tiny'))?.id).toBe(four.id);
    expect((await queue.get(b)).progress.fileStep).toBe(0);
    fresh.dispose();

    // Dies after step 7, past the new branch's checkpoint at step 6: step 7 is dropped, the abandoned step-6 checkpoint is not used.
    await crashAfter(7);
    expect((await db.metrics.toArray()).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    fresh = make();
    await fresh.recover();
    expect((await db.metrics.toArray()).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(await archived()).toEqual(['main@5', 'main@6']);
    const latest = (await fresh.checkpoints.latest('tiny'))!;
    expect([latest.step, latest.branch]).toEqual([6, 'b2']);
    expect(await fresh.runUntilIdle()).toBe('idle');
    expect((await queue.get(b)).status).toBe('completed');
    expect((await db.metrics.toArray()).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(await archived()).toEqual(['main@5', 'main@6']);
    expect((await db.checkpoints.toArray()).filter((c) => c.abandonedAt !== undefined).map((c) => [c.step, c.branch])).toEqual([[6, 'main']]);
    expect(await db.events.where('kind').equals('rollback').count()).toBe(1);
    fresh.dispose();
  });
});
