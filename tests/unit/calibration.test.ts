// Expected calibration error on hand-made confidences, against values computed by hand.
import { describe, expect, it } from 'vitest';
import { expectedCalibrationError } from '../../src/engine/calibration.ts';

describe('expectedCalibrationError', () => {
  it('equals the hand-computed value over 10 equal-width bins', () => {
    // bin 9 [0.9, 1]: 0.95, 1.0, 0.92 → mean 0.9567, 2 of 3 right → |0.9567 − 0.6667| = 0.29, weight 3/8
    // bin 7 [0.7, 0.8): 0.75, 0.71 → mean 0.73, 1 of 2 right → 0.23, weight 2/8
    // bin 2 [0.2, 0.3): 0.25 → wrong → 0.25, weight 1/8
    // bin 5 [0.5, 0.6): 0.5, 0.55 → mean 0.525, 2 of 2 right → 0.475, weight 2/8
    const conf = [0.95, 1.0, 0.92, 0.75, 0.71, 0.25, 0.5, 0.55];
    const right = [1, 1, 0, 1, 0, 0, 1, 1];
    const expected = (3 / 8) * 0.29 + (2 / 8) * 0.23 + (1 / 8) * 0.25 + (2 / 8) * 0.475;
    const r = expectedCalibrationError(conf, right);
    expect(r.ece).toBeCloseTo(expected, 12);
    expect(r.bins.map((b) => b.count)).toEqual([0, 0, 1, 0, 0, 2, 0, 2, 0, 3]);
    expect(r.count).toBe(8);
  });

  it('is 0 for a perfectly calibrated set and for no predictions; 1 for confident and always wrong', () => {
    expect(expectedCalibrationError([0.25, 0.25, 0.25, 0.25], [1, 0, 0, 0]).ece).toBeCloseTo(0, 12);
    expect(expectedCalibrationError([], []).ece).toBe(0);
    expect(expectedCalibrationError([1, 1], [0, 0]).ece).toBe(1);
  });

  it('refuses confidences outside [0, 1] and mismatched lengths, naming them', () => {
    expect(() => expectedCalibrationError([0.5, NaN], [1, 0])).toThrow(/confidence 1 is NaN/);
    expect(() => expectedCalibrationError([0.5], [1, 0])).toThrow(/1 confidences but 2 outcomes/);
  });
});
