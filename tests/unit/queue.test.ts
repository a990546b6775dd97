import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { scratchDbs } from './scratch-db.ts';
import { type WorkbenchDb, type ValidationReport } from '../../src/store/db.ts';
import { Queue, contentHash, heldOutIndices, MAX_ATTEMPTS } from '../../src/daemon/queue.ts';

const freshDb = scratchDbs('queue-test');
function freshQueue(): { db: WorkbenchDb; q: Queue } {
  const db = freshDb();
  return { db, q: new Queue(db) };
}

const blob = (s: string) => new Blob([s]);
const report = (examples: number): ValidationReport => ({ lines: examples, examples, warnings: 0, errors: 0, bytes: 10, summary: `${examples} examples` });
const split = { fraction: 0.05, max: 100, seed: 0 };

async function addQueued(q: Queue, name: string, priority: 'high' | 'normal' | 'low', content = name): Promise<number> {
  const r = await q.add(name, blob(content), priority, false);
  await q.finishValidation(r.itemId!, { ok: true, report: report(40), lineErrors: [], lineErrorCount: 0, skippedLines: [] }, split);
  return r.itemId!;
}

describe('Queue', () => {
  it('takes high before normal before low, oldest first inside a priority', async () => {
    const { q } = freshQueue();
    const low1 = await addQueued(q, 'low1', 'low');
    const n1 = await addQueued(q, 'n1', 'normal');
    const h1 = await addQueued(q, 'h1', 'high');
    const n2 = await addQueued(q, 'n2', 'normal');
    const h2 = await addQueued(q, 'h2', 'high');
    const order: number[] = [];
    for (let item = await q.next(); item; item = await q.next()) {
      order.push(item.id!);
      await q.complete(item.id!, item.progress);
    }
    expect(order).toEqual([h1, h2, n1, n2, low1]);
  });

  it('validating items are not taken; a failed validation keeps the first 50 errors and the count', async () => {
    const { q } = freshQueue();
    const r = await q.add('bad.jsonl', blob('x'), 'high', false);
    expect(await q.next()).toBeUndefined();
    const errs = Array.from({ length: 70 }, (_, i) => ({ line: i + 1, field: 'messages', message: 'missing' }));
    const st = await q.finishValidation(r.itemId!, { ok: false, report: { ...report(0), errors: 70 }, lineErrors: errs, lineErrorCount: 70, skippedLines: [] }, split);
    expect(st).toBe('failed');
    const row = await q.get(r.itemId!);
    expect(row.lineErrors).toHaveLength(50);
    expect(row.lineErrorCount).toBe(70);
    const rep = await q.errorReport(r.itemId!);
    expect(rep.fileName).toBe('bad.errors.txt');
    const text = await rep.blob.text();
    expect(text).toContain('line 50 [messages]: missing');
    expect(text).toContain('Line errors: 70 (first 50 listed)'); // no full report stored (a restored backup may lack it)

    // With the full report from validation, the download holds every line error.
    const full = new Blob([errs.map((e) => `line ${e.line} [messages]: missing\n`).join('')]);
    const r2 = await q.add('bad2.jsonl', blob('y'), 'high', false);
    await q.finishValidation(r2.itemId!, { ok: false, report: { ...report(0), errors: 70 }, lineErrors: errs, lineErrorCount: 70, skippedLines: [], lineErrorReport: full }, split);
    const all = await (await q.errorReport(r2.itemId!)).blob.text();
    expect(all).toContain('Line errors: 70\n');
    expect(all).toContain('line 70 [messages]: missing');
    expect(all.match(/^line \d+/gm)).toHaveLength(70);
  });

  it('flags the same content dropped twice', async () => {
    const { q } = freshQueue();
    const a = await q.add('a.jsonl', blob('same'), 'normal', false);
    const b = await q.add('b.jsonl', blob('same'), 'normal', false);
    const c = await q.add('c.jsonl', blob('other'), 'normal', false);
    expect(a.duplicateOf).toBeUndefined();
    expect(b.duplicateOf).toBe(a.itemId);
    expect(c.duplicateOf).toBeUndefined();
    expect((await q.get(b.itemId!)).duplicateOf).toBe(a.itemId);
  });

  it('retries a training failure from the low queue until the 3rd, then keeps it failed and refuses the name', async () => {
    const { q } = freshQueue();
    const id = await addQueued(q, 'flaky.jsonl', 'high');
    expect(await q.failAttempt(id, 'boom 1')).toBe('retry');
    let row = await q.get(id);
    expect([row.status, row.priority, row.attempts]).toEqual(['queued', 'low', 1]);
    expect(await q.failAttempt(id, 'boom 2')).toBe('retry');
    expect(await q.failAttempt(id, 'boom 3')).toBe('failed');
    row = await q.get(id);
    expect([row.status, row.attempts, row.lastError]).toEqual(['failed', MAX_ATTEMPTS, 'boom 3']);
    const again = await q.add('flaky.jsonl', blob('new content'), 'high', false);
    expect(again.itemId).toBeUndefined();
    expect(again.refused).toMatch(/already failed 3 times/);
  });

  it('skip keeps progress and position; retry requeues it where it was', async () => {
    const { q } = freshQueue();
    const a = await addQueued(q, 'a', 'normal');
    const b = await addQueued(q, 'b', 'normal');
    await q.startProcessing(a);
    await q.skip(a, { fileStep: 3, fileSteps: 10, examplesSeen: 12 }, 'person skipped');
    expect((await q.next())?.id).toBe(b);
    expect(await q.retry(a)).toBe('queued');
    const next = await q.next();
    expect(next?.id).toBe(a);
    expect(next?.progress).toEqual({ fileStep: 3, fileSteps: 10, examplesSeen: 12 });
  });

  it('moves up/down inside a priority and reprioritizes', async () => {
    const { q } = freshQueue();
    const a = await addQueued(q, 'a', 'normal');
    const b = await addQueued(q, 'b', 'normal');
    const c = await addQueued(q, 'c', 'normal');
    expect(await q.move(c, -1)).toBe(true);
    expect((await q.ordered()).map((r) => r.id)).toEqual([a, c, b]);
    expect(await q.move(a, -1)).toBe(false);
    await q.move(a, 1);
    expect((await q.ordered()).map((r) => r.id)).toEqual([c, a, b]);
    await q.reprioritize(b, 'high');
    expect((await q.next())?.id).toBe(b);
  });

  it('recovers items left processing after a crash, with their progress', async () => {
    const { q } = freshQueue();
    const a = await addQueued(q, 'a', 'normal');
    await q.startProcessing(a);
    await q.setProgress(a, { fileStep: 4, fileSteps: 9, examplesSeen: 16 });
    expect(await q.recoverAfterCrash()).toEqual([a]);
    const row = await q.get(a);
    expect(row.status).toBe('queued');
    expect(row.reason).toBe('Recovered from crash');
    expect(row.progress.fileStep).toBe(4);
  });

  it('refuses to delete a training item, deletes others with their blob', async () => {
    const { db, q } = freshQueue();
    const a = await addQueued(q, 'a', 'normal');
    const b = await addQueued(q, 'b', 'normal');
    await q.startProcessing(a);
    await expect(q.remove(a)).rejects.toThrow(/training; stop or skip/);
    const fileId = (await q.get(b)).fileId;
    await q.remove(b);
    expect(await db.queue.get(b)).toBeUndefined();
    expect(await db.files.get(fileId)).toBeUndefined();
  });
});

describe('heldOutIndices and contentHash', () => {
  it('holds out a deterministic 5 %, at most max, never every example', () => {
    const a = heldOutIndices(1000, 0.05, 100, 7);
    expect(a).toHaveLength(50);
    expect(heldOutIndices(1000, 0.05, 100, 7)).toEqual(a);
    expect(heldOutIndices(1000, 0.05, 100, 8)).not.toEqual(a);
    expect(new Set(a).size).toBe(50);
    expect(a.every((i) => i >= 0 && i < 1000)).toBe(true);
    expect(heldOutIndices(10000, 0.05, 100, 1)).toHaveLength(100);
    expect(heldOutIndices(10, 0.05, 100, 1)).toEqual([]);
  });

  it('hashes by content across slice sizes', async () => {
    const text = 'x'.repeat(1000);
    const h1 = await contentHash(blob(text), 64);
    expect(await contentHash(blob(text), 64)).toBe(h1);
    expect(await contentHash(blob(text + 'y'), 64)).not.toBe(h1);
    expect(await contentHash(blob(''))).toMatch(/^[0-9a-f]{64}$/);
  });
});
