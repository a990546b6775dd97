/**
 * Mixed queue items (issue 14): accepted queued files put together as one item that trains them interleaved by
 * ratio (by examples or by tokens). The files' own items leave the queue (`skipped`, `mixedInto`) and keep the
 * files and their held-out splits; removing the mix before it trains puts them back.
 */
import type { MixRow, Priority, QueueItemRow, WorkbenchDb } from '../store/db.ts';

export interface MixRequest {
  sources: { itemId: number; ratio: number }[];
  mode: MixRow['mode'];
}

const RANK: Record<Priority, number> = { high: 0, normal: 1, low: 2 };

/** "a.jsonl 70 / b.jsonl 30 (examples)" */
export function mixName(m: MixRow): string {
  return `${m.sources.map((s) => `${s.name} ${s.ratio}`).join(' / ')} (${m.mode === 'tokens' ? 'by tokens' : 'by examples'})`;
}

/** Creates the mixed item; returns its id, or a sentence saying why not (naming the file). */
export async function createMix(db: WorkbenchDb, req: MixRequest): Promise<{ itemId?: number; refused?: string }> {
  if (req.mode !== 'examples' && req.mode !== 'tokens') return { refused: `mode must be "examples" or "tokens", got "${String(req.mode)}"` };
  if (req.sources.length < 2) return { refused: `a mix needs at least two files, got ${req.sources.length}` };
  if (new Set(req.sources.map((s) => s.itemId)).size !== req.sources.length) return { refused: 'a file can be in a mix only once' };
  return db.transaction('rw', db.queue, async () => {
    const rows: QueueItemRow[] = [];
    for (const s of req.sources) {
      const row = await db.queue.get(s.itemId);
      if (!row) return { refused: `queue item ${s.itemId} does not exist` };
      if (!(Number.isFinite(s.ratio) && s.ratio > 0)) return { refused: `"${row.name}": ratio must be a positive number, got ${s.ratio}` };
      if (row.mix) return { refused: `"${row.name}" is a mix itself` };
      if (row.status !== 'queued') return { refused: `"${row.name}" is ${row.status}: only accepted, queued files can be mixed` };
      if (row.progress.fileStep > 0) return { refused: `"${row.name}" has started training (step ${row.progress.fileStep}): only files that have not started can be mixed` };
      rows.push(row);
    }
    const mix: MixRow = { mode: req.mode, sources: rows.map((r, k) => ({ itemId: r.id!, fileId: r.fileId, name: r.name, ratio: req.sources[k].ratio })) };
    const now = Date.now();
    const last = await db.queue.orderBy('order').last();
    const examples = rows.reduce((n, r) => n + (r.report?.examples ?? 0), 0);
    const itemId = (await db.queue.add({
      fileId: rows[0].fileId,
      name: `mix: ${mixName(mix)}`,
      size: rows.reduce((n, r) => n + r.size, 0),
      priority: [...rows].sort((a, b) => RANK[a.priority] - RANK[b.priority])[0].priority,
      status: 'queued',
      attempts: 0,
      order: (last?.order ?? 0) + 1,
      createdAt: now,
      updatedAt: now,
      skipInvalidLines: false,
      lineErrors: [],
      lineErrorCount: 0,
      skippedLines: [],
      heldOut: [],
      report: { lines: 0, examples, warnings: 0, errors: 0, bytes: 0, summary: `${rows.length} files mixed ${mixName(mix)}` },
      progress: { fileStep: 0, fileSteps: 0, examplesSeen: 0 },
      mix,
    })) as number;
    for (const r of rows) await db.queue.update(r.id!, { status: 'skipped', mixedInto: itemId, reason: `In the mix "${mixName(mix)}"`, updatedAt: now });
    return { itemId };
  });
}

/**
 * Checks before removing or retrying an item: a file in a mix that still exists stays out of the queue (its file
 * is the mix's). Removing a mix that never trained gives its files back to the queue. Returns a refusal or null.
 */
export async function beforeRemove(db: WorkbenchDb, row: QueueItemRow): Promise<string | null> {
  if (row.mixedInto != null && (await db.queue.get(row.mixedInto))) return `"${row.name}" is part of a mix (item ${row.mixedInto}); remove the mix first`;
  if (row.mix) {
    for (const s of row.mix.sources) {
      const src = await db.queue.get(s.itemId);
      if (src && src.mixedInto === row.id) {
        await db.queue.update(s.itemId, row.progress.fileStep > 0
          ? { mixedInto: undefined, reason: `Trained in a removed mix up to its step ${row.progress.fileStep}`, updatedAt: Date.now() }
          : { status: 'queued', mixedInto: undefined, reason: 'Mix removed', updatedAt: Date.now() });
      }
    }
  }
  return null;
}
