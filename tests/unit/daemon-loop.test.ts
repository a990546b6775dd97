import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import type { WorkbenchDb } from '../../src/store/db.ts';
import { ControlRepo } from '../../src/store/state.ts';
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

const freshDb = scratchDbs('daemon-test');

/** 12 training examples per file at batch 2 → 6 steps per file (valFraction 0: nothing held out). */
const CONFIG = {
  profile: 'plain_sft',
  batchSize: 2,
  maxLength: 32,
  saveSteps: 2,
  logEvery: 1,
  evalSteps: 0,
  warmupSteps: 0,
  valFraction: 0,
  learningRate: 1e-2,
  bucketByLength: false,
};

type LoopOpts = ConstructorParameters<typeof TrainingLoop>[0];
async function setup(extra: Record<string, unknown> = {}, prepare?: (db: WorkbenchDb) => void, loopExtra: Partial<LoopOpts> = {}) {
  const db = freshDb();
  prepare?.(db);
  const make = (onStep?: LoopOpts['onStep']) =>
    new TrainingLoop({ db, folder: () => folder, bundled: { id: 'tiny', name: 'Tiny test model', ref: 'mem:' }, chunkBytes: 16 * 1024, pollMs: 10, onStep, ...loopExtra });
  const loop = make();
  await loop.recover(); // creates the bundled model row
  const cfg = await updateTrainConfig(db, { ...CONFIG, ...extra });
  expect(cfg.errors).toEqual([]);
  const tokenizer = await loadTokenizerFrom(folder);
  const queue = new Queue(db);
  const add = async (name: string, text: string, priority: 'high' | 'normal' | 'low' = 'normal') => {
    const r = await queue.add(name, new Blob([text]), priority, false);
    expect(await validateItem(db, r.itemId!, { tokenizer, template: 'stock' })).toBe('queued');
    return r.itemId!;
  };
  return { db, loop, make, queue, add, controls: new ControlRepo(db) };
}

describe('TrainingLoop', () => {
  it('trains two files with a cumulative global step, completes them, records metrics, lineage and checkpoints', async () => {
    // Retention with no minimum age and a 1-byte budget: every checkpoint no rule protects goes once a newer one is whole.
    const { db, loop, queue, add } = await setup({ retentionMinAgeHours: 0, retentionBudgetGB: 1e-9 });
    const a = await add('a.jsonl', chatJsonl(12, 'a'));
    expect(await loop.runUntilIdle()).toBe('idle');
    const afterFirst = tf.memory().numTensors; // model weights + optimizer moments
    const b = await add('b.jsonl', chatJsonl(12, 'b'));
    expect(await loop.runUntilIdle()).toBe('idle');
    expect(tf.memory().numTensors).toBe(afterFirst); // a second file (6 steps, 3 checkpoints) leaks nothing
    expect((await queue.get(a)).status).toBe('completed');
    expect((await queue.get(b)).status).toBe('completed');
    expect((await queue.get(b)).progress).toMatchObject({ fileStep: 6, fileSteps: 6 });
    const metrics = await db.metrics.where('modelId').equals('tiny').toArray();
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(metrics.every((m) => m.loss !== null && Number.isFinite(m.loss))).toBe(true);
    const model = await db.models.get('tiny');
    expect(model?.step).toBe(12);
    expect(model?.trained).toBe(true);
    expect(model?.lineage.map((l) => [l.fileName, l.fromStep, l.toStep, l.outcome])).toEqual([
      ['a.jsonl', 0, 6, 'completed'],
      ['b.jsonl', 6, 12, 'completed'],
    ]);
    const ckpts = await loop.checkpoints.list('tiny');
    expect(ckpts[0].step).toBe(12);
    // Checkpoints at steps 2, 4, 6 (file end), 8, 10, 12: the latest stays (and yesterday's last if the run crossed
    // midnight); each deleted one is in the event log with its step, bytes and rule.
    expect(ckpts.length).toBeLessThanOrEqual(2);
    const deletions = await db.events.where('kind').equals('deletion').toArray();
    expect(deletions.map((e) => e.detail?.step).sort((x, y) => Number(x) - Number(y))).toEqual([2, 4, 6, 8, 10, 12].filter((st) => !ckpts.some((c) => c.step === st)));
    expect(deletions.every((e) => e.modelId === 'tiny' && e.detail?.rule === 'size budget' && Number(e.detail?.bytes) > 0)).toBe(true);
    const state = await db.daemon.get('state');
    expect(state?.status).toBe('idle');
    expect(state?.step).toBe(12);
    loop.dispose();
  });

  it('pause waits at a step boundary and resume continues exactly there; stop requeues with progress; skip keeps the rest', async () => {
    const ref = await setup();
    // uninterrupted reference run
    const refId = await ref.add('r.jsonl', chatJsonl(12, 'r'));
    await ref.loop.runUntilIdle();
    const refLosses = (await ref.db.metrics.toArray()).map((m) => m.loss);
    expect((await ref.queue.get(refId)).status).toBe('completed');
    ref.loop.dispose();

    const { db, make, queue, add, controls } = await setup();
    let atStep = 0;
    const loop = make(async (m) => {
      atStep = m.step;
      if (m.step === 2) await controls.request('pause', 'lunch');
      if (m.step === 4) await controls.request('stop', 'reboot');
    });
    const id = await add('r.jsonl', chatJsonl(12, 'r'));
    expect(await loop.runUntilIdle()).toBe('paused');
    expect(atStep).toBe(2);
    let row = await queue.get(id);
    expect(row.status).toBe('paused');
    expect(row.progress.fileStep).toBe(2);
    expect((await db.daemon.get('state'))?.reason).toBe('lunch');
    await controls.request('stop', 'while paused');
    expect(await loop.runUntilIdle()).toBe('stopped');
    expect((await queue.get(id)).status).toBe('queued'); // stop while paused: back to the queue, progress kept
    await controls.request('resume', '');
    expect(await loop.runUntilIdle()).toBe('stopped');
    row = await queue.get(id);
    expect([row.status, row.progress.fileStep, row.reason]).toEqual(['queued', 4, 'reboot']);
    await controls.request('resume', '');
    expect(await loop.runUntilIdle()).toBe('idle');
    expect((await queue.get(id)).status).toBe('completed');
    const losses = (await db.metrics.toArray()).map((m) => m.loss);
    expect(losses).toHaveLength(6);
    // same data order, weights and optimizer state: pausing and stopping changed nothing
    losses.forEach((l, i) => expect(l).toBeCloseTo(refLosses[i]!, 5));
    loop.dispose();
  });

  it('skip marks the file skipped with its progress; a retry trains only the untrained rest', async () => {
    const { make, queue, add, controls } = await setup();
    const loop = make(async (m) => {
      if (m.step === 3) await controls.request('skip', 'later');
    });
    const a = await add('a.jsonl', chatJsonl(12, 'a'));
    const b = await add('b.jsonl', chatJsonl(12, 'b'));
    expect(await loop.runUntilIdle()).toBe('idle');
    expect((await queue.get(a)).status).toBe('skipped');
    expect((await queue.get(a)).progress.fileStep).toBe(3);
    expect((await queue.get(b)).status).toBe('completed');
    await queue.retry(a);
    await loop.runUntilIdle();
    const row = await queue.get(a);
    expect(row.status).toBe('completed');
    expect(row.progress.fileStep).toBe(6);
    expect((await loop.models.get('tiny'))?.step).toBe(3 + 6 + 3);
    loop.dispose();
  });

  it('after a crash mid-file, a new loop resumes from the latest checkpoint at the right step, never counting steps twice', async () => {
    const { db, make, queue, add } = await setup();
    const hang = new Promise<void>(() => undefined);
    const crashing = make(async (m) => {
      if (m.step === 3) await hang; // the worker dies here: step 3 is trained, the last checkpoint is at step 2
    });
    const id = await add('c.jsonl', chatJsonl(12, 'c'));
    void crashing.tick();
    for (let i = 0; i < 400 && (await db.daemon.get('state'))?.step !== 3; i++) await new Promise((r) => setTimeout(r, 25));
    expect((await queue.get(id)).status).toBe('processing');
    expect((await loop0Latest(db))).toBe(2);

    const fresh = make();
    await fresh.recover();
    const st = await db.daemon.get('state');
    expect([st?.status, st?.reason]).toEqual(['idle', 'Recovered from crash']);
    const row = await queue.get(id);
    expect([row.status, row.progress.fileStep]).toEqual(['queued', 2]);
    expect((await db.metrics.toArray()).map((m) => m.step)).toEqual([1, 2]); // step 3 is redone, not kept twice
    expect(await fresh.runUntilIdle()).toBe('idle');
    expect((await queue.get(id)).status).toBe('completed');
    expect((await db.metrics.toArray()).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await db.models.get('tiny'))?.step).toBe(6);
    fresh.dispose();
    // the resumed run (weights, optimizer moments and data position from the checkpoint) matches an uninterrupted one
    const ref = await setup();
    await ref.add('c.jsonl', chatJsonl(12, 'c'));
    await ref.loop.runUntilIdle();
    const refLosses = (await ref.db.metrics.toArray()).map((m) => m.loss!);
    (await db.metrics.toArray()).forEach((m, i) => expect(m.loss!).toBeCloseTo(refLosses[i], 4));
    ref.loop.dispose();
  });

  it('holds out examples: validation loss every evalSteps and sample answers with a match verdict go to the store', async () => {
    const { db, loop, queue, add } = await setup({ valFraction: 0.2, valMax: 3, evalSteps: 2, sampleEvery: 3, sampleTimeLimitMs: 5000 });
    const id = await add('v.jsonl', chatJsonl(15, 'v'));
    expect((await queue.get(id)).heldOut).toHaveLength(3);
    await loop.runUntilIdle();
    const evals = await loop.metrics.evals('tiny');
    expect(evals.map((e) => e.step)).toEqual([2, 4, 6]);
    expect(evals.every((e) => Number.isFinite(e.valLoss) && e.examples === 3)).toBe(true);
    // checkpoints (every 2 steps, like the evaluations) carry the validation loss of their own weights
    const ck = await loop.checkpoints.list('tiny');
    for (const c of ck) expect(c.valLoss).toBeCloseTo(evals.find((e) => e.step === c.step)!.valLoss, 6);
    const samples = await loop.metrics.samples('tiny');
    expect(samples.map((r) => r.step)).toEqual([3, 6]);
    for (const r of samples) {
      expect(r.stopReason).not.toMatch(/^error/);
      expect(typeof r.match).toBe('boolean');
      expect(r.golden).toMatch(/^a\d$/);
      expect(r.prompt).toMatch(/^v\d\?$/);
    }
    expect(await db.metrics.count()).toBe(6); // 12 training examples at batch 2
    loop.dispose();
  });

  it('takes a checkpoint at least every checkpointEveryMs even when saveSteps is far away', async () => {
    const { db, loop, queue, add } = await setup({ saveSteps: 1000 }, undefined, { checkpointEveryMs: 0 });
    const id = await add('t.jsonl', chatJsonl(12, 't'));
    await loop.runUntilIdle();
    expect((await queue.get(id)).status).toBe('completed');
    expect((await db.metrics.toArray()).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    const ckpts = await loop.checkpoints.list('tiny');
    expect(ckpts.map((c) => c.step)).toEqual([6, 5, 4, 3, 2, 1]); // one per step; retention keeps all (younger than 36 hours)
    expect(ckpts.slice(1).every((c) => c.reason === 'time')).toBe(true);
    loop.dispose();
  });

  it('a full disk (QuotaExceededError) pauses training with a clear message and corrupts nothing; Resume continues', async () => {
    let full = false;
    const { db, make, queue, add, controls } = await setup({}, (d) =>
      d.use({
        stack: 'dbcore',
        name: 'simulated-quota',
        create: (down) => ({
          ...down,
          table: (name) => {
            const t = down.table(name);
            if (name !== 'checkpointChunks') return t;
            return { ...t, mutate: (req) => (full && req.type === 'put' ? Promise.reject(new DOMException('The quota has been exceeded.', 'QuotaExceededError')) : t.mutate(req)) };
          },
        }),
      }),
    );
    const loop = make(async (m) => {
      if (m.step === 3) full = true; // the checkpoint at step 4 will not fit
    });
    const id = await add('q.jsonl', chatJsonl(12, 'q'));
    expect(await loop.runUntilIdle()).toBe('paused');
    const st = await db.daemon.get('state');
    expect(st?.reason).toMatch(/^Storage is full: the checkpoint at step 4 could not be saved/);
    const row = await queue.get(id);
    expect([row.status, row.progress.fileStep]).toEqual(['paused', 2]);
    expect((await loop.checkpoints.list('tiny')).map((c) => c.step)).toEqual([2]);
    expect(await loop.checkpoints.sweepOrphans()).toBe(0); // the failed write left no chunks behind
    full = false;
    await controls.request('resume', 'freed space');
    expect(await loop.runUntilIdle()).toBe('idle');
    expect((await queue.get(id)).status).toBe('completed');
    expect((await db.metrics.toArray()).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    loop.dispose();
  });

  it('a full disk while writing metrics also pauses (not fails) the file, and Resume completes it', async () => {
    let full = false;
    const { db, make, queue, add, controls } = await setup({}, (d) =>
      d.use({
        stack: 'dbcore',
        name: 'simulated-quota-metrics',
        create: (down) => ({
          ...down,
          table: (name) => {
            const t = down.table(name);
            if (name !== 'metrics') return t;
            return { ...t, mutate: (req) => (full && req.type === 'put' ? Promise.reject(new DOMException('The quota has been exceeded.', 'QuotaExceededError')) : t.mutate(req)) };
          },
        }),
      }),
    );
    const loop = make(async (m) => {
      if (m.step === 2) full = true;
    });
    const id = await add('m.jsonl', chatJsonl(12, 'm'));
    expect(await loop.runUntilIdle()).toBe('paused');
    expect((await db.daemon.get('state'))?.reason).toMatch(/^Storage is full: the metrics could not be saved/);
    const row = await queue.get(id);
    expect([row.status, row.attempts]).toEqual(['paused', 0]);
    full = false;
    await controls.request('resume', '');
    expect(await loop.runUntilIdle()).toBe('idle');
    expect((await queue.get(id)).status).toBe('completed');
    expect((await db.metrics.toArray()).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]); // the rows that did not fit were kept and written later
    loop.dispose();
  });

  it('"Try it" chat answers when idle, and mid-file at the next step boundary while training continues', async () => {
    let chatDuringTraining: Promise<{ text: string; stopReason: string }> | null = null;
    let stepWhenAnswered = -1;
    let atStep = 0;
    const { make, queue, add } = await setup();
    const loop = make(async (m) => {
      atStep = m.step;
      if (m.step === 2) {
        chatDuringTraining = loop.chat({ messages: [{ role: 'user', content: 'q1?' }], maxNewTokens: 4 });
        void chatDuringTraining.then(() => (stepWhenAnswered = atStep));
      }
    });
    const tokens: string[] = [];
    const idle = loop.chat({ messages: [{ role: 'user', content: 'hello?' }], maxNewTokens: 5, onToken: (t) => tokens.push(t) });
    await loop.tick();
    const r = await idle;
    expect(['eos', 'max_tokens']).toContain(r.stopReason);
    if (r.stopReason === 'max_tokens') expect(r.ids).toHaveLength(5);
    expect(tokens.length).toBe(r.ids.length);
    const id = await add('c.jsonl', chatJsonl(12, 'c'));
    await loop.runUntilIdle();
    expect(chatDuringTraining).not.toBeNull();
    const r2 = await chatDuringTraining!;
    expect(typeof r2.text).toBe('string');
    expect(stepWhenAnswered).toBe(2); // answered before step 3 started
    expect((await queue.get(id)).status).toBe('completed');
    loop.dispose();
  });

  it('with "skip invalid lines" the file trains on its valid lines only', async () => {
    const { db, loop, queue } = await setup();
    const tokenizer = await loadTokenizerFrom(folder);
    const text = chatJsonl(6, 'x') + '{"messages": []}\nnot json\n' + chatJsonl(6, 'y');
    const r = await queue.add('mixed.jsonl', new Blob([text]), 'normal', true);
    expect(await validateItem(db, r.itemId!, { tokenizer, template: 'stock' })).toBe('queued');
    const row = await queue.get(r.itemId!);
    expect(row.skippedLines).toEqual([7, 8]);
    expect(row.lineErrorCount).toBe(2);
    await loop.runUntilIdle();
    const done = await queue.get(r.itemId!);
    expect([done.status, done.progress.fileSteps]).toEqual(['completed', 6]); // 12 valid examples at batch 2
    loop.dispose();
  });

  it('a training error retries from the low queue, then fails after the 3rd attempt', async () => {
    const { db, loop, queue, add } = await setup();
    const id = await add('gone.jsonl', chatJsonl(4, 'g'), 'high');
    await db.files.delete((await queue.get(id)).fileId);
    await loop.tick();
    let row = await queue.get(id);
    expect([row.status, row.priority, row.attempts]).toEqual(['queued', 'low', 1]);
    await loop.runUntilIdle();
    row = await queue.get(id);
    expect([row.status, row.attempts]).toEqual(['failed', 3]);
    expect(row.lastError).toMatch(/stored file .* is missing/);
    loop.dispose();
  });
});

async function loop0Latest(db: WorkbenchDb): Promise<number | undefined> {
  return (await db.checkpoints.toArray()).map((c) => c.step).sort((a, b) => b - a)[0];
}
