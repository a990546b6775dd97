/**
 * Expected calibration error: how far a model's confidence is from its accuracy. Predictions are put in equal-width
 * bins by confidence (bin b holds confidences in [b/n, (b+1)/n), the last bin also 1); ECE is the sum over bins of
 * (bin size / total) · |mean confidence − accuracy| in the bin. For answer tokens: the confidence is the model's
 * probability of its own top token and "correct" whether that token is the golden one — or, as the eval sets use it,
 * the probability given to the golden token with correct = the golden token was the top one.
 */

export interface CalibrationBin {
  /** Lower edge of the bin (upper edge lower + 1/bins). */
  lower: number;
  count: number;
  meanConfidence: number;
  accuracy: number;
}

export interface Calibration {
  ece: number;
  bins: CalibrationBin[];
  count: number;
}

/** ECE over `confidences` (each in [0, 1]) and whether each prediction was right; 0 for no predictions. */
export function expectedCalibrationError(confidences: ArrayLike<number>, correct: ArrayLike<boolean | number>, bins = 10): Calibration {
  if (confidences.length !== correct.length) throw new Error(`expectedCalibrationError: ${confidences.length} confidences but ${correct.length} outcomes`);
  if (!Number.isInteger(bins) || bins < 1) throw new Error(`expectedCalibrationError: bins must be a positive integer, got ${bins}`);
  const sumConf = new Float64Array(bins), sumRight = new Float64Array(bins), count = new Float64Array(bins);
  for (let i = 0; i < confidences.length; i++) {
    const c = confidences[i];
    if (!(c >= 0 && c <= 1)) throw new Error(`expectedCalibrationError: confidence ${i} is ${c}, not in [0, 1]`);
    const b = Math.min(bins - 1, Math.floor(c * bins));
    sumConf[b] += c;
    sumRight[b] += correct[i] ? 1 : 0;
    count[b]++;
  }
  const n = confidences.length;
  let ece = 0;
  const out: CalibrationBin[] = [];
  for (let b = 0; b < bins; b++) {
    const k = count[b];
    const meanConfidence = k ? sumConf[b] / k : 0, accuracy = k ? sumRight[b] / k : 0;
    if (k) ece += (k / n) * Math.abs(meanConfidence - accuracy);
    out.push({ lower: b / bins, count: k, meanConfidence, accuracy });
  }
  return { ece: n ? ece : 0, bins: out, count: n };
}
