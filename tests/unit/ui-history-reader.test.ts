// The page's incremental history readers (src/ui/lib/history-reader.ts) on a real Dexie store (fake-indexeddb):
// chunked loading with a yield between chunks, only new rows afterwards, boundaries, smoothing, cancellation,
// and the running sample totals.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import { type WorkbenchDb, type MetricRow, type SampleRow } from '../../src/store/db.ts';
import { MetricHistoryReader, SampleTotals } from '../../src/ui/lib/history-reader.ts';
import { debiasedEma } from '../../src/ui/lib/smoothing.ts';

const freshDb = scratchDbs(`ui-history-${process.pid}`);

const row = (modelId: string, step: number, itemId = 1): MetricRow => ({
  modelId, step, time: 1000 * step, itemId, fileStep: step, loss: 5 - step / 1000, lr: 1e-3, gradNorm: 1, tokens: 100, ms: 50, tokensPerSecond: 2000,
});

describe('MetricHistoryReader', () => {
  it('loads a long history in chunks, yielding between them, then reads only new rows', async () => {
    const db = freshDb();
    await db.metrics.bulkPut(Array.from({ length: 2500 }, (_, i) => row('m', i + 1, i < 1000 ? 1 : 2)));
    await db.metrics.bulkPut([row('other', 1), row('other', 99999)]);
    let yields = 0;
    const r = new MetricHistoryReader(db, 'm', 0.5, 1000, async () => void yields++);
    expect(await r.readNew()).toBe(2500);
    expect(yields).toBe(2); // 1000 + 1000 + 500 rows: a yield after each full chunk
    const h = r.history;
    expect(h.steps.length).toBe(2500);
    expect(h.steps[0]).toBe(1);
    expect(h.steps[2499]).toBe(2500);
    expect(h.boundaries).toEqual([1001]);
    expect(h.smoothed).toEqual(debiasedEma(h.loss, 0.5));
    expect(r.msPerToken).toBeCloseTo(0.5);

    expect(await r.readNew()).toBe(0);
    await db.metrics.bulkPut([row('m', 2501, 2), row('m', 2502, 3)]);
    expect(await r.readNew()).toBe(2);
    expect(h.steps.slice(-2)).toEqual([2501, 2502]);
    expect(h.boundaries).toEqual([1001, 2502]);
    expect(h.smoothed).toEqual(debiasedEma(h.loss, 0.5));
  });

  it('reads fractional steps in order and recomputes the smoothing on request', async () => {
    const db = freshDb();
    await db.metrics.bulkPut([row('m', 2), row('m', 0.5), row('m', 1)]);
    const r = new MetricHistoryReader(db, 'm', 0.9);
    await r.readNew();
    expect(r.history.steps).toEqual([0.5, 1, 2]);
    r.setSmoothing(0);
    expect(r.history.smoothed).toEqual(r.history.loss);
    await db.metrics.put(row('m', 3));
    await r.readNew();
    expect(r.history.smoothed[3]).toBe(r.history.loss[3]); // later rows continue with the new weight
  });

  it('stops at the next chunk once cancelled', async () => {
    const db = freshDb();
    await db.metrics.bulkPut(Array.from({ length: 30 }, (_, i) => row('m', i + 1)));
    let r!: MetricHistoryReader;
    r = new MetricHistoryReader(db, 'm', 0.9, 10, async () => r.cancel());
    expect(await r.readNew()).toBe(0);
    expect(r.history.steps.length).toBe(10);
    expect(await r.readNew()).toBe(0);
  });
});

describe('SampleTotals', () => {
  const sample = (modelId: string, step: number, match: boolean): SampleRow => ({ modelId, step, time: step, itemId: 1, prompt: 'p', golden: 'g', answer: 'a', match, stopReason: 'eos', ms: 1 });

  it('counts a model\'s samples once each, reading only rows added since the last count', async () => {
    const db = freshDb();
    await db.samples.bulkAdd([sample('m', 1, true), sample('x', 1, true), sample('m', 2, false), sample('m', 3, true)]);
    const t = new SampleTotals(db, 'm', 2);
    expect(await t.update()).toEqual({ correct: 2, total: 3 });
    expect(await t.update()).toEqual({ correct: 2, total: 3 });
    await db.samples.add(sample('m', 4, true));
    const [a, b] = await Promise.all([t.update(), t.update()]); // a second call while one runs waits for it
    expect(a).toEqual({ correct: 3, total: 4 });
    expect(b).toEqual({ correct: 3, total: 4 });
  });
});
