// Typed failures inside the training loop: device-wide faults (out of memory, a lost GPU device, a full disk in the
// bookkeeping after a checkpoint) pause the daemon with the reason and what to do, charge nothing to the file and
// ask for a fresh backend where the old one is broken; forced non-finite steps follow the engine's rule; every
// failure reaches the event log; Resume then finishes the file exactly.
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
import { classifyCrash, failureOf } from '../../src/daemon/failures.ts';
import { TrainingError, ConfigError } from '../../src/engine/errors.ts';
import { chatJsonl, tinyModelFolder, type MemFolder } from './daemon-fixture.ts';

const freshDb = scratchDbs('daemon-faults');
let folder: MemFolder;
beforeAll(async () => {
  await tf.setBackend('cpu');
  folder = await tinyModelFolder(3);
});

const CONFIG = { profile: 'plain_sft', batchSize: 2, maxLength: 32, saveSteps: 2, logEvery: 1, evalSteps: 0, warmupSteps: 0, valFraction: 0, learningRate: 1e-2, bucketByLength: false };
type LoopOpts = ConstructorParameters<typeof TrainingLoop>[0];

async function setup(loopExtra: Partial<LoopOpts> = {}, extra: Record<string, unknown> = {}) {
  const db = freshDb();
  const make = (more: Partial<LoopOpts> = {}) =>
    new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny', ref: 'mem:' }, chunkBytes: 16 * 1024, pollMs: 10, ...loopExtra, ...more });
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
  return { db, loop, make, queue, add, controls: new ControlRepo(db) };
}

const reference = async () => {
  const ref = await setup();
  await ref.add('f.jsonl', chatJsonl(12));
  await ref.loop.runUntilIdle();
  const losses = (await ref.db.metrics.toArray()).map((m) => m.loss!);
  ref.loop.dispose();
  return losses;
};

describe('typed failures', () => {
  it('classifies errors into kinds with an action; device-wide ones are marked', () => {
    expect(failureOf(new Error('Failed to allocate 512 MB: out of memory'))).toMatchObject({ kind: 'out_of_memory', deviceWide: true, action: expect.stringMatching(/batch size .* Resume/) });
    expect(failureOf(new Error('GPU device was lost'))).toMatchObject({ kind: 'device_lost', deviceWide: true });
    expect(failureOf(Object.assign(new Error('x'), { name: 'QuotaExceededError' }))).toMatchObject({ kind: 'quota', deviceWide: true });
    expect(failureOf(new TrainingError('nan', 'non_finite'))).toMatchObject({ kind: 'non_finite', deviceWide: false });
    expect(failureOf(new ConfigError('bad', 'batchSize'))).toMatchObject({ kind: 'config', deviceWide: false });
    expect(failureOf(new Error('weird'))).toMatchObject({ kind: 'internal', deviceWide: false });
    expect(classifyCrash('no progress for 600 s')).toBe('timeout');
  });

  it('out of memory mid-file: paused with the reason and what to do, no attempt used, a fresh backend asked for; Resume finishes the file exactly', async () => {
    const refLosses = await reference();
    const fresh: string[] = [];
    let thrown = false;
    const { db, loop, make, queue, add, controls } = await setup({
      onFreshBackend: (r) => void fresh.push(r),
      onStep: (m) => {
        if (m.step === 3 && !thrown) {
          thrown = true;
          throw new Error('Failed to allocate a buffer of 805306368 bytes: out of memory');
        }
      },
    });
    const id = await add('f.jsonl', chatJsonl(12));
    expect(await loop.runUntilIdle()).toBe('paused');
    const row = await queue.get(id);
    expect(row).toMatchObject({ status: 'paused', attempts: 0 });
    expect(row.reason).toMatch(/out of memory .*gradient checkpointing or LoRA/);
    const st = (await db.daemon.get('state'))!;
    expect(st).toMatchObject({ status: 'paused', errorKind: 'out_of_memory' });
    expect(fresh).toEqual([expect.stringMatching(/^out_of_memory: Failed to allocate/)]);
    const [event] = await loop.events.latest();
    expect(event).toMatchObject({ kind: 'fault', errorKind: 'out_of_memory', itemId: id });
    // the fresh trainer resumes when the person says so, from the checkpoint at step 2
    const next = make();
    await next.recover();
    await controls.request('resume', 'test');
    expect(await next.runUntilIdle()).toBe('idle');
    expect((await queue.get(id)).status).toBe('completed');
    const losses = (await db.metrics.toArray()).map((m) => m.loss!);
    expect(losses).toHaveLength(6);
    losses.forEach((l, i) => expect(l).toBeCloseTo(refLosses[i], 4));
    next.dispose();
  });

  it('a lost GPU device pauses the running file, halts the loop, and a fresh trainer resumes it exactly', async () => {
    const refLosses = await reference();
    let lost: Promise<void> | null = null;
    const { db, loop, make, queue, add, controls } = await setup({
      onStep: (m) => {
        if (m.step === 3 && !lost) lost = loop.deviceLost('destroyed: test');
      },
    });
    const id = await add('f.jsonl', chatJsonl(12));
    await loop.run(); // returns once halted
    await lost;
    expect((await queue.get(id)).status).toBe('paused');
    expect((await db.daemon.get('state'))!).toMatchObject({ status: 'paused', errorKind: 'device_lost' });
    expect((await loop.events.latest())[0]).toMatchObject({ kind: 'fault', errorKind: 'device_lost', action: expect.stringMatching(/fresh GPU device; press Resume/) });
    loop.dispose();
    const next = make();
    await next.recover(); // a reload or a new worker: still paused, nothing charged
    expect((await db.daemon.get('state'))!.status).toBe('paused');
    expect((await queue.get(id)).attempts).toBe(0);
    await controls.request('resume', 'test');
    expect(await next.runUntilIdle()).toBe('idle');
    const losses = (await db.metrics.toArray()).map((m) => m.loss!);
    losses.forEach((l, i) => expect(l).toBeCloseTo(refLosses[i], 4));
    next.dispose();
  });

  it('a full disk in the bookkeeping after a complete checkpoint pauses (not fails) the file; Resume completes it', async () => {
    const { db, loop, queue, add, controls } = await setup();
    const setProgress = loop.queue.setProgress.bind(loop.queue);
    let failOnce = true;
    loop.queue.setProgress = async (id, p) => {
      if (failOnce && p.fileStep === 4) {
        failOnce = false;
        throw Object.assign(new Error('The quota has been exceeded.'), { name: 'QuotaExceededError' });
      }
      return setProgress(id, p);
    };
    const id = await add('f.jsonl', chatJsonl(12));
    expect(await loop.runUntilIdle()).toBe('paused');
    const row = await queue.get(id);
    expect(row).toMatchObject({ status: 'paused', attempts: 0 });
    expect((await db.daemon.get('state'))!.reason).toMatch(/Storage is full: the file's progress could not be saved/);
    await controls.request('resume', 'space freed');
    expect(await loop.runUntilIdle()).toBe('idle');
    expect((await queue.get(id))).toMatchObject({ status: 'completed', attempts: 0 });
    expect((await db.metrics.toArray()).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    loop.dispose();
  });

  it('forced non-finite steps (test hook) are skipped and counted; maxConsecutiveNonFinite in a row fails the file non_finite, the next file trains', async () => {
    const { loop, queue, add } = await setup({}, { maxConsecutiveNonFinite: 3 });
    const a = await add('a.jsonl', chatJsonl(12));
    const b = await add('b.jsonl', chatJsonl(12, 'b'));
    loop.forceNonFinite(2); // two skipped steps: under the limit, the file completes
    await loop.tick();
    expect(await queue.get(a)).toMatchObject({ status: 'completed', progress: { skippedSteps: 2 } });
    loop.forceNonFinite(3);
    await loop.tick();
    expect(await queue.get(b)).toMatchObject({ status: 'failed', failureKind: 'non_finite', attempts: 1 });
    expect((await loop.events.latest())[0]).toMatchObject({ kind: 'failure', errorKind: 'non_finite', itemId: b });
    loop.dispose();
  });
});
