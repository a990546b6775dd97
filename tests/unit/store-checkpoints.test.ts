import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import type { ModelRow, WorkbenchDb } from '../../src/store/db.ts';
import { CheckpointStore, isQuotaError, type CheckpointInput } from '../../src/store/checkpoints.ts';

const freshDb = scratchDbs('ckpt-test');

function input(step: number, extra: Partial<CheckpointInput> = {}): CheckpointInput {
  const a = new Float32Array(37).map((_, i) => i * 0.5 + step);
  const b = new Int32Array(11).map((_, i) => i - 5);
  const c = new Float32Array(3 * 7).map((_, i) => -i);
  return {
    modelId: 'm1',
    step,
    tensors: [
      { name: 'a', dtype: 'float32', shape: [37], data: a },
      { name: 'b', dtype: 'int32', shape: [11], data: b },
      { name: 'c', dtype: 'float32', shape: [3, 7], data: c },
    ],
    trainerState: { step },
    trainConfig: { batchSize: 1 },
    profile: 'sft',
    tokenizerRef: '/models/qwen3-tiny/',
    reason: 'interval',
    ...extra,
  };
}

describe('CheckpointStore', () => {
  it('round-trips tensors that span several small chunks', async () => {
    const db = freshDb();
    const store = new CheckpointStore(db, 40); // 40-byte chunks: every tensor crosses chunk borders
    const res = await store.write(input(5));
    expect(res.saved).toBe(true);
    if (!res.saved) return;
    const { manifest, tensors } = await store.read(res.id);
    expect(manifest.chunkCount).toBe(Math.ceil((37 * 4 + 11 * 4 + 21 * 4) / 40));
    expect(await db.checkpointChunks.count()).toBe(manifest.chunkCount);
    const src = input(5).tensors;
    tensors.forEach((t, i) => {
      expect(t.name).toBe(src[i].name);
      expect(t.shape).toEqual(src[i].shape);
      expect(Array.from(t.data)).toEqual(Array.from(src[i].data));
      expect(t.data.constructor).toBe(src[i].data.constructor);
    });
  });

  it('reads only the tensors asked for, touching only their chunks', async () => {
    const db = freshDb();
    const store = new CheckpointStore(db, 40);
    const res = await store.write(input(9));
    if (!res.saved) throw new Error('not saved');
    // tensor "c" lives in bytes [192, 276): chunks 4..6; drop chunk 0 to prove it is not read
    await db.checkpointChunks.delete([res.id, 0]);
    const { tensors } = await store.read(res.id, (name) => name === 'c');
    expect(tensors.map((t) => t.name)).toEqual(['c']);
    expect(Array.from(tensors[0].data)).toEqual(Array.from(input(9).tensors[2].data));
    await expect(store.read(res.id)).rejects.toThrow(/chunk 0 .* is missing/);
  });

  it('a crash between chunks and manifest leaves no complete-looking checkpoint, and the sweep removes the orphans', async () => {
    const db = freshDb();
    const store = new CheckpointStore(db, 64);
    const ok = await store.write(input(1));
    expect(ok.saved).toBe(true);
    const chunksBefore = await db.checkpointChunks.count();
    // Simulate the tab dying after the chunks are stored: the hook throws before the manifest is written.
    let orphanChunks = 0;
    const crashed = await store.write(input(2), {
      beforeManifest: async () => {
        orphanChunks = (await db.checkpointChunks.count()) - chunksBefore;
        throw new Error('tab killed');
      },
    });
    expect(orphanChunks).toBeGreaterThan(0);
    expect(crashed.saved).toBe(false);
    expect((await store.latest('m1'))?.step).toBe(1);
    expect((await store.list('m1')).map((r) => r.step)).toEqual([1]);
    // A real crash would not run the cleanup: put orphan chunks back and sweep them at start-up.
    await db.checkpointChunks.put({ checkpointId: 'm1@2-dead', index: 0, data: new ArrayBuffer(8) });
    expect(await store.sweepOrphans()).toBe(1);
    expect(await db.checkpointChunks.count()).toBe(chunksBefore);
    await expect(store.read('m1@2-dead')).rejects.toThrow(/no manifest/);
  });

  it('a missing chunk is reported, not read as zeros', async () => {
    const db = freshDb();
    const store = new CheckpointStore(db, 64);
    const res = await store.write(input(3));
    if (!res.saved) throw new Error('not saved');
    await db.checkpointChunks.delete([res.id, 1]);
    await expect(store.read(res.id)).rejects.toThrow(/chunk 1 of \d+ is missing/);
  });

  it('retention: a dry run deletes nothing; applying it deletes the unprotected oldest first down to the budget, with their chunks, each in the event log', async () => {
    const db = freshDb();
    const store = new CheckpointStore(db, 64);
    const H = 3_600_000;
    const now = Date.parse('2026-11-30T21:00:00Z');
    const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const ids: Record<number, string> = {};
    // Six checkpoints, 12 hours apart, the newest 1 hour old; step 20 has the best val loss, step 10 is pinned.
    for (const [k, step] of [10, 20, 30, 40, 50, 60].entries()) {
      const r = await store.write(input(step, { valLoss: step === 20 ? 0.1 : 1, pinned: step === 10 }));
      if (!r.saved) throw new Error('not saved');
      ids[step] = r.id;
      await db.checkpoints.update(r.id, { createdAt: now - H - (5 - k) * 12 * H });
    }
    // The model resumes from step 30 (chosen with "Use").
    await db.models.put({ id: 'm1', name: 'M1', resumeFrom: ids[30] } as ModelRow);
    const size = (await store.list('m1'))[0].bytes;
    const policy = { minAgeHours: 36, dailyDays: 0, budgetBytes: 2 * size };

    const dry = await store.retentionPlan('m1', policy, { now, dayOf });
    // Ages 61, 49, 37, 25, 13 and 1 hours: 10 (pinned), 20 (best) and 30 (the resume point) are old but protected.
    expect(dry.delete).toEqual([]);
    expect(dry.keep.map((k) => [k.step, k.reasons])).toEqual([
      [60, ['the latest checkpoint of the model', 'the last checkpoint of today (2026-11-30)', 'younger than 36 hours']],
      [50, ['younger than 36 hours']],
      [40, ['the last checkpoint of yesterday (2026-11-29)', 'younger than 36 hours']],
      [30, ['training will resume from it']],
      [20, ['the best validation loss of the model (0.1000)']],
      [10, ['pinned']],
    ]);
    await db.models.update('m1', { resumeFrom: undefined });
    await store.setPinned(ids[10], false);
    expect((await store.list('m1')).length).toBe(6); // the dry run deleted nothing

    const plan = await store.applyRetention('m1', policy, { now, dayOf });
    expect(plan.delete.map((d) => d.step)).toEqual([10, 30]);
    expect((await store.list('m1')).map((r) => r.step)).toEqual([60, 50, 40, 20]);
    expect(await db.checkpointChunks.where('checkpointId').anyOf([ids[10], ids[30]]).count()).toBe(0);
    const events = await db.events.where('kind').equals('deletion').toArray();
    expect(events.map((e) => [e.checkpointId, e.detail?.step, e.detail?.bytes, e.detail?.rule])).toEqual([
      [ids[10], 10, size, 'size budget'],
      [ids[30], 30, size, 'size budget'],
    ]);
    expect(events[0].message).toMatch(/^Retention deleted the checkpoint at step 10 .*over the .* budget.*oldest unprotected/);
    expect(events.every((e) => e.modelId === 'm1' && e.at === now)).toBe(true);
    // Over the budget still (4 checkpoints for 2), but every one left is protected: nothing more goes.
    expect((await store.applyRetention('m1', policy, { now, dayOf })).delete).toEqual([]);
  });

  it('rejects a tensor whose data does not match its shape, naming it', async () => {
    const store = new CheckpointStore(freshDb(), 64);
    const bad = input(1);
    bad.tensors[2].shape = [4, 7];
    await expect(store.write(bad)).rejects.toThrow(/"c".*\[4,7\] needs 28 values, got 21/);
  });

  it('recognises quota errors, wrapped or not', () => {
    expect(isQuotaError(new DOMException('full', 'QuotaExceededError'))).toBe(true);
    expect(isQuotaError({ name: 'AbortError', inner: { name: 'QuotaExceededError' } })).toBe(true);
    expect(isQuotaError(new Error('x'))).toBe(false);
  });
});
