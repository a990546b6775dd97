import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import { configDiff, metricXs, overlay, type CompareSide } from '../../src/ui/lib/compare.ts';
import { compareChoices, loadSide } from '../../src/ui/lib/compare-data.ts';
import { updateTrainConfig } from '../../src/daemon/config.ts';
import { configHistory } from '../../src/daemon/config-history.ts';
import { TINY_CONFIG } from './daemon-fixture.ts';

const freshDb = scratchDbs('compare');

const side = (label: string, origin: number, steps: number[], tokens: number, config: Record<string, unknown> | null = null): CompareSide => ({
  label, origin, config,
  metrics: steps.map((step, i) => ({ step, loss: 3 - i * 0.1, tokens })),
  val: [{ step: steps.at(-1)!, valLoss: 2.5 }],
  evals: [{ name: 'golden', step: steps.at(-1)!, em: 0.5 }],
});

describe('compare', () => {
  it('diffs configs field by field, nested fields dotted', () => {
    expect(configDiff({ learningRate: 0.01, lora: { rank: 8, alpha: 16 }, seed: 1 }, { learningRate: 0.003, lora: { rank: 8, alpha: 32 }, seed: 1, extra: true })).toEqual([
      { field: 'extra', a: undefined, b: true },
      { field: 'learningRate', a: 0.01, b: 0.003 },
      { field: 'lora.alpha', a: 16, b: 32 },
    ]);
  });

  it('aligns two runs by steps from their start or by tokens seen', () => {
    const a = side('A', 0, [1, 2, 4], 10), b = side('B', 100, [101, 102], 30);
    expect(metricXs('step', b.metrics, b.origin)).toEqual([1, 2]);
    expect(metricXs('tokens', a.metrics, a.origin)).toEqual([10, 20, 40]); // the row at step 4 covers steps 3 and 4
    const byStep = overlay('step', a, b);
    expect(byStep.x).toEqual([1, 2, 4]);
    expect(byStep.names).toEqual(['loss A', 'loss B', 'val A', 'val B', 'EM golden A', 'EM golden B']);
    expect(byStep.ys[0]).toEqual([3, 2.9, 2.8]);
    expect(byStep.ys[1]).toEqual([3, 2.9, null]);
    expect(byStep.ys[3]).toEqual([null, 2.5, null]); // B's validation at its step 102 = 2 steps in
    const byTokens = overlay('tokens', a, b);
    expect(byTokens.x).toEqual([10, 20, 30, 40, 60]);
    expect(byTokens.ys[1]).toEqual([null, null, 3, null, 2.9]);
  });

  it('records config history per model (person and preset) and compares runs by the config they ran with', async () => {
    const db = freshDb();
    await db.models.put({ id: 'm', name: 'M', config: TINY_CONFIG, tokenizerRef: 'mem:', source: 'bundled', baseRef: 'mem:', baseModel: 'm', lineage: [], active: 1, step: 0, trained: false, createdAt: 1 });
    expect((await updateTrainConfig(db, { learningRate: 0.003 })).ok).toBe(true);
    expect((await updateTrainConfig(db, { learningRate: 0.003 })).ok).toBe(true); // no change, no row
    expect((await updateTrainConfig(db, { batchSize: 2, learningRate: 0.001 }, 'preset:quick')).ok).toBe(true);
    const h = await configHistory(db, 'm');
    expect(h.map((r) => r.by)).toEqual(['preset:tiny', 'person', 'preset:quick']);
    expect(h[0].changes.map((c) => c.field)).toContain('maxLength'); // the tiny preset's own defaults
    expect(h[1].changes).toEqual([{ field: 'learningRate', from: 0.01, to: 0.003 }]);
    expect(h[2].changes.map((c) => c.field).sort()).toEqual(['batchSize', 'learningRate']);

    await db.runs.bulkAdd([
      { modelId: 'm', itemId: 1, fileName: 'a.jsonl', startedAt: 0, startStep: 0, config: { learningRate: 0.01, batchSize: 4 } }, // the tab died: no end
      { modelId: 'm', itemId: 1, fileName: 'a.jsonl', startedAt: 1, startStep: 1, endStep: 2, config: { learningRate: 0.01, batchSize: 4 } },
      { modelId: 'm', itemId: 2, fileName: 'b.jsonl', startedAt: 2, startStep: 2, endStep: 4, config: { learningRate: 0.003, batchSize: 4 } },
    ]);
    await db.metrics.bulkAdd([1, 2, 3, 4].map((step) => ({ modelId: 'm', step, time: step, itemId: step <= 2 ? 1 : 2, fileStep: 1, loss: 5 - step, lr: 0, gradNorm: 1, tokens: 8, ms: 1, tokensPerSecond: 1 })));
    const choices = await compareChoices(db);
    expect(choices.map((c) => c.label)).toEqual(['b.jsonl (steps 3–4)', 'a.jsonl (steps 1–2)', 'model M']); // a.jsonl's two runs are one
    const [b, a] = await Promise.all(choices.slice(0, 2).map((c) => loadSide(db, c)));
    expect(a.metrics.map((r) => r.step)).toEqual([1, 2]);
    expect(b.metrics.map((r) => r.step)).toEqual([3, 4]);
    expect(overlay('step', a, b).x).toEqual([1, 2]);
    expect(configDiff(a.config!, b.config!)).toEqual([{ field: 'learningRate', a: 0.01, b: 0.003 }]);

    // A branch a rollback set aside (steps 3–4 of 'main' in the archive) against the model's current line.
    await db.models.update('m', { branches: [{ id: 'main', name: 'main', fromStep: -1, createdAt: 1 }, { id: 'b2', name: 'branch 2', parent: 'main', fromStep: 2, createdAt: 2 }] });
    await db.metricsArchive.bulkAdd([3, 4].map((step) => ({ modelId: 'm', branch: 'main', step, time: step, itemId: 9, fileStep: 1, loss: 9 - step, lr: 0, gradNorm: 1, tokens: 8, ms: 1, tokensPerSecond: 1 })));
    const branch = (await compareChoices(db)).find((c) => c.kind === 'branch')!;
    expect(branch.label).toBe('M · main');
    const set = await loadSide(db, branch);
    expect(set.metrics.map((r) => [r.step, r.loss])).toEqual([[3, 6], [4, 5]]);
    const line = await loadSide(db, (await compareChoices(db)).find((c) => c.kind === 'model')!);
    expect(overlay('step', set, line).ys[0]).toEqual([null, null, 6, 5]);
  });
});
