/**
 * Queue semantics over the store: adding dropped files (content hash, "same content twice" flag, refusing a name
 * that already failed 3 times), the daemon's pick (high → normal → low, oldest first), status transitions,
 * the retry policy (a training error sends the item to the low queue until its 3rd failure), moves, and the
 * crash recovery that puts an item left `processing` back in the queue with its progress.
 */
import type { ItemProgress, ItemStatus, LineError, Priority, QueueItemRow, ValidationReport, WorkbenchDb } from '../store/db.ts';
import { rngFor } from '../engine/rng.ts';
import { beforeRemove } from './mix.ts';

export const MAX_ATTEMPTS = 3;
export const MAX_LISTED_ERRORS = 50;

/** One line of an error report: `line 7 [messages]: missing`. */
export const formatLineError = (e: LineError): string => `line ${e.line}${e.field ? ` [${e.field}]` : ''}: ${e.message}`;

const RANK: Record<Priority, number> = { high: 0, normal: 1, low: 2 };

export interface AddResult {
  name: string;
  itemId?: number;
  duplicateOf?: number;
  refused?: string;
}

/** Content hash: sha256 over the sha256 of every 8 MiB slice plus the size, so a 300 MB Blob is hashed streaming. */
export async function contentHash(blob: Blob, sliceBytes = 8 * 1024 * 1024): Promise<string> {
  const parts: Uint8Array[] = [];
  for (let off = 0; off < blob.size || (off === 0 && parts.length === 0); off += sliceBytes) {
    const buf = await blob.slice(off, off + sliceBytes).arrayBuffer();
    parts.push(new Uint8Array(await crypto.subtle.digest('SHA-256', buf)));
    if (blob.size === 0) break;
  }
  const all = new Uint8Array(parts.length * 32 + 8);
  parts.forEach((p, i) => all.set(p, i * 32));
  new DataView(all.buffer).setFloat64(parts.length * 32, blob.size);
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', all));
  return Array.from(h, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Deterministic held-out example indices: `fraction` of `count` (at most `max`), sorted, a pure function of (seed, count). */
export function heldOutIndices(count: number, fraction: number, max: number, seed: number): number[] {
  const k = Math.min(max, Math.floor(count * fraction), Math.max(0, count - 1));
  if (k <= 0) return [];
  const rng = rngFor(seed, count);
  const idx = Array.from({ length: count }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rng.next() * (count - i));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx.slice(0, k).sort((a, b) => a - b);
}

export function byQueueOrder(a: QueueItemRow, b: QueueItemRow): number {
  return RANK[a.priority] - RANK[b.priority] || a.order - b.order;
}

export class Queue {
  constructor(private readonly db: WorkbenchDb) {}

  async get(id: number): Promise<QueueItemRow> {
    const row = await this.db.queue.get(id);
    if (!row) throw new Error(`queue item ${id} does not exist`);
    return row;
  }

  /** All items in display order: by priority, oldest (lowest order) first. */
  async ordered(): Promise<QueueItemRow[]> {
    return (await this.db.queue.toArray()).sort(byQueueOrder);
  }

  /** The item the daemon takes next: `queued`, highest priority, oldest. */
  async next(): Promise<QueueItemRow | undefined> {
    return (await this.db.queue.where('status').equals('queued').toArray()).sort(byQueueOrder)[0];
  }

  /** Stores the Blob and creates a `validating` item (or refuses it). */
  async add(name: string, blob: Blob, priority: Priority, skipInvalidLines: boolean): Promise<AddResult> {
    const failedBefore = await this.db.queue.where('name').equals(name).filter((r) => r.status === 'failed' && r.attempts >= MAX_ATTEMPTS).first();
    if (failedBefore) {
      return { name, refused: `"${name}" already failed ${MAX_ATTEMPTS} times in training (item ${failedBefore.id}); rename it or delete the failed item first` };
    }
    const sha256 = await contentHash(blob);
    const now = Date.now();
    return this.db.transaction('rw', this.db.files, this.db.queue, async () => {
      const same = await this.db.files.where('sha256').equals(sha256).primaryKeys();
      const earlier = same.length ? await this.db.queue.where('fileId').anyOf(same as number[]).first() : undefined;
      const fileId = (await this.db.files.add({ name, size: blob.size, sha256, blob, droppedAt: now })) as number;
      const last = await this.db.queue.orderBy('order').last();
      const itemId = (await this.db.queue.add({
        fileId,
        name,
        size: blob.size,
        priority,
        status: 'validating',
        attempts: 0,
        order: (last?.order ?? 0) + 1,
        createdAt: now,
        updatedAt: now,
        duplicateOf: earlier?.id,
        skipInvalidLines,
        lineErrors: [],
        lineErrorCount: 0,
        skippedLines: [],
        heldOut: [],
        progress: { fileStep: 0, fileSteps: 0, examplesSeen: 0 },
      })) as number;
      return { name, itemId, duplicateOf: earlier?.id };
    });
  }

  private async patch(id: number, changes: Partial<QueueItemRow>): Promise<void> {
    const n = await this.db.queue.update(id, { ...changes, updatedAt: Date.now() });
    if (n === 0 && !(await this.db.queue.get(id))) throw new Error(`queue item ${id} does not exist`);
  }

  async setValidationProgress(id: number, bytes: number, totalBytes: number): Promise<void> {
    await this.patch(id, { validated: { bytes, totalBytes } });
  }

  /** Validation finished: `queued` (with its held-out split) or `failed` with the first 50 line errors and the count. */
  async finishValidation(
    id: number,
    r: { ok: boolean; report: ValidationReport; lineErrors: LineError[]; lineErrorCount: number; skippedLines: number[]; reason?: string; lineErrorReport?: Blob },
    split: { fraction: number; max: number; seed: number },
  ): Promise<ItemStatus> {
    const status: ItemStatus = r.ok ? 'queued' : 'failed';
    await this.patch(id, {
      status,
      report: r.report,
      lineErrors: r.lineErrors.slice(0, MAX_LISTED_ERRORS),
      lineErrorCount: r.lineErrorCount,
      lineErrorReport: r.lineErrorCount > MAX_LISTED_ERRORS ? r.lineErrorReport : undefined,
      skippedLines: r.skippedLines,
      heldOut: r.ok ? heldOutIndices(r.report.examples, split.fraction, split.max, split.seed) : [],
      reason: r.ok ? undefined : (r.reason ?? r.report.summary),
      validated: { bytes: r.report.bytes, totalBytes: r.report.bytes },
    });
    return status;
  }

  async startProcessing(id: number): Promise<void> {
    await this.patch(id, { status: 'processing', reason: undefined });
  }

  async setProgress(id: number, progress: ItemProgress): Promise<void> {
    await this.patch(id, { progress });
  }

  async setStatus(id: number, status: ItemStatus, reason?: string): Promise<void> {
    await this.patch(id, { status, reason });
  }

  async complete(id: number, progress: ItemProgress): Promise<void> {
    await this.patch(id, { status: 'completed', progress, reason: undefined });
  }

  /** Stop: back to `queued` keeping its progress, so the untrained rest is trained later. */
  async requeue(id: number, progress: ItemProgress, reason: string): Promise<void> {
    await this.patch(id, { status: 'queued', progress, reason });
  }

  /** Skip: `skipped`, keeping progress and position (`order`), so a requeue resumes where it was. */
  async skip(id: number, progress: ItemProgress, reason: string): Promise<void> {
    await this.patch(id, { status: 'skipped', progress, reason });
  }

  /** A training error: retried from the low queue until the 3rd failure, then `failed`. */
  /** A failure that retrying would repeat (non-finite training, bad data): failed now, with its kind. */
  async failNow(id: number, error: string, kind: string): Promise<'failed'> {
    const row = await this.get(id);
    await this.patch(id, { attempts: row.attempts + 1, lastError: error, failureKind: kind, status: 'failed', reason: `failed (${kind}): ${error}` });
    return 'failed';
  }

  async failAttempt(id: number, error: string, kind?: string): Promise<'retry' | 'failed'> {
    const row = await this.get(id);
    const attempts = row.attempts + 1;
    const outcome = attempts >= MAX_ATTEMPTS ? 'failed' : 'retry';
    await this.patch(id, {
      attempts,
      lastError: error,
      failureKind: kind,
      status: outcome === 'failed' ? 'failed' : 'queued',
      priority: outcome === 'failed' ? row.priority : 'low',
      reason: outcome === 'failed' ? `failed ${attempts} times: ${error}` : `attempt ${attempts} failed, retrying from the low queue: ${error}`,
    });
    return outcome;
  }

  /** Person's retry: skipped/failed back to the queue (a validation failure is validated again). */
  async retry(id: number): Promise<ItemStatus> {
    const row = await this.get(id);
    if (row.status !== 'failed' && row.status !== 'skipped') throw new Error(`item ${id} is ${row.status}; only failed or skipped items can be retried`);
    if (row.mixedInto != null && (await this.db.queue.get(row.mixedInto))) throw new Error(`"${row.name}" is part of a mix (item ${row.mixedInto}); remove the mix first`);
    const revalidate = row.status === 'failed' && row.attempts === 0;
    const status: ItemStatus = revalidate ? 'validating' : 'queued';
    await this.patch(id, { status, reason: undefined, attempts: row.attempts >= MAX_ATTEMPTS ? 0 : row.attempts });
    return status;
  }

  async reprioritize(id: number, priority: Priority): Promise<void> {
    await this.patch(id, { priority });
  }

  /** Swaps `order` with the neighbour inside the same priority (completed items excluded). */
  async move(id: number, dir: -1 | 1): Promise<boolean> {
    return this.db.transaction('rw', this.db.queue, async () => {
      const row = await this.get(id);
      const group = (await this.db.queue.where('priority').equals(row.priority).toArray())
        .filter((r) => r.status !== 'completed')
        .sort((a, b) => a.order - b.order);
      const i = group.findIndex((r) => r.id === id);
      const other = group[i + dir];
      if (!other) return false;
      await this.db.queue.update(id, { order: other.order, updatedAt: Date.now() });
      await this.db.queue.update(other.id!, { order: row.order, updatedAt: Date.now() });
      return true;
    });
  }

  /** Deletes an item (not while it trains) and its Blob. */
  async remove(id: number): Promise<void> {
    const row = await this.get(id);
    if (row.status === 'processing' || row.status === 'paused') throw new Error(`item ${id} ("${row.name}") is training; stop or skip it first`);
    const refused = await beforeRemove(this.db, row); // a mix's files (mix.ts)
    if (refused) throw new Error(refused);
    await this.db.transaction('rw', this.db.files, this.db.queue, async () => {
      await this.db.queue.delete(id);
      if (!row.mix) await this.db.files.delete(row.fileId); // a mix's files stay with their own items
    });
  }

  /** After a crash or reload: items left `processing`/`paused` go back to `queued` with their progress. */
  async recoverAfterCrash(reason = 'Recovered from crash'): Promise<number[]> {
    const stuck = await this.db.queue.where('status').anyOf('processing', 'paused').toArray();
    for (const r of stuck) await this.patch(r.id!, { status: 'queued', reason });
    return stuck.map((r) => r.id!);
  }

  /** The file's line errors as a text file: every one of them (the stored full report), with the count. */
  async errorReport(id: number): Promise<{ fileName: string; blob: Blob }> {
    const r = await this.get(id);
    const full = r.lineErrorReport instanceof Blob ? r.lineErrorReport : undefined; // a restored backup may lack it
    const head = [
      `File: ${r.name}`,
      `Status: ${r.status}${r.reason ? ` — ${r.reason}` : ''}`,
      r.report ? `Summary: ${r.report.summary}` : '',
      r.lastError ? `Last training error: ${r.lastError}` : '',
      `Line errors: ${r.lineErrorCount}${!full && r.lineErrorCount > r.lineErrors.length ? ` (first ${r.lineErrors.length} listed)` : ''}`,
    ].filter((l) => l !== '');
    const listed = full ? [] : r.lineErrors.map((e) => `${formatLineError(e)}\n`);
    return { fileName: `${r.name.replace(/\.[^.]*$/, '')}.errors.txt`, blob: new Blob([head.join('\n') + '\n', ...listed, ...(full ? [full] : [])], { type: 'text/plain' }) };
  }
}
