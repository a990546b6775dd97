/**
 * A queue item's examples for the trainer: a plain item's file (examples.ts), or a mix's files tokenized one by one
 * and laid out in the mix's order (mix-order.ts) as one source the engine takes in order (`inOrder`). The mix's
 * position per source is a function of how many of its examples were consumed, so the file's checkpointed progress
 * (data position and epoch) is its exact resume point; the cursor recorded with it is checked on resume.
 */
import type { ExampleSource, TokenizedExample } from '../engine/types.ts';
import type { ItemProgress, QueueItemRow, WorkbenchDb } from '../store/db.ts';
import { loadFileExamples, PooledExamples, type FileExamples, type LoadExamplesOptions } from './examples.ts';
import { MixOrder, type MixSpec } from './mix-order.ts';

/** A mix's position as recorded in the item's progress. */
export type MixProgress = NonNullable<ItemProgress['mix']>;

/** A mix laid out in training order: example k is `sources[src[k]].get(ex[k])`. */
export class MixedSource implements ExampleSource {
  private readonly src: Uint8Array;
  private readonly ex: Int32Array;
  /** Examples of each source in the whole plan. */
  readonly planned: number[];

  constructor(private readonly sources: readonly ExampleSource[], private readonly spec: MixSpec, length: number) {
    const o = new MixOrder(spec);
    this.src = new Uint8Array(length);
    this.ex = new Int32Array(length);
    this.planned = sources.map(() => 0);
    for (let k = 0; k < length; k++) {
      const p = o.next();
      this.src[k] = p.source;
      this.ex[k] = p.example;
      this.planned[p.source]++;
    }
  }

  get size(): number {
    return this.ex.length;
  }

  get(index: number): TokenizedExample {
    if (!(index >= 0 && index < this.size)) throw new RangeError(`mix example ${index} out of range [0, ${this.size})`);
    return this.sources[this.src[index]].get(this.ex[index]);
  }

  /** The mix's cursor after its first `consumed` examples, with the plan per source. */
  progressAt(consumed: number): MixProgress {
    const n = Math.max(0, Math.min(this.size, consumed));
    const { taken, tokens } = new MixOrder(this.spec).cursor;
    for (let k = 0; k < n; k++) {
      const s = this.src[k];
      taken[s]++;
      tokens[s] += this.sources[s].get(this.ex[k]).ids.length;
    }
    return { n, taken, tokens, planned: [...this.planned] };
  }
}

export interface ItemExamples extends FileExamples {
  /** Set for a mixed item: the engine takes `train` in order, once (its length is the config's epochs over the files). */
  mix?: MixedSource;
}

/** The options of loadFileExamples that are the same for every file of an item. */
export type SharedLoadOptions = Omit<LoadExamplesOptions, 'name' | 'heldOut' | 'skipInvalidLines' | 'excluded'>;

/**
 * Loads a queue item's examples. A mix's sources are its source items' files with their own held-out split and
 * drawn eval rows; its length is `epochs` × their training examples together; on resume the recorded cursor must
 * be where the rebuilt order puts the recorded position (else the sources changed and it would not resume exactly).
 */
export async function loadItemExamples(db: WorkbenchDb, item: QueueItemRow, o: SharedLoadOptions, cfg: { seed: number; epochs: number }): Promise<ItemExamples> {
  const fresh = await db.queue.get(item.id!) ?? item; // read again: a draw may have landed since the item was picked
  if (!fresh.mix) {
    const file = await db.files.get(item.fileId);
    if (!file) throw new Error(`the stored file of "${item.name}" is missing`);
    return loadFileExamples(file.blob, { ...o, name: item.name, heldOut: item.heldOut, skipInvalidLines: item.skipInvalidLines, excluded: fresh.evalDrawn?.indices });
  }
  const parts: FileExamples[] = [];
  for (const [k, src] of fresh.mix.sources.entries()) {
    const row = await db.queue.get(src.itemId);
    const file = await db.files.get(src.fileId);
    if (!row || !file) throw new Error(`mix "${item.name}": its file "${src.name}" (source ${k + 1}) is no longer stored`);
    parts.push(await loadFileExamples(file.blob, { ...o, name: src.name, heldOut: row.heldOut, skipInvalidLines: row.skipInvalidLines, excluded: row.evalDrawn?.indices }));
  }
  const spec: MixSpec = {
    mode: fresh.mix.mode,
    seed: cfg.seed,
    sources: parts.map((p, k) => ({ size: p.train.size, ratio: fresh.mix!.sources[k].ratio, length: (i: number) => p.train.get(i).ids.length })),
  };
  const total = parts.reduce((n, p) => n + p.train.size, 0);
  const mixed = new MixedSource(parts.map((p) => p.train), spec, Math.max(1, Math.round(cfg.epochs * total)));
  const recorded = item.progress.mix;
  if (recorded && item.progress.fileStep > 0) {
    const now = mixed.progressAt(recorded.n);
    if (JSON.stringify(now.taken) !== JSON.stringify(recorded.taken) || JSON.stringify(now.tokens) !== JSON.stringify(recorded.tokens)) {
      throw new Error(`mix "${item.name}" cannot resume exactly: at example ${recorded.n} it had taken ${recorded.taken.join(' / ')} examples per file, its files now give ${now.taken.join(' / ')}`);
    }
  }
  const validation = new PooledExamples();
  for (const p of parts) for (let i = 0; i < p.validation.size; i++) validation.push(p.validation.get(i));
  return { train: mixed, validation, heldOutChats: parts.flatMap((p) => p.heldOutChats), mix: mixed };
}
