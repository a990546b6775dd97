// The set-aside branches beside the current run in the loss chart: each branch's x values on the chart's axis, and
// series with their own x values put on one shared x (uPlot draws aligned data). Pure, so the chart stays thin.
import type { XAxis } from './chart-axes.ts';
import { upperBound } from './bounds.ts';
import { debiasedEma } from './smoothing.ts';

/**
 * A branch's x values on `axis`: its steps, its wall time in seconds, or tokens seen, counted on from the current
 * line's tokens before the branch's first step (where it left the line).
 */
export function branchXs(
  axis: XAxis,
  branch: { steps: readonly number[]; tokens: readonly number[]; time: readonly number[] },
  line: { steps: readonly number[]; tokens: readonly number[] },
): number[] {
  if (axis === 'step') return [...branch.steps];
  if (axis === 'time') return branch.time.map((t) => t / 1000);
  let sum = 0;
  const first = branch.steps[0] ?? Infinity;
  for (let i = 0; i < line.steps.length && line.steps[i] < first; i++) sum += line.tokens[i];
  return branch.tokens.map((t) => (sum += t));
}

/**
 * One x array for all series: the sorted union of `base.x` and every extra's x, each series null where it has no
 * point. `base.x` and each extra's x must be ascending; base series keep their order, extras follow.
 */
export function alignSeries(
  base: { x: readonly number[]; ys: readonly (readonly (number | null)[])[] },
  extras: readonly { x: readonly number[]; y: readonly (number | null)[] }[],
): { x: number[]; ys: (number | null)[][] } {
  if (extras.every((e) => e.x.length === 0)) return { x: [...base.x], ys: [...base.ys.map((y) => [...y]), ...extras.map(() => new Array<number | null>(base.x.length).fill(null))] };
  const all = new Set<number>(base.x);
  for (const e of extras) for (const v of e.x) all.add(v);
  const x = [...all].sort((a, b) => a - b);
  const at = new Map<number, number>();
  x.forEach((v, i) => at.set(v, i));
  const place = (xs: readonly number[], y: readonly (number | null)[]) => {
    const out: (number | null)[] = new Array(x.length).fill(null);
    for (let i = 0; i < xs.length; i++) out[at.get(xs[i])!] = y[i];
    return out;
  };
  return { x, ys: [...base.ys.map((y) => place(base.x, y)), ...extras.map((e) => place(e.x, e.y))] };
}

/**
 * A branch's smoothed loss going on from the current line: the average runs over the line's rows up to the branch's
 * fork (`k` of them), then over the branch's own, so its curve starts where the line's was; a branch that does not
 * go on from the current line (fork null) is smoothed on its own (k 0).
 */
export function continuedSmoothing(
  line: { steps: readonly number[]; loss: readonly (number | null)[] },
  branch: { loss: readonly (number | null)[]; fork: number | null },
  weight: number,
): { k: number; smoothed: (number | null)[] } {
  const k = branch.fork === null ? 0 : upperBound(line.steps, branch.fork);
  return { k, smoothed: debiasedEma([...line.loss.slice(0, k), ...branch.loss], weight).slice(k) };
}
