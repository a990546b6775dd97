/**
 * Node-only adapters for the data pipeline and CLI: a file as a web ReadableStream for readLines /
 * validateStream, and a tokenizer from a model folder. Never imported by browser or worker code.
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { ValidationError } from '../errors.ts';
import { loadTokenizer } from '../tokenizer.ts';
import type { ChatTokenizer } from '../types.ts';

/** A file as a byte stream plus its size; a missing file is a ValidationError naming it. */
export function openFileStream(path: string): { stream: ReadableStream<Uint8Array>; size: number } {
  if (!existsSync(path)) throw new ValidationError(`file not found: ${path}`, path);
  const st = statSync(path);
  if (!st.isFile()) throw new ValidationError(`not a file: ${path}`, path);
  const stream = Readable.toWeb(createReadStream(path, { highWaterMark: 1 << 20 })) as ReadableStream<Uint8Array>;
  return { stream, size: st.size };
}

/** Loads tokenizer.json and tokenizer_config.json from a model folder. */
export async function loadTokenizerFromDir(dir: string): Promise<ChatTokenizer> {
  const read = async (name: string): Promise<object> => {
    const p = join(dir, name);
    if (!existsSync(p)) throw new ValidationError(`model folder ${dir} has no ${name}`, p);
    try {
      return JSON.parse(await readFile(p, 'utf8')) as object;
    } catch (e) {
      throw new ValidationError(`${p} is not valid JSON: ${(e as Error).message}`, p);
    }
  };
  const [json, config] = await Promise.all([read('tokenizer.json'), read('tokenizer_config.json')]);
  return loadTokenizer(json, config);
}
