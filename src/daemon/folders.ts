/**
 * Model folders behind the engine's FolderReader: a URL folder (the bundled `/models/qwen3-tiny/`, fetched),
 * an imported folder stored in IndexedDB (`import:<modelId>`), chosen by a model's reference string.
 */
import type { FolderReader } from '../engine/checkpoint.ts';
import type { WorkbenchDb } from '../store/db.ts';

export const IMPORT_PREFIX = 'import:';

/** Files under a URL prefix; a 404 reads as a missing file. */
export function urlFolder(base: string, fetchFn: typeof fetch = fetch): FolderReader {
  const prefix = base.endsWith('/') ? base : `${base}/`;
  return {
    async read(name) {
      const res = await fetchFn(`${prefix}${name}`);
      if (res.status === 404) return null;
      if (!res.ok) throw new Error(`fetching ${prefix}${name} failed: HTTP ${res.status}`);
      return new Uint8Array(await res.arrayBuffer());
    },
  };
}

/** Files of an imported model stored in the modelFiles table. */
export function storeFolder(db: WorkbenchDb, modelId: string): FolderReader {
  return {
    async read(name) {
      const row = await db.modelFiles.get([modelId, name]);
      return row ? new Uint8Array(await row.blob.arrayBuffer()) : null;
    },
  };
}

export function folderFor(db: WorkbenchDb, ref: string): FolderReader {
  return ref.startsWith(IMPORT_PREFIX) ? storeFolder(db, ref.slice(IMPORT_PREFIX.length)) : urlFolder(ref);
}

export async function readJson(folder: FolderReader, name: string): Promise<object> {
  const bytes = await folder.read(name);
  if (!bytes) throw new Error(`the model folder has no ${name}`);
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as object;
  } catch (e) {
    throw new Error(`${name} is not valid JSON: ${(e as Error).message}`);
  }
}
