// The model's branches in the store: lines of history, the fork between two lines, and rollbacks that set the later
// history aside as a branch (archive tables, abandoned checkpoints, an event) and can bring it back, losing nothing.
import { describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import type { BranchRecord, EvalRow, MetricRow, ModelRow, WorkbenchDb } from '../../src/store/db.ts';
import { BranchRepo, forkStep, lineOf, onCurrentLine, ownerAt } from '../../src/store/branches.ts';
import { CheckpointStore } from '../../src/store/checkpoints.ts';
import { MetricsRepo } from '../../src/store/state.ts';

const freshDb = scratchDbs('branches-test');

const metric = (step: number, loss: number): MetricRow => ({ modelId: 'm', step, time: 1000 + step, itemId: 1, fileStep: step, loss, lr: 0.01, gradNorm: 1, tokens: 10, ms: 5, tokensPerSecond: 2000 });
const evalRow = (step: number, valLoss: number): EvalRow => ({ modelId: 'm', step, time: 1000 + step, itemId: 1, valLoss, trainLoss: null, examples: 4 });

async function setup(): Promise<{ db: WorkbenchDb; ckpts: CheckpointStore; branches: BranchRepo; metrics: MetricsRepo; at: (step: number, branch?: string) => Promise<string> }> {
  const db = freshDb();
  const model: ModelRow = {
    id: 'm', name: 'Model M', config: {} as ModelRow['config'], tokenizerRef: '/t/', source: 'bundled', baseRef: '/t/', baseModel: 'base',
    lineage: [{ itemId: 1, fileName: 'a.jsonl', fromStep: 0, toStep: 8, outcome: 'completed' }], active: 1, step: 8, trained: true, createdAt: 1,
  };
  await db.models.put(model);
  const ckpts = new CheckpointStore(db, 1024);
  const write = async (step: number) => {
    const r = await ckpts.write({ modelId: 'm', step, trainerState: { step }, trainConfig: {}, profile: 'plain_sft', tokenizerRef: '/t/', reason: 'interval', tensors: [{ name: 'w', dtype: 'float32', shape: [2], data: new Float32Array([step, step]) }] });
    if (!r.saved) throw new Error(r.message);
    return r.id;
  };
  for (const s of [2, 4, 6, 8]) await write(s);
  const metrics = new MetricsRepo(db);
  await metrics.putMetrics([1, 2, 3, 4, 5, 6, 7, 8].map((s) => metric(s, 10 - s)));
  await metrics.putEval(evalRow(4, 6.5));
  await metrics.putEval(evalRow(8, 2.5));
  const at = async (step: number, branch = 'main') => (await db.checkpoints.where('modelId').equals('m').toArray()).find((c) => c.step === step && (c.branch ?? 'main') === branch)!.id;
  return { db, ckpts, branches: new BranchRepo(db), metrics, at };
}

describe('lines of history', () => {
  const branches: BranchRecord[] = [
    { id: 'main', name: 'main', fromStep: -1, createdAt: 0 },
    { id: 'b2', name: 'branch 2', parent: 'main', fromStep: 4, createdAt: 1 },
    { id: 'b3', name: 'branch 3', parent: 'b2', fromStep: 6, createdAt: 2 },
  ];

  it('each branch owns the steps after its fork on its line; the fork of two lines is the last step they share', () => {
    const line = lineOf(branches, 'b3');
    expect(line.map((s) => [s.branch, s.after, s.upTo])).toEqual([['main', -Infinity, 4], ['b2', 4, 6], ['b3', 6, Infinity]]);
    expect([0, 4, 5, 6, 7, 100].map((s) => ownerAt(line, s))).toEqual(['main', 'main', 'b2', 'b2', 'b3', 'b3']);
    expect(forkStep(line, lineOf(branches, 'b2', 5))).toBe(5); // back to step 5 of the same line
    expect(forkStep(line, lineOf(branches, 'main', 8))).toBe(4); // over to main's step 8: shared up to b2's fork
    expect(forkStep(lineOf(branches, 'main'), lineOf(branches, 'main', 2))).toBe(2);
    expect(() => lineOf(branches, 'nope')).toThrow(/branch "nope" is not recorded/);
  });

  it('eval results and snapshots on the current line: the base and shared steps, not those of a set-aside branch', () => {
    const current = onCurrentLine({ branches, branch: 'b3', createdAt: 0 });
    const rows = [{ step: 0 }, { step: 4 }, { step: 6 }, { step: 8 }, { step: 5, branch: 'b2' }, { step: 8, branch: 'b3' }, { step: 7, branch: 'b2' }, { step: 6, branch: 'b3' }];
    expect(rows.filter(current)).toEqual([{ step: 0 }, { step: 4 }, { step: 5, branch: 'b2' }, { step: 8, branch: 'b3' }]);
    expect([{ step: 3 }, { step: 9 }].every(onCurrentLine({ createdAt: 0 }))).toBe(true); // never rolled back: everything
  });
});

describe('BranchRepo', () => {
  it('plans a rollback naming the step, the newer checkpoints and the history that become a set-aside branch; the latest is no rollback', async () => {
    const { db, branches, at } = await setup();
    const plan = await branches.plan(await at(4));
    expect(plan.rollback).toBe(true);
    expect(plan.message).toBe("Training continues from step 4 of Model M. The 2 newer checkpoints (steps 6, 8) and the loss history after step 4 become the side branch 'main': kept (not deleted automatically for 36 hours) and shown beside the new run, branch 'branch 2'.");
    expect(plan.leaving.map((c) => c.step)).toEqual([6, 8]);
    expect(plan.setAside).toEqual([{ branch: 'main', name: 'main', metrics: 4, evals: 1, firstStep: 5, lastStep: 8 }]);
    expect((await db.metrics.count())).toBe(8); // a plan changes nothing
    expect((await branches.plan(await at(4), 12)).message).toContain("'main': kept (not deleted automatically for 12 hours) and shown"); // retention's minimum age
    expect((await branches.plan(await at(4), 0)).message).toContain("'main': kept and shown");
    const latest = await branches.plan(await at(8));
    expect(latest.rollback).toBe(false);
    expect(latest.message).toBe('Training continues from the latest checkpoint (step 8) of Model M.');
  });

  it('a rollback moves the later history into the archive, abandons the newer checkpoints, starts a new branch and logs it; nothing is deleted', async () => {
    const { db, ckpts, branches, metrics, at } = await setup();
    const four = await at(4);
    await db.models.update('m', { resumeFrom: four });
    await branches.rollBack(four, { now: 5000 });
    expect((await metrics.metrics('m')).map((r) => r.step)).toEqual([1, 2, 3, 4]);
    expect((await metrics.evals('m')).map((r) => r.step)).toEqual([4]);
    const aside = await metrics.archivedMetrics('m', 'main');
    expect(aside.map((r) => [r.step, r.loss])).toEqual([[5, 5], [6, 4], [7, 3], [8, 2]]);
    expect((await metrics.archivedEvals('m')).map((r) => [r.branch, r.step, r.valLoss])).toEqual([['main', 8, 2.5]]);
    const rows = (await ckpts.list('m')).sort((a, b) => a.step - b.step);
    expect(rows.map((c) => [c.step, c.branch, c.abandonedAt])).toEqual([[2, 'main', undefined], [4, 'main', undefined], [6, 'main', 5000], [8, 'main', 5000]]);
    expect((await ckpts.latest('m'))?.step).toBe(4); // training continues from the chosen one, even after a reload
    const model = (await db.models.get('m'))!;
    expect([model.branch, model.step, model.resumeFrom]).toEqual(['b2', 4, undefined]);
    expect(model.branches?.map((b) => [b.id, b.name, b.parent, b.fromStep, b.abandonedAt])).toEqual([['main', 'main', undefined, -1, 5000], ['b2', 'branch 2', 'main', 4, undefined]]);
    expect(model.lineage.at(-1)).toMatchObject({ fromStep: 4, toStep: 4, rollback: { checkpointId: four, branch: 'b2', setAside: ['main'] } });
    const [event] = await db.events.where('kind').equals('rollback').toArray();
    expect(event.message).toBe("Training went back to step 4 of Model M as branch 'branch 2'. Set aside, kept (not deleted automatically for 36 hours): 2 checkpoints (steps 6, 8); 4 loss rows and 1 validation row (steps 5–8) of 'main'.");
    expect(event.detail).toMatchObject({ step: 4, forkStep: 4, branch: 'b2', abandonedCheckpoints: [{ step: 6 }, { step: 8 }] });

    // The new branch's rows and checkpoints: same steps as the set-aside ones, both kept.
    await metrics.putMetrics([metric(5, 7), metric(6, 6)]);
    const w = await ckpts.write({ modelId: 'm', step: 6, trainerState: {}, trainConfig: {}, profile: 'plain_sft', tokenizerRef: '/t/', reason: 'interval', tensors: [] });
    expect(w.saved && (await db.checkpoints.get(w.id))?.branch).toBe('b2');
    await metrics.addSample({ modelId: 'm', step: 6, time: 1, itemId: 1, prompt: 'p', golden: 'g', answer: 'a', match: false, stopReason: 'eos', ms: 1 });
    expect((await db.samples.toArray())[0].branch).toBe('b2');
    expect((await metrics.metrics('m')).map((r) => r.loss)).toEqual([9, 8, 7, 6, 7, 6]);
    expect((await metrics.archivedMetrics('m', 'main')).map((r) => r.loss)).toEqual([5, 4, 3, 2]);
  });

  it('rolling back again, then using a set-aside checkpoint, brings its history back onto the line; every row written is still somewhere', async () => {
    const { db, branches, metrics, at } = await setup();
    await branches.rollBack(await at(4), { now: 5000 }); // main's 5..8 aside; the new run is b2
    await metrics.putMetrics([metric(5, 7), metric(6, 6), metric(7, 5)]);
    const ck = new CheckpointStore(db, 1024);
    await ck.write({ modelId: 'm', step: 6, trainerState: {}, trainConfig: {}, profile: 'plain_sft', tokenizerRef: '/t/', reason: 'interval', tensors: [] });
    // Back to step 2 of main: main's 3..4 and b2's 5..7 go aside; b2's checkpoint at 6 and main's at 4 are abandoned.
    const plan = await branches.rollBack(await at(2), { now: 6000 });
    expect(plan.setAside.map((s) => [s.branch, s.metrics, s.firstStep, s.lastStep])).toEqual([['main', 2, 3, 4], ['b2', 3, 5, 7]]);
    expect(plan.message).toContain("The 2 newer checkpoints (steps 4, 6) and the loss history after step 2 become the side branch 'main' and 'branch 2'");
    expect((await metrics.metrics('m')).map((r) => r.step)).toEqual([1, 2]);
    expect((await db.models.get('m'))?.branch).toBe('b3');
    expect((await db.checkpoints.get(await at(6, 'b2')))?.abandonedAt).toBe(6000);
    expect((await db.checkpoints.get(await at(6)))?.abandonedAt).toBe(5000); // abandoned earlier: its time is kept

    // Use main's set-aside checkpoint at step 8: main's history up to 8 comes back, exactly as it was written.
    const back = await branches.plan(await at(8));
    expect(back.rollback).toBe(true);
    expect(back.message).toContain("Training continues from step 8 of Model M (on the set-aside branch 'main').");
    expect(back.message).toContain("The history of 'main' up to step 8 comes back onto the line.");
    await branches.rollBack(await at(8), { now: 7000 });
    expect((await metrics.metrics('m')).map((r) => [r.step, r.loss])).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((s) => [s, 10 - s]));
    expect((await metrics.evals('m')).map((r) => r.step)).toEqual([4, 8]);
    expect(await metrics.archivedMetrics('m', 'main')).toEqual([]);
    expect((await metrics.archivedMetrics('m', 'b2')).map((r) => [r.step, r.loss])).toEqual([[5, 7], [6, 6], [7, 5]]);
    const byStep = (await db.checkpoints.toArray()).map((c) => [c.step, c.branch, c.abandonedAt]).sort((a, b) => String(a).localeCompare(String(b)));
    expect(byStep).toEqual([[2, 'main', undefined], [4, 'main', undefined], [6, 'b2', 6000], [6, 'main', undefined], [8, 'main', undefined]]);
    const model = (await db.models.get('m'))!;
    expect([model.branch, model.step, model.branches?.map((b) => b.id)]).toEqual(['b4', 8, ['main', 'b2', 'b3', 'b4']]);
    expect(model.branches?.find((b) => b.id === 'b4')).toMatchObject({ parent: 'main', fromStep: 8 });
    expect(await db.events.where('kind').equals('rollback').count()).toBe(3);
  });
});
