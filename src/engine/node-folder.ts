/** Node's file system behind the FolderReader/FolderWriter interfaces of checkpoint.ts (ranged reads, streamed writes), and loading a model folder from disk (Node only: imports node:fs). */
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadModel, type FolderReader, type FolderWriter, type LoadProgress } from './checkpoint.ts';
import { CheckpointError, ConfigError } from './errors.ts';
import type { Qwen3Model } from './model.ts';

const missing = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * A folder on disk; `read` returns null for a missing file, `readRange` reads a byte range, `write` and
 * `writeStream` create the folder and write atomically (a temporary file renamed when complete).
 */
export function nodeFolder(dir: string): FolderReader & FolderWriter {
  return {
    async read(name) {
      try {
        const b = await readFile(join(dir, name));
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      } catch (e) {
        if (missing(e)) return null;
        throw e;
      }
    },
    async size(name) {
      try {
        return (await stat(join(dir, name))).size;
      } catch (e) {
        if (missing(e)) return null;
        throw e;
      }
    },
    async readRange(name, start, end) {
      const fh = await open(join(dir, name), 'r');
      try {
        const out = new Uint8Array(Math.max(0, end - start));
        let at = 0;
        while (at < out.length) {
          const { bytesRead } = await fh.read(out, at, out.length - at, start + at);
          if (bytesRead === 0) break; // past the end: the caller sees a short read
          at += bytesRead;
        }
        return at === out.length ? out : out.subarray(0, at);
      } finally {
        await fh.close();
      }
    },
    async write(name, bytes) {
      await mkdir(dir, { recursive: true });
      const tmp = join(dir, `.${name}.tmp`);
      await writeFile(tmp, bytes);
      await rename(tmp, join(dir, name));
    },
    async writeStream(name, pieces) {
      await mkdir(dir, { recursive: true });
      const tmp = join(dir, `.${name}.tmp`);
      const fh = await open(tmp, 'w');
      try {
        for await (const p of pieces) {
          for (let at = 0; at < p.length; ) at += (await fh.write(p, at, p.length - at)).bytesWritten;
        }
        await fh.close();
      } catch (e) {
        await fh.close().catch(() => undefined);
        await rm(tmp, { force: true });
        throw e;
      }
      await rename(tmp, join(dir, name));
    },
  };
}

/** Loads a model folder from disk, tensor by tensor; errors name the folder. */
export async function loadModelFromDir(dir: string, onProgress?: (p: LoadProgress) => void): Promise<Qwen3Model> {
  try {
    return await loadModel(nodeFolder(dir), onProgress);
  } catch (e) {
    if (e instanceof CheckpointError || e instanceof ConfigError) {
      const err = new CheckpointError(`model folder ${dir}: ${e.message}`, e instanceof CheckpointError ? e.file : 'config.json', e instanceof CheckpointError ? e.tensor : undefined);
      throw err;
    }
    throw e;
  }
}
