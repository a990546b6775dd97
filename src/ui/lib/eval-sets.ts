// What the eval-sets panel shows of one set's results: the latest finished result of each metric, the baseline (the
// base model's result at step 0, else the set's first result) and the latest's delta from it, and each metric by step.
import type { EvalResultRow } from '../../store/db.ts';

export const EVAL_METRICS = ['em', 'loss', 'ece'] as const;
export type EvalMetric = (typeof EVAL_METRICS)[number];

export interface EvalSetSummary {
  latest: EvalResultRow | null;
  baseline: EvalResultRow | null;
  /** True when the baseline is the base model (step 0), not just the first eval of a set added later. */
  isBase: boolean;
  /** latest − baseline per metric; null when there is no later result than the baseline. */
  delta: Record<EvalMetric, number> | null;
  /** Ascending steps and each metric's values at them (chart data). */
  series: { steps: number[] } & Record<EvalMetric, number[]>;
}

export function summarizeEvalSet(results: readonly EvalResultRow[]): EvalSetSummary {
  const sorted = [...results].sort((a, b) => a.step - b.step || a.time - b.time);
  // The latest finished is the newest in time (after a rollback, the set-aside branch may hold higher steps).
  const latest = results.reduce<EvalResultRow | null>((a, r) => (!a || r.time > a.time ? r : a), null), baseline = sorted[0] ?? null;
  const delta = latest && baseline && latest !== baseline
    ? { em: latest.em - baseline.em, loss: latest.loss - baseline.loss, ece: latest.ece - baseline.ece }
    : null;
  return {
    latest, baseline, isBase: baseline?.step === 0, delta,
    series: { steps: sorted.map((r) => r.step), em: sorted.map((r) => r.em), loss: sorted.map((r) => r.loss), ece: sorted.map((r) => r.ece) },
  };
}

/** A metric's value as shown: EM as a percentage, loss and ECE with 4 decimals. */
export function formatMetric(m: EvalMetric, v: number): string {
  if (!Number.isFinite(v)) return '—';
  return m === 'em' ? `${(v * 100).toFixed(1)} %` : v.toFixed(4);
}

/** A delta with its sign: EM in percentage points. */
export function formatDelta(m: EvalMetric, d: number): string {
  const sign = d > 0 ? '+' : d < 0 ? '−' : '±';
  return m === 'em' ? `${sign}${Math.abs(d * 100).toFixed(1)} pp` : `${sign}${Math.abs(d).toFixed(4)}`;
}
