import { describe, expect, it } from 'vitest';
import { formatDelta, formatMetric, summarizeEvalSet } from '../../src/ui/lib/eval-sets.ts';
import type { EvalResultRow } from '../../src/store/db.ts';

const row = (step: number, em: number, loss: number, ece: number): EvalResultRow => ({
  evalSetId: 1, modelId: 'm', step, time: step, ms: 5, timeShare: 0.05, em, loss, ece, examples: 4, tokens: 8, bySkill: {}, byDifficulty: {}, answers: [],
});

describe('eval-set summary', () => {
  it('shows the latest result and its delta from the base model (step 0), and the series by step', () => {
    const s = summarizeEvalSet([row(8, 0.75, 1.5, 0.1), row(0, 0.25, 3, 0.3), row(4, 0.5, 2, 0.2)]);
    expect(s.latest?.step).toBe(8);
    expect(s.isBase).toBe(true);
    expect(s.delta!.em).toBeCloseTo(0.5);
    expect(s.delta!.loss).toBeCloseTo(-1.5);
    expect(s.series.steps).toEqual([0, 4, 8]);
    expect(formatMetric('em', s.latest!.em)).toBe('75.0 %');
    expect(formatDelta('em', s.delta!.em)).toBe('+50.0 pp');
    expect(formatDelta('loss', s.delta!.loss)).toBe('−1.5000');
  });

  it('a set added after training began compares with its first eval, and a lone result has no delta', () => {
    expect(summarizeEvalSet([row(12, 0.5, 1, 0.1), row(20, 0.5, 1, 0.1)]).isBase).toBe(false);
    expect(summarizeEvalSet([row(0, 0.5, 1, 0.1)]).delta).toBeNull();
    expect(summarizeEvalSet([]).latest).toBeNull();
  });
});
