// Loss smoothing as Weights & Biases does it: an exponential moving average with bias correction, so the
// first points are not dragged towards zero. Pure functions over plain arrays (null = no value at that step).

/**
 * Debiased EMA of `values` with smoothing weight `weight` in [0, 1) (0 = raw, 0.99 = very smooth).
 * Nulls and non-finite values are carried through as null and do not move the average.
 */
export function debiasedEma(values: readonly (number | null)[], weight: number): (number | null)[] {
  if (!(weight >= 0 && weight < 1)) throw new RangeError(`smoothing weight must be in [0, 1), got ${weight}`);
  const out: (number | null)[] = new Array(values.length);
  let ema = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v == null || !Number.isFinite(v)) {
      out[i] = null;
      continue;
    }
    ema = weight * ema + (1 - weight) * v;
    n++;
    const debias = 1 - weight ** n;
    out[i] = debias === 0 ? v : ema / debias;
  }
  return out;
}

/** Incremental form of `debiasedEma` for a live value (one update per logged loss). */
export class DebiasedEma {
  private ema = 0;
  private n = 0;
  constructor(readonly weight: number) {
    if (!(weight >= 0 && weight < 1)) throw new RangeError(`smoothing weight must be in [0, 1), got ${weight}`);
  }
  push(v: number): number {
    this.ema = this.weight * this.ema + (1 - this.weight) * v;
    this.n++;
    return this.value as number;
  }
  get value(): number | null {
    if (this.n === 0) return null;
    const debias = 1 - this.weight ** this.n;
    return debias === 0 ? this.ema : this.ema / debias;
  }
}

export type LossTrend = 'improving' | 'stable' | 'rising' | 'unknown';

/**
 * The old system's trend rule: mean of the last `window` losses against the `window` before them;
 * rising above 1.1×, improving below 0.99×, stable otherwise; unknown with fewer than 2·window points.
 */
export function lossTrend(losses: readonly number[], window = 10): LossTrend {
  if (losses.length < 2 * window) return 'unknown';
  const mean = (a: readonly number[]) => a.reduce((s, x) => s + x, 0) / a.length;
  const last = mean(losses.slice(-window));
  const before = mean(losses.slice(-2 * window, -window));
  if (last > before * 1.1) return 'rising';
  if (last < before * 0.99) return 'improving';
  return 'stable';
}
