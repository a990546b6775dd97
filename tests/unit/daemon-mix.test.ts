import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import type { WorkbenchDb } from '../../src/store/db.ts';
import { TrainingLoop } from '../../src/daemon/loop.ts';
import { Queue } from '../../src/daemon/queue.ts';
import { updateTrainConfig } from '../../src/daemon/config.ts';
import { validateItem } from '../../src/daemon/validate-item.ts';
import { loadTokenizerFrom } from '../../src/daemon/session.ts';
import { createMix } from '../../src/daemon/mix.ts';
import { chatJsonl, tinyModelFolder, type MemFolder } from './daemon-fixture.ts';

let folder: MemFolder;
beforeAll(async () => {
  await tf.setBackend('cpu');
  folder = await tinyModelFolder(3);
});

const freshDb = scratchDbs('daemon-mix');

/** a: 7 examples, b: 3; batch 2 → a mix of 10 examples is 5 steps, a checkpoint every 2 (and at the end). */
const CONFIG = { profile: 'plain_sft', batchSize: 2, maxLength: 32, saveSteps: 2, logEvery: 1, evalSteps: 0, warmupSteps: 0, valFraction: 0, learningRate: 1e-2, bucketByLength: false };

type LoopOpts = ConstructorParameters<typeof TrainingLoop>[0];
async function setup(mode: 'examples' | 'tokens' = 'examples', bTag = 'b', extra: Record<string, unknown> = {}) {
  const db = freshDb();
  const make = (onStep?: LoopOpts['onStep']) => new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny', ref: 'mem:' }, chunkBytes: 16 * 1024, pollMs: 10, heartbeatMs: 0, onStep }); // every step's heartbeat written
  const loop = make();
  await loop.recover();
  expect((await updateTrainConfig(db, { ...CONFIG, ...extra })).errors).toEqual([]);
  const tokenizer = await loadTokenizerFrom(folder);
  const queue = new Queue(db);
  const add = async (name: string, text: string) => {
    const r = await queue.add(name, new Blob([text]), 'normal', false);
    expect(await validateItem(db, r.itemId!, { tokenizer, template: 'stock' })).toBe('queued');
    return r.itemId!;
  };
  const a = await add('a.jsonl', chatJsonl(7, 'a'));
  const b = await add('b.jsonl', chatJsonl(3, bTag));
  const mix = await createMix(db, { sources: [{ itemId: a, ratio: 70 }, { itemId: b, ratio: 30 }], mode });
  expect(mix.refused).toBeUndefined();
  return { db, loop, make, queue, a, b, mixId: mix.itemId! };
}

/** The mix cursor each checkpoint recorded, by step. */
async function cursors(db: WorkbenchDb) {
  return (await db.checkpoints.toArray()).sort((x, y) => x.step - y.step).map((c) => [c.step, (c.trainerState as { progress?: { mix?: unknown } }).progress?.mix]);
}

describe('mixed queue item', () => {
  it('trains 70/30 interleaved, records each source\'s progress, and resumes after a crash with the same order and losses', async () => {
    const ref = await setup();
    expect((await ref.queue.get(ref.a)).status).toBe('skipped'); // the files left the queue for the mix
    expect((await ref.queue.get(ref.a)).mixedInto).toBe(ref.mixId);
    expect(await ref.loop.runUntilIdle()).toBe('idle');
    const done = await ref.queue.get(ref.mixId);
    expect(done.status).toBe('completed');
    expect(done.progress.fileStep).toBe(5);
    expect(done.progress.mix).toMatchObject({ n: 10, taken: [7, 3], planned: [7, 3] });
    const refLosses = (await ref.db.metrics.toArray()).map((m) => m.loss!);
    const refCursors = await cursors(ref.db);
    expect(refCursors.map(([s]) => s)).toEqual([2, 4, 5]);
    for (const [step, c] of refCursors) {
      const m = c as { n: number; taken: number[] };
      expect(m.n).toBe(Math.min(10, 2 * (step as number)));
      expect(Math.abs(m.taken[0] - 0.7 * m.n)).toBeLessThanOrEqual(1);
    }
    ref.loop.dispose();

    // The same mix, its trainer dying after step 3 (last checkpoint at 2): a new loop resumes it from the checkpoint.
    const { db, make, queue, mixId } = await setup();
    const hang = new Promise<void>(() => undefined);
    const crashing = make(async (m) => {
      if (m.step === 3) await hang;
    });
    void crashing.tick();
    for (let i = 0; i < 800 && (await db.daemon.get('state'))?.step !== 3; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await db.daemon.get('state'))?.step).toBe(3);
    const cut = await queue.get(mixId);
    expect([cut.status, cut.progress.fileStep]).toEqual(['processing', 2]);
    expect(cut.progress.mix).toMatchObject({ n: 4, taken: [3, 1] });
    const fresh = make();
    await fresh.recover();
    expect(await fresh.runUntilIdle()).toBe('idle');
    expect((await queue.get(mixId)).status).toBe('completed');
    expect((await db.metrics.toArray()).map((m) => m.step)).toEqual([1, 2, 3, 4, 5]);
    (await db.metrics.toArray()).forEach((m, i) => expect(m.loss!).toBeCloseTo(refLosses[i], 5));
    expect(await cursors(db)).toEqual(refCursors);
    fresh.dispose();
  });

  it('by tokens: the longer file gives fewer examples, its share of tokens within one example of 30 %', async () => {
    const { loop, queue, mixId } = await setup('tokens', 'a much longer question, about many more things', { maxLength: 96 });
    expect(await loop.runUntilIdle()).toBe('idle');
    const p = (await queue.get(mixId)).progress.mix!;
    const T = p.tokens[0] + p.tokens[1];
    expect(p.taken[1]).toBeLessThanOrEqual(2); // by examples it would be 3 of 10: its examples are about 3 times longer
    expect(p.tokens[1] / p.taken[1]).toBeGreaterThan(p.tokens[0] / p.taken[0]);
    expect(Math.abs(p.tokens[1] - 0.3 * T)).toBeLessThanOrEqual(p.tokens[1] / p.taken[1] + 1);
    loop.dispose();
  });

  it('refuses what cannot be mixed, naming the file; removing an untrained mix gives its files back', async () => {
    const { db, queue, a, b, mixId, loop } = await setup();
    expect((await createMix(db, { sources: [{ itemId: a, ratio: 1 }, { itemId: mixId, ratio: 1 }], mode: 'examples' })).refused).toMatch(/"a.jsonl" is skipped/);
    expect((await createMix(db, { sources: [{ itemId: mixId, ratio: 1 }, { itemId: a, ratio: 1 }], mode: 'examples' })).refused).toMatch(/is a mix itself/);
    expect((await createMix(db, { sources: [{ itemId: a, ratio: 1 }], mode: 'tokens' })).refused).toMatch(/at least two files/);
    await expect(queue.remove(a)).rejects.toThrow(/"a.jsonl" is part of a mix/);
    await expect(queue.retry(b)).rejects.toThrow(/part of a mix/);
    await queue.remove(mixId);
    expect([(await queue.get(a)).status, (await queue.get(b)).status]).toEqual(['queued', 'queued']);
    expect(await db.files.count()).toBe(2); // the files stayed
    expect((await createMix(db, { sources: [{ itemId: a, ratio: 0 }, { itemId: b, ratio: 1 }], mode: 'tokens' })).refused).toMatch(/"a.jsonl": ratio must be a positive number/);
    loop.dispose();
  });
});
