import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import type { WorkbenchDb } from '../../src/store/db.ts';
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

  it('retention keeps the newest N plus pinned, never the only, latest or best', async () => {
    const db = freshDb();
    const store = new CheckpointStore(db, 1 << 20);
    const ids: Record<number, string> = {};
    for (const step of [10, 20, 30, 40, 50, 60]) {
      const r = await store.write(input(step, { valLoss: step === 20 ? 0.1 : 1, pinned: step === 10 }));
      if (!r.saved) throw new Error('not saved');
      ids[step] = r.id;
    }
    const deleted = await store.applyRetention('m1', 3);
    // Newest 3 unpinned = 60, 50, 40; 30 goes; 20 is the best val loss; 10 is pinned.
    expect(deleted).toEqual([ids[30]]);
    expect((await store.list('m1')).map((r) => r.step)).toEqual([60, 50, 40, 20, 10]);
    expect(await db.checkpointChunks.where('checkpointId').equals(ids[30]).count()).toBe(0);
    const all = await store.list('m1');
    expect(store.protectedBecause(all[0], all)).toMatch(/latest/);
    expect(store.protectedBecause(all.find((r) => r.step === 10)!, all)).toMatch(/pinned/);
    expect(store.protectedBecause(all.find((r) => r.step === 20)!, all)).toMatch(/best validation/);
    expect(store.protectedBecause(all.find((r) => r.step === 40)!, all)).toBeNull();
    const only = [all[0]];
    expect(store.protectedBecause(all[0], only)).toMatch(/only/);
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
