/**
 * Restore of a workspace backup (format: backup-format.ts), from its tar file or its folder. Every entry's SHA-256 is
 * checked against the manifest before anything is written, and a damaged, missing or (in a tar) unlisted entry
 * refuses the whole backup, naming the entry. A workspace that holds anything of its own is replaced only when
 * `confirmReplace` agrees; then every table is cleared and written from the backup, page by page (binaries read from
 * the backup as they are needed), checkpoint manifests last.
 */
import type { WorkbenchDb } from './db.ts';
import { tarEntries } from './tar.ts';
import {
  BACKUP_FORMAT, BACKUP_LAST_AT_SETTING, BACKUP_VERSION, MANIFEST_ENTRY, sha256Hex, type BackupFolder, type BackupManifest, type EncodedValue,
} from './backup-format.ts';

/** The backup is not what was written (or not a whole backup): names the entry at fault. */
export class BackupDamagedError extends Error {
  constructor(
    message: string,
    readonly entry: string,
  ) {
    super(message);
    this.name = 'BackupDamagedError';
  }
}

export interface VerifiedBackup {
  manifest: BackupManifest;
  /** Each entry's data: a slice of the tar file or a file of the folder. */
  entries: Map<string, Blob>;
}

/** A backup's tar file or its folder (a File System Access directory handle). */
export type BackupSource = Blob | BackupFolder;

export interface RestoreOptions {
  /** Asked with a sentence naming what the workspace holds when it is not empty; nothing is written unless it agrees. */
  confirmReplace?(message: string): boolean | Promise<boolean>;
  /** Runs once the backup is verified and agreed to, before the first write (the page stops its trainer). */
  beforeWrite?(): void | Promise<void>;
}

export interface RestoreResult {
  restored: boolean;
  /** One sentence: what was restored, or why nothing was. */
  message: string;
}

/** The entries of a tar file; one it cannot walk (a damaged header, cut short) is refused naming the entry before. */
async function tarSource(file: Blob): Promise<Map<string, Blob>> {
  const entries = new Map<string, Blob>();
  try {
    for await (const e of tarEntries(file)) entries.set(e.name, file.slice(e.offset, e.offset + e.size));
  } catch (err) {
    const last = [...entries.keys()].pop();
    throw new BackupDamagedError(`The backup is damaged: ${err instanceof Error ? err.message : String(err)}. Nothing was restored.`, last ?? '');
  }
  return entries;
}

/** The files of a backup folder that its manifest lists (others, such as those of a backup cut short, are not read). */
async function folderSource(root: BackupFolder): Promise<Map<string, Blob>> {
  const entries = new Map<string, Blob>();
  const file = async (name: string) => {
    const parts = name.split('/');
    let dir = root;
    for (const p of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(p);
    return (await dir.getFileHandle(parts[parts.length - 1])).getFile();
  };
  const manifest = await file(MANIFEST_ENTRY).catch(() => null);
  if (!manifest) return entries;
  entries.set(MANIFEST_ENTRY, manifest);
  let listed: { name?: unknown }[] = [];
  try {
    listed = (JSON.parse(await manifest.text()) as { entries?: { name?: unknown }[] }).entries ?? [];
  } catch {
    return entries; // verifyBackup names the damaged manifest
  }
  for (const e of listed) {
    if (typeof e.name !== 'string') continue;
    const f = await file(e.name).catch(() => null);
    if (f) entries.set(e.name, f);
  }
  return entries;
}

/**
 * Reads every entry of the backup once, hashing it, and checks the hashes, sizes and entry list against the manifest;
 * a tar must hold nothing the manifest does not list.
 */
export async function verifyBackup(source: BackupSource): Promise<VerifiedBackup> {
  const tar = source instanceof Blob;
  const entries = tar ? await tarSource(source) : await folderSource(source);
  const m = entries.get(MANIFEST_ENTRY);
  if (!m) throw new BackupDamagedError(`The backup is not complete: it has no ${MANIFEST_ENTRY} (a workbench backup ${tar ? 'ends' : 'is done'} with it; was it cut short?). Nothing was restored.`, MANIFEST_ENTRY);
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(await m.text()) as BackupManifest;
  } catch {
    throw new BackupDamagedError(`The backup is damaged: entry "${MANIFEST_ENTRY}" is not valid JSON. Nothing was restored.`, MANIFEST_ENTRY);
  }
  if (manifest.format !== BACKUP_FORMAT || !Array.isArray(manifest.entries)) throw new BackupDamagedError(`This is not a workbench backup (its ${MANIFEST_ENTRY} has no format "${BACKUP_FORMAT}").`, MANIFEST_ENTRY);
  if (manifest.version > BACKUP_VERSION) throw new Error(`The backup has format version ${manifest.version}; this workbench reads up to version ${BACKUP_VERSION}. Nothing was restored.`);
  const listed = new Set<string>();
  for (const want of manifest.entries) {
    listed.add(want.name);
    const got = entries.get(want.name);
    if (!got) throw new BackupDamagedError(`The backup is damaged: entry "${want.name}" is listed in the manifest but missing. Nothing was restored.`, want.name);
    const sha = await sha256Hex(new Uint8Array(await got.arrayBuffer()));
    if (got.size !== want.size || sha !== want.sha256) {
      throw new BackupDamagedError(`The backup is damaged: entry "${want.name}" has SHA-256 ${sha} (${got.size} bytes) where the manifest says ${want.sha256} (${want.size} bytes). Nothing was restored.`, want.name);
    }
  }
  for (const name of entries.keys()) {
    if (name !== MANIFEST_ENTRY && !listed.has(name)) throw new BackupDamagedError(`The backup is damaged: entry "${name}" is not in the manifest. Nothing was restored.`, name);
  }
  return { manifest, entries };
}

/**
 * What the workspace holds of its own, as "table: N rows" phrases (empty: nothing to lose). The daemon's state and
 * control requests are not counted, nor the bundled model before it was trained: a fresh start makes them by itself.
 */
export async function workspaceContents(db: WorkbenchDb): Promise<string[]> {
  const out: string[] = [];
  for (const table of db.tables) {
    if (table.name === db.daemon.name || table.name === db.controls.name) continue;
    const n = table.name === db.models.name ? await db.models.filter((m) => m.source !== 'bundled' || m.trained).count() : await table.count();
    if (n > 0) out.push(`${table.name}: ${n} row${n === 1 ? '' : 's'}`);
  }
  return out;
}

const VIEWS: Record<string, new (b: ArrayBuffer) => ArrayBufferView> = { Uint8Array, Int8Array, Uint16Array, Int16Array, Uint32Array, Int32Array, Float32Array, Float64Array };

/** The rows of one JSON page, their Blobs made of the backup's entries and their byte values read from them. */
async function readPage(b: VerifiedBackup, page: string): Promise<unknown[]> {
  const at = (name: string) => {
    const e = b.entries.get(name);
    if (!e) throw new BackupDamagedError(`The backup is damaged: a row of "${page}" refers to entry "${name}", which is not in it.`, name);
    return e;
  };
  const pending: { holder: Record<string, unknown>; key: string; value: { $bytes: string; view?: string } }[] = [];
  const rows = JSON.parse(await at(page).text(), function (this: Record<string, unknown>, key, v: unknown) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const e = v as EncodedValue;
    if ('$num' in e) return Number(e.$num);
    if ('$blob' in e) return new Blob(e.$blob.map(at), { type: e.type });
    if ('$bytes' in e) pending.push({ holder: this, key, value: e });
    return v;
  }) as unknown[];
  for (const p of pending) {
    const buf = await at(p.value.$bytes).arrayBuffer();
    p.holder[p.key] = p.value.view ? new VIEWS[p.value.view](buf) : buf;
  }
  return rows;
}

/**
 * Restores a backup (its tar file or its folder) into `db`. Refuses (throws) a damaged backup or one with a table
 * this version does not have, before writing anything; returns restored: false when the workspace is not empty and
 * `confirmReplace` says no.
 */
export async function restoreWorkspace(db: WorkbenchDb, source: BackupSource, opts: RestoreOptions = {}): Promise<RestoreResult> {
  const b = await verifyBackup(source);
  const { manifest } = b;
  const unknown = Object.keys(manifest.tables).filter((t) => !db.tables.some((x) => x.name === t));
  if (unknown.length) throw new Error(`The backup holds table${unknown.length > 1 ? 's' : ''} ${unknown.map((t) => `"${t}"`).join(', ')}, which this version of the workbench does not have (was it made by a newer one?). Nothing was restored.`);
  const made = new Date(manifest.createdAt).toLocaleString();
  const holds = await workspaceContents(db);
  if (holds.length) {
    const ok = await opts.confirmReplace?.(`This workspace is not empty (${holds.join(', ')}). Restoring replaces all of it with the backup of ${made}. Replace it?`);
    if (!ok) return { restored: false, message: 'Nothing was restored: the workspace was kept as it was.' };
  }
  await opts.beforeWrite?.();
  await db.transaction('rw', db.tables, () => Promise.all(db.tables.map((t) => t.clear())));
  const order = Object.keys(manifest.tables).sort((x, y) => Number(x === db.checkpoints.name) - Number(y === db.checkpoints.name));
  for (const name of order) {
    const table = db.table(name);
    for (const page of manifest.tables[name].pages) {
      try {
        await table.bulkPut(await readPage(b, page));
      } catch (e) {
        throw new Error(`The restore stopped at table "${name}" (${page}): ${e instanceof Error ? e.message : String(e)}. The workspace is incomplete: free space if the disk is full, then restore again.`);
      }
    }
  }
  await db.settings.put({ key: BACKUP_LAST_AT_SETTING, value: manifest.createdAt });
  const count = (t: string) => manifest.tables[t]?.rows ?? 0;
  return {
    restored: true,
    message: `Restored the backup of ${made}: ${count(db.queue.name)} queue items, ${count(db.checkpoints.name)} checkpoints, ${count(db.metrics.name)} metric rows, ${count(db.models.name)} models.`,
  };
}
