/**
 * The order of a dataset mix (issue 14): several sources interleaved by ratio, by examples or by tokens, as a pure
 * function of (seed, ratios, mode, the sources' sizes and lengths) and a cursor. The cursor (examples taken so far
 * overall and per source, tokens per source) is the mix's whole position: each source is visited in a seeded
 * permutation per pass (`rngFor(seed, …)`, no rng state to carry), so the same cursor always continues the same way.
 */
import { rngFor } from '../engine/rng.ts';

export type MixMode = 'examples' | 'tokens';

export interface MixSourceShape {
  /** Training examples in the source. */
  size: number;
  /** Share of the mix (any positive number; normalised over the sources). */
  ratio: number;
  /** Tokens of each example (read in 'tokens' mode). */
  length?(index: number): number;
}

export interface MixSpec {
  sources: readonly MixSourceShape[];
  mode: MixMode;
  seed: number;
}

/** Where a mix is: examples taken in all, and per source the examples and tokens taken. Plain JSON. */
export interface MixCursor {
  n: number;
  taken: number[];
  tokens: number[];
}

export interface MixPick {
  source: number;
  example: number;
}

export const startCursor = (sources: number): MixCursor => ({ n: 0, taken: new Array(sources).fill(0), tokens: new Array(sources).fill(0) });

/** Checks a spec: at least two sources, each with examples and a positive finite ratio. Throws naming the source. */
export function checkMixSpec(spec: MixSpec): void {
  if (spec.sources.length < 2) throw new Error(`a mix needs at least two sources, got ${spec.sources.length}`);
  spec.sources.forEach((s, i) => {
    if (!(Number.isFinite(s.ratio) && s.ratio > 0)) throw new Error(`mix source ${i + 1}: ratio must be a positive number, got ${s.ratio}`);
    if (!(Number.isInteger(s.size) && s.size > 0)) throw new Error(`mix source ${i + 1}: it has no training examples`);
    if (spec.mode === 'tokens' && !s.length) throw new Error(`mix source ${i + 1}: a mix by tokens needs the examples' lengths`);
  });
}

/** Iterates a mix from a cursor; `next()` picks the source furthest behind its share and that source's next example. */
export class MixOrder {
  private readonly shares: number[];
  private readonly perms = new Map<string, Int32Array>();
  private cur: MixCursor;

  constructor(private readonly spec: MixSpec, from?: MixCursor) {
    checkMixSpec(spec);
    const total = spec.sources.reduce((a, s) => a + s.ratio, 0);
    this.shares = spec.sources.map((s) => s.ratio / total);
    const k = spec.sources.length;
    if (from && (from.taken.length !== k || from.tokens.length !== k)) throw new Error(`mix cursor has ${from.taken.length} sources, the mix has ${k}`);
    this.cur = from ? { n: from.n, taken: [...from.taken], tokens: [...from.tokens] } : startCursor(k);
  }

  /** A copy of the position. */
  get cursor(): MixCursor {
    return { n: this.cur.n, taken: [...this.cur.taken], tokens: [...this.cur.tokens] };
  }

  next(): MixPick {
    const c = this.cur;
    const byTokens = this.spec.mode === 'tokens';
    const T = c.tokens.reduce((a, b) => a + b, 0);
    let best = 0, bestDeficit = -Infinity;
    for (let s = 0; s < this.shares.length; s++) {
      // Examples: the share of the prefix including this pick minus what was taken; tokens: the share of tokens so far.
      const d = byTokens ? this.shares[s] * T - c.tokens[s] : this.shares[s] * (c.n + 1) - c.taken[s];
      if (d > bestDeficit + 1e-12) {
        best = s;
        bestDeficit = d;
      }
    }
    const src = this.spec.sources[best];
    const pass = Math.floor(c.taken[best] / src.size);
    const example = this.perm(best, pass)[c.taken[best] % src.size];
    c.n++;
    c.taken[best]++;
    if (byTokens) c.tokens[best] += src.length!(example);
    else if (src.length) c.tokens[best] += src.length(example);
    return { source: best, example };
  }

  /** Source `s`'s visit order in its pass `pass`: a seeded permutation (a small source is repeated, reshuffled). */
  private perm(s: number, pass: number): Int32Array {
    const key = `${s}:${pass}`;
    let p = this.perms.get(key);
    if (!p) {
      const size = this.spec.sources[s].size;
      p = Int32Array.from({ length: size }, (_, i) => i);
      const rng = rngFor(this.spec.seed, s * 1_000_003 + pass);
      for (let i = size - 1; i > 0; i--) {
        const j = Math.floor(rng.next() * (i + 1));
        [p[i], p[j]] = [p[j], p[i]];
      }
      if (this.perms.size > 8) this.perms.delete(this.perms.keys().next().value!);
      this.perms.set(key, p);
    }
    return p;
  }
}

/** `count` picks of a mix from `from` (or its start), with the cursor after them. */
export function mixOrder(spec: MixSpec, count: number, from?: MixCursor): { picks: MixPick[]; cursor: MixCursor } {
  const o = new MixOrder(spec, from);
  const picks = Array.from({ length: count }, () => o.next());
  return { picks, cursor: o.cursor };
}
