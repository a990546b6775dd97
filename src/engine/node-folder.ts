/** Node's file system behind the FolderReader/FolderWriter interfaces of checkpoint.ts (Node only: imports node:fs). */
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { FolderReader, FolderWriter } from './checkpoint.ts';

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
