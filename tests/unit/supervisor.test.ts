import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import type { WorkbenchDb } from '../../src/store/db.ts';
import { ControlRepo, DaemonStateRepo } from '../../src/store/state.ts';
import { Supervisor, classifyCrash, type TrainerHandle } from '../../src/daemon/supervisor.ts';
import { TrainingLoop } from '../../src/daemon/loop.ts';
import { Queue } from '../../src/daemon/queue.ts';
import { updateTrainConfig } from '../../src/daemon/config.ts';
import { validateItem } from '../../src/daemon/validate-item.ts';
import { loadTokenizerFrom } from '../../src/daemon/session.ts';
import { chatJsonl, tinyModelFolder, type MemFolder } from './daemon-fixture.ts';

let folder: MemFolder;
beforeAll(async () => {
  await tf.setBackend('cpu');
  folder = await tinyModelFolder(7);
});
const sups: Supervisor[] = [];
afterEach(() => {
  for (const s of sups.splice(0)) s.stop();
});
const freshDb = scratchDbs('sup-test');

describe('classifyCrash', () => {
  it('names the kinds the old daemon recognised', () => {
    expect(classifyCrash('Failed to allocate 512 MB: out of memory')).toBe('out_of_memory');
    expect(classifyCrash('GPU device was lost: reason unknown')).toBe('device_lost');
    expect(classifyCrash('QuotaExceededError')).toBe('disk_full');
    expect(classifyCrash('no progress for 600 s (stall timeout 300 s)')).toBe('timeout');
    expect(classifyCrash('weird')).toBe('other');
  });
});

describe('Supervisor', () => {
  it('a tab waiting for the training lock does not restart its trainer over another tab\'s silent heartbeat', async () => {
    const db = freshDb();
    let spawned = 0;
    const sup = new Supervisor({ db, checkEveryMs: 60_000, spawn: () => (spawned++, { start: async () => undefined, terminate: () => undefined }) });
    sups.push(sup);
    await sup.start();
    await new DaemonStateRepo(db).set({ status: 'training', heartbeatAt: Date.now() - 3_600_000 });
    sup.setRole('waiting');
    await sup.check();
    expect(spawned).toBe(1);
    sup.setRole('trainer');
    await sup.check(); // now it is this tab's trainer that went silent for an hour
    expect(spawned).toBe(2);
    expect(sup.restartCount).toBe(1);
  });

  it('restarts at most 3 times in 5 minutes, then reports crashed with the kind', async () => {
    const db = freshDb();
    let t = 1_000_000;
    let spawned = 0;
    let terminated = 0;
    const sup = new Supervisor({
      db,
      now: () => t,
      checkEveryMs: 60_000,
      spawn: (): TrainerHandle => {
        spawned++;
        return { start: async () => Promise.reject(new Error('Failed to allocate: out of memory')), terminate: () => void terminated++ };
      },
    });
    sups.push(sup);
    await sup.start();
    expect(spawned).toBe(4); // first start + 3 restarts
    expect(terminated).toBe(4);
    expect(sup.crashed).toBe(true);
    const st = await db.daemon.get('state');
    expect([st?.status, st?.errorKind]).toEqual(['crashed', 'out_of_memory']);
    expect(st?.reason).toMatch(/Crashed 4 times in 5 minutes/);
    await sup.check();
    expect(spawned).toBe(4); // crashed: no restart by itself
    await new ControlRepo(db).request('resume', 'fixed the driver');
    await sup.check(); // the person's Resume starts a fresh trainer with a fresh budget of 3 restarts
    expect(spawned).toBe(8); // this one keeps running out of memory: 1 + 3 restarts, then crashed again
    expect(sup.crashed).toBe(true);

    // failures spread over more than the window never reach the limit
    const db2 = freshDb();
    let kill: ((m: string) => void) | null = null;
    const sup2 = new Supervisor({
      db: db2,
      now: () => t,
      checkEveryMs: 60_000,
      spawn: (fatal) => ({ start: async () => void (kill = fatal), terminate: () => undefined }),
    });
    sups.push(sup2);
    await sup2.start();
    for (let i = 0; i < 6; i++) {
      t += 2 * 60_000; // one device loss every 2 minutes: at most 3 in any 5-minute window
      kill!('device lost');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(sup2.crashed).toBe(false);
  });

  it('restarts a stalled trainer, which resumes the file from its last checkpoint and completes it', async () => {
    const db = freshDb();
    const bundled = { id: 'tiny', name: 'Tiny', ref: 'mem:' };
    const boot = new TrainingLoop({ db, folder: () => folder, bundled });
    await boot.recover();
    await updateTrainConfig(db, { profile: 'plain_sft', batchSize: 2, maxLength: 32, saveSteps: 2, logEvery: 1, evalSteps: 0, warmupSteps: 0, valFraction: 0, stallTimeoutMs: 1000, sampleTimeLimitMs: 500 });
    const queue = new Queue(db);
    const { itemId } = await queue.add('s.jsonl', new Blob([chatJsonl(12, 's')]), 'normal', false);
    await validateItem(db, itemId!, { tokenizer: await loadTokenizerFrom(folder), template: 'stock' });

    let spawned = 0;
    const loops: TrainingLoop[] = [];
    const sup = new Supervisor({
      db,
      checkEveryMs: 100,
      spawn: (fatal) => {
        const first = spawned++ === 0;
        const loop = new TrainingLoop({
          db,
          folder: () => folder,
          bundled,
          pollMs: 10,
          // the first trainer hangs after step 3 (a stuck device); the checkpoint at step 2 is complete
          onStep: first ? async (m) => (m.step === 3 ? new Promise<void>(() => undefined) : undefined) : undefined,
        });
        loops.push(loop);
        return {
          start: async () => {
            await loop.recover();
            void loop.run().catch((e: Error) => fatal(e.message));
          },
          terminate: () => loop.halt(),
        };
      },
    });
    sups.push(sup);
    await sup.start();
    for (let i = 0; i < 300 && (await queue.get(itemId!)).status !== 'completed'; i++) await new Promise((r) => setTimeout(r, 50));
    sup.stop();
    expect(spawned).toBe(2);
    expect(sup.restartCount).toBe(1);
    const row = await queue.get(itemId!);
    expect([row.status, row.progress.fileStep]).toEqual(['completed', 6]);
    expect((await db.metrics.toArray()).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await db.models.get('tiny'))?.step).toBe(6);
    for (const l of loops) l.dispose();
  });
});
