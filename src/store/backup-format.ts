/**
 * The workspace backup's format, shared by backup.ts (writing) and restore.ts (reading): JSON pages of each table's
 * rows (`tables/<table>/<sha256>.json`), binary entries of ≤ 64 MB for the Blobs and ArrayBuffers those rows hold
 * (`bin/<sha256>`: named by content, so a folder backup skips those it already has), and `manifest.json` with every
 * entry's size and SHA-256; in one tar file (the manifest last) or in a folder. Also which settings are secrets.
 */

export const BACKUP_FORMAT = 'training-workbench-backup';
export const BACKUP_VERSION = 1;
export const MANIFEST_ENTRY = 'manifest.json';
/** Largest binary entry: a Blob above it is split into several (checkpoint chunks are at most this size). */
export const MAX_BIN_BYTES = 64 * 1024 * 1024;
/** Setting (epoch ms): when the last backup of this workspace was made (or the backup it was restored from). */
export const BACKUP_LAST_AT_SETTING = 'backup.lastAt';

/** 'latest-pinned': each model's latest, pinned and resume-point checkpoints (the default); 'all': every one. */
export type CheckpointChoice = 'latest-pinned' | 'all';

export interface ManifestEntry {
  name: string;
  size: number;
  /** Hex SHA-256 of the entry's bytes. */
  sha256: string;
}

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  version: number;
  createdAt: number;
  /** The Dexie schema version of the database backed up. */
  dbVersion: number;
  checkpoints: CheckpointChoice;
  /** Per table: its Dexie schema string, its row count and its JSON pages in order. */
  tables: Record<string, { schema: string; rows: number; pages: string[] }>;
  /** Every entry but the manifest itself. */
  entries: ManifestEntry[];
}

/**
 * The part of a File System Access directory handle a folder backup uses (a real FileSystemDirectoryHandle has it;
 * tests pass an in-memory one).
 */
export interface BackupFolder {
  getDirectoryHandle(name: string, opts?: { create?: boolean }): Promise<BackupFolder>;
  getFileHandle(name: string, opts?: { create?: boolean }): Promise<BackupFileHandle>;
  removeEntry(name: string, opts?: { recursive?: boolean }): Promise<void>;
  keys(): AsyncIterableIterator<string>;
}
export interface BackupFileHandle {
  getFile(): Promise<Blob>;
  /** Writes go to a swap file that replaces the file only on close (so manifest.json is replaced whole or not at all). */
  createWritable(): Promise<{ write(data: Blob | BufferSource): Promise<void>; close(): Promise<void>; abort(): Promise<void> }>;
}

/** How a row's non-JSON values are written in its page (values themselves go to `bin/` entries). */
export type EncodedValue =
  | { $bytes: string; view?: string }
  | { $blob: string[]; type: string; size: number }
  | { $num: 'NaN' | 'Infinity' | '-Infinity' };

/**
 * Settings that hold a credential (API keys, node keys, Hub or access tokens, passwords): never backed up. The node's
 * URL and keys live in localStorage (src/remote/settings.ts), which a backup does not read at all.
 */
export function isSecretSetting(key: string): boolean {
  return /(api|admin|read|access|node|hub|hf|auth)[-_.]?(key|token)|token(?!iz)|secret|password|credential/i.test(key);
}

/** Hex SHA-256 of the bytes (WebCrypto: entries are at most 64 MB, hashed whole). */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as BufferSource));
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
}
