// Named versions: numbered per model, listed, protected from retention (and from deletion by hand), restored through
// the rollback that branches, never overwriting.
import { describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import type { ModelRow, WorkbenchDb } from '../../src/store/db.ts';
import { CheckpointStore } from '../../src/store/checkpoints.ts';
import { BranchRepo } from '../../src/store/branches.ts';
import { VersionRepo, parseTags, versionName } from '../../src/store/versions.ts';
import { createWorkbenchApi } from '../../src/daemon/api.ts';

const freshDb = scratchDbs('versions-test');
const H = 3_600_000;

async function setup(): Promise<{ db: WorkbenchDb; ckpts: CheckpointStore; ids: Map<number, string> }> {
  const db = freshDb();
  for (const id of ['m', 'n']) {
    const model: ModelRow = {
      id, name: `Model ${id.toUpperCase()}`, config: {} as ModelRow['config'], tokenizerRef: '/t/', source: 'bundled', baseRef: '/t/', baseModel: 'base',
      lineage: [], active: id === 'm' ? 1 : 0, step: 8, trained: true, createdAt: 1,
    };
    await db.models.put(model);
  }
  const ckpts = new CheckpointStore(db, 1024);
  const ids = new Map<number, string>();
  for (const step of [2, 4, 6, 8]) {
    const r = await ckpts.write({ modelId: 'm', step, trainerState: { step }, trainConfig: {}, profile: 'plain_sft', tokenizerRef: '/t/', reason: 'interval', tensors: [{ name: 'w', dtype: 'float32', shape: [256], data: new Float32Array(256).fill(step) }] });
    if (!r.saved) throw new Error(r.message);
    ids.set(step, r.id);
  }
  return { db, ckpts, ids };
}

describe('named versions', () => {
  it('are numbered per model and listed oldest first, with title, notes and tags', async () => {
    const { db, ckpts, ids } = await setup();
    const repo = new VersionRepo(db);
    const v1 = await repo.create(ids.get(4)!, { title: ' after arith curriculum ', notes: 'loss 0.4', tags: parseTags('arith, curriculum,, arith') });
    const v2 = await repo.create(ids.get(8)!, { title: 'more data' });
    const rn = await ckpts.write({ modelId: 'n', step: 1, trainerState: {}, trainConfig: {}, profile: 'plain_sft', tokenizerRef: '/t/', reason: 'interval', tensors: [] });
    const other = await repo.create((rn as { id: string }).id, { title: 'first of n' });
    expect([versionName(v1), versionName(v2), versionName(other)]).toEqual(['v001', 'v002', 'v001']);
    expect(v1).toMatchObject({ modelId: 'm', step: 4, title: 'after arith curriculum', notes: 'loss 0.4', tags: ['arith', 'curriculum'] });
    expect((await repo.list('m')).map((v) => [v.number, v.step])).toEqual([[1, 4], [2, 8]]);
    await expect(repo.create(ids.get(2)!, { title: '  ' })).rejects.toThrow(/needs a title/);
    await expect(repo.create('nope', { title: 'x' })).rejects.toThrow(/does not exist/);
  });

  it("keep their checkpoint through retention, with the reason 'a named version', and refuse a deletion by hand", async () => {
    const { db, ckpts, ids } = await setup();
    await new VersionRepo(db).create(ids.get(2)!, { title: 'baseline' });
    const now = Date.now() + 1000 * H;
    const policy = { minAgeHours: 0, dailyDays: 0, budgetBytes: 0 };
    const plan = await ckpts.applyRetention('m', policy, { now, dayOf: () => '2026-01-01' });
    expect(plan.delete.map((d) => d.id).sort()).toEqual([ids.get(4), ids.get(6)].sort());
    expect(plan.keep.find((k) => k.id === ids.get(2))?.reasons).toContain('a named version (v001 — "baseline")');
    expect(await db.checkpoints.get(ids.get(2)!)).toBeDefined();

    const api = createWorkbenchApi({ db, validate: () => undefined });
    const refused = await api.deleteCheckpoint(ids.get(2)!);
    expect(refused.allowed).toBe(false);
    expect(refused.message).toContain('named version v001 "baseline"');
    expect(await db.checkpoints.get(ids.get(2)!)).toBeDefined();
  });

  it('restore through the rollback: a new branch from the version, the later checkpoints set aside, nothing overwritten', async () => {
    const { db, ids } = await setup();
    const v = await new VersionRepo(db).create(ids.get(4)!, { title: 'good one' });
    const api = createWorkbenchApi({ db, validate: () => undefined });
    const plan = await api.planRollback(v.checkpointId);
    expect(plan.rollback).toBe(true);
    await api.setActiveCheckpoint(v.checkpointId);
    expect((await db.models.get('m'))?.resumeFrom).toBe(v.checkpointId);
    await new BranchRepo(db).rollBack(v.checkpointId); // what training does when it starts from the resume point
    const m = (await db.models.get('m'))!;
    expect(m.branch).toBe(plan.newBranch.id);
    expect(m.step).toBe(4);
    const all = await db.checkpoints.where('modelId').equals('m').toArray();
    expect(all).toHaveLength(4); // nothing deleted or overwritten
    expect(all.filter((c) => c.abandonedAt !== undefined).map((c) => c.step).sort()).toEqual([6, 8]);
    expect(await db.versions.get(v.id)).toMatchObject({ checkpointId: ids.get(4) });
  });
});
