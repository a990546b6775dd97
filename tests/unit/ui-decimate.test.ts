// Chart decimation (src/ui/lib/decimate.ts): few points for long series, every extreme kept, ranges honoured.
import { describe, expect, it } from 'vitest';
import { decimateIndices, pick } from '../../src/ui/lib/decimate.ts';
import { lowerBound, upperBound } from '../../src/ui/lib/bounds.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('decimateIndices', () => {
  it('keeps every point of a short series', () => {
    const xs = range(50);
    expect(decimateIndices(xs, [xs.map((x) => x * 2)], 100)).toEqual(xs);
  });

  it('draws a 100,000-point series with a few points per bucket, keeping spikes, dips and both ends', () => {
    const n = 100_000;
    const xs = range(n);
    const loss = xs.map((i) => 2 + Math.sin(i / 50) * 0.1);
    loss[12_345] = 50; // a spike
    loss[77_777] = -3; // a dip
    const smoothed: (number | null)[] = xs.map((i) => (i % 3 === 0 ? null : 2));
    const idx = decimateIndices(xs, [loss, smoothed], 1000);
    expect(idx.length).toBeLessThanOrEqual(1000 * 6);
    expect(idx.length).toBeGreaterThan(1000);
    expect(idx).toContain(12_345);
    expect(idx).toContain(77_777);
    expect(idx[0]).toBe(0);
    expect(idx[idx.length - 1]).toBe(n - 1);
    for (let k = 1; k < idx.length; k++) expect(idx[k]).toBeGreaterThan(idx[k - 1]);
    // The envelope of each bucket survives: max and min of the drawn points equal those of the data.
    const drawn = pick(loss, idx);
    expect(Math.max(...drawn)).toBe(50);
    expect(Math.min(...drawn)).toBe(-3);
  });

  it('keeps the indices asked for and limits to a zoomed range plus one point each side', () => {
    const xs = range(100_000).map((i) => i * 10);
    const y = xs.map((x) => x % 7);
    const idx = decimateIndices(xs, [y], 200, { min: 5000, max: 6000 }, [550, 99_000]);
    expect(idx[0]).toBe(499); // x 4990, just before the range
    expect(idx[idx.length - 1]).toBe(601); // x 6010, just after
    expect(idx).toContain(550);
    expect(idx).not.toContain(99_000); // outside the range
  });

  it('rejects a bucket count below 1', () => {
    expect(() => decimateIndices([1, 2], [[1, 2]], 0)).toThrow(/buckets/);
  });
});

describe('lowerBound / upperBound', () => {
  it('find the first index at or after, and after, a value', () => {
    const xs = [1, 2, 2, 2, 5];
    expect(lowerBound(xs, 2)).toBe(1);
    expect(upperBound(xs, 2)).toBe(4);
    expect(lowerBound(xs, 9)).toBe(5);
    expect(upperBound(xs, 0)).toBe(0);
  });
});
