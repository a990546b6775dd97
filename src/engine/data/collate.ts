/**
 * From chat examples to training batches: tokenize with the completion-only mask, plan seeded
 * length-bucketed (optionally packed) batches, and collate them into a TrainBatch whose targets are
 * -100 everywhere except trained tokens, padded with <|endoftext|> in segment 0 up to a sequence-length
 * bucket (so the GPU sees few shapes and compiles its shaders once per bucket).
 */
import { Rng } from '../rng.ts';
import type { ChatMessage, ChatTemplateKind, ChatTokenizer, TokenizedExample, TrainBatch } from '../types.ts';

export interface TokenizeExampleOptions {
  template: ChatTemplateKind;
  /** Longer conversations are cut to this many tokens (the tail is dropped). */
  maxLength: number;
  enableThinking?: boolean;
}

export interface PlanBatchesOptions {
  /** Rows per batch. */
  batchSize: number;
  seed: number;
  /** Group examples of similar length in a batch (less padding); batch order is still shuffled. Default true. */
  bucketByLength?: boolean;
  /** Pack several examples per row (next-fit into rows of maxLength, see packRows). Default false. */
  pack?: boolean;
  maxLength: number;
  /** Shuffle at all (false keeps file order, for evaluation). Default true. */
  shuffle?: boolean;
}

export interface CollateOptions {
  /** Pack the examples into rows with packRows; otherwise one example per row. */
  pack?: boolean;
  maxLength: number;
  padTokenId: number;
  /**
   * Round the batch's length up to a bucket of seqLenBucket (default true): padding is masked (segment 0, no
   * targets), so the loss is the same, and the backend sees at most ~2·log2(maxLength) shapes instead of one
   * per distinct length (WebGPU compiles pipelines per shape class). false: the longest row's length exactly.
   */
  lengthBuckets?: boolean;
}

/** The smallest bucket: shorter batches are padded to it (or to maxLength when that is smaller). */
export const MIN_SEQ_BUCKET = 16;

/**
 * The sequence length a batch whose longest row has `length` tokens is padded to: the smallest of
 * 16, 24, 32, 48, 64, 96, … (2^k and 1.5·2^k, at most a third of padding) that holds it, capped at maxLength
 * (itself a bucket, whatever its value). For maxLength 2048 that is 15 shapes.
 */
export function seqLenBucket(length: number, maxLength: number): number {
  if (!Number.isInteger(length) || length < 1) throw new Error(`seqLenBucket: length must be a positive integer, got ${length}`);
  if (length >= maxLength) return maxLength;
  let b = MIN_SEQ_BUCKET;
  while (b < length) b = isPow2(b) ? (b * 3) / 2 : (b / 3) * 4; // 16 → 24 → 32 → 48 → 64 …
  return Math.min(b, maxLength);
}

const isPow2 = (n: number) => (n & (n - 1)) === 0;

/** Renders, tokenizes and masks one conversation, truncated to maxLength tokens. */
export function tokenizeExample(
  tokenizer: ChatTokenizer,
  messages: readonly ChatMessage[],
  opts: TokenizeExampleOptions,
): TokenizedExample {
  const { ids, trainMask } = tokenizer.encodeChat(messages, { template: opts.template, enableThinking: opts.enableThinking });
  if (ids.length <= opts.maxLength) return { ids, trainMask };
  return { ids: ids.slice(0, opts.maxLength), trainMask: trainMask.slice(0, opts.maxLength) };
}

/**
 * Next-fit packing in the given order: each example goes into the current row when it fits in
 * maxLength, else starts a new row. Returns positions into `lengths` per row.
 */
export function packRows(lengths: readonly number[], maxLength: number): number[][] {
  const rows: number[][] = [];
  let fill = Infinity;
  lengths.forEach((len, i) => {
    const l = Math.min(len, maxLength);
    if (fill + l > maxLength) {
      rows.push([]);
      fill = 0;
    }
    rows[rows.length - 1].push(i);
    fill += l;
  });
  return rows;
}

/**
 * Deterministic for a seed: the batches (lists of example indices) of one epoch. With bucketing the
 * examples are sorted by length (ties in seeded order) and cut into batches whose order is shuffled;
 * with packing the rows are built first-fit-decreasing and every batch holds at most batchSize rows,
 * listed row after row so that collate's next-fit packRows rebuilds exactly those rows.
 */
export function planBatches(lengths: readonly number[], opts: PlanBatchesOptions): number[][] {
  const { batchSize, maxLength } = opts;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`planBatches: batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(maxLength) || maxLength < 1) throw new Error(`planBatches: maxLength must be a positive integer, got ${maxLength}`);
  const rng = new Rng(opts.seed);
  const shuffle = opts.shuffle ?? true;
  const bucket = opts.bucketByLength ?? true;
  const order = lengths.map((_, i) => i);
  if (shuffle) rng.shuffle(order);
  const len = (i: number) => Math.min(lengths[i], maxLength);
  // Stable sort keeps the seeded order among equal lengths.
  if (bucket || opts.pack) order.sort((a, b) => len(b) - len(a));

  let units: number[][];
  if (opts.pack) {
    units = firstFitDecreasing(order, len, maxLength);
  } else {
    units = order.map((i) => [i]);
  }
  const batches: number[][] = [];
  for (let s = 0; s < units.length; s += batchSize) batches.push(units.slice(s, s + batchSize).flat());
  if (shuffle) rng.shuffle(batches);
  return batches;
}

/** Rows of example indices (already sorted longest first), each at most maxLength tokens. */
function firstFitDecreasing(order: readonly number[], len: (i: number) => number, maxLength: number): number[][] {
  const rows: number[][] = [];
  const free: number[] = [];
  for (const i of order) {
    const l = len(i);
    let r = free.findIndex((f) => f >= l);
    if (r < 0) {
      r = rows.length;
      rows.push([]);
      free.push(maxLength);
    }
    rows[r].push(i);
    free[r] -= l;
  }
  // In first-fit, no item of a later row fits in an earlier row's final free space, so a next-fit
  // pass over the rows in this order rebuilds them exactly.
  return rows;
}

/**
 * One batch, [B, T] row-major, T = seqLenBucket of the longest row (see lengthBuckets). Target at t is ids[t+1]
 * when trainMask[t+1] is 1, else -100, never across an example's end. Padding: padTokenId, segment 0, position 0,
 * target -100. With packing each example in a row gets its own segment id (1, 2, ...) and positions restarting at 0.
 */
export function collate(examples: readonly TokenizedExample[], opts: CollateOptions): TrainBatch {
  if (examples.length === 0) throw new Error('collate: no examples');
  const clipped = examples.map((e) =>
    e.ids.length > opts.maxLength ? { ids: e.ids.subarray(0, opts.maxLength), trainMask: e.trainMask.subarray(0, opts.maxLength) } : e,
  );
  const rows = opts.pack ? packRows(clipped.map((e) => e.ids.length), opts.maxLength) : clipped.map((_, i) => [i]);
  const rowLen = (r: number[]) => r.reduce((s, i) => s + clipped[i].ids.length, 0);
  const longest = Math.max(1, ...rows.map(rowLen));
  const seqLen = opts.lengthBuckets === false ? longest : seqLenBucket(longest, opts.maxLength); // rows are at most maxLength
  const batchSize = rows.length;
  const n = batchSize * seqLen;
  const inputIds = new Int32Array(n).fill(opts.padTokenId);
  const targets = new Int32Array(n).fill(-100);
  const positionIds = new Int32Array(n);
  const segmentIds = new Int32Array(n);
  let numTargets = 0;
  rows.forEach((row, b) => {
    let o = b * seqLen;
    row.forEach((ex, s) => {
      const { ids, trainMask } = clipped[ex];
      for (let t = 0; t < ids.length; t++) {
        inputIds[o + t] = ids[t];
        positionIds[o + t] = t;
        segmentIds[o + t] = s + 1;
        if (t + 1 < ids.length && trainMask[t + 1] === 1) {
          targets[o + t] = ids[t + 1];
          numTargets++;
        }
      }
      o += ids.length;
    });
  });
  return { batchSize, seqLen, inputIds, targets, positionIds, segmentIds, numTargets };
}
