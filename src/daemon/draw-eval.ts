/**
 * Draws a fixed eval set once from a queued training file (issue 13): 100 of its valid examples (seed 42, never its
 * held-out ones) become an eval set of the active model, and the item records their indices so training skips them.
 * Only before the file's first step (later its data order is fixed); the rows are copied byte for byte.
 */
import { readLines } from '../engine/data/jsonl.ts';
import { Rng } from '../engine/rng.ts';
import type { WorkbenchDb } from '../store/db.ts';

export const DRAW_COUNT = 100;
export const DRAW_SEED = 42;

/** Example indices to draw: up to `count` of [0, n) outside `heldOut`, leaving at least one to train on; ascending. */
export function drawIndices(n: number, heldOut: readonly number[], count = DRAW_COUNT, seed = DRAW_SEED): number[] {
  const held = new Set(heldOut);
  const pool = Array.from({ length: n }, (_, i) => i).filter((i) => !held.has(i));
  const rng = new Rng(seed);
  for (let i = pool.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, Math.max(0, Math.min(count, pool.length - 1))).sort((a, b) => a - b);
}

/** Draws the eval set of item `itemId` for model `modelId`; a refusal is a sentence. */
export async function drawEvalSet(db: WorkbenchDb, itemId: number, modelId: string): Promise<{ evalSetId?: number; refused?: string }> {
  const item = await db.queue.get(itemId);
  if (!item) return { refused: `Queue item ${itemId} does not exist.` };
  if (item.evalDrawn) return { refused: `${item.name} already gave an eval set.` };
  if (item.mix) return { refused: `${item.name} is a mix: draw the eval set from one of its files before mixing them.` };
  if (item.status !== 'queued' || item.progress.fileStep > 0 || !item.report) return { refused: `${item.name} is not a queued file that has not started training: its examples are fixed once it starts.` };
  const file = await db.files.get(item.fileId);
  if (!file) return { refused: `The stored file of ${item.name} is missing.` };
  const indices = drawIndices(item.report.examples, item.heldOut);
  if (indices.length === 0) return { refused: `${item.name} has too few examples to draw an eval set from.` };
  // The valid examples are the non-blank lines that were not skipped: checked against the validation's count.
  const skipped = new Set(item.skippedLines), want = new Set(indices), rows: string[] = [];
  let index = 0;
  for await (const l of readLines(file.blob.stream() as ReadableStream<Uint8Array>)) {
    if (skipped.has(l.line)) continue;
    if (want.has(index)) rows.push(l.text);
    index++;
  }
  if (index !== item.report.examples) return { refused: `${item.name}'s rows cannot be matched to its ${item.report.examples} valid examples (more skipped lines than listed): draw from a file without bad lines.` };
  const name = `${item.name.replace(/\.jsonl?$/i, '')}.eval.jsonl`;
  return db.transaction('rw', db.queue, db.evalSets, async () => {
    const now = await db.queue.get(itemId);
    if (!now || now.status !== 'queued' || now.progress.fileStep > 0 || now.evalDrawn) return { refused: `${item.name} started training meanwhile: nothing was drawn.` };
    const evalSetId = (await db.evalSets.add({ modelId, name, blob: new Blob([rows.join('\n') + '\n']), addedAt: Date.now(), status: 'pending', drawnFrom: itemId })) as number;
    await db.queue.update(itemId, { evalDrawn: { evalSetId, name, indices } });
    return { evalSetId };
  });
}
