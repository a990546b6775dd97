// Workspace backup and restore (src/store/backup.ts, restore.ts) on fake-indexeddb: every table round-trips, a table
// added later too, secrets never enter the backup, the manifest's hashes verify, a damaged entry is refused by name,
// a workspace that is not empty is replaced only when the person agrees; into a folder, a second run writes only
// what changed and a run cut short leaves the previous backup whole.
import 'fake-indexeddb/auto';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Table } from 'dexie';
import { scratchDbs } from './scratch-db.ts';
import { WorkbenchDb, type ModelRow, type QueueItemRow } from '../../src/store/db.ts';
import { CheckpointStore } from '../../src/store/checkpoints.ts';
import { backupToFolder, backupWorkspace } from '../../src/store/backup.ts';
import { BackupDamagedError, restoreWorkspace, verifyBackup } from '../../src/store/restore.ts';
import { BACKUP_LAST_AT_SETTING, type BackupFileHandle, type BackupFolder, type BackupManifest } from '../../src/store/backup-format.ts';
import { tarEntries } from '../../src/store/tar.ts';

const freshDb = scratchDbs('backup-test');

const model = (id: string, extra: Partial<ModelRow> = {}): ModelRow => ({
  id, name: id, config: {} as ModelRow['config'], tokenizerRef: '/models/qwen3-tiny/', source: 'trained', baseRef: '/models/qwen3-tiny/',
  baseModel: 'qwen3-tiny', lineage: [], active: 1, step: 12, trained: true, createdAt: 1, ...extra,
});

const item = (fileId: number, name: string): QueueItemRow => ({
  fileId, name, size: 10, priority: 'normal', status: 'queued', attempts: 0, order: fileId, createdAt: 1, updatedAt: 1,
  skipInvalidLines: false, lineErrors: [], lineErrorCount: 0, skippedLines: [], heldOut: [1, 3], progress: { fileStep: 4, fileSteps: 9, examplesSeen: 8 },
});

const ckpt = (step: number, pinned = false) => ({
  modelId: 'm1', step, pinned, trainerState: { step }, trainConfig: { batchSize: 2 }, profile: 'plain_sft', tokenizerRef: '/models/qwen3-tiny/', reason: 'interval',
  tensors: [
    { name: 'w', dtype: 'float32' as const, shape: [3, 5], data: new Float32Array(15).map((_, i) => i + step) },
    { name: 'n', dtype: 'int32' as const, shape: [7], data: new Int32Array(7).map((_, i) => i - step) },
  ],
});

/** A workspace with something in every kind of table: files with Blobs, queue, metrics (a NaN loss), three checkpoints (step 8 pinned), settings, events. */
async function fill(db: WorkbenchDb): Promise<string[]> {
  const f1 = await db.files.add({ name: 'a.jsonl', size: 5, sha256: 'x1', blob: new Blob(['{"a":1}\n'], { type: 'application/jsonl' }), droppedAt: 1 });
  const f2 = await db.files.add({ name: 'b.jsonl', size: 5, sha256: 'x2', blob: new Blob(['{"b":2}\n']), droppedAt: 2 });
  await db.queue.bulkAdd([item(f1!, 'a.jsonl'), item(f2!, 'b.jsonl')]);
  await db.models.put(model('m1'));
  await db.metrics.bulkPut(Array.from({ length: 30 }, (_, step) => ({ modelId: 'm1', step, time: step, itemId: 1, fileStep: step, loss: step === 7 ? Number.NaN : 2 - step / 30, lr: 0.001, gradNorm: null, tokens: 40, ms: 5, tokensPerSecond: 8000 })));
  await db.evals.put({ modelId: 'm1', step: 10, time: 1, itemId: 1, valLoss: 1.5, trainLoss: null, examples: 4 });
  await db.events.add({ at: 5, kind: 'warning', message: 'careful' });
  await db.settings.bulkPut([{ key: 'trainConfig', value: { batchSize: 2 } }, { key: 'remote.adminKey', value: 'sk-admin-SECRET' }, { key: 'hub.token', value: 'hf_SECRETTOKEN' }]);
  const store = new CheckpointStore(db, 24); // small chunks: each checkpoint has several
  const ids: string[] = [];
  for (const [step, pinned] of [[4, false], [8, true], [12, false]] as const) {
    const r = await store.write(ckpt(step, pinned));
    if (!r.saved) throw new Error(r.message);
    ids.push(r.id);
  }
  return ids;
}

/** Every row of every table, Blobs read as text, ArrayBuffers as arrays (comparable with toEqual). */
async function dump(db: WorkbenchDb, skip: string[] = []): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  const plain = async (v: unknown): Promise<unknown> => {
    if (v instanceof Blob) return { blob: await v.text(), type: v.type };
    if (v instanceof ArrayBuffer) return { bytes: [...new Uint8Array(v)] };
    if (Array.isArray(v)) return Promise.all(v.map(plain));
    if (v && typeof v === 'object') return Object.fromEntries(await Promise.all(Object.entries(v).map(async ([k, x]) => [k, await plain(x)])));
    return v;
  };
  for (const t of db.tables as Table[]) if (!skip.includes(t.name)) out[t.name] = (await plain(await t.toArray())) as unknown[];
  return out;
}

const tarBytes = async (b: Blob) => Buffer.from(await b.arrayBuffer());

describe('workspace backup and restore', () => {
  it('round-trips every table into an empty workspace; checkpoints read back whole; backup.lastAt is set', async () => {
    const src = freshDb();
    await fill(src);
    const before = Date.now();
    const { blob, manifest, fileName } = await backupWorkspace(src, { checkpoints: 'all', pageBytes: 600 }); // small pages: several per table
    expect(fileName).toMatch(/^workbench-backup-\d{4}-\d\d-\d\d-\d{4}\.tar$/);
    expect(manifest.tables.metrics.pages.length).toBeGreaterThan(1);
    expect((await src.settings.get(BACKUP_LAST_AT_SETTING))?.value).toBeGreaterThanOrEqual(before);

    const dst = freshDb();
    const asked: string[] = [];
    const r = await restoreWorkspace(dst, blob, { confirmReplace: (m) => (asked.push(m), true) });
    expect(asked).toEqual([]); // empty: nothing to ask
    expect(r.restored).toBe(true);
    expect(r.message).toContain('2 queue items, 3 checkpoints, 30 metric rows');
    const secret = ['remote.adminKey', 'hub.token'];
    const want = await dump(src);
    want.settings = want.settings.filter((s) => !secret.includes((s as { key: string }).key) && (s as { key: string }).key !== BACKUP_LAST_AT_SETTING);
    const got = await dump(dst);
    expect(got.settings).toContainEqual({ key: BACKUP_LAST_AT_SETTING, value: manifest.createdAt });
    got.settings = got.settings.filter((s) => (s as { key: string }).key !== BACKUP_LAST_AT_SETTING);
    expect(got).toEqual(want);
    expect(Number.isNaN((await dst.metrics.get(['m1', 7]))!.loss)).toBe(true);
    const store = new CheckpointStore(dst);
    for (const c of await store.list('m1')) {
      const { tensors } = await store.read(c.id);
      expect([...tensors[0].data]).toEqual([...ckpt(c.step).tensors[0].data]);
    }
    // New rows continue after the restored auto-increment ids.
    expect(await dst.queue.add(item(1, 'c.jsonl'))).toBe(3);
  });

  it('holds the latest and pinned checkpoints by default (and named versions, the resume point), every one with "all"', async () => {
    const db = freshDb();
    const [s4, s8, s12] = await fill(db);
    const steps = async (choice?: 'all') => {
      const dst = freshDb();
      await restoreWorkspace(dst, (await backupWorkspace(db, { checkpoints: choice })).blob);
      const ids = (await dst.checkpoints.toArray()).map((c) => c.id).sort();
      const chunks = new Set((await dst.checkpointChunks.toArray()).map((c) => c.checkpointId));
      expect([...chunks].sort()).toEqual(ids); // no chunk without its manifest
      return ids;
    };
    expect(await steps()).toEqual([s8, s12].sort());
    expect(await steps('all')).toEqual([s4, s8, s12].sort());
    await db.versions.put({ id: 'v1', modelId: 'm1', checkpointId: s4, number: 1, step: 4, title: 'first', notes: '', tags: [], createdAt: 1 });
    expect(await steps()).toEqual([s4, s8, s12].sort());
    await db.versions.clear();
    await db.models.update('m1', { resumeFrom: s4 });
    expect(await steps()).toEqual([s4, s8, s12].sort());
  });

  it('never holds secrets: node keys and Hub tokens stay out of the file', async () => {
    const db = freshDb();
    await fill(db);
    await db.settings.bulkPut([{ key: 'nodeKey', value: 'NODEKEY-SECRET' }, { key: 'hfToken', value: 'hf_OTHER-SECRET' }, { key: 'remote.apiKey', value: 'API-SECRET' }]);
    const bytes = (await tarBytes((await backupWorkspace(db)).blob)).toString('latin1');
    for (const s of ['sk-admin-SECRET', 'hf_SECRETTOKEN', 'NODEKEY-SECRET', 'hf_OTHER-SECRET', 'API-SECRET', 'remote.adminKey', 'hub.token']) expect(bytes).not.toContain(s);
    expect(bytes).toContain('trainConfig');
  });

  it("the manifest's SHA-256 of every entry verifies against the archive", async () => {
    const db = freshDb();
    await fill(db);
    const { blob } = await backupWorkspace(db);
    const bytes = await tarBytes(blob);
    const found = new Map<string, string>();
    let manifest: BackupManifest | undefined;
    for await (const e of tarEntries(blob)) {
      const data = bytes.subarray(e.offset, e.offset + e.size);
      if (e.name === 'manifest.json') manifest = JSON.parse(data.toString('utf8')) as BackupManifest;
      else found.set(e.name, createHash('sha256').update(data).digest('hex'));
    }
    expect(manifest!.entries.length).toBe(found.size);
    for (const e of manifest!.entries) expect(found.get(e.name)).toBe(e.sha256);
    expect(Object.keys(manifest!.tables).sort()).toEqual(db.tables.map((t) => t.name).sort()); // from the schema
  });

  it('refuses a damaged entry naming it, and a file cut short, before writing anything', async () => {
    const db = freshDb();
    await fill(db);
    const { blob } = await backupWorkspace(db);
    const bytes = await tarBytes(blob);
    let target = { name: '', offset: 0 };
    for await (const e of tarEntries(blob)) if (e.name.startsWith('tables/queue/')) target = e;
    const damaged = Buffer.from(bytes);
    damaged[target.offset + 10] ^= 0x20;

    const dst = freshDb();
    await dst.queue.add(item(9, 'mine.jsonl'));
    const before = await dump(dst);
    const err = await restoreWorkspace(dst, new Blob([damaged]), { confirmReplace: () => true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupDamagedError);
    expect((err as BackupDamagedError).entry).toBe(target.name);
    expect((err as Error).message).toContain(`entry "${target.name}"`);
    expect(await dump(dst)).toEqual(before);

    const cut = new Blob([bytes.subarray(0, bytes.length - 3000)]);
    await expect(verifyBackup(cut)).rejects.toThrow(/manifest\.json|cut short/);
    expect(await dump(dst)).toEqual(before);
  });

  it('asks before replacing a workspace that is not empty; "no" keeps it, "yes" replaces it', async () => {
    const src = freshDb();
    await fill(src);
    const { blob } = await backupWorkspace(src);
    const dst = freshDb();
    await dst.queue.add(item(9, 'mine.jsonl'));
    await dst.models.put(model('qwen3-tiny', { source: 'bundled', trained: false, step: 0 }));
    const before = await dump(dst);
    const asked: string[] = [];
    const no = await restoreWorkspace(dst, blob, { confirmReplace: (m) => (asked.push(m), false) });
    expect(no.restored).toBe(false);
    expect(asked[0]).toMatch(/not empty \(queue: 1 row\)/);
    expect(await dump(dst)).toEqual(before);
    let stopped = 0;
    const yes = await restoreWorkspace(dst, blob, { confirmReplace: () => true, beforeWrite: () => void stopped++ });
    expect(yes.restored).toBe(true);
    expect(stopped).toBe(1);
    expect((await dst.queue.toArray()).map((q) => q.name)).toEqual(['a.jsonl', 'b.jsonl']);
    expect(await dst.models.get('qwen3-tiny')).toBeUndefined();
  });

  it('a table added in a later schema version round-trips without touching the backup code', async () => {
    interface Note { id?: number; title: string; body: Blob; weights: Float32Array }
    class LaterDb extends WorkbenchDb {
      notes!: Table<Note, number>;
      constructor(name: string) {
        super(name);
        this.version(this.verno + 1).stores({ notes: '++id, title' });
      }
    }
    const name = `backup-later-${Date.now()}`;
    const src = new LaterDb(`${name}-src`);
    const dst = new LaterDb(`${name}-dst`);
    try {
      await src.notes.bulkAdd([{ title: 'one', body: new Blob(['first note']), weights: new Float32Array([1.5, -2]) }, { title: 'two', body: new Blob(['second']), weights: new Float32Array([3]) }]);
      const { blob, manifest } = await backupWorkspace(src);
      expect(manifest.tables.notes).toMatchObject({ rows: 2, schema: '++id, title' });
      expect((await restoreWorkspace(dst, blob)).restored).toBe(true);
      const rows = await dst.notes.toArray();
      expect(rows.map((r) => [r.id, r.title, [...r.weights]])).toEqual([[1, 'one', [1.5, -2]], [2, 'two', [3]]]);
      expect(rows[0].weights).toBeInstanceOf(Float32Array);
      expect(await rows[1].body.text()).toBe('second');
      // An older workbench (without the table) refuses the backup rather than dropping the table's rows.
      const old = freshDb();
      await expect(restoreWorkspace(old, blob)).rejects.toThrow(/table "notes", which this version of the workbench does not have/);
    } finally {
      await src.delete();
      await dst.delete();
    }
  });
});

/** An in-memory folder with the File System Access calls a folder backup makes; `writes` logs every file closed. */
class MemFolder implements BackupFolder {
  readonly files = new Map<string, Blob>();
  readonly dirs = new Map<string, MemFolder>();
  constructor(
    readonly io: { writes: string[]; failAt?: number } = { writes: [] },
    private readonly path = '',
  ) {}
  async getDirectoryHandle(name: string, o?: { create?: boolean }): Promise<MemFolder> {
    let d = this.dirs.get(name);
    if (!d && !o?.create) throw new DOMException(`${this.path}${name}`, 'NotFoundError');
    if (!d) this.dirs.set(name, (d = new MemFolder(this.io, `${this.path}${name}/`)));
    return d;
  }
  async getFileHandle(name: string, o?: { create?: boolean }): Promise<BackupFileHandle> {
    if (!this.files.has(name) && !o?.create) throw new DOMException(`${this.path}${name}`, 'NotFoundError');
    if (!this.files.has(name)) this.files.set(name, new Blob([])); // created empty, as a real handle is
    return {
      getFile: async () => this.files.get(name)!,
      createWritable: async () => {
        const parts: BlobPart[] = [];
        return {
          write: async (d: Blob | BufferSource) => void parts.push(d as BlobPart),
          close: async () => {
            if (this.io.writes.length + 1 === this.io.failAt) throw new Error('disk full');
            this.io.writes.push(`${this.path}${name}`);
            this.files.set(name, new Blob(parts));
          },
          abort: async () => undefined,
        };
      },
    };
  }
  async removeEntry(name: string): Promise<void> {
    this.files.delete(name);
    this.dirs.delete(name);
  }
  async *keys(): AsyncIterableIterator<string> {
    yield* [...this.dirs.keys(), ...this.files.keys()];
  }
  /** Every file path under this folder. */
  paths(): string[] {
    return [...[...this.files.keys()].map((f) => `${this.path}${f}`), ...[...this.dirs.values()].flatMap((d) => d.paths())];
  }
}

describe('workspace backup into a folder (File System Access)', () => {
  it('round-trips, and a second run writes only what changed, removing what the new manifest no longer lists', async () => {
    const src = freshDb();
    const [, s8, s12] = await fill(src);
    const folder = new MemFolder();
    const first = await backupToFolder(src, folder);
    expect(first.reused).toBe(0);
    expect(folder.io.writes.length).toBe(first.written);
    const dst = freshDb();
    expect((await restoreWorkspace(dst, folder)).restored).toBe(true);
    expect((await dst.checkpoints.toArray()).map((c) => c.id).sort()).toEqual([s8, s12].sort());
    const chunksOf = async (db: WorkbenchDb, id: string) => (await db.checkpointChunks.where('checkpointId').equals(id).toArray()).length;
    expect(await chunksOf(dst, s12)).toBe(await chunksOf(src, s12));

    // One more checkpoint (step 16, now the latest): the pinned one's chunks and the files' contents are not written
    // again; step 12's chunks are no longer in the backup and leave the folder.
    const r = await new CheckpointStore(src, 24).write(ckpt(16));
    if (!r.saved) throw new Error(r.message);
    const binsBefore = folder.paths().filter((p) => p.startsWith('bin/'));
    folder.io.writes.length = 0;
    const second = await backupToFolder(src, folder);
    const binsWritten = folder.io.writes.filter((p) => p.startsWith('bin/'));
    expect(binsWritten.length).toBeGreaterThan(0);
    expect(binsWritten.filter((p) => binsBefore.includes(p))).toEqual([]);
    expect(second.reused).toBeGreaterThan(binsBefore.length / 2);
    expect(second.removed).toBeGreaterThan(0);
    expect(folder.paths().sort()).toEqual([...second.manifest.entries.map((e) => e.name), 'manifest.json'].sort());
    const again = freshDb();
    await restoreWorkspace(again, folder);
    expect((await again.checkpoints.toArray()).map((c) => c.step).sort((a, b) => a - b)).toEqual([8, 16]);
  });

  it('a run cut short leaves the previous backup whole; a damaged file is refused naming it', async () => {
    const src = freshDb();
    await fill(src);
    const folder = new MemFolder();
    await backupToFolder(src, folder);
    await src.queue.add(item(1, 'later.jsonl'));
    await src.metrics.put({ modelId: 'm1', step: 99, time: 1, itemId: 1, fileStep: 1, loss: 1, lr: 0, gradNorm: null, tokens: 1, ms: 1, tokensPerSecond: 1 });
    folder.io.writes.length = 0;
    folder.io.failAt = 2;
    await expect(backupToFolder(src, folder)).rejects.toThrow('disk full');
    const dst = freshDb();
    await restoreWorkspace(dst, folder);
    expect((await dst.queue.toArray()).map((q) => q.name)).toEqual(['a.jsonl', 'b.jsonl']);

    const page = (await folder.getDirectoryHandle('tables')).dirs.get('metrics')!;
    const name = [...page.files.keys()].find((f) => page.files.get(f)!.size > 0)!;
    page.files.set(name, new Blob([(await page.files.get(name)!.text()).replace('"loss":', '"loss": ')]));
    const err = await restoreWorkspace(freshDb(), folder).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupDamagedError);
    expect((err as BackupDamagedError).entry).toBe(`tables/metrics/${name}`);
  });
});
