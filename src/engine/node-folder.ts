/** Node's file system behind the FolderReader/FolderWriter interfaces of checkpoint.ts, and loading a model folder from disk (Node only: imports node:fs). */
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModel, type FolderReader, type FolderWriter } from './checkpoint.ts';
import { CheckpointError, ConfigError } from './errors.ts';
import type { Qwen3Model } from './model.ts';

/** A folder on disk; `read` returns null for a missing file; `write` creates the folder and writes atomically. */
export function nodeFolder(dir: string): FolderReader & FolderWriter {
  return {
    async read(name) {
      try {
        const b = await readFile(join(dir, name));
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
    },
    async write(name, bytes) {
      await mkdir(dir, { recursive: true });
      const tmp = join(dir, `.${name}.tmp`);
      await writeFile(tmp, bytes);
      await rename(tmp, join(dir, name));
    },
  };
}

/** Loads a model folder from disk; errors name the folder. */
export async function loadModelFromDir(dir: string): Promise<Qwen3Model> {
  try {
    return await loadModel(nodeFolder(dir));
  } catch (e) {
    if (e instanceof CheckpointError || e instanceof ConfigError) {
      const err = new CheckpointError(`model folder ${dir}: ${e.message}`, e instanceof CheckpointError ? e.file : 'config.json');
      throw err;
    }
    throw e;
  }
}
