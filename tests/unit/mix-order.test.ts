import { describe, expect, it } from 'vitest';
import { MixOrder, mixOrder, type MixSpec } from '../../src/daemon/mix-order.ts';

const spec = (ratios: number[], sizes: number[], seed = 7, mode: MixSpec['mode'] = 'examples', len?: (s: number, i: number) => number): MixSpec => ({
  mode,
  seed,
  sources: ratios.map((ratio, s) => ({ ratio, size: sizes[s], length: len ? (i: number) => len(s, i) : undefined })),
});

describe('mix order', () => {
  it('honours the ratios within ±1 example in every prefix', () => {
    for (const [ratios, sizes] of [[[70, 30], [10, 4]], [[1, 1, 1], [3, 5, 7]], [[5, 3, 2, 1], [9, 2, 4, 6]], [[0.9, 0.1], [50, 50]]] as const) {
      const { picks } = mixOrder(spec([...ratios], [...sizes]), 400);
      const total = ratios.reduce((a, b) => a + b, 0);
      const taken = ratios.map(() => 0);
      picks.forEach((p, n) => {
        taken[p.source]++;
        ratios.forEach((r, s) => expect(Math.abs(taken[s] - (r / total) * (n + 1))).toBeLessThanOrEqual(1));
      });
    }
  });

  it('visits every example of a source once per pass, in a seeded order', () => {
    const { picks } = mixOrder(spec([70, 30], [7, 3]), 100);
    const a = picks.filter((p) => p.source === 0).map((p) => p.example);
    expect(a.length).toBe(70);
    for (let pass = 0; pass < 10; pass++) expect([...a.slice(pass * 7, pass * 7 + 7)].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(a.slice(0, 7)).not.toEqual(a.slice(7, 14)); // reshuffled per pass (this seed)
  });

  it('is deterministic by seed', () => {
    const one = mixOrder(spec([70, 30], [20, 20], 1), 60).picks;
    expect(mixOrder(spec([70, 30], [20, 20], 1), 60).picks).toEqual(one);
    expect(mixOrder(spec([70, 30], [20, 20], 2), 60).picks).not.toEqual(one);
  });

  it('resumes from any cursor exactly as the uninterrupted order', () => {
    const s = spec([2, 1, 1], [5, 3, 4], 11, 'tokens', (src, i) => 3 + ((src * 7 + i * 5) % 9));
    const whole = mixOrder(s, 120).picks;
    for (const cut of [0, 1, 17, 59, 119]) {
      const head = mixOrder(s, cut);
      const cursor = JSON.parse(JSON.stringify(head.cursor)); // as stored in a checkpoint
      expect([...head.picks, ...mixOrder(s, 120 - cut, cursor).picks]).toEqual(whole);
    }
  });

  it('by tokens, honours the ratios of tokens within one example', () => {
    const len = (s: number, i: number) => (s === 0 ? 10 + (i % 3) : 40 + (i % 5));
    const o = new MixOrder(spec([70, 30], [12, 12], 3, 'tokens', len));
    for (let n = 0; n < 300; n++) {
      o.next();
      const c = o.cursor, T = c.tokens[0] + c.tokens[1];
      expect(Math.abs(c.tokens[1] - 0.3 * T)).toBeLessThanOrEqual(45);
    }
    const c = o.cursor;
    expect(c.tokens[0] / (c.tokens[0] + c.tokens[1])).toBeCloseTo(0.7, 1);
    expect(c.taken[0]).toBeGreaterThan(c.taken[1] * 5); // short examples: many more of them
  });

  it('refuses a bad spec, naming the source', () => {
    expect(() => new MixOrder(spec([70], [3]))).toThrow(/at least two sources/);
    expect(() => new MixOrder(spec([70, 0], [3, 3]))).toThrow(/source 2: ratio/);
    expect(() => new MixOrder(spec([70, 30], [3, 0]))).toThrow(/source 2: it has no training examples/);
    expect(() => new MixOrder(spec([1, 1], [3, 3]), { n: 0, taken: [0], tokens: [0] })).toThrow(/cursor has 1 sources/);
  });
});
