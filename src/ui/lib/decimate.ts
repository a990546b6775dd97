// Chart decimation: which points of a long series to draw so a 100,000-step history costs about as much as a
// few thousand points, yet every spike stays visible. Per x bucket (about one per pixel) it keeps the first and
// last point and each series' minimum and maximum (so a line drawn through them has the same envelope), plus
// any indices the caller must keep (validation points, file boundaries). Pure functions.
import { lowerBound, upperBound } from './bounds.ts';

/**
 * Ascending indices of the points to draw.
 * @param xs ascending x values
 * @param ys series aligned with xs (null = no value)
 * @param buckets how many x buckets (about the plot's width in pixels)
 * @param range only points within [min, max] (plus one on each side, so lines reach the edges); all when omitted
 * @param keep indices always kept when inside the range
 */
export function decimateIndices(
  xs: ArrayLike<number>,
  ys: readonly ArrayLike<number | null>[],
  buckets: number,
  range?: { min: number; max: number },
  keep: readonly number[] = [],
): number[] {
  const n = xs.length;
  if (!(buckets >= 1)) throw new RangeError(`buckets must be at least 1, got ${buckets}`);
  let i0 = 0;
  let i1 = n; // exclusive
  if (range) {
    i0 = Math.max(0, lowerBound(xs, range.min) - 1);
    i1 = Math.min(n, upperBound(xs, range.max) + 1);
  }
  const len = i1 - i0;
  if (len <= 0) return [];
  const perBucket = 2 + 2 * ys.length;
  if (len <= buckets * perBucket) return Array.from({ length: len }, (_, k) => i0 + k);
  const mark = new Uint8Array(len);
  const size = len / buckets;
  for (let b = 0; b < buckets; b++) {
    const s = Math.floor(b * size);
    const e = Math.min(len, Math.floor((b + 1) * size));
    if (e <= s) continue;
    mark[s] = 1;
    mark[e - 1] = 1;
    for (const y of ys) {
      let lo = -1;
      let hi = -1;
      for (let k = i0 + s; k < i0 + e; k++) {
        const v = y[k];
        if (v == null || !Number.isFinite(v)) continue;
        if (lo < 0 || v < (y[lo] as number)) lo = k;
        if (hi < 0 || v > (y[hi] as number)) hi = k;
      }
      if (lo >= 0) mark[lo - i0] = 1;
      if (hi >= 0) mark[hi - i0] = 1;
    }
  }
  for (const k of keep) if (k >= i0 && k < i1) mark[k - i0] = 1;
  const out: number[] = [];
  for (let k = 0; k < len; k++) if (mark[k]) out.push(i0 + k);
  return out;
}

/** `values` at `indices`. */
export function pick<T>(values: ArrayLike<T>, indices: readonly number[]): T[] {
  const out: T[] = new Array(indices.length);
  for (let k = 0; k < indices.length; k++) out[k] = values[indices[k]];
  return out;
}
