// What a queue item shows of its data before training: the training time its tokens need at the measured speed,
// and the length histogram as bars with labels. Pure functions over the stored DataProfile, no DOM.
import type { DataProfile } from '../../store/db.ts';

export interface TrainTimeInput {
  data: DataProfile;
  /** Valid examples and those held out (not trained). */
  examples: number;
  heldOut: number;
  /** Passes over the file (the config's epochs). */
  epochs: number;
  /** Fraction of the file already trained (fileStep / fileSteps), 0–1. */
  done: number;
  /** Learned milliseconds per token (the ETA estimator's), null before any step was measured. */
  msPerToken: number | null;
}

/** Seconds to train what is left of the file at the current speed; null when no speed is known or no tokens are. */
export function estimateTrainSeconds(i: TrainTimeInput): number | null {
  const t = i.data.tokens;
  if (i.msPerToken == null || !(i.msPerToken > 0) || !t || i.examples <= 0) return null;
  const trainedShare = Math.max(0, i.examples - i.heldOut) / i.examples;
  const left = Math.min(1, Math.max(0, 1 - i.done));
  return (t.fedTokens * trainedShare * Math.max(1, i.epochs) * left * i.msPerToken) / 1000;
}

export interface HistogramBar {
  /** First and last length of the bin ("over": maxLength + 1 … longest). */
  from: number;
  to: number;
  count: number;
  /** Bar height 0–1 relative to the tallest bin. */
  height: number;
  /** True for the bin of examples longer than maxLength (truncated at training). */
  over: boolean;
}

/** The histogram's bins as bars (the "over maxLength" bin last, present only when some example is longer). */
export function histogramBars(data: DataProfile): HistogramBar[] {
  const t = data.tokens;
  if (!t) return [];
  const h = t.histogram;
  const bars: HistogramBar[] = h.counts.map((count, i) => ({ from: i * h.binWidth + 1, to: Math.min((i + 1) * h.binWidth, h.maxLength), count, height: 0, over: false }));
  if (h.over > 0) bars.push({ from: h.maxLength + 1, to: t.max, count: h.over, height: 0, over: true });
  const top = Math.max(1, ...bars.map((b) => b.count));
  for (const b of bars) b.height = b.count / top;
  return bars;
}
