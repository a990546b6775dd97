// X values of the training charts: global step, tokens seen (cumulative) or wall time (seconds, uPlot's time unit).
// Pure, so the chart components stay thin.
import { lowerBound } from './bounds.ts';

export type XAxis = 'step' | 'tokens' | 'time';

export function xValues(axis: XAxis, h: { steps: readonly number[]; tokens: readonly number[]; time: readonly number[] }): number[] {
  if (axis === 'step') return [...h.steps];
  if (axis === 'time') return h.time.map((t) => t / 1000);
  const out: number[] = new Array(h.tokens.length);
  let sum = 0;
  for (let i = 0; i < h.tokens.length; i++) out[i] = sum += h.tokens[i];
  return out;
}

/** The x of each boundary step (a step missing from `steps` maps to the next logged one). */
export function boundaryXs(boundaries: readonly number[], steps: readonly number[], xs: readonly number[]): number[] {
  const out: number[] = [];
  for (const b of boundaries) {
    const i = lowerBound(steps, b);
    if (i < xs.length) out.push(xs[i]);
  }
  return out;
}
