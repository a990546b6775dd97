/**
 * Conversation-length statistics of a dataset against `maxLength`: a histogram of equal-width bins covering
 * [1, maxLength] plus one bin for what is longer (truncated at training), and the tokens the model reads after
 * truncation. Pure; fed by the streaming validator with the lengths it already counts.
 */

export interface LengthHistogram {
  /** Tokens per bin: bin i holds lengths in [i·binWidth + 1, (i+1)·binWidth]. */
  binWidth: number;
  /** Examples per bin; the bins together cover 1..maxLength (the last one may end past it, never before). */
  counts: number[];
  /** Examples longer than maxLength (truncated at training). */
  over: number;
  maxLength: number;
}

/** Bins of the histogram unless asked otherwise. */
export const HISTOGRAM_BINS = 16;

/** Histogram of conversation lengths (any order) against maxLength; `bins` is capped at maxLength. */
export function lengthHistogram(lengths: ArrayLike<number>, maxLength: number, bins = HISTOGRAM_BINS): LengthHistogram {
  if (!Number.isInteger(maxLength) || maxLength < 1) throw new RangeError(`lengthHistogram: maxLength must be a positive integer, got ${maxLength}`);
  if (!Number.isInteger(bins) || bins < 1) throw new RangeError(`lengthHistogram: bins must be a positive integer, got ${bins}`);
  const binWidth = Math.ceil(maxLength / Math.min(bins, maxLength));
  const counts = new Array<number>(Math.ceil(maxLength / binWidth)).fill(0);
  let over = 0;
  for (let i = 0; i < lengths.length; i++) {
    const n = lengths[i];
    if (n > maxLength) over++;
    else counts[Math.max(0, Math.ceil(n / binWidth) - 1)]++;
  }
  return { binWidth, counts, over, maxLength };
}

/** Tokens the model reads: every conversation cut at maxLength. */
export function fedTokens(lengths: ArrayLike<number>, maxLength: number): number {
  let sum = 0;
  for (let i = 0; i < lengths.length; i++) sum += Math.min(lengths[i], maxLength);
  return sum;
}
