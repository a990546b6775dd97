// The page's view of set-aside branches: their loss read from the archive (chunked, per branch), smoothing, their x
// values on each chart axis, and series with their own x values aligned on one x for uPlot.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import type { ArchivedMetricRow, ModelRow } from '../../src/store/db.ts';
import { readBranchHistories, resmoothBranches } from '../../src/ui/lib/history-reader.ts';
import { alignSeries, branchXs, continuedSmoothing } from '../../src/ui/lib/branch-series.ts';
import { debiasedEma } from '../../src/ui/lib/smoothing.ts';

const freshDb = scratchDbs(`ui-branches-${process.pid}`);

const aside = (branch: string, step: number, loss: number, modelId = 'm'): ArchivedMetricRow => ({
  modelId, branch, step, time: 1000 * step, itemId: 1, fileStep: step, loss, lr: 1e-3, gradNorm: 1, tokens: 10, ms: 5, tokensPerSecond: 2000,
});

/** main rolled back to 4 (b2), then to 2 (b3, current): main's 3–9 and b2's 5–6 are set aside. */
const model: Pick<ModelRow, 'id' | 'branch' | 'branches' | 'createdAt'> = {
  id: 'm',
  createdAt: 0,
  branch: 'b3',
  branches: [
    { id: 'main', name: 'main', fromStep: -1, createdAt: 0 },
    { id: 'b2', name: 'branch 2', parent: 'main', fromStep: 4, createdAt: 1 },
    { id: 'b3', name: 'branch 3', parent: 'main', fromStep: 2, createdAt: 2 },
  ],
};

describe('readBranchHistories', () => {
  it('reads each set-aside branch in chunks, in the order the branches were made, with its smoothed loss and validation losses', async () => {
    const db = freshDb();
    await db.metricsArchive.bulkPut([...[3, 4, 5, 6, 7, 8, 9].map((s) => aside('main', s, 10 - s)), aside('b2', 5, 3), aside('b2', 6, 2), aside('main', 5, 1, 'other')]);
    await db.evalsArchive.put({ modelId: 'm', branch: 'main', step: 8, time: 0, itemId: 1, valLoss: 2.5, trainLoss: null, examples: 3 });
    let yields = 0;
    const got = (await readBranchHistories(db, model, 0.5, { chunk: 3, yieldTask: async () => void yields++ }))!;
    expect(got.map((b) => [b.id, b.name, b.steps])).toEqual([['main', 'main', [3, 4, 5, 6, 7, 8, 9]], ['b2', 'branch 2', [5, 6]]]); // b3 has nothing aside
    expect(got[0].loss).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(got[0].smoothed).toEqual(debiasedEma([7, 6, 5, 4, 3, 2, 1], 0.5));
    expect(got[0].evals).toEqual([{ step: 8, valLoss: 2.5 }]);
    expect(yields).toBe(2); // main: 2 full chunks then 1 row; b2: 2 rows
    // main goes on from the current line after step 2; b2 from main's set-aside step 4, not from the current line.
    expect(got.map((b) => b.fork)).toEqual([2, null]);
    expect(resmoothBranches(got, 0)[0].smoothed).toEqual([7, 6, 5, 4, 3, 2, 1]);
    expect(await readBranchHistories(db, { id: 'm', createdAt: 0 }, 0.5)).toEqual([]); // never rolled back
    expect(await readBranchHistories(db, model, 0.5, { cancelled: () => true })).toBeNull();
  });
});

describe('branch series', () => {
  it('puts a branch on the chart axis: steps, seconds, or tokens counted on from the line before its first step', () => {
    const line = { steps: [1, 2, 3, 4, 5, 6], tokens: [10, 10, 10, 10, 20, 20] };
    const b = { steps: [5, 6], tokens: [7, 7], time: [5000, 6000] };
    expect(branchXs('step', b, line)).toEqual([5, 6]);
    expect(branchXs('time', b, line)).toEqual([5, 6]);
    expect(branchXs('tokens', b, line)).toEqual([47, 54]);
  });

  it("smooths a branch on from the current line's rows up to its fork, or on its own", () => {
    const line = { steps: [1, 2, 3, 4], loss: [10, 8, 6, 4] };
    const seeded = continuedSmoothing(line, { loss: [7, 7], fork: 2 }, 0.5);
    expect(seeded.k).toBe(2);
    expect(seeded.smoothed).toEqual(debiasedEma([10, 8, 7, 7], 0.5).slice(2));
    expect(continuedSmoothing(line, { loss: [7, 7], fork: null }, 0.5)).toEqual({ k: 0, smoothed: debiasedEma([7, 7], 0.5) });
  });

  it('aligns series with their own x on the union of x values, null where a series has no point', () => {
    const a = alignSeries({ x: [1, 2, 3, 4, 5, 6], ys: [[9, 8, 7, 6, 7, 6], [null, null, 7, null, null, 6]] }, [{ x: [5, 6, 7, 8], y: [5, 4, 3, 2] }]);
    expect(a.x).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(a.ys).toEqual([
      [9, 8, 7, 6, 7, 6, null, null],
      [null, null, 7, null, null, 6, null, null],
      [null, null, null, null, 5, 4, 3, 2],
    ]);
    expect(alignSeries({ x: [1, 2], ys: [[3, 4]] }, [{ x: [], y: [] }])).toEqual({ x: [1, 2], ys: [[3, 4], [null, null]] }); // one series per extra, always
  });
});
