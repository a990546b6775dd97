// After a crash the steps since the last checkpoint are redone, and so are their sample answers: the rows a crash
// left after the resume point go (metrics, validation losses and the current branch's samples), so a redone sample
// is not stored twice and the running accuracy does not count it twice; a set-aside branch's samples stay.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import { MetricsRepo } from '../../src/store/state.ts';
import type { SampleRow } from '../../src/store/db.ts';

const freshDb = scratchDbs('truncate-samples');
const sample = (step: number, branch?: string): SampleRow => ({ modelId: 'm', step, time: step, itemId: 1, prompt: 'p', golden: 'g', answer: 'a', match: false, stopReason: 'eos', ms: 1, branch });

describe('MetricsRepo.truncateAfter', () => {
  it("drops the current branch's samples after the resume point and keeps a set-aside branch's", async () => {
    const db = freshDb();
    await db.models.put({ id: 'm', name: 'm', config: {} as never, tokenizerRef: '', source: 'bundled', baseRef: '', baseModel: 'm', lineage: [], active: 1, step: 8, trained: true, createdAt: 0, branch: 'b2' });
    const repo = new MetricsRepo(db);
    await db.samples.bulkAdd([sample(2, 'main'), sample(4, 'main'), sample(8, 'main'), sample(4, 'b2'), sample(6, 'b2'), sample(8, 'b2')]);
    await repo.truncateAfter('m', 5);
    const left = (await db.samples.toArray()).map((r) => `${r.branch}@${r.step}`).sort();
    expect(left).toEqual(['b2@4', 'main@2', 'main@4', 'main@8']);
  });

  it('a redone sample after a crash is stored once', async () => {
    const db = freshDb();
    const repo = new MetricsRepo(db);
    await repo.addSample(sample(4)); // before the crash, after the checkpoint at 3
    await repo.truncateAfter('m', 3); // the restart resumes from step 3
    await repo.addSample(sample(4)); // redone
    expect(await db.samples.count()).toBe(1);
  });
});
