/**
 * Model folders behind the engine's FolderReader: a URL folder (the bundled `/models/qwen3-tiny/`, fetched; weights by
 * HTTP Range), an imported folder stored in IndexedDB as Blobs (`import:<modelId>`; weights by Blob.slice), chosen by
 * a model's reference string.
 */
import type { FolderReader } from '../engine/checkpoint.ts';
import type { WorkbenchDb } from '../store/db.ts';

export const IMPORT_PREFIX = 'import:';

/**
 * Files under a URL prefix; a 404 reads as a missing file. Ranged reads use HTTP Range; a server that ignores it
 * (200 with the whole body) gets one whole read of that file, kept for the following ranges of the same file.
 */
export function urlFolder(base: string, fetchFn: typeof fetch = fetch): FolderReader {
  const prefix = base.endsWith('/') ? base : `${base}/`;
  let whole: { name: string; bytes: Uint8Array } | null = null; // the last file read whole because Range was ignored
  const get = async (name: string, range?: [number, number]): Promise<Response | null> => {
    const res = await fetchFn(`${prefix}${name}`, range ? { headers: { Range: `bytes=${range[0]}-${range[1] - 1}` } } : undefined);
    if (res.status === 404) return null;
    if (!res.ok) throw new Error(`fetching ${prefix}${name} failed: HTTP ${res.status}`);
    return res;
  };
  const keepWhole = async (name: string, res: Response) => {
    whole = null; // drop the previous one first
    whole = { name, bytes: new Uint8Array(await res.arrayBuffer()) };
    return whole.bytes;
  };
  return {
    async read(name) {
      if (whole?.name === name) return whole.bytes;
      const res = await get(name);
      return res ? new Uint8Array(await res.arrayBuffer()) : null;
    },
    async size(name) {
      if (whole?.name === name) return whole.bytes.length;
      const res = await get(name, [0, 1]);
      if (!res) return null;
      const total = /\/(\d+)\s*$/.exec(res.headers.get('Content-Range') ?? '')?.[1];
      if (res.status === 206 && total !== undefined) {
        await res.body?.cancel();
        return Number(total);
      }
      return (await keepWhole(name, res)).length; // Range ignored: the whole file came
    },
    async readRange(name, start, end) {
      if (end <= start) return new Uint8Array(0);
      if (whole?.name === name) return whole.bytes.subarray(start, end);
      const res = await get(name, [start, end]);
      if (!res) throw new Error(`fetching ${prefix}${name} failed: HTTP 404`);
      if (res.status === 206) return new Uint8Array(await res.arrayBuffer());
      return (await keepWhole(name, res)).subarray(start, end);
    },
  };
}

/** Files of an imported model stored in the modelFiles table (Blobs: weights are read by range, never whole). */
export function storeFolder(db: WorkbenchDb, modelId: string): FolderReader {
  const blob = async (name: string) => (await db.modelFiles.get([modelId, name]))?.blob ?? null;
  return {
    async read(name) {
      const b = await blob(name);
      return b ? new Uint8Array(await b.arrayBuffer()) : null;
    },
    async size(name) {
      return (await blob(name))?.size ?? null;
    },
    async readRange(name, start, end) {
      const b = await blob(name);
      if (!b) throw new Error(`the imported model ${modelId} has no file ${name}`);
      return new Uint8Array(await b.slice(start, end).arrayBuffer());
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
