// Length histogram against max_length and the tokens read after truncation (the queue item's token statistics).
import { describe, expect, it } from 'vitest';
import { fedTokens, lengthHistogram } from '../../src/engine/data/length-stats.ts';

describe('lengthHistogram', () => {
  it('bins 1..maxLength in equal widths and counts the longer ones apart', () => {
    const h = lengthHistogram([1, 4, 5, 8, 9, 16, 17, 40], 16, 4);
    expect(h).toEqual({ binWidth: 4, counts: [2, 2, 1, 1], over: 2, maxLength: 16 });
  });

  it('a maxLength that does not divide: the last bin still ends at or past maxLength; every example is counted once', () => {
    const lengths = Array.from({ length: 100 }, (_, i) => i + 1);
    const h = lengthHistogram(lengths, 50, 16);
    expect(h.binWidth).toBe(4);
    expect(h.counts.length * h.binWidth).toBeGreaterThanOrEqual(50);
    expect((h.counts.length - 1) * h.binWidth).toBeLessThan(50);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(50);
    expect(h.over).toBe(50);
  });

  it('fewer tokens than bins: one token a bin; zero-length never lost', () => {
    expect(lengthHistogram([0, 1, 2, 3], 3, 16)).toEqual({ binWidth: 1, counts: [2, 1, 1], over: 0, maxLength: 3 });
  });

  it('rejects a bad maxLength or bin count with the value', () => {
    expect(() => lengthHistogram([1], 0)).toThrow(/maxLength must be a positive integer, got 0/);
    expect(() => lengthHistogram([1], 8, 0)).toThrow(/bins must be a positive integer, got 0/);
  });
});

describe('fedTokens', () => {
  it('sums each length cut at maxLength', () => {
    expect(fedTokens([10, 100, 30], 32)).toBe(10 + 32 + 30);
    expect(fedTokens([], 32)).toBe(0);
  });
});
