// Inference-node eval results kept with their checkpoint in the store: records from finished jobs, one per job,
// survive reopening the database, chart order by step; a result without numbers is refused naming the field.
import 'fake-indexeddb/auto';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkbenchDb } from '../../src/store/db.ts';
import { RemoteEvalHistory, orderForChart, toEvalRecord } from '../../src/ui/remote/eval-history.ts';
import type { EvalResult } from '../../src/remote/api.ts';

const names: string[] = [];
afterEach(async () => {
  for (const n of names.splice(0)) await new WorkbenchDb(n).delete();
});
function dbNamed(): string {
  const n = `remote-evals-${names.length}-${Date.now()}`;
  names.push(n);
  return n;
}

const result = (accuracy: number, correct: number, total: number): EvalResult => ({ accuracy, correct, total, average_loss: 1.25, profile: 'plain_sft', dataset_ref: 'evalset' });
const job = (id: string, model = 'ckpt-a') => ({ id, model_id: model, finished_at: `2026-11-29T12:00:0${id.length}Z` });

describe('remote eval history', () => {
  it('turns a finished job into a record with its checkpoint, or the node model when none', () => {
    const r = toEvalRecord(result(0.5, 1, 2), job('j1'), { id: 'c4', step: 4, label: 'qwen3-tiny step 4' });
    expect(r).toMatchObject({ jobId: 'j1', checkpointId: 'c4', step: 4, label: 'qwen3-tiny step 4', nodeModelId: 'ckpt-a', accuracy: 0.5, correct: 1, total: 2, averageLoss: 1.25, datasetRef: 'evalset' });
    const other = toEvalRecord(result(1, 2, 2), job('j2', 'vllm-model'), null);
    expect(other).toMatchObject({ checkpointId: null, step: null, label: 'vllm-model' });
    expect(() => toEvalRecord({ ...result(0, 0, 0), accuracy: Number.NaN }, job('j3'), null)).toThrow(/j3.*result\.accuracy/);
  });

  it('stores one record per job, survives reopening, orders by checkpoint step', async () => {
    const name = dbNamed();
    const db = new WorkbenchDb(name);
    const h = new RemoteEvalHistory(db);
    await h.add(toEvalRecord(result(0.25, 1, 4), job('late'), { id: 'c8', step: 8, label: 'step 8' }));
    await h.add(toEvalRecord(result(0.75, 3, 4), job('early'), { id: 'c4', step: 4, label: 'step 4' }));
    await h.add(toEvalRecord(result(0.5, 2, 4), job('late'), { id: 'c8', step: 8, label: 'step 8' })); // same job again: replaced
    await h.add(toEvalRecord(result(1, 4, 4), job('ext', 'other'), null));
    db.close();

    const again = new RemoteEvalHistory(new WorkbenchDb(name));
    const rows = await again.list();
    expect(rows).toHaveLength(3);
    expect(orderForChart(rows).map((r) => [r.jobId, r.step, r.accuracy])).toEqual([
      ['early', 4, 0.75],
      ['late', 8, 0.5],
      ['ext', null, 1],
    ]);
  });
});
