/**
 * Backup of the whole workspace into one tar file (format: backup-format.ts). Tables come from the database's schema
 * (db.tables), so a table added later is backed up without touching this file; rows are read in pages of about
 * 8 MB and every entry becomes a Blob part at once, so the backup is never whole in JS memory (Chrome keeps large
 * Blobs on disk). Left out: secret settings, and by default the checkpoints other than each model's latest, pinned,
 * named-version and resume-point ones.
 */
import type { IndexableType, Table } from 'dexie';
import type { CheckpointRow, WorkbenchDb } from './db.ts';
import { CheckpointStore } from './checkpoints.ts';
import { padding, tarEnd, tarHeader } from './tar.ts';
import {
  BACKUP_FORMAT, BACKUP_LAST_AT_SETTING, BACKUP_VERSION, MANIFEST_ENTRY, MAX_BIN_BYTES, isSecretSetting, sha256Hex,
  type BackupManifest, type CheckpointChoice, type EncodedValue, type ManifestEntry,
} from './backup-format.ts';

export interface BackupOptions {
  checkpoints?: CheckpointChoice;
  /** Bytes of rows (JSON and binaries) read per page (default 8 MB; a single larger row is its own page). */
  pageBytes?: number;
}

export interface BackupResult {
  /** The tar archive. */
  blob: Blob;
  fileName: string;
  manifest: BackupManifest;
}

/** Entries appended to the archive as Blob parts, each hashed as it is added. */
class TarWriter {
  readonly parts: Blob[] = [];
  readonly entries: ManifestEntry[] = [];

  constructor(private readonly mtime: number) {}

  async add(name: string, data: Uint8Array | Blob): Promise<ManifestEntry> {
    const bytes = data instanceof Blob ? new Uint8Array(await data.arrayBuffer()) : data;
    const entry = { name, size: bytes.byteLength, sha256: await sha256Hex(bytes) };
    this.parts.push(new Blob([tarHeader(name, entry.size, this.mtime), data, new Uint8Array(padding(entry.size))] as BlobPart[]));
    if (name !== MANIFEST_ENTRY) this.entries.push(entry);
    return entry;
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

/**
 * Backs up every table of `db` into one tar Blob and records the time as the `backup.lastAt` setting. A
 * checkpoint is in the backup only with all of its chunks (its manifest row is written after them, as the store
 * does), so training that goes on meanwhile never leaves a half checkpoint in it.
 */
export async function backupWorkspace(db: WorkbenchDb, opts: BackupOptions = {}): Promise<BackupResult> {
  const createdAt = Date.now();
  const choice = opts.checkpoints ?? 'latest-pinned';
  const pageBytes = opts.pageBytes ?? 8 * 1024 * 1024;
  const tar = new TarWriter(createdAt);
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
  const manifest: BackupManifest = { format: BACKUP_FORMAT, version: BACKUP_VERSION, createdAt, dbVersion: db.verno, checkpoints: choice, tables: {}, entries: tar.entries };
  let bins = 0;
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
      const binaries: { name: string; data: Uint8Array | Blob }[] = [];
      const bin = (data: Uint8Array | Blob) => {
        const name = `bin/${String(bins++).padStart(8, '0')}`;
        binaries.push({ name, data });
        return name;
      };
      const json = JSON.stringify(rows, (_k, v: unknown): unknown => encodeValue(v, bin));
      let bytes = json.length;
      for (const b of binaries) bytes += (await tar.add(b.name, b.data)).size;
      const page = `tables/${table.name}/${String(info.pages.length).padStart(6, '0')}.json`;
      await tar.add(page, new TextEncoder().encode(json));
      info.pages.push(page);
      info.rows += rows.length;
      rows.forEach((r) => onWritten[table.name]?.(r));
      n = bytes > pageBytes ? Math.max(1, n >> 1) : Math.min(1000, n * 2);
    }
  }
  await tar.add(MANIFEST_ENTRY, new TextEncoder().encode(JSON.stringify(manifest)));
  tar.parts.push(new Blob([tarEnd() as BlobPart]));
  const blob = new Blob(tar.parts, { type: 'application/x-tar' });
  await db.settings.put({ key: BACKUP_LAST_AT_SETTING, value: Date.now() });
  return { blob, fileName: backupFileName(createdAt), manifest };
}

/** The table's Dexie schema string ("++id, fileId, [status+priority]"), recorded in the manifest. */
function schemaString(table: Table): string {
  const { primKey, indexes } = table.schema;
  return [primKey, ...indexes].map((i) => i.src).join(', ');
}

/** JSON replacer: Blobs, ArrayBuffers and typed arrays become `bin/` entries (Blobs in ≤ 64 MB parts); non-finite numbers are tagged. */
function encodeValue(v: unknown, bin: (data: Uint8Array | Blob) => string): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? v : ({ $num: String(v) } as EncodedValue);
  if (v instanceof Blob) {
    const parts: string[] = [];
    for (let at = 0; at < v.size || parts.length === 0; at += MAX_BIN_BYTES) parts.push(bin(v.slice(at, at + MAX_BIN_BYTES)));
    return { $blob: parts, type: v.type, size: v.size } as EncodedValue;
  }
  if (v instanceof ArrayBuffer) return splitBytes(new Uint8Array(v), bin);
  if (ArrayBuffer.isView(v)) return { ...splitBytes(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), bin), view: v.constructor.name } as EncodedValue;
  return v;
}

function splitBytes(bytes: Uint8Array, bin: (data: Uint8Array) => string): EncodedValue {
  if (bytes.byteLength > MAX_BIN_BYTES) throw new Error(`a stored binary value of ${bytes.byteLength} bytes is above the ${MAX_BIN_BYTES}-byte entry limit`);
  return { $bytes: bin(bytes) };
}
