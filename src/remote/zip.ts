/**
 * Packs a model folder's files into the zip `POST /models/upload` takes. Pair it with a FolderWriter
 * that collects bytes (`collectingFolder`) and the engine's saveTensors/saveModel to deploy a checkpoint.
 */
import { zipSync } from 'fflate';

/** A FolderWriter (checkpoint.ts's interface) that keeps every written file in memory. */
export function collectingFolder(): { files: Map<string, Uint8Array>; write(name: string, bytes: Uint8Array): Promise<void> } {
  const files = new Map<string, Uint8Array>();
  return {
    files,
    async write(name, bytes) {
      files.set(name, bytes);
    },
  };
}

/** The files as a zip inside one top folder (stored, not deflated: weights do not compress and this is fast). */
export function zipModelFiles(files: ReadonlyMap<string, Uint8Array>, topFolder = 'model'): Uint8Array {
  const entries: Record<string, Uint8Array> = {};
  for (const [name, bytes] of files) entries[`${topFolder}/${name}`] = bytes;
  return zipSync(entries, { level: 0 });
}
