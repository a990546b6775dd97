/**
 * Backup of the whole workspace (format: backup-format.ts), into one tar file or into a folder. Tables come from the
 * database's schema (db.tables), so a table added later is backed up without touching this file; rows are read in
 * pages of about 8 MB and every entry goes to its target at once (a Blob part of the tar, which Chrome keeps on disk
 * when large; or a file of the folder), so the backup is never whole in JS memory. Entries are named by their
 * SHA-256, so a folder backup writes only what the folder does not hold yet (unchanged checkpoint chunks and file
 * contents are not rewritten) and then removes what the new manifest no longer lists. Left out: secret settings, and
 * by default the checkpoints other than each model's latest, pinned, named-version and resume-point ones.
 */
import type { IndexableType, Table } from 'dexie';
import type { CheckpointRow, WorkbenchDb } from './db.ts';
import { CheckpointStore } from './checkpoints.ts';
import { padding, tarEnd, tarHeader } from './tar.ts';
import {
  BACKUP_FORMAT, BACKUP_LAST_AT_SETTING, BACKUP_VERSION, MANIFEST_ENTRY, MAX_BIN_BYTES, isSecretSetting, sha256Hex,
  type BackupFolder, type BackupManifest, type CheckpointChoice, type EncodedValue, type ManifestEntry,
} from './backup-format.ts';

export interface BackupOptions {
  checkpoints?: CheckpointChoice;
  /** Bytes of rows (JSON and binaries) read per page (default 8 MB; a single larger row is its own page). */
  pageBytes?: number;
}

export interface BackupResult {
  manifest: BackupManifest;
  /** Entries written, and entries the target already held (a folder's earlier backup) so were not written again. */
  written: number;
  reused: number;
}

export interface FileBackupResult extends BackupResult {
  /** The tar archive. */
  blob: Blob;
  fileName: string;
}

export interface FolderBackupResult extends BackupResult {
  /** Files of earlier backups that the new manifest no longer lists, removed from the folder. */
  removed: number;
}

/** Where a backup's entries go. */
interface Target {
  /** True when the target already holds entry `name` with `size` bytes (names carry the content's SHA-256). */
  has(name: string, size: number): Promise<boolean>;
  add(name: string, data: Uint8Array | Blob, size: number): Promise<void>;
}

/** A tar archive assembled as Blob parts, one per entry. */
class TarTarget implements Target {
  readonly parts: Blob[] = [];
  constructor(private readonly mtime: number) {}
  has = async () => false;
  async add(name: string, data: Uint8Array | Blob, size: number) {
    this.parts.push(new Blob([tarHeader(name, size, this.mtime), data, new Uint8Array(padding(size))] as BlobPart[]));
  }
}

/** Files in a folder, `a/b/c` as folders a and b and file c; each written through a writable that replaces it on close. */
class FolderTarget implements Target {
  constructor(private readonly root: BackupFolder) {}

  private async parent(name: string, create: boolean): Promise<[BackupFolder, string]> {
    const parts = name.split('/');
    let dir = this.root;
    for (const p of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(p, { create });
    return [dir, parts[parts.length - 1]];
  }

  async has(name: string, size: number) {
    try {
      const [dir, base] = await this.parent(name, false);
      return (await (await dir.getFileHandle(base)).getFile()).size === size;
    } catch {
      return false; // not there (NotFoundError)
    }
  }

  async add(name: string, data: Uint8Array | Blob) {
    const [dir, base] = await this.parent(name, true);
    const w = await (await dir.getFileHandle(base, { create: true })).createWritable();
    try {
      await w.write(data as Blob | BufferSource);
      await w.close();
    } catch (e) {
      await w.abort().catch(() => undefined);
      throw e;
    }
  }

  /** Removes the files under bin/ and tables/ that `keep` does not list; returns how many. */
  async prune(keep: Set<string>): Promise<number> {
    let removed = 0;
    const walk = async (dir: BackupFolder, prefix: string) => {
      const names: string[] = [];
      for await (const n of dir.keys()) names.push(n);
      for (const n of names) {
        const path = `${prefix}${n}`;
        const sub = await dir.getDirectoryHandle(n).catch(() => null);
        if (sub) await walk(sub, `${path}/`);
        else if (!keep.has(path)) await dir.removeEntry(n).then(() => removed++);
      }
    };
    for (const top of ['bin', 'tables']) {
      const dir = await this.root.getDirectoryHandle(top).catch(() => null);
      if (dir) await walk(dir, `${top}/`);
    }
    return removed;
  }
}

/** The checkpoints a backup holds: all, or each model's latest, pinned ones, named versions and the one it resumes from. */
async function chosenCheckpoints(db: WorkbenchDb, choice: CheckpointChoice): Promise<Set<string>> {
  const rows = await db.checkpoints.toArray();
  if (choice === 'all') return new Set(rows.map((r) => r.id));
  const ids = new Set([...rows.filter((r) => r.pinned).map((r) => r.id), ...(await db.versions.toArray()).map((v) => v.checkpointId)]);
  const store = new CheckpointStore(db);
  for (const m of await db.models.toArray()) {
    const latest = await store.latest(m.id);
    if (latest) ids.add(latest.id);
    if (m.resumeFrom) ids.add(m.resumeFrom);
  }
  return ids;
}

const two = (n: number) => String(n).padStart(2, '0');
/** `workbench-backup-2026-12-01-1620.tar` (local time). */
export function backupFileName(at: number): string {
  const d = new Date(at);
  return `workbench-backup-${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}-${two(d.getHours())}${two(d.getMinutes())}.tar`;
}

/** The Blobs, ArrayBuffers and typed arrays inside a value (rows are plain data: no cycles). */
function binariesOf(v: unknown, out: (Blob | ArrayBuffer | ArrayBufferView)[] = []): (Blob | ArrayBuffer | ArrayBufferView)[] {
  if (v instanceof Blob || v instanceof ArrayBuffer || ArrayBuffer.isView(v)) out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => binariesOf(x, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => binariesOf(x, out));
  return out;
}

/** The ≤ 64 MB pieces a binary value is stored as. */
function piecesOf(v: Blob | ArrayBuffer | ArrayBufferView): (Blob | Uint8Array)[] {
  if (v instanceof Blob) {
    const out: Blob[] = [];
    for (let at = 0; at < v.size || out.length === 0; at += MAX_BIN_BYTES) out.push(v.slice(at, at + MAX_BIN_BYTES));
    return out;
  }
  const bytes = v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (bytes.byteLength > MAX_BIN_BYTES) throw new Error(`a stored binary value of ${bytes.byteLength} bytes is above the ${MAX_BIN_BYTES}-byte entry limit`);
  return [bytes];
}

/**
 * Writes every table of `db` to `target`, page by page, and returns the manifest (not yet written). A checkpoint is in
 * the backup only with all of its chunks (its manifest row is read after them, as the store writes it), so training
 * that goes on meanwhile never leaves a half checkpoint in it.
 */
async function writeTables(db: WorkbenchDb, target: Target, opts: BackupOptions, createdAt: number): Promise<BackupResult> {
  const choice = opts.checkpoints ?? 'latest-pinned';
  const pageBytes = opts.pageBytes ?? 8 * 1024 * 1024;
  const entries: ManifestEntry[] = [];
  const seen = new Set<string>();
  let written = 0;
  let reused = 0;
  /** Hashes the data, names it `${prefix}${sha256}${suffix}` and writes it unless the target holds it already. */
  const put = async (prefix: string, data: Uint8Array | Blob, suffix = ''): Promise<string> => {
    const bytes = data instanceof Blob ? new Uint8Array(await data.arrayBuffer()) : data;
    const sha256 = await sha256Hex(bytes);
    const name = `${prefix}${sha256}${suffix}`;
    if (seen.has(name)) return name;
    seen.add(name);
    entries.push({ name, size: bytes.byteLength, sha256 });
    if (await target.has(name, bytes.byteLength)) reused++;
    else await target.add(name, data, bytes.byteLength), written++;
    return name;
  };

  const chosen = await chosenCheckpoints(db, choice);
  const chunksWritten = new Map<string, number>();
  const keepKey: Record<string, (key: IndexableType) => boolean> = {
    [db.settings.name]: (k) => !isSecretSetting(String(k)),
    [db.checkpoints.name]: (k) => chosen.has(String(k)),
    [db.checkpointChunks.name]: (k) => chosen.has(String((k as [string, number])[0])),
  };
  const keepRow: Record<string, (row: unknown) => boolean> = {
    [db.checkpoints.name]: (r) => chunksWritten.get((r as CheckpointRow).id) === (r as CheckpointRow).chunkCount,
  };
  const onWritten: Record<string, (row: unknown) => void> = {
    [db.checkpointChunks.name]: (r) => {
      const id = (r as { checkpointId: string }).checkpointId;
      chunksWritten.set(id, (chunksWritten.get(id) ?? 0) + 1);
    },
  };
  // Manifests after their chunks: the checkpoints table is read last.
  const tables = [...db.tables].sort((a, b) => Number(a.name === db.checkpoints.name) - Number(b.name === db.checkpoints.name));
  const manifest: BackupManifest = { format: BACKUP_FORMAT, version: BACKUP_VERSION, createdAt, dbVersion: db.verno, checkpoints: choice, tables: {}, entries };
  for (const table of tables) {
    if (!table.schema.primKey.keyPath) throw new Error(`table "${table.name}" has no inbound primary key; a backup stores rows with their keys inside`);
    const keys = (await table.toCollection().primaryKeys()).filter((k) => keepKey[table.name]?.(k) ?? true);
    const info = { schema: schemaString(table), rows: 0, pages: [] as string[] };
    manifest.tables[table.name] = info;
    let n = 1; // rows per page: doubled while a page stays under pageBytes, halved when over
    for (let at = 0; at < keys.length; ) {
      const rows = (await table.bulkGet(keys.slice(at, at + n))).filter((r) => r !== undefined && (keepRow[table.name]?.(r) ?? true));
      at += n;
      if (rows.length === 0) continue;
      const names = new Map<unknown, string[]>();
      let bytes = 0;
      for (const v of binariesOf(rows)) {
        const parts: string[] = [];
        for (const p of piecesOf(v)) parts.push(await put('bin/', p)), (bytes += p instanceof Blob ? p.size : p.byteLength);
        names.set(v, parts);
      }
      const json = new TextEncoder().encode(JSON.stringify(rows, (_k, v: unknown): unknown => encodeValue(v, names)));
      info.pages.push(await put(`tables/${table.name}/`, json, '.json'));
      info.rows += rows.length;
      rows.forEach((r) => onWritten[table.name]?.(r));
      n = bytes + json.byteLength > pageBytes ? Math.max(1, n >> 1) : Math.min(1000, n * 2);
    }
  }
  return { manifest, written, reused };
}

/** Backs up every table of `db` into one tar Blob (manifest.json last) and records the time as `backup.lastAt`. */
export async function backupWorkspace(db: WorkbenchDb, opts: BackupOptions = {}): Promise<FileBackupResult> {
  const createdAt = Date.now();
  const tar = new TarTarget(createdAt);
  const r = await writeTables(db, tar, opts, createdAt);
  const manifest = new TextEncoder().encode(JSON.stringify(r.manifest));
  await tar.add(MANIFEST_ENTRY, manifest, manifest.byteLength);
  tar.parts.push(new Blob([tarEnd() as BlobPart]));
  await db.settings.put({ key: BACKUP_LAST_AT_SETTING, value: Date.now() });
  return { ...r, written: r.written + 1, blob: new Blob(tar.parts, { type: 'application/x-tar' }), fileName: backupFileName(createdAt) };
}

/**
 * Backs up every table of `db` into a folder, incrementally: entries the folder holds already (same name, hence
 * same SHA-256, and same size) are not written again; manifest.json is replaced whole once every entry is in place,
 * and only then are the files it no longer lists removed, so a backup cut short leaves the previous one valid.
 */
export async function backupToFolder(db: WorkbenchDb, folder: BackupFolder, opts: BackupOptions = {}): Promise<FolderBackupResult> {
  const createdAt = Date.now();
  const target = new FolderTarget(folder);
  const r = await writeTables(db, target, opts, createdAt);
  const manifest = new TextEncoder().encode(JSON.stringify(r.manifest));
  await target.add(MANIFEST_ENTRY, manifest);
  const removed = await target.prune(new Set(r.manifest.entries.map((e) => e.name)));
  await db.settings.put({ key: BACKUP_LAST_AT_SETTING, value: Date.now() });
  return { ...r, written: r.written + 1, removed };
}

/** The table's Dexie schema string ("++id, fileId, [status+priority]"), recorded in the manifest. */
function schemaString(table: Table): string {
  const { primKey, indexes } = table.schema;
  return [primKey, ...indexes].map((i) => i.src).join(', ');
}

/** JSON replacer: binaries become references to their `bin/` entries (named in `names`); non-finite numbers are tagged. */
function encodeValue(v: unknown, names: Map<unknown, string[]>): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? v : ({ $num: String(v) } as EncodedValue);
  if (v instanceof Blob) return { $blob: names.get(v)!, type: v.type, size: v.size } as EncodedValue;
  if (v instanceof ArrayBuffer) return { $bytes: names.get(v)![0] } as EncodedValue;
  if (ArrayBuffer.isView(v)) return { $bytes: names.get(v)![0], view: v.constructor.name } as EncodedValue;
  return v;
}
