// Pure UI helpers: formatting, W&B-style debiased smoothing, loss trend, learned-throughput ETA.
import { describe, expect, it } from 'vitest';
import { formatBytes, formatCount, formatDuration, formatLoss, formatLr, formatPercent } from '../../src/ui/lib/format.ts';
import { DebiasedEma, debiasedEma, lossTrend } from '../../src/ui/lib/smoothing.ts';
import { EtaEstimator, remainingTokens } from '../../src/ui/lib/eta.ts';

describe('format', () => {
  it('formats bytes, durations, losses, rates, counts', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KB');
    expect(formatBytes(7 * 1024 ** 3)).toBe('7.0 GB');
    expect(formatBytes(-1)).toBe('—');
    expect(formatDuration(42)).toBe('42 s');
    expect(formatDuration(185)).toBe('3 min 05 s');
    expect(formatDuration(2 * 3600 + 7 * 60)).toBe('2 h 07 min');
    expect(formatDuration(3 * 86400 + 4 * 3600)).toBe('3 d 4 h');
    expect(formatDuration(null)).toBe('—');
    expect(formatLoss(2.345678)).toBe('2.3457');
    expect(formatLoss(null)).toBe('—');
    expect(formatLr(0.0002)).toBe('2.00e-4');
    expect(formatCount(12345.4)).toBe('12,345');
    expect(formatPercent(0.456)).toBe('46 %');
  });
});

describe('debiased EMA', () => {
  it('starts at the first value (bias corrected) and follows a constant series exactly', () => {
    expect(debiasedEma([5, 5, 5], 0.9)).toEqual([5, 5, 5].map((x) => expect.closeTo(x, 12)));
    const s = debiasedEma([4, null, 2], 0.5);
    expect(s[0]).toBeCloseTo(4, 12);
    expect(s[1]).toBeNull();
    // ema = 0.5*(0.5*4) + 0.5*2 = 2; debias = 1 - 0.25 = 0.75 → 2/0.75
    expect(s[2]).toBeCloseTo(2 / 0.75, 12);
  });
  it('weight 0 is the raw series; incremental form matches the batch form', () => {
    expect(debiasedEma([3, 1, 2], 0)).toEqual([3, 1, 2]);
    const xs = [3, 2.5, 2.7, 2.1, 1.9, 2.0, 1.5];
    const batch = debiasedEma(xs, 0.8);
    const inc = new DebiasedEma(0.8);
    xs.forEach((x, i) => expect(inc.push(x)).toBeCloseTo(batch[i] as number, 12));
  });
  it('rejects a weight outside [0, 1)', () => {
    expect(() => debiasedEma([1], 1)).toThrow(/\[0, 1\)/);
  });
});

describe('loss trend', () => {
  const flat = Array(10).fill(2);
  it('says improving, stable, rising, unknown', () => {
    expect(lossTrend([...flat, ...Array(10).fill(1.5)])).toBe('improving');
    expect(lossTrend([...flat, ...flat])).toBe('stable');
    expect(lossTrend([...flat, ...Array(10).fill(2.5)])).toBe('rising');
    expect(lossTrend(flat)).toBe('unknown');
  });
});

describe('ETA estimator', () => {
  it('learns ms per token from observations and projects seconds', () => {
    const e = new EtaEstimator(0.5);
    expect(e.secondsFor(1000)).toBeNull();
    e.observe({ tokens: 1000, ms: 2000 }); // 2 ms/token
    expect(e.rate).toBeCloseTo(2, 12);
    e.observe({ tokens: 1000, ms: 4000 }); // 4 ms/token → 0.5*4 + 0.5*2 = 3
    expect(e.rate).toBeCloseTo(3, 12);
    expect(e.secondsFor(10_000)).toBeCloseTo(30, 9);
    e.observe({ tokens: 0, ms: 100 }); // ignored
    expect(e.rate).toBeCloseTo(3, 12);
    expect(remainingTokens(10, 256)).toBe(2560);
    expect(remainingTokens(-3, 256)).toBe(0);
  });
});

import { summarizeAccuracy } from '../../src/ui/lib/accuracy.ts';
describe('accuracy summary', () => {
  it('computes overall, last 20, last 50 and the trend', () => {
    const early = Array(20).fill(false);
    const late = Array(10).fill(true);
    const s = summarizeAccuracy([...early, ...late]);
    expect(s.overall).toBeCloseTo(10 / 30, 12);
    expect(s.last20).toBeCloseTo(0.5, 12);
    expect(s.last50).toBeCloseTo(10 / 30, 12);
    expect(s.trend).toBe('improving');
    expect(summarizeAccuracy([...Array(20).fill(true), ...Array(10).fill(false)]).trend).toBe('degrading');
    expect(summarizeAccuracy([true, false]).trend).toBe('unknown');
    expect(summarizeAccuracy([], { correct: 3, total: 4 })).toMatchObject({ overall: 0.75, last20: null, total: 4 });
  });
});

import { boundaryXs, xValues } from '../../src/ui/lib/chart-axes.ts';
import { lowerBound as indexAtOrAfter } from '../../src/ui/lib/bounds.ts';
describe('chart x axes', () => {
  const h = { steps: [1, 2, 3, 5], tokens: [10, 20, 30, 40], time: [1000, 2000, 4000, 9000] };
  it('maps steps to step, cumulative tokens or seconds', () => {
    expect(xValues('step', h)).toEqual([1, 2, 3, 5]);
    expect(xValues('tokens', h)).toEqual([10, 30, 60, 100]);
    expect(xValues('time', h)).toEqual([1, 2, 4, 9]);
  });
  it('places file boundaries on the chosen axis', () => {
    expect(boundaryXs([3, 4], h.steps, xValues('tokens', h))).toEqual([60, 100]);
    expect(boundaryXs([9], h.steps, h.steps)).toEqual([]);
    expect(indexAtOrAfter(h.steps, 4)).toBe(3);
    expect(indexAtOrAfter(h.steps, 0)).toBe(0);
  });
});

import { queueStepsLeft, stepsLeft } from '../../src/ui/lib/eta.ts';
describe('queue ETA steps', () => {
  const cfg = { batchSize: 2, gradAccumSteps: 2, epochs: 1 };
  const row = (id: number, status: string, fileStep: number, fileSteps: number, examples?: number, heldOut = 0) => ({
    id,
    status,
    progress: { fileStep, fileSteps },
    report: examples === undefined ? undefined : { examples },
    heldOut: Array(heldOut).fill(0),
  });
  it('uses the live position, then planned steps, then examples sized by the config', () => {
    const live = { itemId: 1, fileStep: 7, fileSteps: 10 };
    expect(stepsLeft(row(1, 'processing', 4, 10), live, cfg)).toBe(3);
    expect(stepsLeft(row(2, 'queued', 2, 6), live, cfg)).toBe(4);
    // 21 examples - 1 held out = 20 → 10 micro-batches → 5 steps with accumulation 2
    expect(stepsLeft(row(3, 'queued', 0, 0, 21, 1), live, cfg)).toBe(5);
    expect(stepsLeft(row(4, 'validating', 0, 0), live, cfg)).toBeNull();
    const q = queueStepsLeft([row(1, 'processing', 4, 10), row(3, 'queued', 0, 0, 21, 1), row(5, 'completed', 8, 8), row(6, 'queued', 0, 0)], live, cfg);
    expect(q).toEqual({ steps: 8, unknown: 1 });
  });
});
