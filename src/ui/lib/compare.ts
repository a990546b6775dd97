// Two runs, branches or models side by side (issue 14): their loss, validation and eval curves on one x axis (steps
// from each one's start, or tokens seen since it), and the config fields that differ. Pure, so the view stays thin.
import { alignSeries } from './branch-series.ts';

export type CompareAxis = 'step' | 'tokens';

/** One side of a comparison, as loaded from the store (compare-data.ts). */
export interface CompareSide {
  label: string;
  /** Global step the x axis counts from (a run's start; 0 for a model or a branch). */
  origin: number;
  /** Logged rows, ascending: step, loss, and tokens per step over the row's interval. */
  metrics: { step: number; loss: number | null; tokens: number }[];
  val: { step: number; valLoss: number }[];
  /** Eval-set exact match by step, per set name. */
  evals: { name: string; step: number; em: number }[];
  /** The config it trained with, flat (dotted keys); null when unknown. */
  config: Record<string, unknown> | null;
}

/** Nested objects as dotted keys (`lora.rank`); arrays and scalars kept. */
export function flatConfig(c: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flatConfig(v as Record<string, unknown>, `${prefix}${k}.`));
    else out[`${prefix}${k}`] = v;
  }
  return out;
}

/** The fields whose values differ (a field one side lacks counts), sorted by name. */
export function configDiff(a: Record<string, unknown>, b: Record<string, unknown>): { field: string; a: unknown; b: unknown }[] {
  const fa = flatConfig(a), fb = flatConfig(b);
  return [...new Set([...Object.keys(fa), ...Object.keys(fb)])]
    .filter((k) => JSON.stringify(fa[k]) !== JSON.stringify(fb[k]))
    .sort()
    .map((field) => ({ field, a: fa[field], b: fb[field] }));
}

/** x of each logged row: steps since `origin`, or tokens seen since it (tokens per step × the steps of each interval). */
export function metricXs(axis: CompareAxis, rows: CompareSide['metrics'], origin: number): number[] {
  if (axis === 'step') return rows.map((r) => r.step - origin);
  let sum = 0, prev = origin;
  return rows.map((r) => {
    sum += r.tokens * Math.max(0, r.step - prev);
    prev = r.step;
    return sum;
  });
}

/** x of any step on a side's axis: its own step, or the tokens seen at the first logged row at or after it. */
function stepToX(axis: CompareAxis, side: CompareSide): (step: number) => number | null {
  const xs = metricXs(axis, side.metrics, side.origin);
  return (step) => {
    if (axis === 'step') return step - side.origin;
    const i = side.metrics.findIndex((r) => r.step >= step);
    return i < 0 ? null : xs[i];
  };
}

const sortedByX = (x: (number | null)[], y: (number | null)[]) => {
  const pts = x.map((v, i) => [v, y[i]] as const).filter((p): p is readonly [number, number | null] => p[0] !== null).sort((p, q) => p[0] - q[0]);
  const dedup = pts.filter((p, i) => i === 0 || p[0] !== pts[i - 1][0]);
  return { x: dedup.map((p) => p[0]), y: dedup.map((p) => p[1]) };
};

/**
 * Both sides' curves on one x array (uPlot's aligned data): [x, loss A, loss B, val A, val B, then one series per
 * eval set and side], with the series' names.
 */
export function overlay(axis: CompareAxis, a: CompareSide, b: CompareSide): { x: number[]; ys: (number | null)[][]; names: string[] } {
  const series: { x: number[]; y: (number | null)[]; name: string }[] = [];
  for (const [key, get] of [['loss', (s: CompareSide) => ({ steps: s.metrics.map((r) => r.step), y: s.metrics.map((r) => r.loss) })], ['val', (s: CompareSide) => ({ steps: s.val.map((r) => r.step), y: s.val.map((r) => r.valLoss) })]] as const) {
    for (const side of [a, b]) {
      const { steps, y } = get(side);
      const toX = stepToX(axis, side);
      series.push({ ...sortedByX(steps.map(toX), y), name: `${key} ${side.label}` });
    }
  }
  const setNames = [...new Set([...a.evals, ...b.evals].map((e) => e.name))].sort();
  for (const n of setNames) {
    for (const side of [a, b]) {
      const rows = side.evals.filter((e) => e.name === n);
      const toX = stepToX(axis, side);
      series.push({ ...sortedByX(rows.map((r) => toX(r.step)), rows.map((r) => r.em)), name: `EM ${n} ${side.label}` });
    }
  }
  const { x, ys } = alignSeries({ x: [], ys: [] }, series);
  return { x, ys, names: series.map((s) => s.name) };
}
